"""The small labels every form shows under its fields: an error line and a busy/hint line."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


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
    """Show ``message`` in ``label``; an empty message hides it."""
    label.setText(message)
    label.setVisible(bool(message))
