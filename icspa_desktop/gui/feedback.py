"""The small labels every form shows under its fields: an error line and a busy/hint line."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from icspa_desktop.i18n import _


def error_label() -> QLabel:
    """Hidden until ``show_message`` gives it text; styled by ``#errorLabel`` in style.qss."""
    label = QLabel()
    label.setObjectName("errorLabel")
    label.setWordWrap(True)
    label.hide()
    return label


def hint_label() -> QLabel:
    label = QLabel()
    label.setObjectName("hintLabel")
    return label


def show_message(label: QLabel, message: str) -> None:
    """Show ``message`` in ``label``; an empty message hides it. A dialog already on screen grows to hold a long
    message: a wrapped label does not make its window taller by itself, and the form above it was squeezed until
    its rows overlapped (seen on Xvfb with a three-line German error in the unlock dialog)."""
    label.setText(message)
    label.setVisible(bool(message))
    window = label.window()
    if not message or window is label or not window.isVisible():
        return
    layout = window.layout()
    if layout is None:
        return
    layout.activate()
    needed = layout.totalHeightForWidth(window.width()) if layout.hasHeightForWidth() else window.sizeHint().height()
    if needed > window.height():
        window.resize(window.width(), needed)


REQUIRED_MARK = "*"


def required(caption: str) -> str:
    """A form label for a field that must be filled: ``Reason*`` (the same mark in every form, issue 11)."""
    return _("{caption}{mark}", caption=caption, mark=REQUIRED_MARK)


def required_note() -> QLabel:
    """The legend a form with required fields shows once, under its fields."""
    label = QLabel(_("Fields marked {mark} are required.", mark=REQUIRED_MARK))
    label.setObjectName("hintLabel")
    return label


def result_box(parent: QWidget, icon: QMessageBox.Icon, title: str, paragraphs: list[str], object_name: str,
               previous: QMessageBox | None = None) -> QMessageBox:
    """A long job's outcome in a selectable, non-blocking message box (closing the ``previous`` one)."""
    box = QMessageBox(icon, title, "\n\n".join(paragraphs), QMessageBox.StandardButton.Ok, parent)
    box.setObjectName(object_name)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    if previous is not None and shiboken6.isValid(previous):
        previous.close()
    return box
