"""Nothing readable lies in the vault directory: no SQLite header, no case or user data."""

from __future__ import annotations

import stat
from pathlib import Path

from icspa_desktop.domain.enums import HandlingCode, Role, Tlp
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, users
from tests.conftest import VaultInfo

MARKERS = [
    "Operation Quetzal-Marigold",
    "QZ-2026-778899",
    "Seized laptop of the suspect Zebulon",
    "zebediah",
    "Zebediah Fairweather-Quill",
    "Test Police",
    "Warrant WX-991177",
]


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_vault_files_hold_no_plaintext(vault: VaultInfo) -> None:
    with vault.session() as session:
        users.add_user(session, "zebediah", Role.INVESTIGATOR, "zebediah-pass", "Zebediah Fairweather-Quill")
        for i in range(3):
            cases.create_case(
                session,
                CaseFields(number=f"QZ-2026-77889{9 - i}" if i else "QZ-2026-778899",
                           title="Operation Quetzal-Marigold", description="Seized laptop of the suspect Zebulon",
                           legal_authority="Warrant WX-991177", handling_code=HandlingCode.H2, tlp=Tlp.RED),
            )
        # Read the vault while it is still open: the -wal file holds the newest pages.
        files = _all_files(vault.path)
        assert any(p.name.endswith("-wal") for p in files) or any(p.name == "metadata.db" for p in files)
        _assert_clean(files)
    _assert_clean(_all_files(vault.path))


def _assert_clean(files: list[Path]) -> None:
    for path in files:
        data = path.read_bytes()
        assert b"SQLite format 3" not in data, path
        for marker in MARKERS:
            for encoded in (marker.encode(), marker.encode("utf-16-le")):
                assert encoded not in data, f"{marker!r} in plaintext in {path}"


def test_vault_permissions_are_owner_only(vault: VaultInfo) -> None:
    with vault.session() as session:
        cases.create_case(session, CaseFields(number="P-1", title="Permissions"))
        names = {p.name for p in vault.path.iterdir()}
        assert {"metadata.db-wal", "metadata.db-shm", "vault.lock", "keyslots.json", "vault.json"} <= names
        _assert_owner_only(vault.path)
    _assert_owner_only(vault.path)


def _assert_owner_only(root: Path) -> None:
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path} has mode {oct(mode)}"


def test_init_leaves_the_parent_directory_mode_alone(tmp_path: Path) -> None:
    from icspa_desktop.services.vault_service import init_vault

    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o1777)
    init_vault(parent / "vault", "admin", "admin-passphrase")
    assert stat.S_IMODE(parent.stat().st_mode) == 0o1777
    assert stat.S_IMODE((parent / "vault").stat().st_mode) == 0o700
