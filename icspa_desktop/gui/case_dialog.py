"""Create or edit a case. Service errors (e.g. H3 without its text) show inline; the dialog stays open."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.gui.feedback import error_label, required, required_note, show_message
from icspa_desktop.gui.markings import handling_text, tlp_label
from icspa_desktop.gui.ops import show_error
from icspa_desktop.i18n import _
from icspa_desktop.services.cases import MAX_NUMBER_LEN, MAX_TITLE_LEN

# (fields, reason) -> the stored case; raises IcspaError on refusal.
SubmitCase = Callable[[CaseFields, str], Case]


class CaseDialog(QDialog):
    """``saved`` carries the stored case; open with ``open()`` (window-modal, non-blocking)."""

    saved = Signal(object)

    def __init__(self, submit: SubmitCase, case: Case | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._submit = submit
        self._case = case
        self.setObjectName("caseDialog")
        self.setWindowTitle(_("Edit case {number}", number=case.number) if case else _("New case"))
        self.setMinimumWidth(680)

        self.number = QLineEdit()
        self.number.setMaxLength(MAX_NUMBER_LEN)
        self.number.setPlaceholderText(_("e.g. {example}", example="2026/001"))
        self.title = QLineEdit()
        self.title.setMaxLength(MAX_TITLE_LEN)
        self.description = QPlainTextEdit()
        self.description.setTabChangesFocus(True)
        self.description.setFixedHeight(90)
        self.lead_investigator = QLineEdit()
        self.jurisdiction = QLineEdit()
        self.legal_authority = QLineEdit()
        self.legal_authority.setPlaceholderText(_("warrant or order reference"))
        self.handling = QComboBox()
        for code in HandlingCode:
            self.handling.addItem(handling_text(code), code)
        self.handling_text = QLineEdit()
        self.handling_text.setPlaceholderText(_("the restriction, required for H3"))
        self.tlp = QComboBox()
        for tlp in Tlp:
            self.tlp.addItem(tlp_label(tlp), tlp)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(_("why the case is changed (recorded in the chain of custody)"))

        form = QFormLayout()
        form.addRow(required(_("Case &number")), self.number)
        form.addRow(required(_("&Title")), self.title)
        form.addRow(_("&Description"), self.description)
        form.addRow(_("&Lead investigator"), self.lead_investigator)
        form.addRow(_("&Jurisdiction / agency"), self.jurisdiction)
        form.addRow(_("Legal &authority"), self.legal_authority)
        form.addRow(_("&Handling code"), self.handling)
        form.addRow(_("Handling &restriction"), self.handling_text)
        form.addRow(_("TL&P"), self.tlp)
        if case is not None:
            form.addRow(_("Reason for &change"), self.reason)
        form.addRow(required_note())

        self.error_label = error_label()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self.handling.currentIndexChanged.connect(self._handling_changed)
        if case is not None:
            self._load(case.fields)
        else:
            self.tlp.setCurrentIndex(self.tlp.findData(Tlp.AMBER))
        self._handling_changed()

    def _load(self, fields: CaseFields) -> None:
        self.number.setText(fields.number)
        self.title.setText(fields.title)
        self.description.setPlainText(fields.description)
        self.lead_investigator.setText(fields.lead_investigator)
        self.jurisdiction.setText(fields.jurisdiction)
        self.legal_authority.setText(fields.legal_authority)
        self.handling.setCurrentIndex(self.handling.findData(fields.handling_code))
        self.handling_text.setText(fields.handling_text)
        self.tlp.setCurrentIndex(self.tlp.findData(fields.tlp))

    def _handling_changed(self) -> None:
        is_h3 = self.handling.currentData() == HandlingCode.H3
        self.handling_text.setPlaceholderText(
            _("required: state the restriction") if is_h3 else _("optional for H0–H2")
        )

    def fields(self) -> CaseFields:
        """What the form holds now (the service validates and normalises it)."""
        return CaseFields(
            number=self.number.text(),
            title=self.title.text(),
            description=self.description.toPlainText(),
            lead_investigator=self.lead_investigator.text(),
            jurisdiction=self.jurisdiction.text(),
            legal_authority=self.legal_authority.text(),
            handling_code=HandlingCode(self.handling.currentData()),
            handling_text=self.handling_text.text(),
            tlp=Tlp(self.tlp.currentData()),
        )

    def show_error(self, message: str) -> None:
        show_message(self.error_label, message)

    def submit(self) -> None:
        """Save through the service; refusals stay in the dialog so the user can correct them."""
        self.show_error("")
        try:
            case = self._submit(self.fields(), self.reason.text().strip())
        except IcspaError as exc:
            self.show_error(str(exc))
            return
        except Exception as exc:  # unexpected: the default dialog, and the form stays as typed
            show_error(self, exc)
            return
        self.saved.emit(case)
        self.accept()
