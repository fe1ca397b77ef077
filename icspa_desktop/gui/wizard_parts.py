"""What the bundle export and import wizards share (gui/bundle_wizard.py, gui/import_wizard.py): the wizard
frame, its pages, a progress section with a stop button, and the small widgets their pages are built from.

The keyboard rules of both wizards live here: every page names the widget that takes the focus when it is
shown (``Page.first``); no button of a page is an auto-default, so Enter stays the wizard's Next/Finish; Tab
leaves text boxes; a question asked while work runs defaults to keeping it running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from icspa_desktop.domain.progress import Steps
from icspa_desktop.gui.feedback import error_label
from icspa_desktop.gui.folders import remember_choice
from icspa_desktop.i18n import _, format_size

_W = TypeVar("_W", bound=QWidget)
PROGRESS_STEPS = 1000  # a progress bar's range: fine enough for any size, no int overflow for large byte counts


def show_share(bar: QProgressBar, done: int, total: int) -> None:
    """How far ``done`` of ``total`` is (bytes or steps), on a bar of ``PROGRESS_STEPS``; empty when unknown."""
    bar.setValue(min(PROGRESS_STEPS, done * PROGRESS_STEPS // total) if total else 0)


def field_named(widget: _W, name: str) -> _W:
    """``widget`` with an object name (tests, style) that is also its accessible name (screen readers)."""
    widget.setObjectName(name)
    widget.setAccessibleName(name)
    return widget


def button(text: str, name: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAutoDefault(False)  # Enter stays the wizard's Next/Finish, whatever has the focus
    button.clicked.connect(lambda _checked=False: slot())
    return button


def plain(text: str = "", name: str = "") -> QLabel:
    """A selectable label that never interprets markup: data from outside (a partner, a medium) shows as it is."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def reading(name: str) -> QPlainTextEdit:
    """A read-only text box that Tab leaves."""
    text = field_named(QPlainTextEdit(), name)
    text.setReadOnly(True)
    text.setTabChangesFocus(True)
    return text


def ask(parent: QWidget, name: str, title: str, text: str, stop: str, keep: str,
        on_stop: Callable[[], object]) -> QMessageBox:
    """"Stop …?" while work runs (window-modal, not blocking): ``keep`` is the default and Escape's answer."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName(name)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    stop_button = box.addButton(stop, QMessageBox.ButtonRole.DestructiveRole)
    keep_button = box.addButton(keep, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep_button)
    box.setEscapeButton(keep_button)
    stop_button.clicked.connect(on_stop)
    box.open()
    return box


def window_action(window: QWidget, text: str, shortcut: str, tip: str, slot: Callable[[], object]) -> QAction:
    """The menu action that opens a wizard; its shortcut works while the menu bar is hidden too."""
    action = QAction(text, window)
    action.setShortcut(QKeySequence(shortcut))
    action.setStatusTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action


def choose_path(parent: QWidget, title: str, start: str, name: str, chosen: Callable[[str], object], *,
                folder: bool = False, filters: Sequence[str] = ()) -> QFileDialog:
    """Open Qt's own file dialog (window-modal, remembering its folder): an existing file, or a folder when
    ``folder``; ``chosen(path)`` when the user picks one."""
    dialog = remember_choice(parent, QFileDialog(parent, title, start))
    dialog.setObjectName(name)
    if folder:
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    if filters:
        dialog.setNameFilters(list(filters))
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.fileSelected.connect(lambda path: chosen(path) if path else None)
    dialog.open()
    return dialog


class Page(QWizardPage):
    """A page: a title, an introduction (``intro``), its fields in ``layout_``, an error line (``error``)."""

    def __init__(self, title: str, intro: str) -> None:
        super().__init__()
        self.setTitle(title)
        self.layout_ = QVBoxLayout(self)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.layout_.addWidget(self.intro)
        self.error = error_label()
        self.first: QWidget = self  # where the focus goes when the page is shown


class ProgressSection:
    """A progress bar that holds the focus (not the stop button), a status line and a stop button."""

    def __init__(self, bar_name: str, status_name: str, stop_text: str, stop_name: str,
                 stop: Callable[[], object]) -> None:
        self.bar = field_named(QProgressBar(), bar_name)
        self.bar.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the focus rests here, not on Stop
        self.bar.setRange(0, PROGRESS_STEPS)
        self.status = plain(name=status_name)
        self.stop = button(stop_text, stop_name, stop)

    def show_bytes(self, done: int, total: int, message: str) -> None:
        """A byte count's progress: "message — 1.2 MiB of 3.4 MiB" (just the message when the total is unknown, and
        when it counts steps rather than bytes: ``progress.Steps``; the bar shows how far either way)."""
        show_share(self.bar, done, total)
        bytes_ = total and not isinstance(message, Steps)
        self.status.setText(_("{step} — {done} of {total}", step=message, done=format_size(done),
                              total=format_size(total)) if bytes_ else message)

    def stopping(self, text: str) -> None:
        self.stop.setEnabled(False)
        self.status.setText(text)


class Wizard(QWizard):
    """The frame of both bundle wizards: classic style, no Back or Cancel on the last page, the focus in each
    page's first field, and the "Stop …?" question asked while work runs (``question``)."""

    def __init__(self, name: str, title: str, width: int, height: int, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setWindowTitle(title)
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOptions(QWizard.WizardOption.NoBackButtonOnLastPage | QWizard.WizardOption.NoCancelButtonOnLastPage)
        self.resize(width, height)
        self.pages: list[Page] = []
        self.question: QMessageBox | None = None
        self.currentIdChanged.connect(self._focus_first)

    def add_pages(self, pages: Sequence[Page]) -> None:
        for page in pages:
            self.pages.append(page)
            self.addPage(page)

    def _focus_first(self, _page_id: int) -> None:
        page = self.currentPage()
        if isinstance(page, Page):
            page.first.setFocus(Qt.FocusReason.TabFocusReason)

    def close_question(self) -> None:
        """The work ended while its "Stop …?" question was open: the question no longer applies."""
        if self.question is not None and shiboken6.isValid(self.question):
            self.question.close()
        self.question = None
