"""Trusting a partner agency: import its card after a real fingerprint comparison, or add one by hand.

The card's own fingerprint is never shown before the user typed the one the partner told them out of
band: a file cannot vouch for itself. After a mismatch the user may ask, as a separate step, to see
both side by side (to find a typo); importing still needs a typed fingerprint that matches.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.errors import IcspaError, UsageError
from icspa_desktop.gui.agency_forms import (
    PEM_CERT_FILTER,
    FilePicker,
    fingerprint_label,
    mono_font,
    read_small_file,
    value_label,
)
from icspa_desktop.gui.feedback import error_label, show_message
from icspa_desktop.i18n import N_, _, format_moment
from icspa_desktop.services import partners
from icspa_desktop.services.partners import VerifiedCard
from icspa_desktop.services.session import Session

_CARD_FILTER = N_("Agency cards (*.icspa-card *.json);;All files (*)")  # shown as _(_CARD_FILTER)
# The rows of a card (the keys tests read, ``card_values["Country"]``); each caption is shown as _(name).
_CARD_ROWS = (N_("Country"), N_("Unit"), N_("Contact"), N_("Certificate"), N_("Card expires"), N_("Key rotation"))


def side_by_side_html(typed: str, actual: str) -> str:
    """Both fingerprints in groups, the groups that differ marked (typed one first)."""
    cells_mine, cells_theirs = [], []
    for group in partners.compare_fingerprint_groups(typed, actual):
        style = "color:#a4161a; text-decoration:underline;" if group.differs else ""
        cells_mine.append(f"<span style='{style}'>{escape(group.told)}</span>")
        cells_theirs.append(f"<span style='{style}'>{escape(group.card)}</span>")
    return (f"<table cellspacing=6><tr><td>{escape(_('You typed:'))}</td><td style='font-family:monospace'>"
            + " ".join(cells_mine) + f"</td></tr><tr><td>{escape(_('This card:'))}</td>"
            "<td style='font-family:monospace'>" + " ".join(cells_theirs) + "</td></tr></table>")


class CardImportDialog(QDialog):
    """Choose the card → compare the fingerprint told out of band → trust. Emits ``imported(Partner)``."""

    imported = Signal(object)
    FILE, COMPARE, MATCHED = range(3)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cardImportDialog")
        self.setWindowTitle(_("Import partner agency card"))
        self.resize(700, 480)
        self._session: Session | None = session
        self._untrusted_data = b""
        self.card: VerifiedCard | None = None
        self._typed = ""
        self.pages = QStackedWidget()
        self.pages.addWidget(self._file_page())
        self.pages.addWidget(self._compare_page())
        self.pages.addWidget(self._matched_page())
        self.error = error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.back_button = self.buttons.addButton(_("< &Back"), QDialogButtonBox.ButtonRole.ResetRole)
        self.back_button.clicked.connect(self.back)
        self.back_button.setAutoDefault(False)
        self.next_button = self.buttons.addButton(_("&Read card"), QDialogButtonBox.ButtonRole.ActionRole)
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.next_step)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.finished.connect(lambda _result: self.clear())
        self._show_page(self.FILE)

    # ---- pages -----------------------------------------------------------------------------------
    def _file_page(self) -> QWidget:
        page = QWidget()
        intro = QLabel(_("Choose the agency card file the partner agency sent you (it ends in .icspa-card). "
                         "Its signature and certificate are checked; you confirm its fingerprint next."))
        intro.setWordWrap(True)
        self.file = FilePicker("cardFile", _("Agency card"), _(_CARD_FILTER))
        layout = QVBoxLayout(page)
        layout.addWidget(intro)
        layout.addWidget(self.file)
        layout.addStretch(1)
        return page

    def _compare_page(self) -> QWidget:
        page = QWidget()
        self.card_heading = QLabel()
        self.card_heading.setObjectName("caseHeading")
        self.card_values = {name: value_label() for name in _CARD_ROWS}
        form = QFormLayout()
        for name, label in self.card_values.items():
            caption = QLabel(_(name))
            caption.setObjectName("fieldName")
            form.addRow(caption, label)
        ask = QLabel(_("<b>Call or meet a person you know at this agency</b> (not the contact written on the card, "
                       "if you cannot verify it) and ask them to read out their agency fingerprint: it is shown in "
                       "their Agency identity window and on their printed card. Type it here; do not copy it "
                       "from an e-mail or from the file."))
        ask.setWordWrap(True)
        self.typed = QLineEdit()
        self.typed.setObjectName("typedFingerprint")
        self.typed.setFont(mono_font(13))
        self.typed.setPlaceholderText(_("8 groups of 4 characters, e.g. 1A2B 3C4D …"))
        # Enter goes to the dialog's default button (one step at a time): no returnPressed shortcut that could
        # compare and then let the same key press trust the partner.
        self.side_button = QPushButton(_("Show both fingerprints &side by side"))
        self.side_button.setObjectName("sideBySide")
        self.side_button.clicked.connect(self.show_side_by_side)
        self.side_button.setAutoDefault(False)
        self.side = QLabel()
        self.side.setObjectName("sideBySideView")
        self.side.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(page)
        layout.addWidget(self.card_heading)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(ask)
        layout.addWidget(self.typed)
        layout.addWidget(self.side_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.side)
        layout.addStretch(1)
        return page

    def _matched_page(self) -> QWidget:
        page = QWidget()
        self.matched_heading = QLabel()
        self.matched_heading.setObjectName("caseHeading")
        self.matched = fingerprint_label("matchedFingerprint")
        note = QLabel(_("The fingerprint you were told matches this card. Trusting the partner lets you send "
                        "bundles to it and accept bundles it signed; the decision is recorded in the chain of "
                        "custody with your name."))
        note.setWordWrap(True)
        layout = QVBoxLayout(page)
        layout.addWidget(self.matched_heading)
        layout.addWidget(self.matched)
        layout.addWidget(note)
        layout.addStretch(1)
        return page

    def _show_page(self, page: int) -> None:
        self.pages.setCurrentIndex(page)
        self.back_button.setVisible(page != self.FILE)
        self.next_button.setText((_("&Read card"), _("&Compare"), _("&Trust this partner"))[page])
        self.next_button.setDefault(True)
        if page == self.COMPARE:
            self.side_button.hide()
            self.side.hide()
            self.typed.setFocus()

    def page(self) -> int:
        return self.pages.currentIndex()

    # ---- steps -----------------------------------------------------------------------------------
    def next_step(self) -> None:
        page = self.page()
        if page == self.FILE:
            path = self.file.path()
            if path is None:
                show_message(self.error, _("Choose the agency card file first."))
            else:
                self.load_file(path)
        elif page == self.COMPARE:
            self.compare()
        else:
            self.trust()

    def back(self) -> None:
        show_message(self.error, "")
        if self.page() == self.MATCHED:
            self._typed = ""
            self._show_page(self.COMPARE)
        else:
            self.card, self._untrusted_data = None, b""
            self._show_page(self.FILE)

    def load_file(self, path: Path) -> bool:
        """Read and check the card; the service's refusal is shown in the dialog."""
        self.file.edit.setText(str(path))
        try:
            untrusted = read_small_file(path, partners.MAX_CARD_BYTES)
            card = partners.read_card(untrusted)
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return False
        show_message(self.error, "")
        self.card, self._untrusted_data = card, untrusted
        body = card.body
        self.card_heading.setText(body["name"])
        successor = None
        if self._session is not None:
            try:
                successor = partners.successor_of(self._session, card)
            except IcspaError:
                successor = None
        values = {"Country": body["country"], "Unit": body["unit"] or "—", "Contact": body["contact"] or "—",
                  "Certificate": certs.subject_text(card.certificate),
                  "Card expires": format_moment(card.expires),
                  "Key rotation": _("signed by the previous key of {name}, which you trust: importing it replaces "
                                    "that key", name=successor.name) if successor else "—"}
        for name, text in values.items():
            self.card_values[name].setText(text)
        self.typed.clear()
        self._show_page(self.COMPARE)
        return True

    def compare(self) -> bool:
        if self.card is None:
            return False
        typed = partners.told_fingerprint(self.typed.text())
        if not typed:
            show_message(self.error, _("Type the fingerprint the partner agency read out to you."))
            return False
        if not partners.fingerprints_match(typed, self.card.fingerprint):
            show_message(self.error, _("The fingerprint you typed does NOT match this card; nothing was imported. "
                                       "Check it with the partner again: if it still differs, the file is not "
                                       "theirs."))
            self.side_button.show()
            self.side.hide()
            return False
        show_message(self.error, "")
        self._typed = typed
        self.matched_heading.setText(f"{self.card.body['name']} ({self.card.body['country']})")
        self.matched.setText(self.card.fingerprint)
        self._show_page(self.MATCHED)
        return True

    def show_side_by_side(self) -> None:
        """The explicit second step after a mismatch: both fingerprints, differing groups marked."""
        if self.card is not None:
            self.side.setText(side_by_side_html(self.typed.text(), self.card.fingerprint))
            self.side.show()

    def trust(self) -> None:
        session = self._session
        if session is None or self.card is None or not self._typed:
            return
        try:
            partner = partners.import_card(session, self._untrusted_data, self._typed)
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        self.imported.emit(partner)
        self.accept()

    def clear(self) -> None:
        self._session = None
        self.card, self._untrusted_data, self._typed = None, b"", ""
        self.typed.clear()
        self.side.clear()
        self.matched.clear()


