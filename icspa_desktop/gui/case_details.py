"""The "Details" tab: every field of one case, with its markings as badges."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.markings import HandlingBadge, TlpBadge, full_time, handling_text, tlp_label
from icspa_desktop.gui.models import status_text
from icspa_desktop.i18n import N_, _
from icspa_desktop.services.received import CaseProvenance

# Case id -> the partner case it holds (None: none). Set by the main window per session.
CaseProvenanceLookup = Callable[[str], CaseProvenance | None]

_EMPTY = "—"


def _value_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)  # case data is never interpreted as markup
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    return label


class CaseDetailsWidget(QStackedWidget):
    """Shows one case or a placeholder; ``clear()`` removes every value (lock)."""

    FIELDS = (  # titles translated where shown
        ("provenance", N_("Received from")),
        ("description", N_("Description")),
        ("status", N_("Status")),
        ("lead_investigator", N_("Lead investigator")),
        ("jurisdiction", N_("Jurisdiction / agency")),
        ("legal_authority", N_("Legal authority")),
        ("handling", N_("Handling code")),
        ("handling_text", N_("Handling restriction")),
        ("tlp", "TLP"),
        ("created", N_("Created")),
        ("created_by", N_("Created by")),
        ("updated", N_("Last updated")),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = QLabel(_("Select a case in the list to see its details."))
        self._placeholder.setObjectName("placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(self._placeholder)

        page = QWidget()
        page.setObjectName("detailsPage")
        outer = QVBoxLayout(page)
        outer.setContentsMargins(16, 14, 16, 14)
        self.heading = _value_label()
        self.heading.setObjectName("caseHeading")
        outer.addWidget(self.heading)
        badges = QHBoxLayout()
        self.handling_badge = HandlingBadge()
        self.tlp_badge = TlpBadge()
        badges.addWidget(self.tlp_badge)
        badges.addWidget(self.handling_badge)
        badges.addStretch(1)
        outer.addLayout(badges)

        self.form = form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(8)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.values: dict[str, QLabel] = {}
        for key, title in self.FIELDS:
            name = QLabel(_(title))
            name.setObjectName("fieldName")
            value = _value_label()
            value.setObjectName(f"value_{key}")
            self.values[key] = value
            form.addRow(name, value)
        outer.addLayout(form)
        outer.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(page)
        self.addWidget(scroll)
        self._user_names: dict[str, str] = {}
        self._provenance: CaseProvenanceLookup | None = None
        self.clear()

    def set_user_names(self, names: dict[str, str]) -> None:
        """User id → display name, for "Created by"."""
        self._user_names = dict(names)

    def set_provenance_lookup(self, lookup: CaseProvenanceLookup | None) -> None:
        """How to find the partner case a case holds (imported bundles); None after a lock."""
        self._provenance = lookup

    def _provenance_text(self, case: Case) -> str:
        try:
            origin = self._provenance(case.id) if self._provenance is not None else None
        except IcspaError:  # the vault locked under a stale view
            origin = None
        if origin is None:
            return ""
        if origin.created_by_import:
            return _("{partner} ({country}), their case {number}. The title, description, legal authority and "
                     "markings are the partner's and read-only.", partner=origin.partner_name,
                     country=origin.partner_country, number=origin.partner_case_number)
        return _("{partner} ({country}): their case {number} was imported into this case.",
                 partner=origin.partner_name, country=origin.partner_country, number=origin.partner_case_number)

    def show_case(self, case: Case) -> None:
        fields = case.fields
        self.heading.setText(f"{case.number} — {case.title}")
        self.tlp_badge.set_tlp(fields.tlp)
        self.handling_badge.set_code(fields.handling_code)
        text = {
            "description": fields.description,
            "status": status_text(case.status),
            "lead_investigator": fields.lead_investigator,
            "jurisdiction": fields.jurisdiction,
            "legal_authority": fields.legal_authority,
            "handling": handling_text(fields.handling_code),
            "handling_text": fields.handling_text,
            "tlp": tlp_label(fields.tlp),
            "created": full_time(case.created_at),
            "created_by": self._user_names.get(case.created_by, case.created_by),
            "updated": full_time(case.updated_at),
            "provenance": self._provenance_text(case),
        }
        for key, label in self.values.items():
            label.setText(text[key] or _EMPTY)
        self.form.setRowVisible(self.values["provenance"], bool(text["provenance"]))
        self.setCurrentIndex(1)

    def clear_case(self) -> None:
        """Back to the placeholder."""
        self.heading.clear()
        self.tlp_badge.set_tlp(None)
        self.handling_badge.set_code(None)
        for label in self.values.values():
            label.clear()
        self.setCurrentIndex(0)

    def clear(self) -> None:
        """Forget the case, the user names and the session's provenance lookup (lock)."""
        self.clear_case()
        self._user_names = {}
        self._provenance = None

    def shown_text(self) -> str:
        """Every piece of case data currently displayed (tests check it is empty after lock)."""
        parts = [self.heading.text(), self.tlp_badge.text(), self.handling_badge.text()]
        parts += [label.text() for label in self.values.values()]
        return "".join(parts)
