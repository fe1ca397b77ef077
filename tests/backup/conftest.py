"""Backup fixtures: a real vault with evidence, a folder to back up into, the witness directory of this "OS account"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence
from icspa_desktop.services import custody as custody_service
from tests.conftest import VaultInfo

CASE = "2026/B-1"


def write_files(folder: Path, sizes: list[int], prefix: str = "exhibit") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for n, size in enumerate(sizes):
        path = folder / f"{prefix}-{n}.bin"
        path.write_bytes(os.urandom(size))
        made.append(path)
    return made


@pytest.fixture
def witness_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This OS account's witness folder (the agency witness and the users' own)."""
    folder = tmp_path / "witness"
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(folder))
    return folder


@pytest.fixture
def stocked(witness_dir: Path, vault: VaultInfo, tmp_path: Path) -> VaultInfo:
    """The test vault with a case, six evidence files (one of 3 MiB) and a signed checkpoint."""
    files = write_files(tmp_path / "seized", [3 << 20, 70_000, 1, 0, 1 << 20, 4097])
    with vault.session() as alice:
        cases.create_case(alice, CaseFields(CASE, "Operation Heron"))
        evidence.add_files(alice, CASE, files)
        custody_service.make_checkpoint(alice, "before the backup")
    return vault


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder
