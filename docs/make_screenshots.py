"""Screenshots of the desktop app for the README and the guides, on a demo vault built through the services.

    .venv/bin/python docs/make_screenshots.py [--out docs/screenshots] [--only 01,02] [--keep-demo DIR]

Builds, in a temporary folder, two agencies that trust each other's cards (Politie Landelijke Eenheid, NL, and the
Bundeskriminalamt, DE, plus a Belgian partner of the Dutch), a few cases, one of them with a few hundred items in
folders (photos, a disk image, chat exports), annotations, a phone checked out to the lab, a verification, a bundle
sent NL → DE and imported there, and a second bundle waiting at DE. Then it opens the real windows (offscreen unless
QT_QPA_PLATFORM says otherwise; in English unless ICSPA_LANG says otherwise), the main window at 1366×768 and each
dialog at its own size, and saves ``NN-what.png`` with ``QWidget.grab()``.

Every name, number and file in the demo is invented. The cheap test KDF profile makes the vaults quick to create
and unlock: the demo vaults are for pictures only (the installed app refuses their key slots).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ICSPA_LANG", "en")

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QThread, QThreadPool
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QSplitter, QWidget

from icspa_desktop.crypto import kdf
from icspa_desktop.domain.enums import CaseStatus, HandlingCode, Role, Tlp
from icspa_desktop.domain.evidence import Acquisition, HashAlgorithm, Item, ItemFields, ItemKind, Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import (
    agency,
    bundle_import,
    bundles,
    cases,
    evidence,
    fixity,
    partners,
    physical,
    receipts,
    users,
)
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1366, 768
CASE_LIST = 500  # the case list's pane; the case's tabs take the rest

# Throw-away demo vaults: these passphrases guard nothing.
NL_ADMIN, NL_PASS = "jansen", "demo-passphrase-nl"
NL_INVESTIGATOR, NL_INVESTIGATOR_PASS = "bakker", "demo-passphrase-rik"
DE_ADMIN, DE_PASS = "weber", "demo-passphrase-de"
BE_ADMIN, BE_PASS = "peeters", "demo-passphrase-be"

NIGHTJAR = "2026/0117"
PHISHING = "2026/0131"
NL_CASES = [  # number, title, handling, tlp, lead, legal authority
    (NIGHTJAR, "Operation Nightjar — cross-border investment fraud ring", HandlingCode.H2, Tlp.AMBER,
     "Insp. Marieke Jansen", "RC Rotterdam 2026/0042"),
    ("2026/0098", "Ransomware attack on a port logistics company", HandlingCode.H0, Tlp.GREEN,
     "Rik Bakker", "OvJ Rotterdam 26/118"),
    (PHISHING, "Phishing campaign against pensioners (fake bank helpdesk)", HandlingCode.H1, Tlp.AMBER,
     "Rik Bakker", "RC Den Haag 2026/0311"),
    ("2026/0140", "Darknet marketplace vendor accounts", HandlingCode.H3, Tlp.RED,
     "Insp. Marieke Jansen", "RC Amsterdam 2026/0077"),
    ("2026/0076", "Stolen vehicles exported through the port", HandlingCode.H1, Tlp.CLEAR,
     "Rik Bakker", "OvJ Rotterdam 26/061"),
    ("2025/0412", "Money mules recruited through a gaming platform", HandlingCode.H2, Tlp.AMBER,
     "Insp. Marieke Jansen", "RC Utrecht 2025/0980"),
]
DE_CASES = [
    ("SO4-2026-0311", "Sparkasse phishing kit infrastructure", HandlingCode.H1, Tlp.AMBER,
     "KHK Anna Weber", "AG Wiesbaden 4 Gs 311/26"),
    ("SO4-2026-0287", "Crypto ATM laundering network", HandlingCode.H2, Tlp.AMBER,
     "KHK Anna Weber", "AG Wiesbaden 4 Gs 287/26"),
]

CHAT_LINES = [
    "[02/03/2026, 21:14] Kees V.: the new leads list is in, 4,000 numbers from the Antwerp call centre",
    "[02/03/2026, 21:15] M.: same script as last time? the 'guaranteed 18%' one",
    "[02/03/2026, 21:17] Kees V.: yes. wallets rotate on Friday, send the new addresses to D.",
    "[02/03/2026, 21:20] M.: container leaves Friday, the laptops go with it",
    "[02/03/2026, 21:22] Kees V.: delete this chat after reading",
]


def _quiet_qt_messages() -> None:
    """Drop the offscreen platform's "does not support propagateSizeHints()" line (one per window shown)."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if "propagateSizeHints" not in message:
            print(f"Qt {kind.name}: {message}", file=sys.stderr)

    qInstallMessageHandler(handler)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Run the event loop until ``condition()`` holds: the GUI reads and verifies in the background."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        QThread.msleep(5)


