"""Small forms of the agency pages: identity fields, replace the identity, import a CA-issued certificate.

Also the few widget helpers the agency and partner dialogs share (monospace fingerprint label, file picker row).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.domain.errors import IcspaError, UsageError
from icspa_desktop.files import read_bounded
from icspa_desktop.gui.feedback import error_label, show_message
from icspa_desktop.gui.folders import remember_choice, start_folder
from icspa_desktop.gui.passphrase_dialog import password_edit
from icspa_desktop.i18n import N_, _
from icspa_desktop.services import agency
from icspa_desktop.services.session import Session

PEM_CERT_FILTER = N_("PEM certificate (*.pem *.crt *.cer);;All files (*)")  # shown as _(PEM_CERT_FILTER)


# ---- shared helpers ------------------------------------------------------------------------------------
def mono_font(points: int = 0, bold: bool = False) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    if points:
        font.setPointSize(points)
    font.setBold(bold)
    return font


def fingerprint_label(name: str, text: str = "") -> QLabel:
    """The fingerprint as partners compare it: large monospace, selectable, framed."""
    label = QLabel(text)
    label.setObjectName(name)
    label.setFont(mono_font(17, bold=True))
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setFrameShape(QFrame.Shape.StyledPanel)
    label.setMargin(10)
    label.setAutoFillBackground(True)
    return label


def value_label(text: str = "", mono: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if mono:
        label.setFont(mono_font())
    return label


def read_small_file(path: Path, limit: int, what: str = "file") -> bytes:
    """The file, if it is a regular file of at most ``limit`` bytes (``files.read_bounded``: a FIFO or device
    named here must not hang the app)."""
    return read_bounded(path, what, limit)


class FilePicker(QWidget):
    """A path field with a Browse… button (non-native open dialog, so it closes with its window on lock)."""

    def __init__(self, name: str, title: str, name_filter: str, parent: QWidget | None = None, *,
                 browse_text: str | None = None) -> None:
        """``title`` and ``name_filter`` as shown (translated by the caller); ``browse_text`` for a second picker in
        one form, whose button needs a mnemonic of its own."""
        super().__init__(parent)
        self._title, self._filter = title, name_filter
        self.edit = QLineEdit()
        self.edit.setObjectName(name)
        browse = QPushButton(browse_text or _("&Browse…"))
        browse.setAutoDefault(False)
        browse.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def browse(self) -> QFileDialog:
        dialog = remember_choice(self, QFileDialog(self.window(), self._title, str(start_folder(self)), self._filter))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.edit.setText)
        dialog.open()
        return dialog

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None


# ---- identity fields ------------------------------------------------------------------------------------
class IdentityForm(QWidget):
    """Name, ISO country, unit, contact."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QLineEdit()
        self.name.setObjectName("agencyName")
        self.name.setPlaceholderText(_("e.g. Politie Landelijke Eenheid"))
        self.country = QLineEdit()
        self.country.setObjectName("agencyCountry")
        self.country.setMaxLength(2)
        self.country.setPlaceholderText(_("ISO 3166, e.g. NL"))
        self.country.setMaximumWidth(120)
        self.unit = QLineEdit()
        self.unit.setObjectName("agencyUnit")
        self.contact = QLineEdit()
        self.contact.setObjectName("agencyContact")
        self.contact.setPlaceholderText(_("desk e-mail or phone partners may call"))
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(_("Agency &name"), self.name)
        form.addRow(_("&Country"), self.country)
        form.addRow(_("&Unit"), self.unit)
        form.addRow(_("C&ontact"), self.contact)

    def fill(self, name: str, country: str, unit: str, contact: str) -> None:
        for edit, value in ((self.name, name), (self.country, country), (self.unit, unit),
                            (self.contact, contact)):
            edit.setText(value)

    def create_identity(self, session: Session) -> AgencyIdentity:
        return agency.create_identity(session, self.name.text(), self.country.text(), self.unit.text().strip(),
                                      self.contact.text().strip())


class ReplaceIdentityDialog(QDialog):
    """New key, certificate and age identity, after a warning the user must acknowledge; emits ``replaced``."""

    replaced = Signal(object)

    def __init__(self, session: Session, current: AgencyIdentity, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("replaceIdentityDialog")
        self.setWindowTitle(_("Replace agency identity"))
        self.setMinimumWidth(520)
        self._session = session
        warning = QLabel(_(
            "<b>This creates a new signing key, certificate and age key.</b><br>Every partner agency that "
            "trusts your current card must import your new card before it can send to you or accept your "
            "bundles. Export the new card afterwards and confirm its fingerprint with each partner; the new "
            "card is also signed by the current key, so partners can accept it as its successor."))
        warning.setWordWrap(True)
        self.form = IdentityForm()
        self.form.fill(current.name, current.country, current.unit, current.contact)
        self.understood = QCheckBox(_("I understand that partners need my new card"))
        self.understood.setObjectName("understoodCheck")
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.replace_button = buttons.addButton(_("&Replace identity"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.replace_button.setEnabled(False)
        self.understood.toggled.connect(self.replace_button.setEnabled)
        buttons.accepted.connect(self.attempt)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(warning)
        layout.addWidget(self.form)
        layout.addWidget(self.understood)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def attempt(self) -> None:
        if not self.understood.isChecked():
            return
        try:
            identity = self.form.create_identity(self._session)
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        self.replaced.emit(identity)
        self.accept()


class ImportCertificateDialog(QDialog):
    """Use a key and certificate issued by the agency's CA: PKCS#12, or a PEM key plus a PEM certificate."""

    imported = Signal(object)

    def __init__(self, session: Session, contact: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importCertificateDialog")
        self.setWindowTitle(_("Import agency certificate"))
        self.setMinimumWidth(560)
        self._session = session
        intro = QLabel(_("Replaces the agency identity with a key and certificate issued by your agency's CA "
                         "(ECDSA P-384 or P-256). Partners need your new card afterwards."))
        intro.setWordWrap(True)
        self.key_file = FilePicker("keyFile", _("Key file"), _("PKCS#12 or PEM key (*.p12 *.pfx *.pem *.key);;All "
                                                               "files (*)"))
        self.cert_file = FilePicker("certFile", _("Certificate file"), _(PEM_CERT_FILTER), browse_text=_("B&rowse…"))
        self.password = password_edit("keyPassword")
        self.contact = QLineEdit(contact)
        self.contact.setObjectName("agencyContact")
        form = QFormLayout()
        form.addRow(_("&Key (PKCS#12 or PEM)"), self.key_file)
        form.addRow(_("&Certificate (PEM key only)"), self.cert_file)
        form.addRow(_("&Password of the key"), self.password)
        form.addRow(_("C&ontact"), self.contact)
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton(_("&Import"), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.attempt)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.finished.connect(lambda _result: self.password.clear())

    def attempt(self) -> None:
        key_path, cert_path = self.key_file.path(), self.cert_file.path()
        try:
            if key_path is None:
                raise UsageError(_("Choose the key file (PKCS#12 or PEM)."))
            key_data = read_small_file(key_path, 1024 * 1024)
            cert_data = read_small_file(cert_path, 1024 * 1024) if cert_path else None
            password = self.password.text().encode() or None
            identity = agency.import_identity(self._session, key_data, password, cert_data,
                                              self.contact.text().strip())
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        self.imported.emit(identity)
        self.accept()
