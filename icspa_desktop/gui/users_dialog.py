"""User administration (administrators): list users, add one, disable or enable an account."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.models import User
from icspa_desktop.gui.feedback import error_label, hint_label, required, required_note, show_message
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_in_background, show_error, show_notice
from icspa_desktop.gui.passphrase_dialog import password_edit
from icspa_desktop.gui.passphrase_strength import strength_hint
from icspa_desktop.i18n import N_, _
from icspa_desktop.services import users
from icspa_desktop.services.session import Session, check_new_passphrase, check_user_name

# Translated where shown: _(_ROLE_HINTS[role]), _(_ROLE_NAMES[role]).
_ROLE_HINTS = {
    Role.ADMINISTRATOR: N_("administrator — manages users and the agency identity"),
    Role.SUPERVISOR: N_("supervisor — closes cases, signs as the agency"),
    Role.INVESTIGATOR: N_("investigator — works on cases and evidence"),
    Role.AUDITOR: N_("auditor — read-only, verifies and reports"),
}
_ROLE_NAMES = {Role.ADMINISTRATOR: N_("administrator"), Role.SUPERVISOR: N_("supervisor"),
               Role.INVESTIGATOR: N_("investigator"), Role.AUDITOR: N_("auditor")}


class AddUserDialog(QDialog):
    """Name, display name, role and the new user's passphrase twice; emits ``added(User)``."""

    added = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addUserDialog")
        self.setWindowTitle(_("Add user"))
        self.setMinimumWidth(480)
        self._session = session
        self._op: BackgroundOp | None = None
        self.name = QLineEdit()
        self.name.setObjectName("userName")
        self.name.setPlaceholderText(_("e.g. k.mueller"))
        self.display_name = QLineEdit()
        self.display_name.setObjectName("displayName")
        self.role = QComboBox()
        self.role.setObjectName("roleCombo")
        for role in Role:
            self.role.addItem(_(_ROLE_HINTS[role]), role)
        self.role.setCurrentIndex(self.role.findData(Role.INVESTIGATOR))
        self.passphrase = password_edit("newUserPassphrase")
        self.repeat = password_edit("newUserRepeat")
        self.strength = QLabel()
        self.strength.setObjectName("hintLabel")
        self.passphrase.textChanged.connect(lambda text: self.strength.setText(strength_hint(text)[1] if text else ""))
        form = QFormLayout()
        form.addRow(required(_("User &name")), self.name)
        form.addRow(_("&Display name"), self.display_name)
        form.addRow(_("&Role"), self.role)
        form.addRow(required(_("&Passphrase")), self.passphrase)
        form.addRow("", self.strength)
        form.addRow(required(_("R&epeat passphrase")), self.repeat)
        form.addRow(required_note())
        self.error_label = error_label()
        self.status_label = hint_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton(_("&Add user"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setDefault(True)
        self.buttons.accepted.connect(self.attempt)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.finished.connect(self._clear_passphrases)

    @property
    def busy(self) -> bool:
        return self._op is not None

    def _clear_passphrases(self, _result: int = 0) -> None:
        self.passphrase.clear()
        self.repeat.clear()

    def attempt(self) -> None:
        if self.busy:
            return
        name, display = self.name.text().strip(), self.display_name.text().strip()
        role = Role(self.role.currentData())
        passphrase = self.passphrase.text()
        try:  # the service checks these too; checking first spares the user the key-derivation wait
            check_user_name(name)
            check_new_passphrase(passphrase)
        except IcspaError as exc:
            self._show_error(str(exc))
            return
        if passphrase != self.repeat.text():
            self._show_error(_("The passphrase and its repetition differ."))
            return
        session = self._session
        self._set_busy(True)
        self._op = run_in_background(self, lambda: users.add_user(session, name, role, passphrase, display),
                                     self._succeeded, self._failed)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.name, self.display_name, self.role, self.passphrase, self.repeat, self.add_button):
            widget.setEnabled(not busy)
        self.status_label.setText(_("Creating the user's key slot…") if busy else "")
        if busy:
            self._show_error("")

    def _show_error(self, message: str) -> None:
        show_message(self.error_label, message)

    def _succeeded(self, user: User) -> None:
        self._op = None
        self._set_busy(False)
        self.added.emit(user)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._op = None
        self._set_busy(False)
        self._show_error(error_text(exc))


class UsersDialog(QDialog):
    """The vault's users; Add user…, Disable/Enable the selected one."""

    COLUMNS = (N_("User name"), N_("Display name"), N_("Role"), N_("Active"))

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("usersDialog")
        self.setWindowTitle(_("Users"))
        self.resize(640, 400)
        self._session: Session | None = session
        self._users: list[User] = []
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("usersTable")
        self.table.setHorizontalHeaderLabels([_(column) for column in self.COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QPushButton(_("&Add user…"))
        self.add_button.clicked.connect(self.add_user)
        self.toggle_button = QPushButton(_("&Disable"))
        self.toggle_button.setObjectName("toggleActive")
        self.toggle_button.clicked.connect(self.toggle_active)
        side = QHBoxLayout()
        side.addWidget(self.add_button)
        side.addWidget(self.toggle_button)
        side.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        side.addWidget(close)
        self.result_hint = hint_label()
        self.result_hint.setObjectName("usersResult")
        self.result_hint.setWordWrap(True)
        self.result_hint.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.result_hint)
        layout.addLayout(side)
        self.finished.connect(lambda _result: self.clear())
        self.reload()

    def reload(self, select: str | None = None) -> None:
        session = self._session
        if session is None:
            return
        try:
            self._users = users.list_users(session)
        except IcspaError as exc:
            show_error(self, exc)
            return
        self.table.setRowCount(len(self._users))
        for row, user in enumerate(self._users):
            role = _ROLE_NAMES.get(user.role, str(user.role))
            values = (user.name, user.display_name, _(role), _("yes") if user.active else _("no (disabled)"))
            for column, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if not user.active:
                    cell.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(row, column, cell)
            if user.name == select:
                self.table.selectRow(row)
        self.table.resizeColumnToContents(0)
        self._update_buttons()

    def user_names(self) -> list[str]:
        return [user.name for user in self._users]

    def selected_user(self) -> User | None:
        rows = self.table.selectionModel().selectedRows()
        return self._users[rows[0].row()] if rows else None

    def select_user(self, name: str) -> None:
        self.table.selectRow(self.user_names().index(name))

    def _update_buttons(self) -> None:
        user = self.selected_user()
        self.toggle_button.setEnabled(user is not None)
        self.toggle_button.setText(_("&Enable") if user is not None and not user.active else _("&Disable"))

    def add_user(self) -> AddUserDialog | None:
        if self._session is None:
            return None
        dialog = AddUserDialog(self._session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.added.connect(lambda user: self.reload(select=user.name))
        dialog.open()
        return dialog

    def toggle_active(self) -> None:
        session, user = self._session, self.selected_user()
        if session is None or user is None:
            return
        try:
            _user, rotated = users.set_active(session, user.name, not user.active)
        except IcspaError as exc:
            show_error(self, exc)
            self.reload(select=user.name)  # a disable may have succeeded before its key rotation could not
            return
        self.reload(select=user.name)
        show_message(self.result_hint, _("{user} is enabled again.", user=user.name) if rotated is None else _(
            "{user} is disabled. The vault master key was replaced ({n} evidence keys rewrapped), so a copy of "
            "their old key slot opens nothing current.", user=user.name, n=rotated.blobs_rewrapped))
        if rotated is not None and rotated.new_recovery_key:
            show_notice(self, _("New recovery key"), [
                _("{user} is disabled and the vault master key was replaced, so the old recovery key no longer "
                  "opens the vault.", user=user.name),
                _("New recovery key — print it and keep it in a safe; it is shown only now:\n\n{key}",
                  key=rotated.new_recovery_key)], "newRecoveryKey")

    def clear(self) -> None:
        self._session = None
        self._users = []
        self.table.setRowCount(0)
