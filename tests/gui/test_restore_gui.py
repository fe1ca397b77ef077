"""Vault → Restore from backup…: a real backup, checked and restored through the dialog, then opened.

Keyboard first: the focus is in the backup field on open, Enter checks the backup and then restores it (never
Cancel), a missing field is named and gets the focus; replacing the open vault needs its own confirmation,
whose default keeps the vault, and locks the app before anything is moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.restore_dialog import RestoreDialog
from icspa_desktop.services import backup, cases, custody_verify
from icspa_desktop.services import restore as restore_service
from icspa_desktop.services.session import unlock
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo
from tests.gui.conftest import unlock_as


@pytest.fixture
def backup_dir(vault: VaultInfo, desktop: DesktopApp, tmp_path: Path) -> Path:
    """A real backup of the desktop fixture's vault (two cases), made before the app unlocks it."""
    out = tmp_path / "medium"
    out.mkdir()
    with vault.session() as session:
        return backup.backup(session, out).path


@pytest.fixture
def app(qtbot: QtBot, desktop: DesktopApp, backup_dir: Path, tmp_path: Path) -> DesktopApp:
    desktop.window.custody.witness_dir = tmp_path / "witness"
    unlock_as(qtbot, desktop)
    return desktop


def open_dialog(app: DesktopApp) -> RestoreDialog:
    dialog = app.window.restore.open()
    assert dialog is not None and dialog.isVisible()
    return dialog


def check(qtbot: QtBot, dialog: RestoreDialog, folder: Path) -> None:
    dialog.source.setText(str(folder))
    qtbot.keyClick(dialog.source, Qt.Key.Key_Return)  # Enter: the main action, here "Check backup"
    assert dialog.op is not None
    with qtbot.waitSignal(dialog.op.finished, timeout=60_000):
        pass


def test_focus_and_default_button_on_open(qtbot: QtBot, app: DesktopApp) -> None:
    dialog = open_dialog(app)
    assert dialog.focusWidget() is dialog.source
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isDefault() and ok.text() == "&Check backup"
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).autoDefault()
    assert dialog.new_place.isChecked() and not dialog.replace.isChecked()  # a new location by default
    dialog.source.setText("/somewhere")
    qtbot.keyClick(dialog.source, Qt.Key.Key_Escape)  # Escape cancels, keeping nothing
    assert not dialog.isVisible()


def test_restore_into_a_new_folder_then_open_it(qtbot: QtBot, app: DesktopApp, backup_dir: Path,
                                                tmp_path: Path) -> None:
    dialog = open_dialog(app)
    check(qtbot, dialog, backup_dir)
    contents = dialog.contents.text()
    assert dialog.checked is not None and "a backup of this vault" in contents and f"by {ADMIN}" in contents
    assert "custody log of" in contents and dialog.ok.text() == "&Restore"
    assert dialog.focusWidget() is dialog.reason  # what the user types next
    target = tmp_path / "restored"
    dialog.target.setText(str(target))
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)  # no reason yet: named, focused, nothing done
    assert dialog.isVisible() and "Say why" in dialog.error.text()
    assert dialog.focusWidget() is dialog.reason
    dialog.reason.setText("disk of the workstation failed")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
    assert "passphrase" in dialog.error.text() and dialog.focusWidget() is dialog.passphrase
    dialog.passphrase.setText(ADMIN_PASS)
    with qtbot.waitSignal(app.window.restore.restored, timeout=120_000) as done:
        qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    restored = done.args[0]
    assert restored.result.path == target and restored.result.set_aside is None
    # The window moves to the restored vault: the open one is locked, the unlock asked for the restored one, and
    # the result is shown over it (the lock closes every other box).
    assert app.session is None and app.vault_path == target and app.settings.vault_path == str(target)
    qtbot.waitUntil(lambda: app.unlock_dialog is not None and app.unlock_dialog.isVisible(), timeout=10_000)
    assert app.unlock_dialog is not None
    assert str(target) in [label.text() for label in app.unlock_dialog.findChildren(QLabel)]
    box = app.notice_box
    assert box is not None and box.isVisible() and str(target) in box.text() and "opens the restored one" in box.text()
    # The restored vault opens, holds the backup's cases, and its restore is recorded: nothing pending, log clean.
    with unlock(target, ADMIN, ADMIN_PASS) as session:
        assert restore_service.pending_restore(session) is None
        assert {c.number for c in cases.list_cases(session)} == {"2026/001", "2026/002"}
        report = custody_verify.verify(session, witness_dir=tmp_path / "witness")
        assert report.ok, report.summary()
        assert not [w for w in session.warnings if "restored" in w]


def test_a_folder_that_is_no_backup_is_refused_in_the_dialog(qtbot: QtBot, app: DesktopApp, tmp_path: Path) -> None:
    dialog = open_dialog(app)
    empty = tmp_path / "not-a-backup"
    empty.mkdir()
    check(qtbot, dialog, empty)
    assert dialog.checked is None and dialog.error.isVisible() and "cannot be restored" in dialog.error.text()
    assert dialog.focusWidget() is dialog.source and dialog.ok.text() == "&Check backup"


def test_replacing_the_open_vault_asks_locks_then_reopens_the_restored_vault(qtbot: QtBot, app: DesktopApp,
                                                                             vault: VaultInfo,
                                                                             backup_dir: Path) -> None:
    session = app.session
    assert session is not None
    cases.create_case(session, CaseFields("2026/003", "Made after the backup"))  # lost by the restore
    dialog = open_dialog(app)
    check(qtbot, dialog, backup_dir)
    dialog.replace.setChecked(True)
    assert not dialog.target.isEnabled()
    dialog.reason.setText("the vault's disk was replaced")
    dialog.passphrase.setText(ADMIN_PASS)
    qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    (question,) = [b for b in dialog.findChildren(QMessageBox, "replaceVaultQuestion") if b.isVisible()]
    keep = question.defaultButton()
    assert isinstance(keep, QPushButton) and keep is question.escapeButton() and "Keep" in keep.text()
    assert app.session is session  # nothing happened yet
    go = next(b for b in question.buttons() if "replace" in b.text())
    with qtbot.waitSignal(app.window.restore.restored, timeout=120_000) as done, \
            qtbot.waitSignal(app.locked, timeout=30_000):
        go.click()
        assert app.session is None and app.window.stack.currentIndex() == 0  # locked before anything moves
    restored = done.args[0]
    assert restored.result.path == vault.path and restored.result.set_aside is not None
    assert (restored.result.set_aside / "vault.json").is_file()  # the old vault, kept
    assert not session.is_open
    unlock_as(qtbot, app, Role.ADMINISTRATOR)  # the unlock dialog the lock opened: now the restored vault
    assert app.session is not None
    assert {c.number for c in cases.list_cases(app.session)} == {"2026/001", "2026/002"}
    assert restore_service.pending_restore(app.session) is None