def settle() -> None:
    """Let layouts, style polish and deferred deletes happen before a grab."""
    for _ in range(5):
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


# ---- the demo, built through the services ---------------------------------------------------------------------
@dataclass
class Demo:
    root: Path
    nl: Path
    de: Path
    be: Path
    incoming: Path  # NL's second bundle, not yet imported at DE (the import wizard's report)
    seized: Path  # files the add-evidence dialog offers
    nightjar_items: int = 0
    notes: list[str] = field(default_factory=list)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _seized_files(root: Path, rng: random.Random) -> dict[str, Path]:
    """The Nightjar seizure as the forensic lab hands it over: one folder per exhibit."""
    laptop = root / "S-118842 HP EliteBook 840 G8"
    _write(laptop / "EliteBook-840-G8_S-118842.E01", b"EVF\x09\x0d\x0a\xff\x00" + rng.randbytes(6 << 20))
    _write(laptop / "EliteBook-840-G8_S-118842.E01.txt",
           b"Created By AccessData FTK Imager 4.7.1.2\nCase Number: 2026/0117\nEvidence Number: S-118842\n"
           b"Examiner: R. Bakker\nDrive Model: SAMSUNG MZVLB512HBJQ\nSector Count: 1000215216\n")
    phone = root / "S-118843 iPhone 13 extraction"
    chat = "\n".join(CHAT_LINES * 120).encode()
    _write(phone / "WhatsApp" / "WhatsApp Chat with Kees V.txt", chat)
    _write(phone / "WhatsApp" / "WhatsApp Chat with +31 6 1938 4402.txt", chat[: len(chat) // 3])
    _write(phone / "WhatsApp" / "WhatsApp Chat with Investment Team NL.txt", chat[: len(chat) // 2])
    _write(phone / "Telegram" / "result.json", b'{"name": "D.", "type": "personal_chat", "messages": []}\n' * 300)
    _write(phone / "Signal" / "signal-2026-03-02.html", b"<html><body>" + b"<p>message</p>" * 4000 + b"</body></html>")
    for n in range(220):  # photos in the phone's camera folders
        folder = "100APPLE" if n < 120 else "101APPLE"
        _write(phone / "DCIM" / folder / f"IMG_{4401 + n:04d}.JPG",
               b"\xff\xd8\xff\xe1" + rng.randbytes(rng.randrange(12_000, 60_000)))
    usb = root / "S-118845 USB stick SanDisk 32 GB"
    for name in ("invoice-0042.pdf", "invoice-0043.pdf", "Beleggingsplan Q2.docx", "Wallet addresses.xlsx",
                 "Investor list March.xlsx", "Brochure Nightjar Capital.pdf", "contract-template-EN.docx",
                 "contract-template-DE.docx"):
        header = b"%PDF-1.7\n" if name.endswith(".pdf") else b"PK\x03\x04"
        _write(usb / "Documents" / name, header + rng.randbytes(rng.randrange(20_000, 200_000)))
    return {"laptop": laptop, "phone": phone, "usb": usb}


def _agency_vault(path: Path, admin: str, passphrase: str, display: str, info: AgencyInfo) -> Path:
    init_vault(path, admin, passphrase, display_name=display, agency=info)
    return path


def _card(path: Path, user: str, passphrase: str) -> tuple[bytes, str]:
    with unlock(path, user, passphrase) as session:
        return agency.make_card(session), agency.agency_identity(session).fingerprint


def _case(session: Session, number: str, title: str, handling: HandlingCode, tlp: Tlp, lead: str,
          authority: str, jurisdiction: str) -> str:
    text = "Only for members of the joint investigation team" if handling is HandlingCode.H3 else ""
    return cases.create_case(session, CaseFields(
        number, title, description="Seizures at three addresses; devices imaged by the digital forensics team.",
        lead_investigator=lead, jurisdiction=jurisdiction, legal_authority=authority, handling_code=handling,
        handling_text=text, tlp=tlp)).id


def build_demo(root: Path) -> Demo:
    """Both agencies' vaults, filled through the services only (what the CLI and the app call)."""
    kdf.use_insecure_test_profile()
    rng = random.Random(2026)  # noqa: S311 (file contents for pictures, not secrets)
    nl = _agency_vault(root / "politie-nl" / "vault", NL_ADMIN, NL_PASS, "Insp. Marieke Jansen", AgencyInfo(
        "Politie Landelijke Eenheid", "NL", "Team Digitale Expertise", "tde@politie.example"))
    de = _agency_vault(root / "bka-de" / "vault", DE_ADMIN, DE_PASS, "KHK Anna Weber", AgencyInfo(
        "Bundeskriminalamt", "DE", "SO 4 Cybercrime", "so4@bka.example"))
    be = _agency_vault(root / "fgp-be" / "vault", BE_ADMIN, BE_PASS, "Insp. Lien Peeters", AgencyInfo(
        "Federale Gerechtelijke Politie", "BE", "Regional Computer Crime Unit", "rccu@fgp.example"))
    nl_card, de_card, be_card = _card(nl, NL_ADMIN, NL_PASS), _card(de, DE_ADMIN, DE_PASS), _card(be, BE_ADMIN, BE_PASS)
    files = _seized_files(root / "evidence" / "Nightjar", rng)
    usb = root / "usb"
    usb.mkdir()
    demo = Demo(root, nl, de, be, usb / "phishing-0131.icspa", root / "evidence" / "to add")
    _write(demo.seized / "S-118846 Samsung Galaxy A54" / "extraction-report.pdf", b"%PDF-1.7\n" + rng.randbytes(90_000))
    _write(demo.seized / "S-118846 Samsung Galaxy A54" / "UFED-A54-S118846.zip", b"PK\x03\x04" + rng.randbytes(400_000))

    with unlock(nl, NL_ADMIN, NL_PASS) as s:
        users.add_user(s, NL_INVESTIGATOR, Role.INVESTIGATOR, NL_INVESTIGATOR_PASS, "Rik Bakker")
        users.add_user(s, "devries", Role.SUPERVISOR, "demo-passphrase-sup", "Hoofdinsp. Daan de Vries")
        users.add_user(s, "smit", Role.AUDITOR, "demo-passphrase-aud", "Els Smit (quality)")
        partners.import_card(s, de_card[0], de_card[1])
        partners.import_card(s, be_card[0], be_card[1])
        for number, title, handling, tlp, lead, authority in NL_CASES:
            _case(s, number, title, handling, tlp, lead, authority, "Rotterdam")
        evidence.add_files(s, NIGHTJAR, [files["laptop"]], ItemFields(
            description="Forensic image of the suspect's laptop and FTK Imager's acquisition log",
            tags=("laptop", "Kees V."), acquisition=Acquisition(
                acquired_by="Rik Bakker", method="physical image (E01)", location="Rotterdam, Veerhaven 12",
                tool="FTK Imager", tool_version="4.7.1", source_device="HP EliteBook 840 G8",
                source_serial="5CG1234XYZ", seal_number="S-118842")),
            algorithms=[HashAlgorithm.SHA256, HashAlgorithm.MD5, HashAlgorithm.SHA1])
        evidence.add_files(s, NIGHTJAR, [files["usb"]], ItemFields(
            description="Documents from the USB stick found in the desk", tags=("usb",),
            acquisition=Acquisition(acquired_by="Rik Bakker", method="logical copy", location="Rotterdam, Veerhaven 12",
                                    seal_number="S-118845")))
        phone = physical.add_physical(s, NIGHTJAR, "iPhone 13, blue, cracked screen", ItemFields(
            storage_location="Evidence room 2, shelf B4", markings=Markings(HandlingCode.H2, "", Tlp.RED),
            acquisition=Acquisition(acquired_by="Rik Bakker", location="Rotterdam, Veerhaven 12",
                                    source_device="Apple iPhone 13", source_serial="IMEI 356938035643809",
                                    seal_number="S-118843")))
        physical.add_physical(s, NIGHTJAR, "Seagate 2 TB external disk", ItemFields(
            storage_location="Evidence room 2, shelf B5", acquisition=Acquisition(seal_number="S-118844")))
        physical.check_out(s, phone.id, "Dr. L. Visser (NFI)", "chip-off examination at the lab",
                           released_by="Insp. Marieke Jansen", notes="sealed bag S-118843 intact")
        for number, files_n in (("2026/0098", 4), (PHISHING, 5), ("2025/0412", 3)):
            folder = root / "evidence" / number.replace("/", "-")
            for k in range(files_n):
                name = ["server-log-export.txt", "mail-headers.eml", "landing-page.html", "victim-statement.pdf",
                        "bank-transfers.csv"][k]
                _write(folder / name, rng.randbytes(rng.randrange(3_000, 40_000)))
            evidence.add_files(s, number, [folder], ItemFields(description="Files handed over by the complainant"))
        cases.set_status(s, "2026/0076", CaseStatus.CLOSED, "vehicles recovered, case sent to the prosecutor")

    with unlock(nl, NL_INVESTIGATOR, NL_INVESTIGATOR_PASS) as s:  # the phone's extraction, by the investigator
        evidence.add_files(s, NIGHTJAR, [files["phone"]], ItemFields(
            description="Logical extraction of the iPhone 13 (chats and camera roll)", tags=("phone", "Kees V."),
            acquisition=Acquisition(acquired_by="Rik Bakker", method="logical extraction",
                                    location="NFI, The Hague", tool="Cellebrite UFED", tool_version="7.69",
                                    source_device="Apple iPhone 13", seal_number="S-118843")))
        items = evidence.list_items(s, NIGHTJAR)
        by_name = {i.original_name: i for i in items}
        evidence.annotate(s, by_name["WhatsApp Chat with Kees V.txt"].id,
                          notes="Mentions the container of Friday 6 March and the wallet rotation; see PV 2026-117-14.",
                          tags=("phone", "Kees V.", "key evidence"), reason="first review")
        evidence.annotate(s, by_name["Wallet addresses.xlsx"].id, notes="37 BTC addresses; 5 match the complaints.",
                          tags=("usb", "wallets"), reason="first review")
        fixity.verify_case(s, NIGHTJAR)
        demo.nightjar_items = len(items)

    with unlock(de, DE_ADMIN, DE_PASS) as s:
        users.add_user(s, "schmidt", Role.INVESTIGATOR, "demo-passphrase-kok", "KOK Jonas Schmidt")
        partners.import_card(s, nl_card[0], nl_card[1])
        for number, title, handling, tlp, lead, authority in DE_CASES:
            _case(s, number, title, handling, tlp, lead, authority, "Wiesbaden")

    with unlock(nl, NL_ADMIN, NL_PASS) as s:  # NL sends part of Nightjar, then the phishing case, to BKA
        items = evidence.list_items(s, NIGHTJAR)
        chosen = sent_to_bka(items)
        plan = bundles.plan_export(s, NIGHTJAR, ["Bundeskriminalamt"], chosen, purpose="JIT Nightjar",
                                   authority="MLA request 2026/17")
        sent = bundles.export(s, plan, usb / "nightjar-0117")
        plan = bundles.plan_export(s, PHISHING, ["Bundeskriminalamt"], purpose="Sparkasse phishing kit: the same "
                                   "landing pages", authority="MLA request 2026/21")
        bundles.export(s, plan, demo.incoming)
    with unlock(de, DE_ADMIN, DE_PASS) as s:
        bundle_import.commit_import(s, bundle_import.prepare_import(s, sent.path))
        receipts.write_receipt(s, sent.bundle_id, usb / "receipt-nightjar.txt")
    with unlock(nl, NL_ADMIN, NL_PASS) as s:
        receipts.import_receipt(s, usb / "receipt-nightjar.txt")
    return demo


def sent_to_bka(items: list[Item]) -> list[str]:
    """What NL sends BKA of Nightjar: the laptop image, the documents, the chats and the first twelve photos."""
    return [i.id for i in items if i.kind is ItemKind.DIGITAL
            and (not i.original_name.startswith("IMG_") or i.original_name < "IMG_4413")]


# ---- the windows ------------------------------------------------------------------------------------------------
class Shooter:
    """Opens the real app controller over the demo vaults and saves what it shows."""

    def __init__(self, qapp: QApplication, demo: Demo, out: Path) -> None:
        self.qapp = qapp
        self.demo = demo
        self.out = out
        self.saved: list[Path] = []
        self._apps: dict[str, object] = {}

    def save(self, widget: QWidget, name: str) -> Path:
        settle()
        path = self.out / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.saved.append(path)
        return path

    @contextmanager
    def app(self, vault: Path, user: str, passphrase: str, *, before_unlock: Callable[[object], None] | None = None,
            ) -> Iterator[object]:
        """The desktop app on ``vault``, unlocked as ``user``, its window at 1366×768; quit afterwards."""
        import shiboken6

        from icspa_desktop.gui.app import DesktopApp
        from icspa_desktop.gui.settings import AppSettings

        settings = AppSettings(vault.parent / "desktop.ini")
        settings.last_user = user
        app = DesktopApp(self.qapp, vault, settings, auto_lock_minutes=0)
        try:
            app.start()
            dialog = app.unlock_dialog
            if dialog is None:
                raise RuntimeError(f"no unlock dialog for {vault}")
            wait_until(dialog.isVisible, "the unlock dialog")
            dialog.user.setText(user)
            dialog.passphrase.setText(passphrase)
            if before_unlock is not None:
                before_unlock(dialog)
            dialog.unlock_button.click()
            wait_until(lambda: app.session is not None, "the unlock", 60)
            window = app.window
            window.resize(WIDTH, HEIGHT)
            window.show()
            wait_until(lambda: window.isVisible(), "the main window")
            self._close_boxes(window)
            window.statusBar().clearMessage()  # "Daily custody checkpoint signed": not what the pictures show
            yield app
        finally:
            app.quit()
            QThreadPool.globalInstance().waitForDone(30_000)
            settle()
            shiboken6.delete(app)

    @staticmethod
    def _close_boxes(window: QWidget) -> None:
        for box in window.findChildren(QMessageBox):
            if box.isVisible():
                box.done(0)


def _select_case(app: object, number: str) -> None:
    window = app.window  # type: ignore[attr-defined]
    session = app.session  # type: ignore[attr-defined]
    if not window.browser.select_case(cases.get_case(session, number).id):
        raise RuntimeError(f"case {number} not in the list")


def _evidence_tab(app: object, expected: int) -> object:
    window = app.window  # type: ignore[attr-defined]
    tab = window.evidence.current_tab()
    if tab is None:
        raise RuntimeError("no Evidence tab")
    window.browser.tabs.setCurrentWidget(tab)
    wait_until(lambda: not tab.loading and tab.model.rowCount() == expected, "the Evidence tab's items")
    return tab


def _item_named(tab: object, name: str) -> object:
    return next(i for i in tab.model.records() if i.original_name == name)  # type: ignore[attr-defined]


def shoot(shooter: Shooter, only: set[str] | None) -> None:
    from icspa_desktop.gui.vault_wizard import CreateVaultWizard

    def wanted(*numbers: str) -> bool:
        return only is None or bool(only & set(numbers))

    demo = shooter.demo
    if wanted("01"):
        wizard = CreateVaultWizard(demo.root / "new-vault")
        wizard.show()
        wait_until(wizard.isVisible, "the first-run wizard")
        shooter.save(wizard, "01-first-run-wizard")
        wizard.reject()
        wizard.deleteLater()

    nl_shots = ("02", "03", "04", "05", "06", "07", "08", "09", "10", "11")
    if wanted(*nl_shots):
        unlock_shot = (lambda dialog: shooter.save(dialog, "02-unlock")) if wanted("02") else None
        with shooter.app(demo.nl, NL_ADMIN, NL_PASS, before_unlock=unlock_shot) as app:
            if wanted(*nl_shots[1:]):
                _nl_shots(shooter, app, wanted)

    if wanted("12", "13", "14"):
        with shooter.app(demo.de, DE_ADMIN, DE_PASS) as app:
            _de_shots(shooter, app, wanted)


def _nl_shots(shooter: Shooter, app: object, wanted: Callable[..., bool]) -> None:
    window = app.window  # type: ignore[attr-defined]
    session = app.session  # type: ignore[attr-defined]
    demo = shooter.demo
    _select_case(app, NIGHTJAR)
    window.browser.setSizes([CASE_LIST, WIDTH - CASE_LIST])
    tab = _evidence_tab(app, demo.nightjar_items)
    splitter = tab.findChild(QSplitter, "evidenceSplitter")
    if wanted("03"):
        tab.select_items([_item_named(tab, "EliteBook-840-G8_S-118842.E01").id])
        tab.table.scrollToTop()
        splitter.setSizes([380, 300])
        shooter.save(window, "03-main-window")
    if wanted("04"):
        dialog = window.evidence.ingest(sorted(demo.seized.iterdir()))
        dialog.description.setPlainText("Extraction of the Samsung phone seized at the second address")
        dialog.tags.setText("phone, second address")
        dialog.method.setText("logical extraction")
        dialog.location.setText("Rotterdam, Katendrecht 4")
        dialog.seal.setText("S-118846")
        wait_until(dialog.isVisible, "the add-evidence dialog")
        shooter.save(dialog, "04-add-evidence")
        dialog.reject()
    if wanted("05"):
        tab.select_items([_item_named(tab, "iPhone 13, blue, cracked screen").id])
        splitter.setSizes([300, 380])
        shooter.save(tab.details, "05-item-details")
    if wanted("06"):
        tab.table.clearSelection()
        actions = window.evidence
        actions.last_fixity_dialog = None
        actions.verify_action.trigger()
        wait_until(lambda: actions.last_fixity_dialog is not None and actions.last_fixity_dialog.isVisible(),
                   "the verification of the case", 120)
        actions.last_fixity_dialog.resize(1000, 420)  # wide enough for the digests on one line
        shooter.save(actions.last_fixity_dialog, "06-verify-result")
        actions.last_fixity_dialog.reject()
    if wanted("07"):
        from icspa_desktop.gui.custody_tab import CustodyTab

        custody_tab = window.browser.case_tab(CustodyTab)
        window.browser.tabs.setCurrentWidget(custody_tab)
        wait_until(lambda: custody_tab.is_loaded and not custody_tab.loading, "the custody timeline")
        shown = [event.action for event in custody_tab.timeline.visible_events()]
        custody_tab.timeline.select_row(shown.index("checked_out"))
        shooter.save(window, "07-custody-timeline")
        window.browser.tabs.setCurrentWidget(tab)
    if wanted("08"):
        actions = window.custody
        actions.last_verify_dialog = None
        actions.verify_action.trigger()
        wait_until(lambda: actions.last_verify_dialog is not None and actions.last_verify_dialog.isVisible(),
                   "the custody verification", 120)
        shooter.save(actions.last_verify_dialog, "08-custody-verify")
        actions.last_verify_dialog.reject()
    if wanted("09"):
        dialog = window.agency.open_partners()
        dialog.select_partner(partners.get_partner(session, "Bundeskriminalamt").id)
        shooter.save(dialog, "09-partners")
        dialog.reject()
    if wanted("10", "11"):
        window.send_bundle.targets = list  # no removable medium offscreen: the wizard says so on its last page
        window.send_bundle.action.trigger()
        wizard = window.send_bundle.last_wizard
        wait_until(lambda: wizard.isVisible() and wizard.items.loaded, "the export wizard")
        wizard.items.model.check_only(set(sent_to_bka(list(wizard.items.items.values()))))
        wizard.next()
        page = wizard.recipients
        row = next(r for r in range(page.list.count()) if "Bundeskriminalamt" in page.list.item(r).text())
        page.list.item(row).setCheckState(Qt.CheckState.Checked)
        page.list.setCurrentRow(row)
        page.purpose.setText("JIT Nightjar")
        page.authority.setText("MLA request 2026/17")
        if wanted("10"):
            shooter.save(wizard, "10-export-recipients")
        wizard.next()
        wait_until(lambda: wizard.preview.plan is not None, "the export plan")
        if wanted("11"):
            shooter.save(wizard, "11-export-review")
        wizard.reject()


def _de_shots(shooter: Shooter, app: object, wanted: Callable[..., bool]) -> None:
    window = app.window  # type: ignore[attr-defined]
    if wanted("12"):
        window.import_bundle.targets = list
        window.import_bundle.action.trigger()
        wizard = window.import_bundle.last_wizard
        wait_until(lambda: wizard.isVisible(), "the import wizard")
        wizard.file.path.setText(str(shooter.demo.incoming))
        checked: list[object] = []
        wizard.checked.connect(checked.append)
        wizard.next()
        wait_until(lambda: checked and wizard.currentPage() is wizard.check, "the bundle's verification", 120)
        shooter.save(wizard, "12-import-verification")
        wizard.reject()
        wait_until(lambda: not wizard.isVisible(), "the import wizard to close")
    if wanted("13"):
        dialog = window.bundle_lists.open()
        shooter.save(dialog, "13-received-bundles")
        dialog.reject()
    if wanted("14"):
        _select_case(app, NIGHTJAR)
        window.browser.setSizes([CASE_LIST, WIDTH - CASE_LIST])
        session = app.session  # type: ignore[attr-defined]
        tab = _evidence_tab(app, len(evidence.list_items(session, NIGHTJAR)))
        tab.select_items([_item_named(tab, "WhatsApp Chat with Kees V.txt").id])
        shooter.save(window, "14-imported-case")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/make_screenshots.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--only", default="", help="comma-separated numbers, e.g. 01,02 (default: all)")
    parser.add_argument("--keep-demo", type=Path, metavar="DIR",
                        help="build the demo vaults in DIR (must not exist) and keep them, instead of a temp folder")
    args = parser.parse_args(argv)
    only = {n.strip().zfill(2) for n in args.only.split(",") if n.strip()} or None
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    from icspa_desktop.gui.resources import apply_stylesheet

    qapp = QApplication.instance() or QApplication([sys.argv[0]])
    if not isinstance(qapp, QApplication):
        raise RuntimeError("a QCoreApplication is running, not a QApplication")
    qapp.setQuitOnLastWindowClosed(False)
    _quiet_qt_messages()
    apply_stylesheet(qapp)
    with tempfile.TemporaryDirectory(prefix="icspa-demo-") as scratch:
        root = args.keep_demo.absolute() if args.keep_demo else Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        for var, sub in (("ICSPA_WITNESS_DIR", "witness"), ("XDG_CONFIG_HOME", "config"),
                         ("XDG_DATA_HOME", "data")):  # nothing reaches the real user's folders
            os.environ[var] = str(root / sub)
        demo = build_demo(root)
        built = time.perf_counter() - started
        shooter = Shooter(qapp, demo, args.out)
        shoot(shooter, only)
        for dialog in qapp.topLevelWidgets():
            if isinstance(dialog, QDialog):
                dialog.deleteLater()
        settle()
    for path in shooter.saved:
        print(path)
    print(f"{len(shooter.saved)} screenshot(s) in {time.perf_counter() - started:.1f} s "
          f"(demo vaults built in {built:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
