"""First run: create a vault, its administrator and recovery key, step by step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from icspa_desktop import TOOL_NAME
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.gui.feedback import error_label
from icspa_desktop.gui.ops import BackgroundOp, run_in_background, show_error
from icspa_desktop.gui.passphrase_strength import strength_hint
from icspa_desktop.i18n import _
from icspa_desktop.services.session import MIN_PASSPHRASE_LEN, USER_NAME_RE
from icspa_desktop.services.vault_service import AgencyInfo, init_vault


@dataclass(frozen=True)
class NewVault:
    path: Path
    agency: AgencyInfo
    admin_name: str
    display_name: str
    passphrase: str


def create_vault(request: NewVault) -> str:
    """The service call behind the wizard; returns the recovery key."""
    return init_vault(request.path, request.admin_name, request.passphrase, display_name=request.display_name,
                      agency=request.agency)


def _intro(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class LocationPage(QWizardPage):
    def __init__(self, default_path: Path) -> None:
        super().__init__()
        self.setTitle(_("Where to keep the vault"))
        self.path_edit = QLineEdit(str(default_path))
        self.path_edit.setObjectName("locationEdit")
        browse = QPushButton(_("&Browse…"))
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.error_label = error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(_intro(_(
            "All cases, evidence and the chain of custody are kept encrypted in one vault folder on this "
            "workstation. Choose a new or empty folder.")))
        layout.addLayout(row)
        layout.addWidget(self.error_label)
        # Not a mandatory ("*") field: QWizard counts one as filled only once it differs from its first value,
        # so the suggested folder kept Next disabled (issue 11). Filled = not empty, checked here.
        self.registerField("location", self.path_edit)
        self.path_edit.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:
        return bool(self.path_edit.text().strip())

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, _("Vault folder"), self.path_edit.text())
        if chosen:
            self.path_edit.setText(chosen)

    def validatePage(self) -> bool:
        path = Path(self.path_edit.text().strip()).expanduser()
        problem = ""
        if not path.is_absolute():
            problem = _("Give the full path of the vault folder (starting with /).")
        elif path.exists() and (not path.is_dir() or any(path.iterdir())):
            problem = _("{path} already exists and is not empty; choose another vault location.", path=path)
        self.error_label.setText(problem)
        self.error_label.setVisible(bool(problem))
        return not problem


class AgencyPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle(_("Your agency"))
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("agencyNameEdit")
        self.country_edit = QLineEdit()
        self.country_edit.setObjectName("countryEdit")
        self.country_edit.setMaxLength(2)
        self.country_edit.setPlaceholderText(_("ISO code, e.g. NL"))
        self.country_edit.setValidator(QRegularExpressionValidator(QRegularExpression("[A-Za-z]{0,2}")))
        self.unit_edit = QLineEdit()
        self.contact_edit = QLineEdit()
        form = QFormLayout()
        form.addRow(_("Agency na&me*"), self.name_edit)
        form.addRow(_("&Country*"), self.country_edit)
        form.addRow(_("&Unit"), self.unit_edit)
        form.addRow(_("C&ontact"), self.contact_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(_intro(_("The agency's name and country are recorded with every custody event.")))
        layout.addLayout(form)
        self.registerField("agency_name*", self.name_edit)
        self.registerField("country*", self.country_edit)
        self.country_edit.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:
        return bool(self.name_edit.text().strip()) and len(self.country_edit.text()) == 2

    def agency(self) -> AgencyInfo:
        return AgencyInfo(self.name_edit.text().strip(), self.country_edit.text().upper(),
                          self.unit_edit.text().strip(), self.contact_edit.text().strip())


def _lower(edit: QLineEdit, text: str) -> None:
    if text != text.lower():
        position = edit.cursorPosition()
        edit.setText(text.lower())
        edit.setCursorPosition(position)


class AdminPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle(_("The first administrator"))
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("adminNameEdit")
        # Capitals are accepted as typed and lower-cased (the validator alone silently dropped them: "Alice"
        # became "lice", issue 11).
        self.name_edit.setValidator(QRegularExpressionValidator(QRegularExpression(
            USER_NAME_RE.pattern[1:-1], QRegularExpression.PatternOption.CaseInsensitiveOption)))
        self.name_edit.textEdited.connect(self._lower_case)
        self.name_edit.setPlaceholderText(_("lower-case, e.g. alice"))
        self.display_edit = QLineEdit()
        self.display_edit.setObjectName("displayNameEdit")
        form = QFormLayout()
        form.addRow(_("&User name*"), self.name_edit)
        form.addRow(_("&Display name"), self.display_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(_intro(_(
            "This user administers the vault: adds users and gives them their roles. Their name appears in "
            "the chain of custody.")))
        layout.addLayout(form)
        self.registerField("admin_name*", self.name_edit)

    def _lower_case(self, text: str) -> None:
        _lower(self.name_edit, text)


class PassphrasePage(QWizardPage):
    """The commit page: pressing "Create vault" creates it in the background, then moves on."""

    def __init__(self, wizard: CreateVaultWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle(_("The administrator's passphrase"))
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, _("&Create vault"))
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("passphraseEdit")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit()
        self.repeat.setObjectName("repeatEdit")
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        self.strength = QLabel()
        self.strength.setObjectName("hintLabel")
        self.error_label = error_label()
        self.status_label = QLabel()
        self.status_label.setObjectName("hintLabel")
        form = QFormLayout()
        form.addRow(_("&Passphrase"), self.passphrase)
        form.addRow(_("&Repeat"), self.repeat)
        form.addRow("", self.strength)
        layout = QVBoxLayout(self)
        layout.addWidget(_intro(_(
            "At least {n} characters; a few unrelated words are easier to remember and harder to guess than a "
            "short password. Nobody can reset it without the recovery key shown next.", n=MIN_PASSPHRASE_LEN)))
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        self.passphrase.textChanged.connect(self._changed)
        self.repeat.textChanged.connect(self._changed)
        self._op: BackgroundOp | None = None
        self._changed()

    def _changed(self) -> None:
        _score, text = strength_hint(self.passphrase.text())
        mismatch = bool(self.repeat.text()) and self.repeat.text() != self.passphrase.text()
        self.strength.setText(text + ("  " + _("The two entries differ.") if mismatch else ""))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        text = self.passphrase.text()
        return len(text) >= MIN_PASSPHRASE_LEN and text == self.repeat.text() and self._op is None

    def validatePage(self) -> bool:
        if self._wizard.recovery_key is not None:
            return True
        if self._op is None:
            self._start()
        return False

    def _start(self) -> None:
        request = self._wizard.request(self.passphrase.text())
        self.error_label.hide()
        self.status_label.setText(_("Creating the vault…"))
        self.passphrase.setEnabled(False)
        self.repeat.setEnabled(False)
        self._op = run_in_background(self, lambda: self._wizard.create_vault(request), self._created, self._failed)
        self.completeChanged.emit()

    def _created(self, recovery_key: str) -> None:
        self._op = None
        self.status_label.setText("")
        self.passphrase.clear()
        self.repeat.clear()
        self._wizard.vault_ready(recovery_key)

    def _failed(self, exc: BaseException) -> None:
        self._op = None
        self.status_label.setText("")
        self.passphrase.setEnabled(True)
        self.repeat.setEnabled(True)
        self.completeChanged.emit()
        if isinstance(exc, IcspaError):
            self.error_label.setText(str(exc))
            self.error_label.show()
        else:
            show_error(self, exc)


class RecoveryPage(QWizardPage):
    """Shows the recovery key once; Finish needs the confirmation ticked."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle(_("Your recovery key"))
        self.key_label = QLabel()
        self.key_label.setObjectName("recoveryKey")
        self.key_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.key_label.setWordWrap(True)
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        # Deliberately not selectable: no clipboard copy of the one key that opens everything.
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.confirm = QCheckBox(_("I have written down the recovery key and will keep it in a safe place."))
        self.confirm.setObjectName("confirmCheck")
        layout = QVBoxLayout(self)
        layout.addWidget(_intro(_(
            "The vault was created. This recovery key opens the vault if every passphrase is forgotten. "
            "Write it down on paper now and keep it in a safe: it is shown only this once and is not "
            "stored anywhere on this computer.")))
        layout.addWidget(self.key_label)
        layout.addWidget(self.confirm)
        layout.addStretch(1)
        self.registerField("recovery_confirmed*", self.confirm)

    def show_key(self, key: str) -> None:
        # Five groups a line, so no group is split by word wrap (the parser ignores the line breaks).
        groups = key.split("-")
        self.key_label.setText("\n".join("-".join(groups[i:i + 5]) for i in range(0, len(groups), 5)))

    def forget_key(self) -> None:
        self.key_label.clear()


