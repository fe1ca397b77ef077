"""Texts that are recorded in English and read in the user's language (``domain/recorded.py``): the outer seal's
state, the import checks' names, the evidence stream's damage in fixity problems, custody verification's damages,
summary and notes. Each from a real vault or a real bundle with a planted problem: German on screen (CLI text
output, the GUI's views), English in ``--json`` and in what the vault records."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain import errors
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.i18n import N_
from icspa_desktop.services import bundles, cases, custody_verify, evidence, fixity
from icspa_desktop.services.session import Session
from tests.agency.conftest import PASS
from tests.bundle.exchange import make_exchange
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli
from tests.tools import needs

UseLanguage = Callable[[str], None]


def test_a_phrasebook_shows_a_recorded_text_translated_with_its_fields_and_leaves_a_stranger_as_it_is(
        use_language: UseLanguage) -> None:
    inner = Phrasebook(N_("data follows the final chunk"))
    book = Phrasebook(N_("the stored content failed authentication: {error}"), fields={"error": inner})
    recorded = "the stored content failed authentication: data follows the final chunk"
    assert book.match(recorded) == ("the stored content failed authentication: {error}",
                                    {"error": "data follows the final chunk"})
    assert book.shown(recorded) == recorded  # the suite runs in English
    use_language("de")
    assert book.shown(recorded) == ("der gespeicherte Inhalt hat die Authentifizierung nicht bestanden: auf den "
                                    "letzten Block folgen weitere Daten")
    assert book.shown("a text of a later version") == "a text of a later version"
    assert errors.english(book.text(recorded)) == recorded
    with pytest.raises(ValueError, match="named fields"):
        Phrasebook("chunk {0} failed")


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_bundles_seal_state_reads_german_in_bundle_verify_while_its_json_stays_english(
        tmp_path: Path) -> None:
    """One byte of a real NL→DE bundle changed after it was sealed: the seal's state and the problem naming it are
    German in ``bundle verify``'s text output, the ``seal`` of ``--json`` is the English token."""
    exchange = make_exchange(tmp_path, sizes=(3_000,))
    sent = exchange.export()
    _flip(sent.path, sent.size - 20)
    env = {"ICSPA_VAULT": str(exchange.de), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS, "ICSPA_LANG": "de"}
    shown = run_cli("bundle", "verify", str(sent.path), env=env)
    as_json = run_cli("--json", "bundle", "verify", str(sent.path), env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    german = "fehlerhaft: der SHA-256 der Datei weicht vom Siegel ab (seit der Versiegelung verändert)"
    assert german in shown.stdout
    assert f"Das äußere Siegel ist {german}." in shown.stdout
    english = "bad: the file's SHA-256 differs from the seal (changed since it was sealed)"
    report = json.loads(as_json.stdout)
    assert report["seal"] == english
    assert f"The outer seal is {english}." in report["problems"]
    assert not any("Siegel" in p for p in report["problems"])


def test_an_intact_seal_and_the_import_checks_are_named_in_german_by_the_cli(tmp_path: Path) -> None:
    exchange = make_exchange(tmp_path, sizes=(3_000,))
    sent = exchange.export()
    env = {"ICSPA_VAULT": str(exchange.de), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS, "ICSPA_LANG": "de"}
    verified = run_cli("bundle", "verify", str(sent.path), env=env)
    assert verified.returncode == 0, verified.stderr
    assert "Signatur und Hashes des Siegels stimmen" in verified.stdout
    imported = run_cli("bundle", "import", str(sent.path), env=env)
    assert imported.returncode == 0, imported.stderr
    lines = imported.stdout.splitlines()
    assert any(line.strip().startswith("Äußeres Siegel") and "Signatur und Hashes des Siegels stimmen" in line
               for line in lines), imported.stdout
    assert any(line.strip().startswith("Entschlüsselung") for line in lines)
    assert "Outer seal" not in imported.stdout and "Decryption" not in imported.stdout
    again = run_cli("--json", "bundle", "verify", str(sent.path), env=env)
    assert json.loads(again.stdout)["seal"] == "ok"
    with exchange.open_de() as bka:
        (stored,) = bka.conn.execute("SELECT checks FROM bundles_received").fetchone()
    assert {c["name"]: c["detail"] for c in json.loads(stored)}["Outer seal"] == "the seal's signature and hashes match"


def _damaged_item(session: Session, files: Path) -> str:
    """A case with one file whose stored (encrypted) content has one byte changed; its exhibit number."""
    case = cases.create_case(session, CaseFields(number="2024-0042", title="Harbour"))
    files.mkdir()
    (files / "chat.txt").write_bytes(b"meeting at the harbour, 23:00\n" * 200)
    (item,) = evidence.add_files(session, case.id, [files]).items
    assert item.blob_id is not None
    blob = session.vault.layout.blobs / item.blob_id[:2] / item.blob_id
    _flip(blob, blob.stat().st_size // 2)
    return item.exhibit_number


def test_a_damaged_items_stream_error_reads_german_in_evidence_verify_and_the_event_records_english(
        vault: VaultInfo, tmp_path: Path, use_language: UseLanguage) -> None:
    with vault.session() as session:
        exhibit = _damaged_item(session, tmp_path / "seized")
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_LANG": "de"}
    shown = run_cli("evidence", "verify", "2024-0042", env=env)
    as_json = run_cli("--json", "evidence", "verify", "2024-0042", env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    german = ("der gespeicherte Inhalt hat die Authentifizierung nicht bestanden: Block 0 hat die Authentifizierung "
              "nicht bestanden (manipuliert, umgeordnet, abgeschnitten oder falscher Schlüssel)")
    assert f"MISMATCH  {exhibit}" in shown.stdout and german in shown.stdout
    english = ("the stored content failed authentication: chunk 0 failed authentication (tampered, reordered, "
               "truncated or wrong key)")
    assert [r["problem"] for r in json.loads(as_json.stdout)] == [english]
    with vault.session() as session:
        verified = [e for e in events.list_events(session.conn) if e.action == "verified"]
        assert [e.body["notes"] for e in verified] == [english, english]  # recorded English, both runs

        # The GUI's timeline and an event's details show the recorded problem in the reader's language.
        from icspa_desktop.gui.custody_model import notes_text

        use_language("de")
        assert notes_text(verified[0]) == german
        report = fixity.verify_case(session, "2024-0042")[0]
    assert report.problem == english and fixity.PROBLEMS.shown(report.problem) == german


def test_the_gui_verification_results_show_a_stream_error_in_german(qtbot: object, vault: VaultInfo, tmp_path: Path,
                                                                    use_language: UseLanguage) -> None:
    from icspa_desktop.gui.evidence_dialogs import FixityResultDialog

    with vault.session() as session:
        _damaged_item(session, tmp_path / "seized")
        use_language("de")
        reports = fixity.verify_case(session, "2024-0042")
    dialog = FixityResultDialog(reports)
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    assert dialog.table.item(0, 2).text().startswith("der gespeicherte Inhalt hat die Authentifizierung nicht")


def _tampered(vault: VaultInfo) -> None:
    with vault.session() as session:
        cases.create_case(session, CaseFields(number="K-001", title="Case 1"))
        cases.create_case(session, CaseFields(number="K-002", title="Case 2"))
        session.conn.execute("UPDATE custody_events SET body = CAST(replace(CAST(body AS TEXT), 'Case 1', 'Case X')"
                             " AS BLOB) WHERE action = 'case_created'")


def test_custody_verify_shows_its_damages_summary_and_notes_in_german_while_json_stays_english(
        vault: VaultInfo, tmp_path: Path) -> None:
    _tampered(vault)
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_LANG": "de",
           "ICSPA_WITNESS_DIR": str(tmp_path / "witness")}
    shown = run_cli("custody", "verify", env=env)
    as_json = run_cli("--json", "custody", "verify", env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    assert "Die Beweismittelkette ist beschädigt: 3 Problem(e) gefunden. Erstes: Ereignis #" in shown.stdout
    assert "DAMAGE [bad_signature] Ereignis #" in shown.stdout  # the marker stays, the text is German
    assert ": Die Signatur passt nicht zum Inhalt des Ereignisses — das Ereignis wurde nach dem Signieren " \
           "verändert, oder seine Signatur ist beschädigt." in shown.stdout
    assert "Der signierte Baumkopf passt nicht zu den" in shown.stdout
    assert "Kein Zeugen-Prüfpunkt unter" in shown.stdout  # a note
    assert "vollständig" in shown.stdout and "nicht vorhanden" in shown.stdout  # mode, witness state
    assert "Die Beweismittelkette ist beschädigt" in shown.stderr  # the error line
    report = json.loads(as_json.stdout)
    messages = [d["message"] for d in report["damages"]]
    assert any("the signature does not match the event's content" in m for m in messages)
    assert not any("Ereignis" in m for m in messages)
    assert report["notes"][0].startswith("No witness checkpoint at ")
    assert report["mode"] == "full" and report["witness"]["status"] == "absent"


def test_the_gui_custody_verification_result_shows_the_damages_in_german(vault: VaultInfo, tmp_path: Path,
                                                                      use_language: UseLanguage) -> None:
    from icspa_desktop.gui.verify_dialog import report_html

    _tampered(vault)
    with vault.session() as session:
        use_language("de")
        report = custody_verify.verify(session, witness_dir=tmp_path / "witness")
    assert not report.ok
    page = report_html(report)
    assert "das Ereignis wurde nach dem Signieren verändert" in page
    assert "Kein Zeugen-Prüfpunkt unter" in page
    assert "the signature does not match" not in page
    # The report's own texts (what the custody report that bundles carry quotes) stay English.
    assert any("the signature does not match the event's content" in d.message for d in report.damages)
    assert report.summary().startswith("The custody log is damaged: 3 problem(s) found. First: Event #")
    assert custody_verify.SUMMARY.shown(report.summary()).startswith("Die Beweismittelkette ist beschädigt")


def test_every_custody_damage_of_a_verification_is_made_from_a_known_template(vault: VaultInfo,
                                                                            tmp_path: Path) -> None:
    """The phrasebooks must know what verification writes: a changed message that no template makes would be
    shown in English again."""
    _tampered(vault)
    with vault.session() as session:
        report = custody_verify.verify(session, witness_dir=tmp_path / "witness")
    assert report.damages
    assert all(d.message in custody_verify.DAMAGE for d in report.damages)
    assert all(note in custody_verify.NOTES for note in report.notes)
    assert report.summary() in custody_verify.SUMMARY


def test_bundle_seal_verify_of_an_untouched_bundle_is_ok_in_json(tmp_path: Path) -> None:
    exchange = make_exchange(tmp_path, sizes=(3_000,))
    sent = exchange.export()
    with exchange.open_de() as bka:
        report = bundles.verify_bundle(bka, sent.path)
    assert report.ok and report.to_json()["seal"] == "ok"


# ---- words that are data inside a translated sentence ------------------------------------------------------
def test_a_cases_status_reads_german_inside_a_refusal_and_in_case_show(vault: VaultInfo,
                                                                      use_language: UseLanguage) -> None:
    from icspa_desktop.domain.enums import CaseStatus
    from icspa_desktop.domain.errors import UsageError

    with vault.session() as session:
        cases.create_case(session, CaseFields(number="2024-0042", title="Harbour"))
        cases.set_status(session, "2024-0042", CaseStatus.CLOSED, "done")
        use_language("de")
        with pytest.raises(UsageError) as refused:
            cases.set_status(session, "2024-0042", CaseStatus.CLOSED, "again")
    assert str(refused.value) == "Der Fall 2024-0042 ist bereits abgeschlossen."
    assert refused.value.english == "Case 2024-0042 is already closed."
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_LANG": "de"}
    shown = run_cli("case", "show", "2024-0042", env=env)
    assert shown.returncode == 0, shown.stderr
    assert any(line.split() == ["Status:", "abgeschlossen"] for line in shown.stdout.splitlines()), shown.stdout
    assert json.loads(run_cli("--json", "case", "show", "2024-0042", env=env).stdout)["status"] == "closed"


def test_an_acquisition_fields_refusal_names_the_field_in_german(admin: Session, tmp_path: Path,
                                                                  use_language: UseLanguage) -> None:
    from icspa_desktop.domain.errors import UsageError
    from icspa_desktop.domain.evidence import Acquisition, ItemFields

    case = cases.create_case(admin, CaseFields(number="2024-0042", title="Harbour"))
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "chat.txt").write_bytes(b"meeting at the harbour\n")
    fields = ItemFields(acquisition=Acquisition(method="x" * 301))
    use_language("de")
    with pytest.raises(UsageError) as refused:
        evidence.add_files(admin, case.id, [seized], fields=fields)
    assert str(refused.value) == "Die Sicherstellungsmethode: Es sind höchstens 300 Zeichen erlaubt."
    assert refused.value.english == "The acquisition method must be at most 300 characters."


def test_a_successor_cards_changes_read_german_inside_the_refusal(tmp_path: Path, use_language: UseLanguage) -> None:
    from icspa_desktop.domain.errors import RefusedInput
    from icspa_desktop.services import agency, partners
    from icspa_desktop.services.session import unlock
    from tests.agency.conftest import make_agency_vault

    nl, de = make_agency_vault(tmp_path / "nl", "Politie", "NL"), make_agency_vault(tmp_path / "de", "BKA", "DE")
    with unlock(nl, "admin", PASS) as politie, unlock(de, "admin", PASS) as bka:
        old = agency.agency_identity(politie)
        partners.import_card(bka, agency.make_card(politie), old.fingerprint)
        agency.create_identity(politie, "Nationale Politie", "BE")
        use_language("de")
        with pytest.raises(RefusedInput) as refused:
            partners.import_card(bka, agency.make_card(politie), None)
    assert "ändert aber den Namen „Politie“ in „Nationale Politie“ und das Land NL in BE:" in str(refused.value)
    assert 'changes its name "Politie" to "Nationale Politie" and country NL to BE:' in refused.value.english


def test_the_gui_lists_a_sent_bundles_status_in_german_while_the_journal_keeps_the_token(
        qtbot: object, tmp_path: Path, use_language: UseLanguage) -> None:
    from icspa_desktop.gui.received_dialog import ReceivedDialog

    exchange = make_exchange(tmp_path, sizes=(3_000,))
    exchange.export()
    use_language("de")
    with exchange.open_nl() as politie:
        dialog = ReceivedDialog(politie)
        qtbot.addWidget(dialog)  # type: ignore[attr-defined]
        (sent,) = bundles.list_sent(politie)
    assert sent.status == "written" and sent.to_json()["status"] == "written"
    assert dialog.sent.item(0, 4).text() == "geschrieben"


# ---- the user and key replay, a user's witness, a partner's stored events ---------------------------------
def test_a_forged_user_event_and_an_edited_users_table_read_german_in_custody_verify_and_at_unlock(
        vault: VaultInfo) -> None:
    """The investigator signs a role change for himself (only an administrator may) and writes the role into the
    users table with direct SQL: custody verify and the administrator's unlock warning say so in German, --json and
    the English the report keeps stay English."""
    from icspa_desktop.custody.events import EventDraft
    from icspa_desktop.domain.enums import CustodyAction, Role
    from tests.conftest import NAMES
    from tests.custody.test_insider import _append_as, insider

    investigator = NAMES[Role.INVESTIGATOR]
    with insider(vault) as (conn, me):
        _append_as(conn, me, EventDraft(CustodyAction.USER_CHANGED, details={"user_id": me.user_id,
                                                                             "role": "administrator"}))
        conn.execute("UPDATE users SET role = 'administrator' WHERE id = ?", (me.user_id,))
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_LANG": "de"}
    shown = run_cli("custody", "verify", env=env)
    as_json = run_cli("--json", "custody", "verify", env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    refused = (f"(Benutzer geändert durch {investigator}) wird nicht als Benutzer- oder Schlüsseländerung anerkannt: "
               "nur ein aktiver Administrator darf einen Benutzer ändern.")
    table = (f"Benutzer '{investigator}': Die Benutzertabelle nennt die Rolle 'administrator' (signiert: "
             "'investigator') — sie wurde außerhalb der Anwendung bearbeitet.")
    assert "DAMAGE [user_state_forged] Ereignis #" in shown.stdout and refused in shown.stdout, shown.stdout
    assert f"DAMAGE [users_table_mismatch] {table}" in shown.stdout
    assert refused in shown.stderr  # the unlock's warning quotes the first refused change, German too
    assert "not accepted" not in shown.stdout + shown.stderr and "users table" not in shown.stdout
    damages = {d["kind"]: d["message"] for d in json.loads(as_json.stdout)["damages"]}
    assert damages["user_state_forged"].endswith(f"(user_changed by {investigator}) is not accepted as a user or key "
                                                 "change: only an active administrator may change a user.")
    assert damages["users_table_mismatch"] == (f"User '{investigator}': the users table says role 'administrator' "
                                               "(signed: 'investigator') — it was edited outside the app.")
    assert "nicht anerkannt" not in as_json.stdout
    with vault.session() as session:
        report = custody_verify.verify(session)
    assert report.damages and all(d.message in custody_verify.DAMAGE for d in report.damages)


def test_a_damaged_user_witness_reads_german_in_custody_verify_and_at_unlock(vault: VaultInfo) -> None:
    from icspa_desktop.custody import user_witness

    with vault.session() as session:  # its lock writes the administrator's witness
        witness = user_witness.path_for(session.vault.header.vault_id, session.user.id)
    witness.write_bytes(b"not a witness")
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_LANG": "de"}
    shown = run_cli("custody", "verify", env=env)
    as_json = run_cli("--json", "custody", "verify", env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    assert (f"DAMAGE [user_witness] Der Zeuge des Benutzers '{ADMIN}' passt nicht zum Log: der Zeuge {witness} ist "
            "beschädigt.") in shown.stdout, shown.stdout
    assert f"der Zeuge {witness} ist beschädigt. Führen Sie" in shown.stderr  # the unlock's warning
    (damage,) = json.loads(as_json.stdout)["damages"]
    assert damage["message"] == f"The witness of user '{ADMIN}' does not fit the log: the witness {witness} is damaged."


def test_a_stored_partner_event_that_no_longer_verifies_reads_german_in_custody_verify(tmp_path: Path) -> None:
    """A partner's custody event stored at import, changed afterwards: the recheck's sentence, its 'where' and its
    reason are German on screen, English in --json."""
    exchange = make_exchange(tmp_path, sizes=(3_000,))
    sent = exchange.export()
    env = {"ICSPA_VAULT": str(exchange.de), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS, "ICSPA_LANG": "de"}
    assert run_cli("bundle", "import", str(sent.path), env=env).returncode == 0
    with exchange.open_de() as bka:
        origin, index = bka.conn.execute("SELECT origin, leaf_index FROM partner_events WHERE body LIKE "
                                         "'%\"case_created\"%'").fetchone()
        bka.conn.execute("UPDATE partner_events SET body = CAST(replace(CAST(body AS TEXT), 'Operation Nightjar', "
                         "'Operation Lark') AS BLOB) WHERE leaf_index = ?", (index,))
    shown = run_cli("custody", "verify", env=env)
    as_json = run_cli("--json", "custody", "verify", env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    german = (f"DAMAGE [partner_record_changed] Partner-Ereignis {origin} #{index}: Das Ereignis #{index} der "
              "Beweismittelkette des Partners hat eine ungültige Signatur (nach dem Signieren verändert).")
    assert german in shown.stdout, shown.stdout
    (damage,) = json.loads(as_json.stdout)["damages"]
    assert damage["message"] == (f"partner event {origin} #{index}: The partner's custody event #{index} has an "
                                 "invalid signature (changed after it was signed).")


# ---- a quoted recorded text inside a translated one --------------------------------------------------------
def test_an_event_labels_action_and_a_quoted_core_error_read_german_in_custody_verify(vault: VaultInfo,
                                                                                      tmp_path: Path) -> None:
    """The action code inside a damaged event's label is shown in words; a checkpoint whose signature no longer
    checks quotes the CMS error (a message without fields, recorded by its English) in German too."""
    from icspa_desktop.services import custody

    _tampered(vault)
    witness = tmp_path / "witness"
    with vault.session() as session:
        custody.make_checkpoint(session, witness_dir=witness)
        signature = bytes(session.conn.execute("SELECT signature FROM custody_checkpoints").fetchone()[0])
        session.conn.execute("UPDATE custody_checkpoints SET signature = ?",
                             (signature[:-1] + bytes([signature[-1] ^ 1]),))
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_LANG": "de",
           "ICSPA_WITNESS_DIR": str(witness)}
    shown = run_cli("custody", "verify", env=env)
    as_json = run_cli("--json", "custody", "verify", env=env)
    assert shown.returncode == as_json.returncode == 1, (shown.stderr, as_json.stderr)
    assert f"Fall angelegt durch {ADMIN} am " in shown.stdout and "case_created" not in shown.stdout, shown.stdout
    assert "Die Signatur der Behörde ist ungültig (Die CMS-Signatur ist ungültig (falsche Signatur).)" in shown.stdout
    messages = [d["message"] for d in json.loads(as_json.stdout)["damages"]]
    assert any(f"case_created by {ADMIN} at " in m for m in messages)
    assert any(m.endswith("the agency signature is not valid (The CMS signature is not valid (bad signature).).")
               for m in messages)


# ---- a failed export's problem, the custody PDF's damage summary --------------------------------------------
def test_a_failed_exports_problem_reads_german_in_bundle_list_and_the_bundles_view(
        qtbot: object, tmp_path: Path, use_language: UseLanguage) -> None:
    """An export cancelled before it wrote: the journal records the English of the error that stopped it (a message
    without fields, so the catalogue knows it by that English); bundle list and Case → Bundles show it in German."""
    from icspa_desktop.domain.errors import Cancelled
    from icspa_desktop.domain.progress import CancelToken
    from icspa_desktop.gui.received_dialog import ReceivedDialog
    from tests.bundle.exchange import CASE

    exchange = make_exchange(tmp_path, sizes=(3_000,))
    cancel = CancelToken()
    cancel.cancel()
    with exchange.open_nl() as politie:
        plan = bundles.plan_export(politie, CASE, ["BKA"], None, purpose="JIT Nightjar", authority="MLA 2026/17")
        with pytest.raises(Cancelled):
            bundles.export(politie, plan, exchange.usb / "nightjar", cancel=cancel)
        (sent,) = bundles.list_sent(politie)
    english = "Cancelled by the user; nothing was changed."
    german = "Vom Benutzer abgebrochen; nichts wurde geändert."
    assert sent.status == "failed" and sent.problem == english
    env = {"ICSPA_VAULT": str(exchange.nl), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS, "ICSPA_LANG": "de"}
    listed = run_cli("bundle", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"  failed  ({german})" in listed.stdout, listed.stdout  # the row's status token stays, the text is German
    assert json.loads(run_cli("--json", "bundle", "list", env=env).stdout)[0]["problem"] == english
    use_language("de")
    with exchange.open_nl() as politie:
        dialog = ReceivedDialog(politie)
        qtbot.addWidget(dialog)  # type: ignore[attr-defined]
        state = dialog.sent.item(0, 4)
    assert state.text() == f"fehlgeschlagen: {german}" and state.toolTip() == german


@needs("pdftotext")  # fails, never skips, when missing (tests/tools.py)
def test_the_custody_pdfs_damage_summary_is_german_for_the_user_and_english_in_the_report_a_bundle_carries(
        vault: VaultInfo, tmp_path: Path, use_language: UseLanguage) -> None:
    from icspa_desktop import i18n
    from icspa_desktop.services import custody_reports
    from tests.i18n.test_report_language import pdf_text

    _tampered(vault)
    witness = tmp_path / "witness"
    use_language("de")
    with vault.session() as session:
        out = tmp_path / "report.pdf"
        custody_reports.custody_report_pdf(session, "K-001", out, witness_dir=witness)
        with i18n.language(bundles.BUNDLE_REPORT_LANGUAGE):  # as bundles.export makes the report it carries
            carried, _ctx = custody_reports.custody_report_bytes(session, "K-001", witness_dir=witness)
    german = " ".join(pdf_text(out).split())
    assert re.search("WARNUNG — das Protokoll der Beweismittelkette ist beschädigt: Die Beweismittelkette ist "
                     r"beschädigt: \d+ Problem\(e\) gefunden\. Erstes: Prüfpunkt 1 \(Baumgröße ", german), german
    assert "Prüfpunkt 1 (Baumgröße " in german  # the damages listed below it
    assert "The custody log is damaged" not in german and "the signature does not match" not in german
    (tmp_path / "carried.pdf").write_bytes(carried)
    english = " ".join(pdf_text(tmp_path / "carried.pdf").split())
    assert re.search(r"WARNING — the custody log is damaged: The custody log is damaged: \d+ problem\(s\) found\. "
                     r"First: Checkpoint 1 \(tree size ", english), english
    assert "the signature does not match the event's content" in english
    assert "beschädigt" not in english and "Ereignis" not in english
