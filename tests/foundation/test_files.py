"""User-named input files are read bounded and only if regular (issue 13: a 512 MiB 'card' was read whole before
refusal; /dev/zero as a card never ended; a FIFO would block)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from icspa_desktop.domain.errors import RefusedInput, UsageError
from icspa_desktop.files import read_bounded
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli


def test_regular_small_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "card"
    path.write_bytes(b"x" * 1000)
    assert read_bounded(path, "card", limit=1000) == b"x" * 1000


def test_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.icspa-card"
    with path.open("wb") as handle:
        handle.truncate(512 << 20)  # sparse: 512 MiB declared, nothing to read
    with pytest.raises(RefusedInput, match="536,870,912 bytes; a card is at most"):
        read_bounded(path, "card")


@pytest.mark.timeout(10)
def test_devices_fifos_and_folders_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo, tmp_path):
        with pytest.raises(RefusedInput, match="not a regular file"):
            read_bounded(path, "card")
    with pytest.raises(UsageError, match="Cannot read the card"):
        read_bounded(tmp_path / "missing", "card")


@pytest.mark.timeout(60)
def test_the_cli_refuses_dev_zero_as_a_card_with_exit_4(vault: VaultInfo) -> None:
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}
    done = run_cli("partner", "inspect", "/dev/zero", env=env)
    assert done.returncode == 4 and "not a regular file" in done.stderr, done.stderr
