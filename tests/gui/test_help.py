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


def test_the_guides_show_their_pictures_scaled_to_the_window(qtbot: QtBot, desktop: DesktopApp) -> None:
    """The user guide's screenshots (docs/screenshots, relative links) render as pictures no wider than the text,
    not as broken-image placeholders; nothing outside the guides' folder is read."""
    import re

    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QImage, QTextDocument

    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.folder is not None
    markdown = (dialog.folder / "user-guide.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\((screenshots/[^)]+\.png)\)", markdown)
    assert len(pictures) >= 5
    dialog.show_guide("user-guide.md")
    width = dialog.text.viewport().width()
    for picture in pictures:
        image = dialog.text.loadResource(QTextDocument.ResourceType.ImageResource.value, QUrl(picture))
        assert isinstance(image, QImage) and not image.isNull(), picture
        assert 200 <= image.width() <= width, (picture, image.width(), width)
    assert dialog.text.loadResource(QTextDocument.ResourceType.ImageResource.value, QUrl("../../etc/passwd")) is None
    assert dialog.show_guide("admin-guide.md") and "screenshots/09-partners.png" in (
        dialog.folder / "admin-guide.md").read_text(encoding="utf-8")
