"""The core's error messages in the user's language, from real operations on real vaults; what the vault records
(custody events, the JSON output) stays English whatever the user reads."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.custody import events
from icspa_desktop.domain import errors
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import (
    AuthenticationError,
    Cancelled,
    Conflict,
    PermissionDenied,
    RefusedInput,
    UsageError,
)
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.services import agency, bundle_import, bundles, cases, evidence, fixity, partners
from icspa_desktop.services.session import Session, unlock
from tests.agency.conftest import PASS, make_agency_vault
from tests.bundle.exchange import make_exchange
from tests.conftest import ADMIN, VaultInfo, run_cli
from tests.data.bundles.make_corpus import SMALL_SIZES, Bag, keys_of, member

UseLanguage = Callable[[str], None]


def test_a_wrong_passphrase_on_a_real_vault_reads_german_under_icspa_lang_de(vault: VaultInfo,
                                                                           use_language: UseLanguage) -> None:
    with pytest.raises(AuthenticationError) as english:
        unlock(vault.path, ADMIN, "not-the-passphrase")
    assert str(english.value) == "Wrong user name or passphrase."  # the default (the suite runs in English)

    use_language("de")
    with pytest.raises(AuthenticationError) as german:
        unlock(vault.path, ADMIN, "not-the-passphrase")
    assert str(german.value) == "Falscher Benutzername oder falsche Passphrase."
    assert german.value.english == "Wrong user name or passphrase."  # what a record would keep

    use_language("fr")
    with pytest.raises(AuthenticationError, match=r"^Nom d'utilisateur ou phrase secrète erroné\.$"):
        unlock(vault.path, ADMIN, "not-the-passphrase")


def test_an_unknown_partner_in_an_export_reads_german_with_its_field_filled(admin: Session,
                                                                          use_language: UseLanguage) -> None:
    cases.create_case(admin, CaseFields(number="2024-0042", title="Harbour"))
    with pytest.raises(RefusedInput) as english:
        bundles.plan_export(admin, "2024-0042", ["Atlantis Police"])
    assert str(english.value) == "Unknown partner 'Atlantis Police': import its card first ('icspa partner import')."

    use_language("de")
    with pytest.raises(RefusedInput) as german:
        bundles.plan_export(admin, "2024-0042", ["Atlantis Police"])
    assert str(german.value) == ("Unbekannter Partner 'Atlantis Police': Importieren Sie zuerst seine Karte "
                                 "('icspa partner import').")


def test_the_cli_prints_a_refusal_in_german_and_exits_as_before(vault: VaultInfo) -> None:
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": "not-the-passphrase"}
    german = run_cli("case", "list", env={**env, "ICSPA_LANG": "de"})
    english = run_cli("case", "list", env={**env, "ICSPA_LANG": "en"})
    assert german.returncode == english.returncode == 3  # ExitCode.AUTHENTICATION, whatever the language
    assert "Falscher Benutzername oder falsche Passphrase." in german.stderr
    assert "Wrong user name or passphrase." in english.stderr and "Falsch" not in english.stderr


def test_a_cancelled_extraction_says_so_in_german_and_records_english(admin: Session, tmp_path: Path,
                                                                     use_language: UseLanguage) -> None:
    case = cases.create_case(admin, CaseFields(number="2024-0042", title="Harbour"))
    source = tmp_path / "image.bin"
    source.write_bytes(bytes(range(256)) * 9000)  # three 1 MiB chunks: the cancel lands mid-way
    item = evidence.add_files(admin, case.id, [source]).items[0]
    use_language("de")
    token = CancelToken()
    with pytest.raises(Cancelled) as shown:
        fixity.extract(admin, item.id, tmp_path / "out.bin", "exam", lambda *_: token.cancel(), token)
    assert str(shown.value).startswith(f"Extrahieren von {item.exhibit_number} abgebrochen. Die unvollständige "
                                       "Datei wurde entfernt")
    aborted = events.list_events(admin.conn, item_id=item.id)[-1].body
    assert aborted["action"] == "export_aborted"
    assert aborted["notes"] == "Cancelled by the user; nothing was changed."  # the signed record: English


def test_a_validation_label_is_translated_inside_its_sentence(admin: Session, use_language: UseLanguage) -> None:
    use_language("de")
    with pytest.raises(UsageError, match=r"^Das Format der Asservatennummer: Es sind höchstens 64 Zeichen erlaubt\.$"):
        evidence.set_exhibit_format(admin, "x" * 65)


def _sender_with_partner(tmp_path: Path) -> Path:
    """A vault (Politie, NL) with a case 2026/041 of one item and the BKA (DE) as its partner."""
    sender = make_agency_vault(tmp_path / "nl", "Politie Landelijke Eenheid", "NL")
    with unlock(make_agency_vault(tmp_path / "de", "Bundeskriminalamt", "DE"), "admin", PASS) as bka:
        bka_identity = agency.agency_identity(bka)
    source = tmp_path / "chat.txt"
    source.write_text("meeting at the harbour, 23:00\n")
    with unlock(sender, "admin", PASS) as nl:
        partners.add_partner(nl, "BKA", "DE", bka_identity.age_recipient,
                             bka_identity.certificate.public_bytes(serialization.Encoding.PEM))
        case = cases.create_case(nl, CaseFields("2026/041", "Operation Nightjar"))
        evidence.add_files(nl, case.id, [source])
    return sender


def test_an_export_plans_warnings_read_german_but_its_json_stays_english(tmp_path: Path,
                                                                         use_language: UseLanguage) -> None:
    sender = _sender_with_partner(tmp_path)
    use_language("de")
    with unlock(sender, "admin", PASS) as nl:
        plan = bundles.plan_export(nl, "2026/041", ["BKA"])  # no --reason: the plan warns
    assert "Kein Grund angegeben (--reason): Die Ereignisse der Beweismittelkette werden nicht sagen, warum die " \
           "Beweismittel hinausgingen." in plan.warnings
    assert json.loads(json.dumps(plan.to_json()))["warnings"] == [
        "No reason given (--reason): the custody events will not say why the evidence left."]  # --json: English


def test_a_failed_export_reads_german_and_its_journal_row_and_event_stay_english(tmp_path: Path,
                                                                                use_language: UseLanguage) -> None:
    sender = _sender_with_partner(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "nightjar.icspa.sha256").write_text("not ours\n")  # the seal's name is taken: refused mid-export
    use_language("de")
    with unlock(sender, "admin", PASS) as nl:
        plan = bundles.plan_export(nl, "2026/041", ["BKA"], purpose="crash test")
        with pytest.raises(Conflict) as shown:
            bundles.export(nl, plan, usb / "nightjar")
        status, problem = nl.conn.execute("SELECT status, problem FROM bundles_sent").fetchone()
        recorded = events.list_events(nl.conn)[-1].body
    seal = usb / "nightjar.icspa.sha256"
    assert str(shown.value) == f"{seal} existiert bereits; es wurde nicht angetastet."
    assert (status, problem) == ("failed", f"{seal} already exists; it was left untouched.")
    assert recorded["details"]["problem"] == f"{seal} already exists; it was left untouched."


def test_a_permission_denial_reads_german_and_its_recorded_event_stays_english(vault: VaultInfo,
                                                                              use_language: UseLanguage) -> None:
    use_language("de")
    with vault.session(Role.AUDITOR) as auditor:
        with pytest.raises(PermissionDenied) as shown:
            cases.create_case(auditor, CaseFields(number="2024-0042", title="Harbour"))
        assert str(shown.value) == ("Zugriff verweigert: Die Rolle Prüfer darf nicht: Fälle anlegen. Der Versuch wurde "
                                    "aufgezeichnet.")
        denied = events.list_events(auditor.conn)[-1].body
    assert denied["action"] == "access_denied"
    assert denied["details"]["attempted"] == "create case 2024-0042"
    assert denied["details"]["role"] == "auditor"


def test_a_bundle_for_another_agency_is_refused_in_german_and_its_verify_json_stays_english(
        tmp_path: Path, use_language: UseLanguage) -> None:
    sender = _sender_with_partner(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    with unlock(sender, "admin", PASS) as nl:
        written = bundles.export(nl, bundles.plan_export(nl, "2026/041", ["BKA"], purpose="test"), usb / "nightjar")
    not_for_us = "The bundle is not addressed to any of our identities (no age recipient opens with our keys), or " \
                 "its age header is damaged."
    use_language("de")
    with unlock(make_agency_vault(tmp_path / "fr", "Police judiciaire", "FR"), "admin", PASS) as pj:
        report = bundles.verify_bundle(pj, written.path)
        with pytest.raises(RefusedInput) as refused:
            bundle_import.prepare_import(pj, written.path)
    assert report.problems[0] == ("Das Bundle ist an keine unserer Identitäten gerichtet (kein age-Empfänger öffnet "
                                  "sich mit unseren Schlüsseln), oder sein age-Header ist beschädigt.")
    assert report.to_json()["problems"][0] == not_for_us  # --json: English
    assert str(refused.value).startswith("Das Bundle wird abgelehnt: Das Bundle ist an keine unserer Identitäten")


def test_an_imports_checks_read_german_while_the_record_and_json_keep_english(tmp_path: Path,
                                                                            use_language: UseLanguage) -> None:
    exchange = make_exchange(tmp_path, sizes=(3_000,))
    sent = exchange.export()
    use_language("de")
    with exchange.open_de() as bka:
        prepared = bundle_import.prepare_import(bka, sent.path)
        shown = {check.name: check.detail for check in prepared.checks}
        bundle_import.commit_import(bka, prepared)
        (stored,) = bka.conn.execute("SELECT checks FROM bundles_received").fetchone()
    assert shown["Decryption"] == "mit dem Schlüssel dieser Behörde geöffnet; jeder age-Block authentifiziert"
    english_detail = "opened with this agency's key; every age chunk authenticated"
    assert {c["name"]: c["detail"] for c in prepared.to_json()["checks"]}["Decryption"] == english_detail
    assert {c["name"]: c["detail"] for c in json.loads(stored)}["Decryption"] == english_detail


def test_a_hostile_bundles_archive_refusal_reads_german_while_verify_json_stays_english(
        tmp_path: Path, use_language: UseLanguage) -> None:
    """A real NL→DE bundle with a symbolic link planted in its tar (as a hostile partner would): the tar walk's
    refusal is German under ICSPA_LANG=de, in the check and on the CLI, while ``bundle verify --json`` and the
    problem's English (what a stored check keeps) stay English."""
    exchange = make_exchange(tmp_path / "scene", SMALL_SIZES)
    keys = keys_of(exchange)
    bag = Bag.read(keys.decrypt(exchange.export("nightjar").path.read_bytes()))
    link = bag.full("data/link")
    bag.insert_after(bag.full("data"), member(link, kind=tarfile.SYMTYPE, linkname="/etc/passwd"))
    hostile = tmp_path / "hostile.icspa"
    hostile.write_bytes(keys.encrypt(bag.tar()))
    english_text = f"The member '{link}' is a symbolic link; links, devices and FIFOs are refused."
    german_text = f"Der Eintrag '{link}' ist ein symbolischer Link; Links, Geräte und FIFOs werden abgelehnt."

    use_language("de")
    with exchange.open_de() as de:
        check = bundle_reader.check_bundle(hostile, [agency.age_identity(de)], [])
    assert german_text in check.problems
    assert english_text in [errors.english(p) for p in check.problems]  # what a stored check keeps

    env = {"ICSPA_VAULT": str(exchange.de), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    shown = run_cli("bundle", "verify", str(hostile), env={**env, "ICSPA_LANG": "de"})
    as_json = run_cli("--json", "bundle", "verify", str(hostile), env={**env, "ICSPA_LANG": "de"})
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    assert german_text in shown.stdout and english_text not in shown.stdout
    problems = json.loads(as_json.stdout)["problems"]
    assert english_text in problems and not any("Eintrag" in p for p in problems)  # --json: English
