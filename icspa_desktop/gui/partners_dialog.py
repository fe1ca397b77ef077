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
from icspa_desktop.i18n import N_, _, format_local, format_moment
from icspa_desktop.services import partners
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

# Translated where shown: _(NOT_ALLOWED), _(caption).
NOT_ALLOWED = N_("Only administrators and supervisors manage partner agencies; you can view them.")
_DETAILS = (("name", N_("Agency")), ("country", N_("Country")), ("unit", N_("Unit")), ("contact", N_("Contact")),
            ("status", N_("Status")), ("status_reason", N_("Reason")),
            ("expires", N_("Expires")), ("source", N_("Source")), ("age_recipient", N_("age recipient")),
            ("certificate_subject", N_("Certificate subject")), ("certificate_sha256", N_("Certificate SHA-256")),
            ("created_at", N_("Trusted since")), ("id", N_("Partner id")))
_MONO = {"age_recipient", "certificate_sha256", "id"}
# A partner's status as stored and compared (``shown_status``), and as people read it.
_STATUS = {"active": N_("active"), "revoked": N_("revoked"), "superseded": N_("superseded"),
           "expired": N_("expired")}


def status_text(status: str) -> str:
    """``shown_status``'s value in the reader's language (an unknown one as it is)."""
    label = _STATUS.get(status, status)
    return _(label)


def details_html(partner: Partner, now: datetime) -> str:
    data = partners.partner_to_json(partner)
    data["status"] = status_text(partners.shown_status(partner, now))
    data["expires"] = format_moment(partner.expires)
    data["created_at"] = format_moment(partner.created_at)
    data["source"] = _("agency card") if partner.source == "card" else _("added by hand (no app)")
    rows = []
    for key, caption in _DETAILS:
        value = str(data.get(key) or "—")
        if key == "status_reason" and value == "—":
            continue
        cell = f"<code>{escape(value)}</code>" if key in _MONO else escape(value)
        rows.append(f"<tr><td style='color:#5a6470; padding-right:10px' valign='top'>{escape(_(caption))}</td>"
                    f"<td>{cell}</td></tr>")
    fingerprint = escape(partner.fingerprint).replace(" ", "&nbsp;")  # one line, as people read it out
    return (f"<h3>{escape(partner.name)}</h3><p style='color:#5a6470'>{escape(_('Fingerprint'))}</p>"
            f"<p style='font-family:monospace; font-size:11pt; font-weight:bold'>{fingerprint}</p>"
            f"<table cellspacing=3>{''.join(rows)}</table>")


class RevokeDialog(QDialog):
    """Revoke one partner; the reason is required and recorded. Emits ``revoked(Partner)``."""

    revoked = Signal(object)

    def __init__(self, session: Session, partner: Partner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("revokePartnerDialog")
        self.setWindowTitle(_("Revoke {name}", name=partner.name))
        self.setMinimumWidth(520)
        self._session: Session | None = session
        self._partner = partner
        text = QLabel(_("Stop trusting <b>{name}</b> ({country}, <code>{fingerprint}</code>)? Nothing can be sent "
                        "to it any more and bundles it signed are refused. This cannot be undone: trusting it "
                        "again needs its card.", name=escape(partner.name), country=escape(partner.country),
                        fingerprint=escape(partner.fingerprint)))
        text.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setObjectName("revokeReason")
        self.reason.setPlaceholderText(_("Reason (recorded in the chain of custody), e.g. key reported lost"))
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.revoke_button = buttons.addButton(_("&Revoke"), QDialogButtonBox.ButtonRole.AcceptRole)
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
    COLUMNS = (N_("Name"), N_("Country"), N_("Status"), N_("Fingerprint"), N_("Expires"), N_("Source"))

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("partnersDialog")
        self.setWindowTitle(_("Partner agencies"))
        self.resize(1320, 580)  # the table and a one-line fingerprint beside it, at 1366 px
        self._session: Session | None = session
        self._partners: list[Partner] = []
        self.can_manage = allowed(session.user.role, Permission.MANAGE_PARTNERS)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("partnersTable")
        self.table.setHorizontalHeaderLabels([_(column) for column in self.COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # Every column as wide as its text, the name included (it was the one squeezed: "Bundeskriminala…"); the last
        # takes what is left.
        for column in range(len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.details = QTextBrowser()
        self.details.setObjectName("partnerDetails")
        self.placeholder = QLabel(_("No partner agencies yet. Import a partner's agency card, or add one that "
                                    "does not use this application."))
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
        splitter.setSizes([900, 400])

        self.import_button = QPushButton(_("&Import card…"))
        self.import_button.setObjectName("importCard")
        self.import_button.clicked.connect(self.import_card)
        self.add_button = QPushButton(_("&Add partner without the app…"))
        self.add_button.setObjectName("addPartner")
        self.add_button.clicked.connect(self.add_partner)
        self.revoke_button = QPushButton(_("&Revoke…"))
        self.revoke_button.setObjectName("revokePartner")
        self.revoke_button.clicked.connect(self.revoke)
        self.role_hint = QLabel(_(NOT_ALLOWED))
        self.role_hint.setObjectName("hintLabel")
        self.role_hint.setVisible(not self.can_manage)
        for button in (self.import_button, self.add_button, self.revoke_button):
            button.setEnabled(self.can_manage)
            if not self.can_manage:
                button.setToolTip(_(NOT_ALLOWED))
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
            # The expiry as the other tables show times: local in the cell, with UTC beside it in the tooltip.
            values = (partner.name, partner.country, status_text(status), partner.fingerprint,
                      format_local(partner.expires), _("card") if partner.source == "card" else _("by hand"))
            for column, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if column == 3:
                    cell.setFont(mono)
                if column == 4:
                    cell.setToolTip(format_moment(partner.expires))
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
