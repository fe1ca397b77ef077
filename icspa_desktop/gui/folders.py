"""Where file dialogs start: the folder the user last chose in this session, else the home folder.

Issue 11: every file dialog started in the home folder. The folder is kept on the main window (a Qt property of
the top-level window), not in the settings file: a folder name can name a case, and the settings hold no case
data. The lock forgets it (``forget_folder``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

_PROPERTY = "icspaRecentFolder"


def _top(widget: QWidget) -> QWidget:
    while widget.parentWidget() is not None:
        parent = widget.parentWidget()
        assert parent is not None
        widget = parent
    return widget


def start_folder(widget: QWidget) -> Path:
    """The folder a file dialog opened from ``widget`` starts in."""
    value = _top(widget).property(_PROPERTY)
    if isinstance(value, str) and value and Path(value).is_dir():
        return Path(value)
    return Path.home()


def remember_folder(widget: QWidget, chosen: str | Path) -> None:
    """Remember the folder of a chosen file (or a chosen folder) for the next dialog."""
    if not str(chosen):
        return
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    _top(widget).setProperty(_PROPERTY, str(folder))


def forget_folder(widget: QWidget) -> None:
    _top(widget).setProperty(_PROPERTY, "")


def remember_choice(parent: QWidget, dialog: QFileDialog) -> QFileDialog:
    """Remember the folder of whatever is chosen in ``dialog`` (opened from ``parent``)."""
    dialog.fileSelected.connect(lambda name: remember_folder(parent, name))
    return dialog
