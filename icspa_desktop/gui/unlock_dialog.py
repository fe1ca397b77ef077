"""Unlock the vault: user name and passphrase; the slow KDF runs off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop import TOOL_NAME
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.gui.feedback import error_label, hint_label, show_message
from icspa_desktop.gui.ops import BackgroundOp, run_in_background, show_error
from icspa_desktop.gui.recovery_dialog import RecoverFunction, RecoveryDialog
from icspa_desktop.i18n import _
from icspa_desktop.services.session import Session

# (user name, passphrase) -> an open session; raises AuthenticationError, VaultBusy, ...
UnlockFunction = Callable[[str, str], Session]


class UnlockDialog(QDialog):
    """Emits ``unlocked(session)`` and closes on success; a refusal is shown inline and the dialog stays."""

    unlocked = Signal(object)

    def __init__(self, vault_path: Path, unlock: UnlockFunction, user_name: str = "",
                 parent: QWidget | None = None, recover: RecoverFunction | None = None) -> None:
        super().__init__(parent)
        self._unlock = unlock
        self._recover = recover
        self.recovery: RecoveryDialog | None = None
        self._op: BackgroundOp | None = None
        self.setObjectName("unlockDialog")
        self.setWindowTitle(_("Unlock vault — {program}", program=TOOL_NAME))
        self.setMinimumWidth(460)

        intro = QLabel(_("The vault is locked. Enter your user name and passphrase."))
        intro.setWordWrap(True)
        location = QLabel(str(vault_path))
        location.setObjectName("hintLabel")
        location.setTextFormat(Qt.TextFormat.PlainText)
        location.setWordWrap(True)
        self.user = QLineEdit(user_name)
        self.user.setObjectName("userEdit")
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("passphraseEdit")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow(_("Vault"), location)
        form.addRow(_("User &name"), self.user)
        form.addRow(_("&Passphrase"), self.passphrase)

        self.error_label = error_label()
        self.status_label = hint_label()

        self.buttons = QDialogButtonBox()
        self.unlock_button = self.buttons.addButton(_("&Unlock"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.unlock_button.setDefault(True)
        self.quit_button = self.buttons.addButton(_("&Quit"), QDialogButtonBox.ButtonRole.RejectRole)
        # Never the default: while Unlock is disabled (the KDF runs) Qt hands the focus, and with it the
        # default role, to Quit — and the next Enter after a wrong passphrase quit the app (issue 11).
        self.quit_button.setAutoDefault(False)
        self.buttons.accepted.connect(self.attempt)
        self.buttons.rejected.connect(self.reject)
        # A forgotten passphrase is not a dead end: the printed recovery key opens the vault (issue 11).
        self.forgot_button = QPushButton(_("&Forgot your passphrase? Use the recovery key…"))
        self.forgot_button.setObjectName("forgotPassphraseButton")
        self.forgot_button.setAutoDefault(False)
        self.forgot_button.setFlat(True)
        self.forgot_button.clicked.connect(lambda _checked=False: self.open_recovery())
        self.forgot_button.setVisible(recover is not None)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.forgot_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.buttons)
        (self.passphrase if user_name else self.user).setFocus()

    def open_recovery(self) -> RecoveryDialog | None:
        if self._recover is None or self.busy:
            return None
        dialog = RecoveryDialog(self._recover, self.user.text().strip(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.recovered.connect(self._succeeded)
        self.recovery = dialog
        dialog.open()
        return dialog

    @property
    def busy(self) -> bool:
        return self._op is not None

    def attempt(self) -> None:
        """Start unlocking with what is typed (the Unlock button and Enter)."""
        if self.busy:
            return
        user, passphrase = self.user.text().strip(), self.passphrase.text()
        if not user or not passphrase:
            self._show_error(_("Enter your user name and passphrase."))
            return
        self._set_busy(True)
        self._op = run_in_background(self, lambda: self._unlock(user, passphrase), self._succeeded, self._failed)

    def reject(self) -> None:
        # Closing while the KDF runs would orphan the session it is about to open.
        if not self.busy:
            super().reject()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Escape would quit the whole application from here; quitting is the Quit button (Alt+Q).
        if event.key() == Qt.Key.Key_Escape:
            event.accept()
            return
        super().keyPressEvent(event)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.user, self.passphrase, self.unlock_button, self.quit_button, self.forgot_button):
            widget.setEnabled(not busy)
        self.status_label.setText(_("Unlocking…") if busy else "")
        if busy:
            self._show_error("")

    def _show_error(self, message: str) -> None:
        show_message(self.error_label, message)

    def _succeeded(self, session: Session) -> None:
        self._op = None
        self._set_busy(False)
        self.passphrase.clear()
        self.unlocked.emit(session)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._op = None
        self._set_busy(False)
        self.passphrase.clear()
        self.passphrase.setFocus()
        self.unlock_button.setDefault(True)
        if isinstance(exc, IcspaError):
            self._show_error(str(exc))
        else:
            show_error(self, exc)
