"""Bundle import end to end (issue 10): A → B → A with receipts, idempotence, provenance, partner custody,
read-only partner records and the onward-sharing rule. Hostile inputs: test_import_hostile.py."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.custody.verify import DamageKind
from icspa_desktop.domain.enums import CustodyAction, HandlingCode
from icspa_desktop.domain.errors import RefusedInput, UsageError
from icspa_desktop.domain.evidence import Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import (
    bundle_import,
    bundles,
    cases,
    custody_verify,
    evidence,
    fixity,
    partners,
    receipts,
    received,
)
from tests.agency.conftest import PASS, make_agency_vault
from tests.bundle.exchange import CASE, Exchange, _trust, make_exchange, tree_digest
from tests.conftest import run_cli

KILLER = Path(__file__).resolve().parents[1] / "evidence" / "killer.py"


@pytest.fixture
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exchange:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    return make_exchange(tmp_path)


def _env(vault: Path, tmp: Path) -> dict[str, str]:
    return {"ICSPA_VAULT": str(vault), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS,
            "ICSPA_WITNESS_DIR": str(tmp / "witness")}


def test_round_trip_a_to_b_to_a_with_a_receipt(ex: Exchange, tmp_path: Path) -> None:
    sent = ex.export()
    de_env, nl_env = _env(ex.de, tmp_path), _env(ex.nl, tmp_path)
    done = run_cli("--json", "bundle", "import", str(sent.path), env=de_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["changed"] and report["case"] == CASE and len(report["items"]) == 3
    assert [c["name"] for c in report["checks"]] == ["Outer seal", "Decryption", "Archive", "Signature", "Recipients",
                                                     "Manifests", "Items", "Markings", "Custody"]
    # B checks the evidence it now holds, byte for byte against the sender's files.
    assert run_cli("evidence", "verify", CASE, env=de_env).returncode == 0
    with ex.open_de() as de:
        case = cases.get_case(de, CASE)
        by_name = {i.original_name: i for i in evidence.list_items(de, case.id)}
        original = ex.files / "image-1.bin"
        out = tmp_path / "extracted.bin"
        fixity.extract(de, by_name["image-1.bin"].id, out, "comparison with the sender's copy")
        assert out.read_bytes() == original.read_bytes()
        assert by_name["restricted.txt"].markings.handling_code is HandlingCode.H2
        provenance = received.get_item_provenance(de, by_name["image-1.bin"].id)
        assert provenance is not None and provenance.partner_name == "Politie NL"
        # The timeline holds A's events, verbatim and as theirs, beside B's own "imported" events.
        theirs = received.partner_events(de, case_id=case.id)
        assert theirs and {v.partner_name for v in theirs} == {"Politie NL"}
        assert "acquired" in {v.action for v in theirs}
        ours = [e for e in events.list_events(de.conn, case_id=case.id) if e.action == CustodyAction.IMPORTED]
        assert len(ours) == 3 and all(e.body["details"]["bundle_id"] == sent.bundle_id for e in ours)
    shown = json.loads(run_cli("--json", "custody", "show", CASE, env=de_env).stdout)
    assert {e["source"] for e in shown} == {"own", "partner"}
    receipt = tmp_path / "receipt.txt"
    made = run_cli("bundle", "receipt", sent.bundle_id[:8], "--out", str(receipt), env=de_env)
    assert made.returncode == 0, made.stderr
    again = run_cli("bundle", "receipt", sent.bundle_id[:8], "--out", str(receipt), env=de_env)
    assert again.returncode == 5 and "--force" in again.stderr
    recorded = run_cli("bundle", "receipt-import", str(receipt), env=nl_env)
    assert recorded.returncode == 0 and "Transfer completed" in recorded.stdout, recorded.stderr
    twice = run_cli("bundle", "receipt-import", str(receipt), env=nl_env)
    assert twice.returncode == 0 and "nothing changed" in twice.stdout
    listed = json.loads(run_cli("--json", "bundle", "list", env=nl_env).stdout)
    assert listed[0]["receipts"][0]["partner"] == "BKA"
    received_list = json.loads(run_cli("--json", "bundle", "list", "--received", env=de_env).stdout)
    assert [r["id"] for r in received_list] == [sent.bundle_id]
    for env in (nl_env, de_env):
        verified = run_cli("custody", "verify", env=env)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    with ex.open_nl() as nl:
        assert events.list_events(nl.conn)[-1].action == CustodyAction.RECEIPT_RECEIVED


def test_the_same_bundle_twice_changes_nothing_and_a_later_one_adds_to_the_case(ex: Exchange) -> None:
    first = ex.export(items=[f"{CASE}-001"])
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
    before = tree_digest(ex.de)
    with ex.open_de() as de:
        again = bundle_import.commit_import(de, bundle_import.prepare_import(de, first.path))
        assert again.already_imported and not again.added
    after = tree_digest(ex.de)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # Unlocking and locking may touch the database (the session's own bookkeeping) but no blob or item.
    assert not {k for k in changed if k.startswith(("blobs", "staging", "quarantine"))}
    second = ex.export("second")
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, second.path)
        assert prepared.target_case is not None and prepared.target_case.number == CASE
        assert "Custody" in [c.name for c in prepared.checks]
        assert "extends the checkpoint" in next(c.detail for c in prepared.checks if c.name == "Custody")
        result = bundle_import.commit_import(de, prepared)
        assert len(result.added) == 2 and result.already_present == 1
        assert len(evidence.list_items(de, result.case.id)) == 3
        assert not os.listdir(ex.de / "staging")
        assert custody_verify.verify(de).ok


def test_partner_records_are_read_only_our_notes_are_ours(ex: Exchange) -> None:
    sent = ex.export()
    with ex.open_de() as de:
        result = bundle_import.commit_import(de, bundle_import.prepare_import(de, sent.path))
        item = result.added[0]
        with pytest.raises(UsageError, match="partner's record"):
            evidence.annotate(de, item.id, description="changed by us")
        with pytest.raises(UsageError, match="partner's record"):
            evidence.annotate(de, item.id, markings=Markings(handling_code=HandlingCode.H0))
        noted = evidence.annotate(de, item.id, notes="compared with our seizure 2026-88", tags=["harbour"])
        assert noted.notes.startswith("compared") and noted.description == item.description
        with pytest.raises(UsageError, match="partner's record"):
            cases.edit_case(de, CASE, CaseFields(CASE, "Our own title"))
        mine = cases.edit_case(de, CASE, CaseFields(CASE, result.case.fields.title,
                                                    description=result.case.fields.description,
                                                    handling_code=result.case.fields.handling_code,
                                                    tlp=result.case.fields.tlp, lead_investigator="KHK Weber"))
        assert mine.fields.lead_investigator == "KHK Weber"


def test_received_h2_items_go_to_a_third_agency_only_with_the_originators_permission(ex: Exchange,
                                                                                     tmp_path: Path) -> None:
    sent = ex.export()
    fr = make_agency_vault(tmp_path / "fr", "Police nationale", "FR")
    from icspa_desktop.services.session import unlock
    with ex.open_de() as de, unlock(fr, "admin", PASS) as s_fr:
        _trust(de, s_fr, "OFAC", "FR")
        bundle_import.commit_import(de, bundle_import.prepare_import(de, sent.path))
        with pytest.raises(UsageError, match="originating partner's permission") as refused:
            bundles.plan_export(de, CASE, ["OFAC"])
        assert "restricted.txt" not in str(refused.value) and f"{CASE}-003" in str(refused.value)
        # Back to the originator needs nothing; the unrestricted items alone need nothing either.
        assert bundles.plan_export(de, CASE, ["Politie NL"]).permission is None
        assert bundles.plan_export(de, CASE, ["OFAC"], [f"{CASE}-001", f"{CASE}-002"]).permission is None
        with pytest.raises(UsageError, match="date"):
            bundles.plan_export(de, CASE, ["OFAC"], permission=bundles.OriginatorPermission("NL-2026-77", "soon",
                                                                                            "Insp. de Vries"))
        plan = bundles.plan_export(de, CASE, ["OFAC"], permission=bundles.OriginatorPermission(
            "NL-2026-77", "2026-11-02", "Insp. de Vries"))
        assert any("NL-2026-77" in w for w in plan.warnings)
        result = bundles.export(de, plan, ex.usb / "onward")
        bundled = [e for e in events.list_events(de.conn) if e.action == CustodyAction.BUNDLED
                   and e.body["details"].get("bundle_id") == result.bundle_id]
        assert all(e.body["details"]["originator_permission"]["reference"] == "NL-2026-77" for e in bundled)


def test_receipts_that_do_not_fit_are_refused_and_a_cut_log_is_caught_by_the_receipt(ex: Exchange,
                                                                                     tmp_path: Path) -> None:
    sent = ex.export()
    receipt = tmp_path / "receipt.txt"
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, sent.path))
        receipts.write_receipt(de, sent.bundle_id, receipt)
    good = receipt.read_bytes()
    forged = tmp_path / "forged.txt"
    forged.write_bytes(good.replace(sent.sha256.encode(), hashlib.sha256(b"other").hexdigest().encode()))
    with ex.open_nl() as nl:
        with pytest.raises(RefusedInput, match="signature"):
            receipts.import_receipt(nl, forged)
        stored = receipts.import_receipt(nl, receipt)
        assert not stored.already and custody_verify.verify(nl).ok
        # An insider cuts the log back below what the partner saw: the partner's receipt says so.
        cut = stored.checkpoint_size - 2
        nl.conn.execute("DELETE FROM custody_event_items WHERE event_idx >= ?", (cut,))
        nl.conn.execute("DELETE FROM custody_events WHERE idx >= ?", (cut,))
        report = custody_verify.verify(nl)
        assert any(d.kind is DamageKind.RECEIPT for d in report.damages), report.damages
    with ex.open_de() as de, pytest.raises(RefusedInput, match="this agency itself"):
        receipts.import_receipt(de, receipt)


def test_a_partner_event_changed_in_the_vault_is_reported_by_verify(ex: Exchange) -> None:
    sent = ex.export()
    with ex.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, sent.path))
        assert custody_verify.verify(de).ok
        de.conn.execute("UPDATE partner_events SET body = replace(body, 'harbour', 'airport')"
                        " WHERE leaf_index = (SELECT MIN(leaf_index) FROM partner_events)")
        de.conn.execute("UPDATE partner_events SET body = CAST(replace(CAST(body AS TEXT), '\"purpose\":\"', "
                        "'\"purpose\":\"edited ') AS BLOB)")
        report = custody_verify.verify(de)
        assert any(d.kind is DamageKind.PARTNER_RECORD for d in report.damages)


def test_revoked_sender_is_refused_with_exit_4_and_nothing_changes(ex: Exchange, tmp_path: Path) -> None:
    sent = ex.export()
    with ex.open_de() as de:
        partners.revoke_partner(de, "Politie NL", "key reported lost")
    before = tree_digest(ex.de)
    done = run_cli("bundle", "import", str(sent.path), env=_env(ex.de, tmp_path))
    assert done.returncode == 4 and "revoked" in done.stderr and done.stderr.count("\n") == 1
    assert tree_digest(ex.de) == before
    assert sorted(p.name for p in ex.usb.iterdir()) == sorted(p.name for p in sent.path.parent.iterdir())


@pytest.mark.parametrize("op", ["fsync", "record"])
def test_sigkill_during_import_leaves_the_vault_consistent(ex: Exchange, tmp_path: Path, op: str) -> None:
    sent = ex.export()
    env = _env(ex.de, tmp_path) | {"PATH": "/usr/bin:/bin"}
    for nth in range(1, 60):
        done = subprocess.run([sys.executable, str(KILLER), op, str(nth), "bundle", "import", str(sent.path)],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        killed = done.returncode == -signal.SIGKILL
        assert killed or done.returncode == 0, done.stderr
        with ex.open_de() as de:
            assert custody_verify.verify(de).ok
            held = bundle_import.list_received(de)
            items = de.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            # All or nothing: the bundle is recorded with its three items, or neither is there.
            assert (len(held), items) in ((0, 0), (1, 3))
            orphans = de.conn.execute("SELECT COUNT(*) FROM blobs WHERE id NOT IN (SELECT blob_id FROM items"
                                      " WHERE blob_id IS NOT NULL)").fetchone()[0]
            assert orphans == 0
        assert not [p for p in (ex.de / "staging").iterdir()], "staging is swept at the next unlock"
        if not killed:
            break
    assert nth > 1, "no kill point was reached"


def test_the_bundle_carries_the_custody_report_of_exactly_the_items_sent(ex: Exchange, tmp_path: Path) -> None:
    from icspa_desktop.bundle import reader
    from icspa_desktop.services import agency

    sent = ex.export(items=[f"{CASE}-002"])
    with ex.open_de() as de:
        secret = str(agency.age_identity(de))
        trusted = [p.certificate for p in partners.list_partners(de)]
    check = reader.check_bundle(sent.path, [secret], trusted)
    assert check.ok, check.problems
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(check.tag_files["metadata/custody-report.pdf"])
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert f"{CASE}-002" in text and "image-1.bin" in text
    assert f"{CASE}-001" not in text and "chat export.txt" not in text and "restricted.txt" not in text


def test_numbered_volumes_import_like_the_whole_file(ex: Exchange) -> None:
    sent = ex.export()
    data = sent.path.read_bytes()
    for leftover in (sent.path, sent.seal_path, sent.seal_signature_path):
        leftover.unlink()  # the seal named the single file; volumes without a seal are checked without it
    third = len(data) // 3
    for n, piece in enumerate((data[:third], data[third:2 * third], data[2 * third:]), 1):
        sent.path.with_name(f"{sent.path.name}.{n:03d}").write_bytes(piece)
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        assert prepared.sha256 == sent.sha256 and "no seal" in prepared.checks[0].detail
        assert len(bundle_import.commit_import(de, prepared).added) == 3
