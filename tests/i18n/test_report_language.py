"""The PDF reports in German and French: a real vault, real evidence, the PDF read back with pdftotext -layout (as
a reader checking it would), and its signed checkpoint still checking with openssl as its own text says."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from icspa_desktop import i18n
from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.evidence import Acquisition, HashAlgorithm, ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.reports import custody_pdf
from icspa_desktop.services import agency, cases, custody_reports, evidence, physical
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import Session
from tests.tools import needs

needs_poppler = needs("pdftotext")

# Words of the report per language: section headings, the table's columns, the signature block, the footer, and
# labels the services hand over in English.
EXPECTED = {
    "de": ["Bericht zur Beweismittelkette", "1. Angaben zum Fall", "2. Asservate (2)",
           "3. Ereignisse der Beweismittelkette", "4. Unversehrtheit des Protokolls der Beweismittelkette",
           "5. Signierter Checkpoint", "6. Übergabe der Beweismittel", "ÜBERGEBEN VON", "ÜBERNOMMEN VON",
           "Fallnummer", "Rechtsgrundlage", "Ermittlungsführer", "Gesichert von", "Lagerort",
           "Bei der Erstellung dieses Berichts als unversehrt geprüft", "Fall 2026-041", "Seite 1 von",
           "keine Weitergabe ohne Erlaubnis des Übermittlers", "Ortszeit"],
    "fr": ["Rapport de chaîne de possession", "1. Identification de l'affaire", "2. Scellés (2)",
           "3. Événements de la chaîne de possession", "4. Intégrité du journal de la chaîne de possession",
           "5. Point de contrôle signé", "6. Transfert de possession", "REMIS PAR", "REÇU PAR",
           "Numéro d'affaire", "Base légale", "Enquêteur principal", "Saisi par", "Détenteur",
           "Vérifié intact lors de la production de ce rapport", "Affaire 2026-041", "Page 1 sur",
           "aucune diffusion sans l'autorisation du fournisseur", "heure locale"],
}
ENGLISH = ["Chain of Custody Report", "1. Case identification", "RELEASED BY", "Case number", "Lead investigator",
           "Verified intact", "Page 1 of", "Storage location", "no dissemination without"]


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def make_case(admin: Session, tmp_path: Path) -> str:
    cases.create_case(admin, CaseFields(number="2026-041", title="Operation Nightjar", lead_investigator="KHK Müller",
                                        legal_authority="Warrant 12 Gs 345/26", handling_code=HandlingCode.H2,
                                        tlp=Tlp.AMBER))
    image = tmp_path / "image.bin"
    image.write_bytes(b"\x00" * 12_345)
    evidence.add_files(admin, "2026-041", [image], ItemFields(description="Forensic image", acquisition=Acquisition(
        acquired_by="KOK Schmidt", location="Wiesbaden", tool="Guymager", tool_version="0.8.13")),
        algorithms=[HashAlgorithm.SHA256, HashAlgorithm.MD5])
    phone = physical.add_physical(admin, "2026-041", "Samsung phone", ItemFields(storage_location="Room B"))
    physical.check_out(admin, phone.id, "KOK Schmidt", "examination")
    return "2026-041"


@needs_poppler
@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_custody_report_speaks_the_ui_language_and_still_checks(language: str, admin: Session, tmp_path: Path,
                                                                    use_language: Callable[[str], None]) -> None:
    case = make_case(admin, tmp_path)
    use_language(language)
    out = tmp_path / "report.pdf"
    witness = tmp_path / "witness"
    signer, verifier = custody_service.agency_signer(admin), custody_service.agency_verifier(admin)
    ctx = custody_reports.custody_report_pdf(admin, case, out, signer=signer, verifier=verifier, witness_dir=witness)
    text = pdf_text(out)
    words = " ".join(text.split())
    missing = [phrase for phrase in EXPECTED[language] if phrase not in words]
    assert missing == [], words
    assert [phrase for phrase in ENGLISH if phrase in words] == []
    # The data is as it is: hashes, ids, the event's action code, the checkpoint and its PEM signature.
    for item in ctx.items:
        assert all(value in text for value in item.hashes.values())
    assert all(event.id in text for event in ctx.events)
    assert "checked out" in text  # the signed action, not translated
    assert "Warrant 12 Gs 345/26" in text and "TLP:AMBER" in text
    assert {"de": "12.345 Bytes (12,1 KiB)", "fr": "12 345 octets (12,1 KiB)"}[language] in words
    # The generation time in the reader's form, UTC beside it (or once, on a workstation keeping UTC).
    assert re.search({"de": r"erstellt \d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d", "fr": r"produit le \d\d/\d\d/\d{4}"}[
        language], words), words
    # A reader follows the translated instructions: the commands in them are the originals.
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(ctx.checkpoint.text.splitlines()[0])
    (tmp_path / "checkpoint.txt").write_text("".join(line + "\n" for line in lines[start:start + 4]))
    assert (tmp_path / "checkpoint.txt").read_bytes() == ctx.checkpoint.body
    begin, end = lines.index(custody_pdf.PEM_BEGIN), lines.index(custody_pdf.PEM_END)
    (tmp_path / "sig.pem").write_text("\n".join(lines[begin:end + 1]) + "\n")
    (tmp_path / "agency.pem").write_bytes(signer.certificate.public_bytes(serialization.Encoding.PEM))
    assert custody_pdf.EXTRACT_COMMAND in words
    command = re.search(r"(openssl cms -verify .*? -out /dev/null)", words)
    assert command is not None and command.group(1) == custody_pdf.CHECK_COMMAND
    done = subprocess.run(command.group(1), shell=True, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@needs_poppler
def test_the_custody_report_in_english_is_unchanged(admin: Session, tmp_path: Path,
                                                    use_language: Callable[[str], None]) -> None:
    case = make_case(admin, tmp_path)
    use_language("en")
    out = tmp_path / "report.pdf"
    custody_reports.custody_report_pdf(admin, case, out, signer=custody_service.agency_signer(admin),
                                       verifier=custody_service.agency_verifier(admin), witness_dir=tmp_path / "w")
    words = " ".join(pdf_text(out).split())
    assert [phrase for phrase in ENGLISH if phrase not in words] == []
    assert "12,345 bytes (12.1 KiB)" in words and "Holder KOK Schmidt (checked out)" in words


@needs_poppler
@pytest.mark.parametrize(("language", "phrases"), [
    ("de", ["Behördenkarte", "Fingerabdruck", "Für die empfangende Behörde", "Dienststelle", "Karte gültig"]),
    ("fr", ["Carte de service", "Empreinte", "Pour le service destinataire", "Unité", "Validité de la carte"]),
])
def test_the_agency_card_speaks_the_ui_language(language: str, phrases: list[str], admin: Session, tmp_path: Path,
                                                use_language: Callable[[str], None]) -> None:
    use_language(language)
    done = agency.export_card(admin, tmp_path / "nl.card", tmp_path / "nl.pdf")
    assert done.pdf is not None
    words = " ".join(pdf_text(done.pdf).split())
    assert [phrase for phrase in phrases if phrase not in words] == [], words
    assert "Agency card" not in words and "Fingerprint" not in words
    assert done.identity.fingerprint in words  # the fingerprint and the commands as they are
    assert "icspa partner import CARD --confirm-fingerprint" in words and "openssl cms -verify" in words


def test_only_known_service_texts_are_translated(use_language: Callable[[str], None]) -> None:
    """The report translates the services' English where it knows it; anything else (a value a user typed,
    an H3 restriction) is shown as it came."""
    use_language("de")
    assert custody_pdf._subject("Case 2026/7") == "Fall 2026/7"
    assert custody_pdf._subject("Exhibit EX-1 of case 2026/7") == "Asservat EX-1 des Falls 2026/7"
    assert custody_pdf._markings("H2 (no dissemination without the provider's permission) · TLP:AMBER · "
                                 "evaluation B2") == ("H2 (keine Weitergabe ohne Erlaubnis des Übermittlers) · "
                                                      "TLP:AMBER · Bewertung B2")
    assert custody_pdf._markings("H3 (only for the JIT) · TLP:RED") == "H3 (only for the JIT) · TLP:RED"
    assert custody_pdf._extra_text("Counterparty: Dr. Weber · SHA256 ab · Notes: Tool: x") == (
        "Gegenseite: Dr. Weber · SHA256 ab · Anmerkungen: Tool: x")
    assert custody_pdf._moment("not a date") == "not a date"
    assert custody_pdf._verification("something new", str) == "something new"
    assert i18n._("Case number") == "Fallnummer"


@needs_poppler
def test_the_report_inside_a_bundle_is_english_whatever_the_sender_speaks(
        use_language: Callable[[str], None], tmp_path: Path) -> None:
    """A bundle leaves for a partner agency: its custody PDF is in English even when the sender works in German,
    and the sender's own window keeps speaking German meanwhile (the language is the export's thread's only)."""
    from icspa_desktop.bundle import reader
    from icspa_desktop.services import partners
    from tests.bundle.exchange import CASE, make_exchange

    use_language("de")
    exchange = make_exchange(tmp_path / "scene", (2_000,))
    sent = exchange.export()
    with exchange.open_de() as de:
        secret = str(agency.age_identity(de))
        trusted = [p.certificate for p in partners.list_partners(de)]
    check = reader.check_bundle(sent.path, [secret], trusted)
    assert check.ok, check.problems
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(check.tag_files["metadata/custody-report.pdf"])
    text = pdf_text(pdf)
    assert "Chain of Custody Report" in text and f"{CASE}-001" in text, text[:500]
    assert "Beweismittelkette" not in text
    assert i18n.current_language() == "de" and i18n._("Case number") == "Fallnummer"


def test_a_language_for_one_thread_leaves_the_others_as_they_are(use_language: Callable[[str], None]) -> None:
    import threading

    use_language("fr")
    seen: dict[str, str] = {}
    inside = threading.Event()
    leave = threading.Event()

    def worker() -> None:
        with i18n.language("de"):
            seen["worker"] = i18n._("Case number")
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    seen["main"] = i18n._("Case number")  # while the worker is inside its block
    leave.set()
    thread.join()
    assert seen == {"worker": "Fallnummer", "main": "Numéro d'affaire"}
    assert i18n.current_language() == "fr"
