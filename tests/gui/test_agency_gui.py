"""Agency identity and Partners pages, offscreen on real vaults, real cards, real PDFs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import shiboken6
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import PartnerStatus
from icspa_desktop.domain.enums import Role
from icspa_desktop.gui.agency_dialog import AgencyDialog
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.card_import_dialog import AddPartnerDialog, CardImportDialog
from icspa_desktop.gui.partners_dialog import PartnersDialog, RevokeDialog
from icspa_desktop.gui.resources import stylesheet
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import agency, partners, users
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES
from tests.gui.conftest import make_app, unlock_as

PARTNER_PASS = "partner-admin-pass"


@dataclass
class OtherAgency:
    card_path: Path
    card: bytes
    fingerprint: str
    cert_pem: bytes
    age_recipient: str


def other_agency(root: Path, name: str, country: str) -> OtherAgency:
    """A second, separate vault (another agency) and the card it exports."""
    path = root / f"vault-{country.lower()}"
    init_vault(path, "admin", PARTNER_PASS, agency=AgencyInfo(name, country, "Cyber Unit", "desk@example.org"))
    with unlock(path, "admin", PARTNER_PASS) as session:
        card = agency.make_card(session)
        identity = agency.agency_identity(session)
    card_path = root / f"{country.lower()}.icspa-card"
    card_path.write_bytes(card)
    return OtherAgency(card_path, card, identity.fingerprint, certs.cert_pem(identity.certificate).encode(),
                       identity.age_recipient)


@pytest.fixture
def bka(tmp_path: Path) -> OtherAgency:
    return other_agency(tmp_path, "Bundeskriminalamt", "DE")


def session_of(app: DesktopApp) -> Session:
    assert app.session is not None
    return app.session


def open_agency(app: DesktopApp) -> AgencyDialog:
    dialog = app.window.agency.open_identity()
    assert dialog is not None
    assert dialog.isVisible()
    return dialog


def open_partners(app: DesktopApp) -> PartnersDialog:
    dialog = app.window.agency.open_partners()
    assert dialog is not None
    assert dialog.isVisible()
    return dialog


def shown_texts(widget: QWidget) -> str:
    """Everything a user can read in labels and fields of ``widget`` (visible ones only)."""
    parts = [w.text() for w in widget.findChildren(QLabel) if w.isVisible()]
    parts += [w.text() for w in widget.findChildren(QLineEdit) if w.isVisible()]
    return "\n".join(parts)


# ---- agency identity ---------------------------------------------------------------------------------
def test_agency_dialog_shows_the_fingerprint_and_exports_a_card(qtbot: QtBot, desktop: DesktopApp,
                                                                tmp_path: Path) -> None:
    unlock_as(qtbot, desktop)
    identity = agency.agency_identity(session_of(desktop))
    dialog = open_agency(desktop)
    assert dialog.has_identity_page()
    assert dialog.fingerprint.text() == identity.fingerprint
    assert dialog.values["Agency"].text() == "Test Police"
    assert dialog.values["Country"].text() == "NL"
    assert dialog.values["age recipient"].text() == identity.age_recipient
    assert dialog.values["Certificate SHA-256"].text() == certs.sha256_fingerprint(identity.certificate)
    assert dialog.values["Key"].text() == certs.key_description(identity.certificate.public_key())
    assert "secp384r1" in dialog.values["Key"].text()

    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == identity.fingerprint

    chooser = dialog.export_card()
    assert isinstance(chooser, QFileDialog)
    out = tmp_path / "test-police.icspa-card"
    with qtbot.waitSignal(dialog.card_exported, timeout=20_000) as signal:
        chooser.fileSelected.emit(str(out))
    assert signal.args == [str(out)]
    card = partners.read_card(out.read_bytes())
    assert card.fingerprint == identity.fingerprint
    assert card.body["name"] == "Test Police"
    assert str(out) in dialog.status.text()


def test_print_card_writes_a_pdf_and_the_card_it_describes(qtbot: QtBot, desktop: DesktopApp,
                                                           tmp_path: Path) -> None:
    unlock_as(qtbot, desktop, Role.SUPERVISOR)
    dialog = open_agency(desktop)
    pdf = tmp_path / "card.pdf"
    with qtbot.waitSignal(dialog.card_printed, timeout=20_000):
        dialog.print_card_to(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"%%EOF" in data[-64:]
    card = partners.read_card(pdf.with_suffix(".icspa-card").read_bytes())
    assert card.fingerprint == dialog.fingerprint.text()
    # A name without .pdf still gets a PDF and a separate card file (never one overwriting the other).
    with qtbot.waitSignal(dialog.card_printed, timeout=20_000) as signal:
        dialog.print_card_to(tmp_path / "paper")
    assert signal.args == [str(tmp_path / "paper.pdf")]
    assert (tmp_path / "paper.pdf").read_bytes().startswith(b"%PDF-")
    partners.read_card((tmp_path / "paper.icspa-card").read_bytes())


def test_vault_without_identity_shows_the_message_and_an_admin_creates_one(
        qtbot: QtBot, qapp: QApplication, tmp_path: Path) -> None:
    path = tmp_path / "bare"
    init_vault(path, ADMIN, ADMIN_PASS)
    with unlock(path, ADMIN, ADMIN_PASS) as session:
        users.add_user(session, NAMES[Role.AUDITOR], Role.AUDITOR, PASSPHRASES[Role.AUDITOR])
    apps: Iterator[DesktopApp] = make_app(qtbot, qapp, path, AppSettings(tmp_path / "desktop.ini"))
    app = next(apps)
    try:
        unlock_as(qtbot, app, Role.AUDITOR)
        dialog = open_agency(app)
        assert not dialog.has_identity_page()
        assert dialog.missing.text() == agency.NO_IDENTITY
        assert not dialog.create_box.isVisible()  # auditors cannot create one
        app.lock()
        qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=5_000)

        unlock_as(qtbot, app)
        dialog = open_agency(app)
        assert dialog.missing.text() == agency.NO_IDENTITY
        assert dialog.create_box.isVisible()
        form = dialog.create_form
        form.name.setText("Guardia Civil")
        form.country.setText("E1")
        dialog.create_button.click()
        assert dialog.error.isVisible()
        assert "not an ISO 3166 two-letter code" in dialog.error.text()
        assert not agency.has_identity(session_of(app))
        form.country.setText("es")
        form.unit.setText("Grupo de Delitos Telemáticos")
        with qtbot.waitSignal(dialog.identity_changed, timeout=5_000):
            dialog.create_button.click()
        identity = agency.agency_identity(session_of(app))
        assert (identity.name, identity.country, identity.unit) == ("Guardia Civil", "ES",
                                                                    "Grupo de Delitos Telemáticos")
        assert dialog.has_identity_page()
        assert dialog.fingerprint.text() == identity.fingerprint
        assert not dialog.error.isVisible()
    finally:
        next(apps, None)


def test_admin_replaces_the_identity_after_acknowledging(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = session_of(desktop)
    old = agency.agency_identity(session)
    dialog = open_agency(desktop)
    replace = dialog.replace_identity()
    assert replace is not None
    assert replace.form.name.text() == "Test Police"
    assert not replace.replace_button.isEnabled()
    replace.understood.setChecked(True)
    with qtbot.waitSignal(dialog.identity_changed, timeout=5_000):
        replace.replace_button.click()
    new = agency.agency_identity(session)
    assert new.fingerprint != old.fingerprint
    assert dialog.fingerprint.text() == new.fingerprint
    # The next card names the old key as its predecessor, so partners can accept it as a successor.
    assert partners.read_card(agency.make_card(session)).predecessor == old.certificate


def test_admin_imports_a_pkcs12_certificate(qtbot: QtBot, desktop: DesktopApp, tmp_path: Path) -> None:
    unlock_as(qtbot, desktop)
    key = certs.generate_key()
    cert = certs.self_signed(key, "Politie Eenheid Rotterdam", "NL", "Team Digitale Expertise")
    p12 = tmp_path / "agency.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"agency", key, cert, None,
                                                          BestAvailableEncryption(b"right")))
    dialog = open_agency(desktop)
    importer = dialog.import_certificate()
    assert importer is not None
    importer.key_file.edit.setText(str(p12))
    importer.password.setText("wrong")
    importer.import_button.click()
    assert importer.error.text() == "The PKCS#12 file cannot be read (wrong password or damaged file)."
    assert agency.agency_identity(session_of(desktop)).certificate != cert
    importer.password.setText("right")
    with qtbot.waitSignal(dialog.identity_changed, timeout=5_000):
        importer.import_button.click()
    assert dialog.values["Certificate SHA-256"].text() == certs.sha256_fingerprint(cert)
    assert dialog.values["Agency"].text() == "Politie Eenheid Rotterdam"
    assert importer.password.text() == ""


# ---- partners ------------------------------------------------------------------------------------------
def test_import_card_needs_the_fingerprint_typed_from_out_of_band(qtbot: QtBot, desktop: DesktopApp,
                                                                  bka: OtherAgency, tmp_path: Path) -> None:
    unlock_as(qtbot, desktop)
    session = session_of(desktop)
    dialog = open_partners(desktop)
    assert dialog.partner_names() == []
    importer = dialog.import_card()
    assert isinstance(importer, CardImportDialog)

    garbage = tmp_path / "garbage.icspa-card"
    garbage.write_bytes(b"\x00not a card")
    assert not importer.load_file(garbage)
    assert importer.error.text() == "That file is not an agency card (not JSON)."
    assert importer.page() == CardImportDialog.FILE

    assert importer.load_file(bka.card_path)
    assert importer.page() == CardImportDialog.COMPARE
    assert importer.card_heading.text() == "Bundeskriminalamt"
    assert importer.card_values["Country"].text() == "DE"
    assert importer.card_values["Contact"].text() == "desk@example.org"
    assert importer.typed.text() == ""  # never prefilled
    assert bka.fingerprint not in shown_texts(importer)  # the file's own fingerprint is not shown yet

    wrong = bka.fingerprint[:-1] + ("0" if bka.fingerprint[-1] != "0" else "1")
    importer.typed.setText(wrong)
    importer.next_button.click()
    assert importer.page() == CardImportDialog.COMPARE
    assert "does NOT match" in importer.error.text()
    assert "nothing was imported" in importer.error.text()
    assert partners.list_partners(session) == []
    assert bka.fingerprint not in shown_texts(importer)
    assert importer.side_button.isVisible()
    importer.side_button.click()  # the explicit second step: both, side by side
    assert importer.side.isVisible()
    assert bka.fingerprint.split()[0] in importer.side.text()

    importer.typed.setText(bka.fingerprint.lower().replace(" ", "-"))
    importer.next_button.click()
    assert importer.page() == CardImportDialog.MATCHED
    assert importer.matched.text() == bka.fingerprint
    assert partners.list_partners(session) == []  # not before the user confirms
    with qtbot.waitSignal(importer.imported, timeout=5_000):
        importer.next_button.click()
    trusted = partners.list_partners(session)
    assert [(p.name, p.country, p.fingerprint, p.source) for p in trusted] == [
        ("Bundeskriminalamt", "DE", bka.fingerprint, "card")]
    assert dialog.partner_names() == ["Bundeskriminalamt"]
    selected = dialog.selected_partner()
    assert selected is not None
    assert selected.id == trusted[0].id
    assert bka.fingerprint in dialog.details.toPlainText()
    assert dialog.table.item(0, 3).text() == bka.fingerprint

    again = dialog.import_card()
    assert again is not None
    assert again.load_file(bka.card_path)
    again.typed.setText(bka.fingerprint)
    assert again.compare()
    again.trust()
    assert "already known" in again.error.text()
    assert len(partners.list_partners(session)) == 1


def test_enter_compares_but_never_trusts_in_the_same_key_press(qtbot: QtBot, desktop: DesktopApp,
                                                                 bka: OtherAgency) -> None:
    unlock_as(qtbot, desktop)
    importer = open_partners(desktop).import_card()
    assert importer is not None
    assert importer.load_file(bka.card_path)
    importer.typed.setText(bka.fingerprint)
    qtbot.keyClick(importer.typed, Qt.Key.Key_Return)
    assert importer.page() == CardImportDialog.MATCHED
    assert partners.list_partners(session_of(desktop)) == []
    with qtbot.waitSignal(importer.imported, timeout=5_000):
        qtbot.keyClick(importer.next_button, Qt.Key.Key_Return)
    assert len(partners.list_partners(session_of(desktop))) == 1


def test_add_partner_without_the_app(qtbot: QtBot, desktop: DesktopApp, bka: OtherAgency, tmp_path: Path) -> None:
    unlock_as(qtbot, desktop, Role.SUPERVISOR)
    dialog = open_partners(desktop)
    add = dialog.add_partner()
    assert isinstance(add, AddPartnerDialog)
    add.name.setText("Federal Computer Crime Unit")
    add.country.setText("be")
    add.recipient.setText(bka.age_recipient)
    add.add_button.click()
    assert add.error.text() == "Choose the partner's certificate file (PEM)."
    pem = tmp_path / "fccu.pem"
    pem.write_bytes(bka.cert_pem)
    add.cert.edit.setText(str(pem))
    add.recipient.setText("age1notarecipient")
    add.add_button.click()
    assert add.error.isVisible()
    assert partners.list_partners(session_of(desktop)) == []
    add.recipient.setText(bka.age_recipient)
    with qtbot.waitSignal(add.added, timeout=5_000):
        add.add_button.click()
    partner = partners.get_partner(session_of(desktop), "Federal Computer Crime Unit")
    assert (partner.country, partner.source, partner.fingerprint) == ("BE", "manual", bka.fingerprint)
    assert dialog.partner_names() == ["Federal Computer Crime Unit"]
    assert dialog.table.item(0, 5).text() == "by hand"


def test_revoke_needs_a_reason_and_marks_the_partner_revoked(qtbot: QtBot, desktop: DesktopApp,
                                                             bka: OtherAgency) -> None:
    unlock_as(qtbot, desktop)
    session = session_of(desktop)
    partner = partners.import_card(session, bka.card, bka.fingerprint)
    dialog = open_partners(desktop)
    dialog.select_partner(partner.id)
    assert dialog.revoke_button.isEnabled()
    revoke = dialog.revoke()
    assert isinstance(revoke, RevokeDialog)
    assert not revoke.revoke_button.isEnabled()
    revoke.reason.setText("   ")
    assert not revoke.revoke_button.isEnabled()
    revoke.attempt()  # even forced, the service refuses a blank reason
    assert revoke.error.text() == "Revoking a partner needs a reason."
    assert partners.get_partner(session, partner.id).status is PartnerStatus.ACTIVE
    revoke.reason.setText("Key reported compromised by the BKA duty officer")
    with qtbot.waitSignal(revoke.revoked, timeout=5_000):
        revoke.revoke_button.click()
    revoked = partners.get_partner(session, partner.id)
    assert revoked.status is PartnerStatus.REVOKED
    assert revoked.status_reason == "Key reported compromised by the BKA duty officer"
    assert dialog.table.item(0, 2).text() == "revoked"
    assert not dialog.revoke_button.isEnabled()
    assert "Key reported compromised" in dialog.details.toPlainText()


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.AUDITOR])
def test_partner_management_disabled_for_role(qtbot: QtBot, desktop: DesktopApp, bka: OtherAgency,
                                              role: Role) -> None:
    with unlock(desktop.vault_path, NAMES[Role.ADMINISTRATOR], PASSPHRASES[Role.ADMINISTRATOR]) as admin:
        partners.import_card(admin, bka.card, bka.fingerprint)
    unlock_as(qtbot, desktop, role)
    dialog = open_partners(desktop)
    assert dialog.partner_names() == ["Bundeskriminalamt"]  # they may look
    assert dialog.selected_partner() is not None
    for button in (dialog.import_button, dialog.add_button, dialog.revoke_button):
        assert not button.isEnabled()
    assert dialog.role_hint.isVisible()
    assert dialog.import_card() is None
    assert dialog.add_partner() is None
    assert dialog.revoke() is None
    identity = open_agency(desktop)
    assert identity.fingerprint.text() == agency.agency_identity(session_of(desktop)).fingerprint
    assert not identity.export_button.isEnabled()
    assert not identity.print_button.isEnabled()
    assert not identity.replace_button.isVisible()
    assert identity.export_card() is None


def test_supervisor_may_manage_partners(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop, Role.SUPERVISOR)
    dialog = open_partners(desktop)
    assert dialog.import_button.isEnabled()
    assert dialog.add_button.isEnabled()
    assert not dialog.role_hint.isVisible()
    assert not open_agency(desktop).replace_button.isVisible()  # administrators only


def test_lock_closes_and_deletes_the_agency_dialogs(qtbot: QtBot, desktop: DesktopApp, bka: OtherAgency) -> None:
    unlock_as(qtbot, desktop)
    identity = open_agency(desktop)
    partners_dialog = open_partners(desktop)
    importer = partners_dialog.import_card()
    assert importer is not None
    assert importer.load_file(bka.card_path)
    importer.typed.setText("1234")
    assert desktop.window.agency.identity_action.isEnabled()
    desktop.window.lock_action.trigger()  # Ctrl+L
    for dialog in (identity, partners_dialog, importer):
        qtbot.waitUntil(lambda d=dialog: not shiboken6.isValid(d), timeout=5_000)  # type: ignore[misc]
    assert not desktop.window.agency.identity_action.isEnabled()
    assert not desktop.window.agency.partners_action.isEnabled()
    assert desktop.window.agency.open_partners() is None


# ---- screenshots ---------------------------------------------------------------------------------------
def test_render_agency_and_partner_pages(qtbot: QtBot, qapp: QApplication, desktop: DesktopApp,
                                         tmp_path: Path) -> None:
    """Set ICSPA_SCREENSHOT_DIR to keep the PNGs."""
    bka = other_agency(tmp_path, "Bundeskriminalamt", "DE")
    gdt = other_agency(tmp_path, "Guardia Civil — Grupo de Delitos Telemáticos", "ES")
    nca = other_agency(tmp_path, "National Crime Agency", "GB")
    out = Path(os.environ.get("ICSPA_SCREENSHOT_DIR") or tmp_path)
    previous = qapp.styleSheet()
    qapp.setStyleSheet(stylesheet())
    try:
        unlock_as(qtbot, desktop)
        session = session_of(desktop)
        partners.import_card(session, bka.card, bka.fingerprint)
        nca_partner = partners.import_card(session, nca.card, nca.fingerprint)
        partners.revoke_partner(session, nca_partner.id, "Key reported lost by the NCA duty officer")
        pem = tmp_path / "gdt.pem"
        pem.write_bytes(gdt.cert_pem)
        partners.add_partner(session, "Guardia Civil — Grupo de Delitos Telemáticos", "ES", gdt.age_recipient,
                             gdt.cert_pem, contact="+34 91 514 60 00")
        identity = open_agency(desktop)
        assert identity.grab().save(str(out / "agency-identity.png"))
        listing = open_partners(desktop)
        listing.select_partner(partners.get_partner(session, "Bundeskriminalamt").id)
        assert listing.grab().save(str(out / "partners.png"))
        importer = listing.import_card()
        assert importer is not None
        assert importer.load_file(bka.card_path)
        importer.typed.setText(bka.fingerprint.replace("A", "B", 1) if "A" in bka.fingerprint
                               else "0000 " + bka.fingerprint[5:])
        importer.compare()
        importer.show_side_by_side()
        assert importer.grab().save(str(out / "partner-import-mismatch.png"))
    finally:
        qapp.setStyleSheet(previous)
