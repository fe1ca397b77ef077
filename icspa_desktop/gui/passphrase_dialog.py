"""Change my passphrase: current passphrase, new one twice; the Argon2id work runs off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from icspa_desktop.gui.feedback import error_label, hint_label, required, required_note, show_message
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_in_background
from icspa_desktop.gui.passphrase_strength import strength_hint
from icspa_desktop.i18n import _
from icspa_desktop.services import users
from icspa_desktop.services.session import Session


def password_edit(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class ChangePassphraseDialog(QDialog):
    """Emits ``changed`` and closes when the user's key slot was rewritten; refusals are shown inline."""

    changed = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changePassphraseDialog")
        self.setWindowTitle(_("Change my passphrase"))
        self.setMinimumWidth(480)
        self._session = session
        self._op: BackgroundOp | None = None
        intro = QLabel(_("Change the passphrase of {display_name} ({user}). Only your own key slot is rewritten; "
                         "nothing else in the vault changes.", display_name=session.user.display_name,
                         user=session.user.name))
        intro.setWordWrap(True)
        self.current = password_edit("currentPassphrase")
        self.new = password_edit("newPassphrase")
        self.repeat = password_edit("repeatPassphrase")
        self.strength = QLabel()
        self.strength.setObjectName("hintLabel")
        self.new.textChanged.connect(self._update_strength)
        form = QFormLayout()
        form.addRow(required(_("&Current passphrase")), self.current)
        form.addRow(required(_("&New passphrase")), self.new)
        form.addRow("", self.strength)
        form.addRow(required(_("&Repeat new passphrase")), self.repeat)
        form.addRow(required_note())
        self.error_label = error_label()
        self.status_label = hint_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.change_button = self.buttons.addButton(_("C&hange passphrase"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.change_button.setDefault(True)
        self.buttons.accepted.connect(self.attempt)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.finished.connect(lambda _result: self._clear())

    @property
    def busy(self) -> bool:
        return self._op is not None

    def _update_strength(self, text: str) -> None:
        self.strength.setText(strength_hint(text)[1] if text else "")

    def attempt(self) -> None:
        if self.busy:
            return
        current, new, repeat = self.current.text(), self.new.text(), self.repeat.text()
        if not current:
            self._show_error(_("Enter your current passphrase."))
            return
        if new != repeat:
            self._show_error(_("The new passphrase and its repetition differ."))
            return
        session = self._session
        self._set_busy(True)
        self._op = run_in_background(self, lambda: users.change_passphrase(session, current, new), self._succeeded,
                                     self._failed)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.current, self.new, self.repeat, self.change_button):
            widget.setEnabled(not busy)
        self.status_label.setText(_("Rewriting your key slot…") if busy else "")
        if busy:
            self._show_error("")

    def _show_error(self, message: str) -> None:
        show_message(self.error_label, message)

    def _succeeded(self, _result: object) -> None:
        self._op = None
        self._set_busy(False)
        self.changed.emit()
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._op = None
        self._set_busy(False)
        self.current.clear()
        self._show_error(error_text(exc))
        self.current.setFocus()

    def _clear(self) -> None:
        for edit in (self.current, self.new, self.repeat):
            edit.clear()
