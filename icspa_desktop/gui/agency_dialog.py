"""The "Agency identity" page: who this vault signs as, the fingerprint partners compare, the card.

Export and print sign a new card (administrators and supervisors); administrators may also create,
replace or import the identity. The slow parts (PDF layout, fsync'd writes) run with ``ops``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.files import atomic_write
from icspa_desktop.gui.agency_forms import (
    IdentityForm,
    ImportCertificateDialog,
    ReplaceIdentityDialog,
    fingerprint_label,
    value_label,
)
from icspa_desktop.gui.clipboard import copy_text
from icspa_desktop.gui.feedback import error_label, show_message
from icspa_desktop.gui.folders import remember_choice, start_folder
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_in_background
from icspa_desktop.gui.role_hints import role_denial
from icspa_desktop.i18n import N_, _, format_moment
from icspa_desktop.services import agency
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

CARD_SUFFIX = ".icspa-card"
# The rows' keys (tests read ``values["Agency"]``); each caption is shown as _(name).
_FIELDS = (N_("Agency"), N_("Country"), N_("Unit"), N_("Contact"), N_("Certificate subject"),
           N_("Certificate serial"), N_("Valid"), N_("Key"), N_("Certificate SHA-256"), N_("age recipient"))


def _file_stem(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-") or "agency"


def identity_rows(identity: AgencyIdentity) -> dict[str, str]:
    cert = identity.certificate
    ended = cert.not_valid_after_utc < datetime.now(UTC)
    dates = {"start": format_moment(cert.not_valid_before_utc), "end": format_moment(cert.not_valid_after_utc)}
    return {
        "Agency": identity.name, "Country": identity.country, "Unit": identity.unit or "—",
        "Contact": identity.contact or "—", "Certificate subject": certs.subject_text(cert),
        "Certificate serial": format(cert.serial_number, "X"),
        "Valid": _("{start} to {end} — EXPIRED: an administrator replaces the identity", **dates) if ended else
        _("{start} to {end}", **dates),
        "Key": certs.key_description(cert.public_key()), "Certificate SHA-256": certs.sha256_fingerprint(cert),
        "age recipient": identity.age_recipient,
    }


class AgencyDialog(QDialog):
    """Emits ``card_exported(path)``, ``card_printed(pdf_path)`` and ``identity_changed`` for callers and tests."""

    card_exported = Signal(str)
    card_printed = Signal(str)
    identity_changed = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("agencyDialog")
        self.setWindowTitle(_("Agency identity"))
        self.resize(780, 520)
        self._session: Session | None = session
        role = self._role = session.user.role
        self._can_sign = allowed(role, Permission.SIGN_AS_AGENCY)
        self._is_admin = allowed(role, Permission.MANAGE_AGENCY)
        self.identity: AgencyIdentity | None = None
        self._op: BackgroundOp | None = None

        self.stack = QStackedWidget()
        self.stack.addWidget(self._identity_page())
        self.stack.addWidget(self._missing_page())
        self.status = QLabel()
        self.status.setObjectName("hintLabel")
        self.status.setWordWrap(True)
        self.error = error_label()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addWidget(close)
        self.finished.connect(lambda _result: self.clear())
        self.reload()

    # ---- construction ----------------------------------------------------------------------------
    def _identity_page(self) -> QWidget:
        page = QWidget()
        self.heading = QLabel()
        self.heading.setObjectName("caseHeading")
        fp_box = QGroupBox(_("Fingerprint"))
        self.fingerprint = fingerprint_label("agencyFingerprint")
        hint = QLabel(_("Partner agencies compare this fingerprint with the one their software shows for your "
                        "card, by phone or in person, before they trust it."))
        hint.setObjectName("hintLabel")
        hint.setWordWrap(True)
        fp_layout = QVBoxLayout(fp_box)
        fp_layout.addWidget(self.fingerprint)
        fp_layout.addWidget(hint)
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for name in _FIELDS:
            self.values[name] = value_label(mono=name in ("Certificate serial", "Certificate SHA-256",
                                                          "age recipient"))
            caption = QLabel(_(name))
            caption.setObjectName("fieldName")
            form.addRow(caption, self.values[name])

        self.export_button = QPushButton(_("&Export card…"))
        self.export_button.setObjectName("exportCard")
        self.export_button.clicked.connect(self.export_card)
        self.print_button = QPushButton(_("&Print card…"))
        self.print_button.setObjectName("printCard")
        self.print_button.clicked.connect(self.print_card)
        self.copy_button = QPushButton(_("&Copy fingerprint"))
        self.copy_button.clicked.connect(self.copy_fingerprint)
        self.replace_button = QPushButton(_("&Replace identity…"))
        self.replace_button.clicked.connect(self.replace_identity)
        self.import_button = QPushButton(_("&Import certificate…"))
        self.import_button.clicked.connect(self.import_certificate)
        # Said on the page, not only in a tooltip: an auditor saw two dead buttons and no reason (issue 11).
        self.sign_note = QLabel(_("{denial} Exporting or printing the card signs it with the agency key.",
                                  denial=role_denial(self._role, Permission.SIGN_AS_AGENCY)))
        self.sign_note.setObjectName("hintLabel")
        self.sign_note.setWordWrap(True)
        self.sign_note.setVisible(not self._can_sign)
        for button in (self.export_button, self.print_button):
            button.setEnabled(self._can_sign)
            if not self._can_sign:
                button.setToolTip(self.sign_note.text())
        self.replace_button.setVisible(self._is_admin)
        self.import_button.setVisible(self._is_admin)
        buttons = QHBoxLayout()
        for button in (self.export_button, self.print_button, self.copy_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.replace_button)
        buttons.addWidget(self.import_button)

        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(fp_box)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(self.sign_note)
        return page

    def _missing_page(self) -> QWidget:
        page = QWidget()
        self.missing = QLabel(agency.NO_IDENTITY)
        self.missing.setObjectName("noIdentity")
        self.missing.setWordWrap(True)
        self.create_box = QGroupBox(_("Create the agency identity"))
        explain = QLabel(_("A new ECDSA P-384 key with a self-signed certificate and an age key are created and "
                           "sealed in the vault. To use a certificate issued by your agency's CA instead, "
                           "use Import certificate…."))
        explain.setObjectName("hintLabel")
        explain.setWordWrap(True)
        self.create_form = IdentityForm()
        self.create_button = QPushButton(_("Create i&dentity"))
        self.create_button.setObjectName("createIdentity")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.create_identity)
        import_button = QPushButton(_("&Import certificate…"))
        import_button.clicked.connect(self.import_certificate)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(import_button)
        row.addWidget(self.create_button)
        box_layout = QVBoxLayout(self.create_box)
        box_layout.addWidget(explain)
        box_layout.addWidget(self.create_form)
        box_layout.addLayout(row)
        self.create_box.setVisible(self._is_admin)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.missing)
        layout.addWidget(self.create_box)
        layout.addStretch(1)
        return page

    # ---- content ---------------------------------------------------------------------------------
    def reload(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            self.identity = agency.agency_identity(session) if agency.has_identity(session) else None
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        identity = self.identity
        if identity is None:
            self.create_form.fill(*agency.stated_details(session))
            self.stack.setCurrentIndex(1)
            return
        self.heading.setText(f"{identity.name} — {identity.country}")
        self.fingerprint.setText(identity.fingerprint)
        for name, text in identity_rows(identity).items():
            self.values[name].setText(text)
        self.stack.setCurrentIndex(0)

    def has_identity_page(self) -> bool:
        return self.stack.currentIndex() == 0

    @property
    def busy(self) -> bool:
        return self._op is not None

    def _started(self, message: str) -> None:
        show_message(self.error, "")
        self.status.setText(message)
        for button in (self.export_button, self.print_button):
            button.setEnabled(False)

    def _finished_op(self, message: str) -> None:
        self._op = None
        self.status.setText(message)
        for button in (self.export_button, self.print_button):
            button.setEnabled(self._can_sign)

    def _failed_op(self, exc: BaseException) -> None:
        self._finished_op("")
        show_message(self.error, error_text(exc))

    # ---- actions ---------------------------------------------------------------------------------
    def _save_dialog(self, title: str, suggested: str, name_filter: str, suffix: str) -> QFileDialog:
        dialog = remember_choice(self, QFileDialog(self, title, str(start_folder(self) / suggested), name_filter))
        dialog.setDefaultSuffix(suffix)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def export_card(self) -> QFileDialog | None:
        if self.identity is None or not self._can_sign or self.busy:
            return None
        dialog = self._save_dialog(_("Export agency card"), _file_stem(self.identity.name) + CARD_SUFFIX,
                                   _("Agency cards (*{suffix});;All files (*)", suffix=CARD_SUFFIX),
                                   CARD_SUFFIX[1:])
        dialog.fileSelected.connect(lambda name: self.export_card_to(Path(name)) if name else None)
        return dialog

    def _sign_card(self) -> tuple[bytes, AgencyIdentity] | None:
        session = self._session
        if session is None:
            return None
        try:  # one signature and one custody event: quick enough for the GUI thread
            return agency.make_card(session), agency.agency_identity(session)
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return None

    def export_card_to(self, path: Path) -> BackgroundOp | None:
        signed = None if self.busy else self._sign_card()
        if signed is None:
            return None
        card = signed[0]
        self._started(_("Writing the agency card to {path}…", path=path))

        def done(_none: None) -> None:
            self._finished_op(_("Agency card written to {path}. Send it to the partner agency, then read them the "
                                "fingerprint above by phone or in person.", path=path))
            self.card_exported.emit(str(path))

        self._op = run_in_background(self, lambda: atomic_write(path, card), done, self._failed_op)
        return self._op

    def print_card(self) -> QFileDialog | None:
        if self.identity is None or not self._can_sign or self.busy:
            return None
        dialog = self._save_dialog(_("Save printable agency card"), _file_stem(self.identity.name) + "-card.pdf",
                                   _("PDF documents (*.pdf)"), "pdf")
        dialog.fileSelected.connect(lambda name: self.print_card_to(Path(name)) if name else None)
        return dialog

    def print_card_to(self, pdf_path: Path) -> BackgroundOp | None:
        """The PDF, and beside it the card file whose SHA-256 the PDF prints (so paper and file belong together)."""
        signed = None if self.busy else self._sign_card()
        if signed is None:
            return None
        card, identity = signed
        if pdf_path.suffix.lower() != ".pdf":  # never let the PDF and its card file share one name
            pdf_path = pdf_path.with_name(pdf_path.name + ".pdf")
        card_path = pdf_path.with_suffix(CARD_SUFFIX)
        self._started(_("Producing the printable card {path}…", path=pdf_path))

        def work() -> None:
            from icspa_desktop.reports.agency_card_pdf import render_card_pdf

            pdf = render_card_pdf(identity, card)
            atomic_write(card_path, card)
            atomic_write(pdf_path, pdf)

        def done(_none: None) -> None:
            self._finished_op(_("Printable card written to {path}, with the card file it describes, {card}. Print "
                                "the PDF from your PDF viewer.", path=pdf_path, card=card_path.name))
            self.card_printed.emit(str(pdf_path))

        self._op = run_in_background(self, work, done, self._failed_op)
        return self._op

    def copy_fingerprint(self) -> None:
        if self.identity is not None:
            copy_text(self.identity.fingerprint)  # cleared after a minute and at lock
            self.status.setText(_("Fingerprint copied to the clipboard (cleared after a minute and at lock)."))

    def create_identity(self) -> None:
        session = self._session
        if session is None or not self._is_admin:
            return
        try:
            self.create_form.create_identity(session)
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        show_message(self.error, "")
        self._identity_changed(_("Agency identity created."))

    def replace_identity(self) -> ReplaceIdentityDialog | None:
        if self._session is None or self.identity is None or not self._is_admin:
            return None
        dialog = ReplaceIdentityDialog(self._session, self.identity, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.replaced.connect(lambda _identity: self._identity_changed(
            _("Agency identity replaced. Export the new card and send it to every partner agency.")))
        dialog.open()
        return dialog

    def import_certificate(self) -> ImportCertificateDialog | None:
        session = self._session
        if session is None or not self._is_admin:
            return None
        contact = self.identity.contact if self.identity else self.create_form.contact.text().strip()
        dialog = ImportCertificateDialog(session, contact, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.imported.connect(lambda _identity: self._identity_changed(
            _("Agency certificate imported. Export the new card and send it to every partner agency.")))
        dialog.open()
        return dialog

    def _identity_changed(self, message: str) -> None:
        self.reload()
        self.status.setText(message)
        self.identity_changed.emit()

    def clear(self) -> None:
        """Forget the session and what was shown (the dialog closed, or the vault was locked)."""
        self._session = None
        self.identity = None
        self.fingerprint.clear()
        for label in self.values.values():
            label.clear()
        self.create_form.fill("", "", "", "")
