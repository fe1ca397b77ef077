"""A forgotten passphrase: unlock with the printed recovery key and set a new passphrase (issue 11).

Reached from the unlock dialog ("Forgot your passphrase?"). ``services.vault_service.recover`` opens the
vault with the recovery key, gives the user a new passphrase and a new signing key (the old one cannot be
recovered: it was wrapped by the forgotten passphrase; its past signatures stay verifiable) and records
it in the custody log, countersigned by the recovery authority. The Argon2id work runs off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.gui.feedback import error_label, hint_label, show_message
from icspa_desktop.gui.ops import BackgroundOp, run_in_background, show_error
from icspa_desktop.gui.passphrase_dialog import password_edit
from icspa_desktop.gui.passphrase_strength import strength_hint
from icspa_desktop.i18n import _
from icspa_desktop.services.session import Session

# (user name, recovery key as printed, new passphrase) -> an open session
RecoverFunction = Callable[[str, str, str], Session]


class RecoveryDialog(QDialog):
    """Emits ``recovered(session)`` and closes when the new passphrase is set; refusals are shown inline."""

    recovered = Signal(object)

    def __init__(self, recover: RecoverFunction, user_name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._recover = recover
        self._op: BackgroundOp | None = None
        self.setObjectName("recoveryDialog")
        self.setWindowTitle(_("Unlock with the recovery key"))
        self.setMinimumWidth(520)
        intro = QLabel(_("Type the recovery key printed when the vault was created (groups of letters and digits; "
                         "spaces, dashes and case do not matter) and choose a new passphrase. Your old signing "
                         "key is retired — everything it signed stays verifiable — and the reset is recorded in "
                         "the chain of custody."))
        intro.setWordWrap(True)
        self.user = QLineEdit(user_name)
        self.user.setObjectName("recoveryUserEdit")
        self.key = QLineEdit()
        self.key.setObjectName("recoveryKeyEdit")
        self.key.setPlaceholderText(_("ABCD-EFGH-…"))
        self.new = password_edit("recoveryNewPassphrase")
        self.repeat = password_edit("recoveryRepeatPassphrase")
        self.strength = hint_label()
        self.new.textChanged.connect(lambda text: self.strength.setText(strength_hint(text)[1] if text else ""))
        form = QFormLayout()
        form.addRow(_("&User"), self.user)
        form.addRow(_("Recovery &key"), self.key)
        form.addRow(_("&New passphrase"), self.new)
        form.addRow("", self.strength)
        form.addRow(_("&Repeat new passphrase"), self.repeat)
        self.error_label = error_label()
        self.status_label = hint_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.reset_button = self.buttons.addButton(_("&Set passphrase and unlock"),
                                                   QDialogButtonBox.ButtonRole.AcceptRole)
        self.reset_button.setDefault(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)
        self.buttons.accepted.connect(self.attempt)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        (self.key if user_name else self.user).setFocus()

    @property
    def busy(self) -> bool:
        return self._op is not None

    def attempt(self) -> None:
        if self.busy:
            return
        user, key, new = self.user.text().strip(), self.key.text().strip(), self.new.text()
        if not user or not key:
            show_message(self.error_label, _("Enter your user name and the recovery key."))
            return
        if not new or new != self.repeat.text():
            show_message(self.error_label, _("Type the same new passphrase twice."))
            self.repeat.clear()
            (self.new if not new else self.repeat).setFocus()
            return
        self._set_busy(True)
        self._op = run_in_background(self, lambda: self._recover(user, key, new), self._succeeded, self._failed)

    def reject(self) -> None:
        if not self.busy:  # the KDF is about to open a session: let it finish
            super().reject()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.busy:
            event.accept()
            return
        super().keyPressEvent(event)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.user, self.key, self.new, self.repeat, self.reset_button):
            widget.setEnabled(not busy)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(not busy)
        self.status_label.setText(_("Opening the vault with the recovery key…") if busy else "")
        if busy:
            show_message(self.error_label, "")

    def _succeeded(self, session: Session) -> None:
        self._op = None
        self._set_busy(False)
        for edit in (self.key, self.new, self.repeat):
            edit.clear()
        self.recovered.emit(session)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._op = None
        self._set_busy(False)
        self.reset_button.setDefault(True)
        if isinstance(exc, IcspaError):
            show_message(self.error_label, str(exc))
            self.key.setFocus()
        else:
            show_error(self, exc)
