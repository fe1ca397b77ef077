"""A forgotten passphrase is not a dead end: the unlock dialog opens the vault with the recovery key (issue 11)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.recovery_dialog import RecoveryDialog
from icspa_desktop.services import custody_verify
from icspa_desktop.services.session import unlock
from tests.conftest import NAMES, VaultInfo


def _open_recovery(qtbot: QtBot, desktop: DesktopApp) -> RecoveryDialog:
    dialog = desktop.unlock_dialog
    assert dialog is not None and dialog.forgot_button.isVisible()
    assert not dialog.forgot_button.autoDefault()  # Enter after a wrong passphrase still means Unlock
    dialog.user.setText(NAMES[Role.INVESTIGATOR])
    qtbot.mouseClick(dialog.forgot_button, Qt.MouseButton.LeftButton)
    recovery = dialog.recovery
    assert isinstance(recovery, RecoveryDialog)
    qtbot.waitExposed(recovery)
    assert recovery.user.text() == NAMES[Role.INVESTIGATOR] and recovery.focusWidget() is recovery.key
    return recovery


def test_a_wrong_recovery_key_is_said_inline_and_the_right_one_resets_and_unlocks(
        qtbot: QtBot, desktop: DesktopApp, vault: VaultInfo) -> None:
    recovery = _open_recovery(qtbot, desktop)
    qtbot.keyClicks(recovery.key, "AAAA-BBBB-CCCC")
    qtbot.keyClicks(recovery.new, "a-new-passphrase-for-ivan")
    qtbot.keyClicks(recovery.repeat, "a-new-passphrase-for-ivan")
    qtbot.keyClick(recovery.repeat, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not recovery.busy and recovery.error_label.isVisibleTo(recovery), timeout=20_000)
    assert "recovery key" in recovery.error_label.text() and desktop.session is None
    recovery.key.setText(vault.recovery_key.lower().replace("-", " "))  # as typed from the printout
    recovery.new.setText("a-new-passphrase-for-ivan")
    recovery.repeat.setText("a-new-passphrase-for-ivan")
    with qtbot.waitSignal(desktop.unlocked, timeout=20_000):
        qtbot.keyClick(recovery.repeat, Qt.Key.Key_Return)
    session = desktop.session
    assert session is not None and session.user.name == NAMES[Role.INVESTIGATOR]
    assert events.list_events(session.conn)[-1].action == CustodyAction.KEY_ROTATED
    desktop.lock()
    with unlock(vault.path, NAMES[Role.INVESTIGATOR], "a-new-passphrase-for-ivan") as again:
        assert custody_verify.verify(again).ok


def test_mismatched_new_passphrases_are_caught_before_any_work(qtbot: QtBot, desktop: DesktopApp,
                                                               vault: VaultInfo) -> None:
    recovery = _open_recovery(qtbot, desktop)
    recovery.key.setText(vault.recovery_key)
    recovery.new.setText("one-new-passphrase")
    recovery.repeat.setText("another-passphrase")
    recovery.reset_button.click()
    assert not recovery.busy and "same new passphrase" in recovery.error_label.text()
    recovery.reject()
    assert desktop.unlock_dialog is not None and desktop.unlock_dialog.isVisible() and desktop.session is None
