"""Unlock (wrong, busy, right), lock with Ctrl+L, and idle auto-lock — no vault data survives a lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPlainTextEdit, QWidget
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import AuthenticationError
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.ops import run_with_progress
from icspa_desktop.services.session import unlock
from tests.conftest import ADMIN, PASSPHRASES, VaultInfo
from tests.gui.conftest import unlock_as

CASE_TITLES = ("Operation Nightjar", "Ransomware at the harbour")


def visible_text(root: QWidget) -> str:
    """Every text a label, line edit or text box under ``root`` holds (shown or not)."""
    parts = [label.text() for label in root.findChildren(QLabel)]
    parts += [edit.text() for edit in root.findChildren(QLineEdit)]
    parts += [box.toPlainText() for box in root.findChildren(QPlainTextEdit)]
    return "\n".join(parts)


def assert_no_vault_data(app: DesktopApp) -> None:
    window = app.window
    assert window.browser.model.rowCount() == 0
    assert window.browser.proxy.rowCount() == 0
    assert window.browser.current_case() is None
    assert window.browser.details.shown_text() == ""
    text = visible_text(window)
    for title in CASE_TITLES:
        assert title not in text
    assert window.state_label.text() == "Locked"
    assert not window.new_case_action.isEnabled()
    assert not window.edit_case_action.isEnabled()


def test_wrong_passphrase_is_shown_inline_then_the_right_one_unlocks(qtbot: QtBot, desktop: DesktopApp,
                                                                     vault: VaultInfo) -> None:
    with pytest.raises(AuthenticationError) as refused:
        unlock(vault.path, ADMIN, "not the passphrase").lock()
    dialog = desktop.unlock_dialog
    assert dialog is not None
    assert dialog.isVisible()
    dialog.user.setText(ADMIN)
    dialog.passphrase.setText("not the passphrase")
    dialog.unlock_button.click()
    assert dialog.busy  # the KDF runs in the background
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text() == str(refused.value)
    assert dialog.passphrase.text() == ""
    assert desktop.session is None
    assert not desktop.window.isVisible()

    unlock_as(qtbot, desktop, Role.ADMINISTRATOR)
    assert not shiboken6.isValid(dialog) or not dialog.isVisible()  # closed (and deleted once the list is read)
    window = desktop.window
    assert window.isVisible()
    assert window.browser.model.rowCount() == 2
    assert str(vault.path) in window.vault_label.text()
    assert "Alice Admin (alice)" in window.user_label.text()
    assert "administrator" in window.user_label.text()
    assert window.state_label.text() == "Unlocked"


def test_busy_vault_message_is_shown(qtbot: QtBot, desktop: DesktopApp, vault: VaultInfo) -> None:
    other = vault.session(Role.INVESTIGATOR)  # this "other process" holds the vault lock
    try:
        dialog = desktop.unlock_dialog
        assert dialog is not None
        dialog.user.setText(ADMIN)
        dialog.passphrase.setText("alice-passphrase")
        dialog.unlock_button.click()
        qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
        assert "open in another ICSPA process" in dialog.error_label.text()
        assert dialog.isVisible()
        assert desktop.session is None
    finally:
        other.lock()


def test_ctrl_l_locks_clears_every_view_and_unlocking_restores_it(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    session = desktop.session
    assert session is not None
    window.browser.table.selectRow(0)
    assert window.browser.details.shown_text() != ""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)

    with qtbot.waitSignal(desktop.locked, timeout=5_000):
        QTest.keyClick(window.browser.table, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert desktop.session is None
    assert not session.is_open  # database closed, keys dropped
    assert_no_vault_data(desktop)
    dialog = desktop.unlock_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.user.text() == ADMIN  # remembered, passphrase not

    unlock_as(qtbot, desktop)
    assert window.browser.model.rowCount() == 2
    assert window.state_label.text() == "Unlocked"


def test_idle_auto_lock(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    desktop.window.browser.table.selectRow(0)
    with qtbot.waitSignal(desktop.locked, timeout=5_000):
        desktop.idle.set_timeout_ms(50)
    assert_no_vault_data(desktop)
    dialog = desktop.unlock_dialog
    assert dialog is not None
    assert dialog.isVisible()
    # Locked: the idle timer does not run again until the next unlock.
    assert not desktop.idle.active
    unlock_as(qtbot, desktop)
    assert desktop.idle.active


def test_user_input_restarts_the_idle_timer(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    timer = desktop.idle._timer
    desktop.idle.set_timeout_ms(60_000)
    qtbot.waitUntil(lambda: timer.remainingTime() < 59_900, timeout=5_000)
    QTest.keyClick(desktop.window.browser.filter_edit, Qt.Key.Key_A)
    assert timer.remainingTime() > 59_900
    QTest.mouseClick(desktop.window.browser.table.viewport(), Qt.MouseButton.LeftButton)
    assert timer.remainingTime() > 59_900


def test_lock_closes_an_open_case_dialog(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    window.browser.table.selectRow(0)
    dialog = window.edit_case()
    assert dialog is not None
    assert dialog.isVisible()
    desktop.lock()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=5_000)  # deleted, not just hidden
    assert_no_vault_data(desktop)


def test_quit_locks_the_session(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    with qtbot.waitSignal(desktop.finished, timeout=5_000):
        desktop.window.quit_action.trigger()
    assert not session.is_open
    assert not desktop.window.isVisible()


def test_lock_cancels_background_work_before_closing_the_database(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    started = threading.Event()
    outcome: list[str] = []

    def work(_report: ProgressCallback, cancel: CancelToken) -> None:
        started.set()
        while not cancel.cancelled:  # a long job using the session, one chunk at a time
            session.conn.execute("SELECT count(*) FROM cases").fetchone()
        outcome.append("stopped while the database was still open" if session.is_open else "too late")
        cancel.check()

    run_with_progress(desktop.window, work, lambda _v: None, lambda *_a: None, lambda _exc: None)
    assert started.wait(5)
    with qtbot.waitSignal(desktop.locked, timeout=10_000):
        desktop.lock()  # returns at once: the lock screen shows while the work stops (issue 11: no freeze)
        assert desktop.session is None and desktop.window.stack.currentIndex() == 0
    assert outcome == ["stopped while the database was still open"]
    assert not session.is_open


def test_enter_after_a_wrong_passphrase_unlocks_and_escape_never_quits(qtbot: QtBot, desktop: DesktopApp) -> None:
    dialog = desktop.unlock_dialog
    assert dialog is not None
    dialog.show()
    dialog.activateWindow()
    dialog.user.setText(ADMIN)
    dialog.passphrase.setText("not the passphrase")
    qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
    assert dialog.isVisible() and dialog.error_label.isVisible()
    assert dialog.unlock_button.isDefault() and not dialog.quit_button.isDefault()
    qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Escape)
    assert dialog.isVisible()  # Escape did not quit
    dialog.passphrase.setText(PASSPHRASES[Role.ADMINISTRATOR])
    with qtbot.waitSignal(desktop.unlocked, timeout=20_000):
        qtbot.keyClick(dialog.passphrase, Qt.Key.Key_Return)
    assert desktop.session is not None


def test_a_long_refusal_makes_the_dialog_taller_instead_of_squeezing_its_form(qtbot: QtBot, tmp_path: Path) -> None:
    """Seen on Xvfb in German: a three-line refusal in the unlock dialog squeezed the rows above it until the
    labels overlapped. The dialog grows to hold the message; the fields keep their own height."""
    from icspa_desktop.gui.feedback import show_message
    from icspa_desktop.gui.unlock_dialog import UnlockDialog

    def refuse(user: str, passphrase: str) -> object:
        raise AuthenticationError("no")

    dialog = UnlockDialog(tmp_path / "vault", refuse, "alice")  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    before = dialog.height()
    field_height = dialog.user.height()
    show_message(dialog.error_label, "Die Schlüsselplatz-Parameter von Argon2id (Speicher 8192 KiB, 1 Durchlauf) "
                 "liegen unter der Untergrenze (65536 KiB, 3); der Schlüsselplatz wurde von einem Testprofil angelegt "
                 "und ist nicht sicher. " * 2)
    QApplication.processEvents()
    layout = dialog.layout()
    assert layout is not None
    assert dialog.height() > before
    assert dialog.height() >= layout.totalHeightForWidth(dialog.width())
    assert dialog.user.height() >= field_height and dialog.passphrase.height() >= field_height
    assert dialog.user.geometry().bottom() < dialog.passphrase.geometry().top()  # rows do not overlap