class AddPartnerDialog(QDialog):
    """A partner without this application: name, country, its age recipient and certificate (PEM)."""

    added = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addPartnerDialog")
        self.setWindowTitle(_("Add partner without the app"))
        self.setMinimumWidth(600)
        self._session: Session | None = session
        intro = QLabel(_("For an agency that does not use this application. Obtain its certificate and age "
                         "recipient through a channel you trust, and compare the certificate's SHA-256 with the "
                         "agency before you rely on it."))
        intro.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setObjectName("partnerName")
        self.country = QLineEdit()
        self.country.setObjectName("partnerCountry")
        self.country.setMaxLength(2)
        self.country.setMaximumWidth(120)
        self.country.setPlaceholderText(_("e.g. BE"))
        self.unit = QLineEdit()
        self.contact = QLineEdit()
        self.recipient = QLineEdit()
        self.recipient.setObjectName("ageRecipient")
        self.recipient.setFont(mono_font())
        self.recipient.setPlaceholderText(_("age1…"))
        self.cert = FilePicker("certFile", _("Partner certificate"), _(PEM_CERT_FILTER))
        form = QFormLayout()
        form.addRow(_("Agency &name"), self.name)
        form.addRow(_("&Country"), self.country)
        form.addRow(_("&Unit"), self.unit)
        form.addRow(_("C&ontact"), self.contact)
        form.addRow(_("a&ge recipient"), self.recipient)
        form.addRow(_("Certificate (&PEM)"), self.cert)
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = buttons.addButton(_("&Add partner"), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.attempt)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.finished.connect(lambda _result: setattr(self, "_session", None))

    def attempt(self) -> None:
        session, cert_path = self._session, self.cert.path()
        if session is None:
            return
        try:
            if cert_path is None:
                raise UsageError(_("Choose the partner's certificate file (PEM)."))
            partner = partners.add_partner(session, self.name.text(), self.country.text(),
                                           self.recipient.text().strip(), read_small_file(cert_path, 256 * 1024),
                                           self.unit.text().strip(), self.contact.text().strip())
        except IcspaError as exc:
            show_message(self.error, str(exc))
            return
        self.added.emit(partner)
        self.accept()
