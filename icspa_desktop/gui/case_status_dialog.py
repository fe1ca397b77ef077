"""Close or reopen a case: what it means, and the reason, which is required and recorded in the chain of custody.

Before (issue 11), a bare text prompt closed the case on Enter with no reason at all."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.feedback import required, required_note
from icspa_desktop.i18n import N_, _

_MEANING = {  # translated where shown
    CaseStatus.CLOSED: N_("No evidence can be added to a closed case, and bundles cannot be imported into it. "
                          "Its items, chain of custody and reports stay available, and a supervisor or "
                          "administrator can reopen it."),
    CaseStatus.OPEN: N_("Evidence can be added to the case again."),
}


class CaseStatusDialog(QDialog):
    """Emits ``confirmed(reason)`` when the user closes (or reopens) the case with a reason."""

    confirmed = Signal(str)

    def __init__(self, case: Case, target: CaseStatus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        closing = target is CaseStatus.CLOSED
        self.setObjectName("statusReasonDialog")
        self.setWindowTitle(_("Close case {number}", number=case.number) if closing
                            else _("Reopen case {number}", number=case.number))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(520)
        heading = QLabel(_("Close case {number} — {title}?", number=case.number, title=case.title) if closing
                         else _("Reopen case {number} — {title}?", number=case.number, title=case.title))
        heading.setObjectName("dialogHeading")
        heading.setWordWrap(True)
        heading.setTextFormat(Qt.TextFormat.PlainText)
        self.meaning = QLabel(_(_MEANING[target]))
        self.meaning.setObjectName("statusMeaning")
        self.meaning.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setObjectName("statusReason")
        self.reason.setPlaceholderText(_("e.g. investigation concluded, file sent to the prosecutor")
                                       if closing else _("e.g. new evidence received"))
        form = QFormLayout()
        form.addRow(required(_("&Reason for closing") if closing else _("&Reason for reopening")), self.reason)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(_("Close case") if closing else _("Reopen case"))
        self.ok.setDefault(True)
        self.ok.setEnabled(False)  # a reason first
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason.textChanged.connect(lambda text: self.ok.setEnabled(bool(text.strip())))
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.meaning)
        layout.addLayout(form)
        layout.addWidget(required_note())
        layout.addWidget(self.buttons)
        self.reason.setFocus()

    def accept(self) -> None:
        reason = self.reason.text().strip()
        if not reason:
            return
        super().accept()
        self.confirmed.emit(reason)
