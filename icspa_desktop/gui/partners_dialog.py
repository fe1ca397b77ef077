"""The "Partners" page: trusted partner agencies, their details, import, add by hand, revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.agency import Partner, PartnerStatus
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.gui.agency_forms import mono_font
from icspa_desktop.gui.card_import_dialog import AddPartnerDialog, CardImportDialog
from icspa_desktop.gui.feedback import error_label, show_message
from icspa_desktop.gui.ops import show_error
from icspa_desktop.services import partners
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

NOT_ALLOWED = "Only administrators and supervisors manage partner agencies; you can view them."
_DETAILS = (("name", "Agency"), ("country", "Country"), ("unit", "Unit"), ("contact", "Contact"),
            ("status", "Status"), ("status_reason", "Reason"),
            ("expires", "Expires"), ("source", "Source"), ("age_recipient", "age recipient"),
            ("certificate_subject", "Certificate subject"), ("certificate_sha256", "Certificate SHA-256"),
            ("created_at", "Trusted since"), ("id", "Partner id"))
_MONO = {"age_recipient", "certificate_sha256", "id"}


def details_html(partner: Partner, now: datetime) -> str:
    data = partners.partner_to_json(partner)
    data["status"] = partners.shown_status(partner, now)
    data["expires"] = f"{partner.expires:%Y-%m-%d %H:%M} UTC"
    data["created_at"] = f"{partner.created_at:%Y-%m-%d %H:%M} UTC"
    data["source"] = "agency card" if partner.source == "card" else "added by hand (no app)"
    rows = []
    for key, caption in _DETAILS:
        value = str(data.get(key) or "—")
        if key == "status_reason" and value == "—":
            continue
        cell = f"<code>{escape(value)}</code>" if key in _MONO else escape(value)
        rows.append(f"<tr><td style='color:#5a6470; padding-right:10px' valign='top'>{escape(caption)}</td>"
                    f"<td>{cell}</td></tr>")
    fingerprint = escape(partner.fingerprint).replace(" ", "&nbsp;")  # one line, as people read it out
    return (f"<h3>{escape(partner.name)}</h3><p style='color:#5a6470'>Fingerprint</p>"
            f"<p style='font-family:monospace; font-size:11pt; font-weight:bold'>{fingerprint}</p>"
            f"<table cellspacing=3>{''.join(rows)}</table>")


class RevokeDialog(QDialog):
    """Revoke one partner; the reason is required and recorded. Emits ``revoked(Partner)``."""

    revoked = Signal(object)

    def __init__(self, session: Session, partner: Partner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("revokePartnerDialog")
        self.setWindowTitle(f"Revoke {partner.name}")
        self.setMinimumWidth(520)
        self._session: Session | None = session
        self._partner = partner
        text = QLabel(f"Stop trusting <b>{escape(partner.name)}</b> ({escape(partner.country)}, "
                      f"<code>{escape(partner.fingerprint)}</code>)? Nothing can be sent to it any more and "
                      "bundles it signed are refused. This cannot be undone: trusting it again needs its card.")
        text.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setObjectName("revokeReason")
        self.reason.setPlaceholderText("Reason (recorded in the chain of custody), e.g. key reported lost")
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.revoke_button = buttons.addButton("&Revoke", QDialogButtonBox.ButtonRole.AcceptRole)
        self.revoke_button.setEnabled(False)
        self.reason.textChanged.connect(lambda value: self.revoke_button.setEnabled(bool(value.strip())))
        buttons.accepted.connect(self.attempt)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.reason)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.finished.connect(lambda _result: setattr(self, "_session", None))

    def attempt(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            partner = partners.revoke_partner(session, self._partner.id, self.reason.text())
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        self.revoked.emit(partner)
        self.accept()


class PartnersDialog(QDialog):
    COLUMNS = ("Name", "Country", "Status", "Fingerprint", "Expires", "Source")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("partnersDialog")
        self.setWindowTitle("Partner agencies")
        self.resize(1240, 580)
        self._session: Session | None = session
        self._partners: list[Partner] = []
        self.can_manage = allowed(session.user.role, Permission.MANAGE_PARTNERS)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("partnersTable")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.details = QTextBrowser()
        self.details.setObjectName("partnerDetails")
        self.placeholder = QLabel("No partner agencies yet. Import a partner's agency card, or add one that does "
                                  "not use this application.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.placeholder)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setSizes([790, 450])

        self.import_button = QPushButton("&Import card…")
        self.import_button.setObjectName("importCard")
        self.import_button.clicked.connect(self.import_card)
        self.add_button = QPushButton("&Add partner without the app…")
        self.add_button.setObjectName("addPartner")
        self.add_button.clicked.connect(self.add_partner)
        self.revoke_button = QPushButton("&Revoke…")
        self.revoke_button.setObjectName("revokePartner")
        self.revoke_button.clicked.connect(self.revoke)
        self.role_hint = QLabel(NOT_ALLOWED)
        self.role_hint.setObjectName("hintLabel")
        self.role_hint.setVisible(not self.can_manage)
        for button in (self.import_button, self.add_button, self.revoke_button):
            button.setEnabled(self.can_manage)
            if not self.can_manage:
                button.setToolTip(NOT_ALLOWED)
        row = QHBoxLayout()
        for button in (self.import_button, self.add_button, self.revoke_button):
            row.addWidget(button)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.role_hint)
        layout.addLayout(row)
        self.finished.connect(lambda _result: self.clear())
        self.reload()

    # ---- content ---------------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        session = self._session
        if session is None:
            return
        try:
            self._partners = partners.list_partners(session)
        except IcspaError as exc:
            show_error(self, exc)
            return
        now = datetime.now(UTC)
        self.table.setRowCount(len(self._partners))
        mono = mono_font()
        for row, partner in enumerate(self._partners):
            status = partners.shown_status(partner, now)
            values = (partner.name, partner.country, status, partner.fingerprint, f"{partner.expires:%Y-%m-%d}",
                      "card" if partner.source == "card" else "by hand")
            for column, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if column == 3:
                    cell.setFont(mono)
                if status == "revoked":
                    cell.setForeground(QColor("#a4161a"))
                elif status != "active":
                    cell.setForeground(QColor("#7c8692"))
                self.table.setItem(row, column, cell)
            if select is not None and partner.id == select:
                self.table.selectRow(row)
        self.table.setVisible(bool(self._partners))
        self.placeholder.setVisible(not self._partners)
        if select is None and self._partners and not self.table.selectionModel().selectedRows():
            self.table.selectRow(0)
        self._selection_changed()

    def partner_names(self) -> list[str]:
        return [partner.name for partner in self._partners]

    def selected_partner(self) -> Partner | None:
        rows = self.table.selectionModel().selectedRows()
        return self._partners[rows[0].row()] if rows else None

    def select_partner(self, partner_id: str) -> None:
        ids = [partner.id for partner in self._partners]
        self.table.selectRow(ids.index(partner_id))

    def _selection_changed(self) -> None:
        partner = self.selected_partner()
        self.details.setHtml(details_html(partner, datetime.now(UTC)) if partner else "")
        self.revoke_button.setEnabled(self.can_manage and partner is not None
                                      and partner.status is not PartnerStatus.REVOKED)

    # ---- actions ---------------------------------------------------------------------------------
    def _open(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def import_card(self) -> CardImportDialog | None:
        if self._session is None or not self.can_manage:
            return None
        dialog = CardImportDialog(self._session, self)
        dialog.imported.connect(lambda partner: self.reload(select=partner.id))
        self._open(dialog)
        return dialog

    def add_partner(self) -> AddPartnerDialog | None:
        if self._session is None or not self.can_manage:
            return None
        dialog = AddPartnerDialog(self._session, self)
        dialog.added.connect(lambda partner: self.reload(select=partner.id))
        self._open(dialog)
        return dialog

    def revoke(self) -> RevokeDialog | None:
        partner = self.selected_partner()
        if self._session is None or partner is None or not self.revoke_button.isEnabled():
            return None
        dialog = RevokeDialog(self._session, partner, self)
        dialog.revoked.connect(lambda revoked: self.reload(select=revoked.id))
        self._open(dialog)
        return dialog

    def clear(self) -> None:
        self._session = None
        self._partners = []
        self.table.setRowCount(0)
        self.details.clear()
