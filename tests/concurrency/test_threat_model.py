"""Issue 13 item 7: claims of docs/SECURITY.md's threat model that no other test proved.

- Tampering with a vault copy: a byte changed inside the encrypted database (SQLCipher's per-page HMAC) is found by
  the vault check, and a copied vault does not open with a wrong passphrase.
- Shoulder surfing: every passphrase the desktop asks for is typed into a masked field.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLineEdit
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.errors import AuthenticationError
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases, vault_service
from icspa_desktop.services.session import unlock
from icspa_desktop.vault.db import PAGE_SIZE
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo
from tests.gui.conftest import make_app


@pytest.fixture
def copied(vault: VaultInfo, tmp_path: Path) -> Path:
    """A copy of a vault with some records, made while it is locked (as a thief or an insider would)."""
    with vault.session() as session:
        for i in range(40):
            cases.create_case(session, CaseFields(f"2026/{i:03d}", f"Operation {i}", description="x" * 400))
    copy = tmp_path / "copy"
    shutil.copytree(vault.path, copy)
    return copy


def test_a_byte_changed_in_a_copied_database_is_found_by_the_vault_check(copied: Path) -> None:
    database = copied / "metadata.db"
    pages = database.stat().st_size // PAGE_SIZE
    assert pages > 4
    with database.open("r+b") as handle:  # the middle of a page in the middle of the file
        handle.seek((pages // 2) * PAGE_SIZE + PAGE_SIZE // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))
    with unlock(copied, ADMIN, ADMIN_PASS) as session:  # a page the unlock does not read: opens, then the check
        check = vault_service.check_vault(session)
    assert not check.ok
    assert any("hmac" in problem.lower() or "page" in problem.lower() for problem in check.problems), check.problems


def test_a_copied_vault_does_not_open_with_a_wrong_passphrase(copied: Path) -> None:
    with pytest.raises(AuthenticationError):
        unlock(copied, ADMIN, ADMIN_PASS + "x")


@pytest.fixture
def fresh_app(qtbot: QtBot, qapp: QApplication, tmp_path: Path, settings: AppSettings) -> Iterator[DesktopApp]:
    yield from make_app(qtbot, qapp, tmp_path / "new-vault", settings)  # no vault there: the first-run wizard


def test_every_passphrase_field_is_masked(qtbot: QtBot, desktop: DesktopApp, fresh_app: DesktopApp) -> None:
    unlock_dialog = desktop.unlock_dialog
    wizard = fresh_app.wizard
    assert unlock_dialog is not None and wizard is not None
    fields = [edit for widget in (unlock_dialog, wizard) for edit in widget.findChildren(QLineEdit)
              if edit.objectName() in ("passphraseEdit", "repeatEdit")]
    assert len(fields) == 3  # unlock; the wizard's passphrase and its repetition
    assert all(edit.echoMode() == QLineEdit.EchoMode.Password for edit in fields)