class CreateVaultWizard(QWizard):
    """Emits ``vault_created(path, admin_name)`` when finished; the vault exists from the commit page on."""

    vault_created = Signal(object, str)

    def __init__(self, default_path: Path, create: Callable[[NewVault], str] = create_vault,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.create_vault = create
        self.recovery_key: str | None = None
        self.setObjectName("createVaultWizard")
        self.setWindowTitle(_("Create a vault — {program}", program=TOOL_NAME))
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setMinimumSize(620, 420)
        self.location_page = LocationPage(default_path)
        self.agency_page = AgencyPage()
        self.admin_page = AdminPage()
        self.passphrase_page = PassphrasePage(self)
        self.recovery_page = RecoveryPage()
        for page in (self.location_page, self.agency_page, self.admin_page, self.passphrase_page,
                     self.recovery_page):
            self.addPage(page)
        self.finished.connect(self._finished)

    @property
    def vault_path(self) -> Path:
        return Path(self.location_page.path_edit.text().strip()).expanduser()

    @property
    def admin_name(self) -> str:
        return self.admin_page.name_edit.text().strip()

    def request(self, passphrase: str) -> NewVault:
        return NewVault(self.vault_path, self.agency_page.agency(), self.admin_name,
                        self.admin_page.display_edit.text().strip(), passphrase)

    def vault_ready(self, recovery_key: str) -> None:
        self.recovery_key = recovery_key
        self.recovery_page.show_key(recovery_key)
        self.next()

    def reject(self) -> None:
        # Once the vault exists the only way out is past the recovery key.
        if self.recovery_key is None:
            super().reject()

    def _finished(self, result: int) -> None:
        self.recovery_page.forget_key()
        if result == QWizard.DialogCode.Accepted and self.recovery_key is not None:
            self.recovery_key = ""
            self.vault_created.emit(self.vault_path, self.admin_name)
