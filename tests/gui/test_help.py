"""Help → User guide (F1): the guides of docs/ in the app, offline (issue 11: "Help has no guide")."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.help_dialog import GUIDES, HelpDialog
from tests.gui.conftest import unlock_as


def test_f1_opens_the_guides_and_each_one_renders(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    assert window.help.action.shortcut().toString() == "F1"
    window.help.action.trigger()
    dialog = window.help.dialog
    assert isinstance(dialog, HelpDialog)
    qtbot.waitExposed(dialog)
    assert dialog.guides.count() == len(GUIDES)
    assert "investigator's day" in dialog.text.toPlainText()
    for row in range(dialog.guides.count()):
        dialog.guides.setCurrentRow(row)
        assert len(dialog.text.toPlainText()) > 500
    # Keyboard: the list has the focus; Up walks back to the first guide.
    dialog.guides.setFocus()
    for _ in range(len(GUIDES)):
        qtbot.keyClick(dialog.guides, Qt.Key.Key_Up)
    assert dialog.guides.currentRow() == 0
    assert dialog.show_guide("bundle-format.md") and dialog.guides.currentRow() == 1
    assert not dialog.show_guide("../../etc/passwd")


def test_a_status_message_never_overlaps_the_vault_label(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    window.statusBar().showMessage("Daily custody checkpoint made")
    assert window.vault_label.isHidden()
    window.statusBar().clearMessage()
    assert not window.vault_label.isHidden()
