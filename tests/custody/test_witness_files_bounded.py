"""Witness files live in the user's OS account, where anyone with that account can put anything: they are read
bounded and only if regular (a FIFO hung the unlock; a huge file was read whole) — issue 13 item 3."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from icspa_desktop.custody import user_witness
from tests.conftest import VaultInfo


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "huge"])
def test_a_user_witness_that_is_no_witness_file_is_reported_not_read(vault: VaultInfo, tmp_path: Path,
                                                                    kind: str) -> None:
    path = tmp_path / "witness" / "x.head"
    path.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        with path.open("wb") as handle:
            handle.truncate(8 << 30)  # sparse
    with vault.session() as session:
        problem = user_witness.check(session.conn, path, {})
        assert problem is not None and str(path) in problem
        assert ("not a regular file" in problem) if kind == "fifo" else ("bytes" in problem)
        # The quick look before unlock skips it.
        assert user_witness.rollback_signs(session.conn, "x", tmp_path / "witness") is None
