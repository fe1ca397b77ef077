"""Bundle export end to end (issue 9): a partner without our software opens and checks what we send."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from icspa_desktop.bundle.tarwalk import Limits
from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, HandlingCode, Role
from icspa_desktop.domain.errors import Conflict, IcspaError, PermissionDenied, UsageError
from icspa_desktop.domain.evidence import ItemFields, Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import agency, bundle_bounds, bundles, cases, custody_verify, evidence, partners, users
from icspa_desktop.services.session import unlock
from tests.agency.conftest import PASS, make_agency_vault
from tests.conftest import run_cli

DOCS = Path(__file__).resolve().parents[2] / "docs"
BIN = Path(sys.executable).parent


@dataclass
class Scene:
    sender: Path
    partner_identity: str
    sender_cert_pem: bytes
    partner_name: str
    work: Path


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    sender = make_agency_vault(tmp_path / "nl", "Politie Landelijke Eenheid", "NL")
    partner = make_agency_vault(tmp_path / "de", "Bundeskriminalamt", "DE")
    with unlock(partner, "admin", PASS) as bka:
        bka_identity = agency.agency_identity(bka)
        secret = str(agency.age_identity(bka))
    files = tmp_path / "seized"
    files.mkdir()
    (files / "chat export.txt").write_text("meeting at the harbour, 23:00\n" * 500)
    (files / "image.bin").write_bytes(os.urandom(3 << 20))
    with unlock(sender, "admin", PASS) as nl:
        partners.add_partner(nl, "BKA", "DE", bka_identity.age_recipient,
                             bka_identity.certificate.public_bytes(serialization.Encoding.PEM))
        case = cases.create_case(nl, CaseFields("2026/041", "Operation Nightjar"))
        evidence.add_files(nl, case.id, [files])
        cert = agency.agency_identity(nl).certificate.public_bytes(serialization.Encoding.PEM)
    work = tmp_path / "work"
    work.mkdir()
    return Scene(sender, secret, cert, "BKA", work)


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def _unpack_as_partner(scene: Scene, bundle: Path) -> Path:
    """``age -d -i partner-identity.txt bundle.icspa | tar -x -C out/`` (DESIGN §5, verbatim); the folder ``out``."""
    identity = scene.work / "partner-identity.txt"
    identity.write_text(scene.partner_identity + "\n")
    out = scene.work / "out"
    out.mkdir()
    done = subprocess.run(f"age -d -i {identity} {bundle} | tar -x -C {out}/", shell=True, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return out


def test_partner_commands_of_design_5_succeed_on_a_fresh_export(scene: Scene) -> None:
    usb = scene.work / "usb"
    usb.mkdir()
    with unlock(scene.sender, "admin", PASS) as nl:
        plan = bundles.plan_export(nl, "2026/041", [scene.partner_name], purpose="JIT Nightjar",
                                   authority="MLA 2026/17")
        result = bundles.export(nl, plan, usb / "nightjar")
        assert result.path == usb / "nightjar.icspa" and result.items == 2
        log = events.list_events(nl.conn)
        assert [e.action for e in log].count(CustodyAction.BUNDLED) == 2
        assert log[-1].action == CustodyAction.TRANSFERRED and log[-1].body["hashes"]["sha256"] == result.sha256
        assert custody_verify.verify(nl).ok
        (sent,) = bundles.list_sent(nl)
        assert sent.status == "written" and sent.sha256 == result.sha256
    sender_pem = scene.work / "sender-agency.pem"
    sender_pem.write_bytes(scene.sender_cert_pem)
    out = _unpack_as_partner(scene, result.path)  # DESIGN §5, verbatim
    bag = out / result.bundle_id
    assert _run(str(BIN / "bagit.py"), "--validate", str(bag)).returncode == 0
    cms = _run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(out / f"{result.bundle_id}.p7s"),
               "-content", str(bag / "tagmanifest-sha256.txt"), "-CAfile", str(sender_pem), "-purpose", "any",
               "-out", os.devnull)
    assert cms.returncode == 0, cms.stderr
    seal = _run("sh", "-c", f"openssl cms -verify -binary -inform DER -in nightjar.icspa.sha256.p7s -content "
                f"nightjar.icspa.sha256 -CAfile {sender_pem} -purpose any -out /dev/null && sha256sum -c "
                "nightjar.icspa.sha256", cwd=usb)
    assert seal.returncode == 0, seal.stderr
    # docs/bundle-format.md's form of the same two checks (the system's CAs shut out).
    for content, signature in ((bag / "tagmanifest-sha256.txt", out / f"{result.bundle_id}.p7s"),
                               (usb / "nightjar.icspa.sha256", usb / "nightjar.icspa.sha256.p7s")):
        strict = _run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-content",
                      str(content), "-CAfile", str(sender_pem), "-purpose", "any", "-no-CApath", "-no-CAstore",
                      "-partial_chain", "-out", os.devnull)
        assert strict.returncode == 0, strict.stderr
    proofs = _run(sys.executable, str(DOCS / "verify_custody_proofs.py"), str(bag / "metadata" / "custody.json"),
                  "--agency-cert", str(sender_pem))
    assert proofs.returncode == 0, proofs.stdout + proofs.stderr
    # What the bag says: recipients inside the signed bag-info, human names in metadata only.
    info = (bag / "bag-info.txt").read_text()
    assert "ICSPA-Recipient-Agency:" in info and "External-Identifier: " + result.bundle_id in info
    items = json.loads((bag / "metadata" / "items.json").read_text())
    assert sorted(i["name"] for i in items) == ["chat export.txt", "image.bin"]
    assert sorted(p.name for p in (bag / "data").iterdir()) == sorted(i["id"] for i in items)
    assert (bag / "metadata" / "custody-report.pdf").read_bytes().startswith(b"%PDF")


def test_dry_run_writes_and_records_nothing(scene: Scene) -> None:
    with unlock(scene.sender, "admin", PASS) as nl:
        before = events.count(nl.conn)
        plan = bundles.plan_export(nl, "2026/041", [scene.partner_name])
        assert [i["name"] for i in plan.to_json()["items"]] == ["chat export.txt", "image.bin"]
        assert any("reason" in w for w in plan.warnings)
        assert events.count(nl.conn) == before
    assert list(scene.work.iterdir()) == []


def test_only_roles_with_the_agency_key_export_and_h3_needs_an_override(scene: Scene) -> None:
    with unlock(scene.sender, "admin", PASS) as nl:
        users.add_user(nl, "ivan", Role.INVESTIGATOR, "ivan-passphrase")
        case = cases.create_case(nl, CaseFields("2026/042", "Restricted"))
        source = scene.work / "h3.txt"
        source.write_text("restricted\n")
        evidence.add_files(nl, case.id, [source], fields=ItemFields(markings=Markings(
            handling_code=HandlingCode.H3, handling_text="JIT members only")))
        source.unlink()
        with pytest.raises(UsageError, match="H3"):
            bundles.plan_export(nl, "2026/042", [scene.partner_name])
        plan = bundles.plan_export(nl, "2026/042", [scene.partner_name], h3_override="JIT agreement art. 4")
        assert any("H3" in w for w in plan.warnings)
    with unlock(scene.sender, "ivan", "ivan-passphrase") as ivan:
        with pytest.raises(PermissionDenied):
            bundles.plan_export(ivan, "2026/041", [scene.partner_name])
        denied = events.list_events(ivan.conn)[-1]
        assert denied.action == CustodyAction.ACCESS_DENIED


def test_existing_target_and_unknown_partner_are_refused(scene: Scene) -> None:
    target = scene.work / "taken.icspa"
    target.write_bytes(b"someone else's file")
    with unlock(scene.sender, "admin", PASS) as nl:
        plan = bundles.plan_export(nl, "2026/041", [scene.partner_name])
        with pytest.raises(Conflict):
            bundles.export(nl, plan, target)
        with pytest.raises(Exception, match=r"(?i)partner"):
            bundles.plan_export(nl, "2026/041", ["Nobody Police"])
    assert target.read_bytes() == b"someone else's file"



def test_cli_dry_run_export_and_list(scene: Scene) -> None:
    env = {"ICSPA_VAULT": str(scene.sender), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS,
           "ICSPA_WITNESS_DIR": str(scene.work / "witness")}
    target = scene.work / "nightjar"
    dry = run_cli("--json", "bundle", "export", "2026/041", "--to", scene.partner_name, "--out", str(target),
                  "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True and not list(scene.work.glob("nightjar*"))
    done = run_cli("--json", "bundle", "export", "2026/041", "--to", scene.partner_name, "--out", str(target),
                   "--purpose", "JIT Nightjar", env=env)
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert Path(written["path"]).name == "nightjar.icspa" and len(written["sha256"]) == 64
    listed = json.loads(run_cli("--json", "bundle", "list", env=env).stdout)
    assert [b["id"] for b in listed] == [written["id"]] and listed[0]["status"] == "written"
    again = run_cli("bundle", "export", "2026/041", "--to", scene.partner_name, "--out", str(target), env=env)
    assert again.returncode == 5 and again.stderr.count("\n") == 1 and "already exists" in again.stderr


def test_bundle_verify_own_copy_partner_side_and_damage(scene: Scene, tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(scene.sender), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS,
           "ICSPA_WITNESS_DIR": str(scene.work / "witness")}
    with unlock(scene.sender, "admin", PASS) as nl:
        result = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), scene.work / "b")
        nl_identity = agency.agency_identity(nl)
    own = run_cli("--json", "bundle", "verify", str(result.path), env=env)
    assert own.returncode == 0, own.stdout + own.stderr
    report = json.loads(own.stdout)
    assert report["ok"] and report["seal"] == "ok" and report["signer"] == "this agency"
    assert report["recipients"] == [scene.partner_name] and report["items"] == 2
    # The partner, once it trusts our card, sees who sent it and that it is addressed to it.
    partner_vault = scene.sender.parent / "de"
    with unlock(partner_vault, "admin", PASS) as bka:
        partners.add_partner(bka, "Politie NL", "NL", nl_identity.age_recipient,
                             nl_identity.certificate.public_bytes(serialization.Encoding.PEM))
        theirs = bundles.verify_bundle(bka, result.path)
        assert theirs.ok and theirs.signer_name == "Politie NL" and theirs.addressed_to_us
    # One flipped byte in the middle: exit 1, the damage named.
    data = bytearray(result.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    result.path.write_bytes(bytes(data))
    bad = run_cli("bundle", "verify", str(result.path), env=env)
    assert bad.returncode == 1 and "PROBLEM" in bad.stdout and "seal" in bad.stdout


def test_re_export_gives_a_new_id_and_the_same_payload_hashes(scene: Scene) -> None:
    with unlock(scene.sender, "admin", PASS) as nl:
        first = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), scene.work / "one")
        second = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), scene.work / "two")
        sent = {b.id: b for b in bundles.list_sent(nl)}
        a = bundles.verify_bundle(nl, first.path)
        b = bundles.verify_bundle(nl, second.path)
    assert first.bundle_id != second.bundle_id and first.sha256 != second.sha256
    assert sorted(i["sha256"] for i in sent[first.bundle_id].items) == sorted(
        i["sha256"] for i in sent[second.bundle_id].items)
    assert a.ok and b.ok and sorted(a.check.payload) == sorted(b.check.payload)


HARDENED = ["-no-CApath", "-no-CAstore", "-partial_chain"]


def test_the_documented_openssl_options_shut_out_the_systems_cas(scene: Scene, tmp_path: Path) -> None:
    """DESIGN §5's `openssl cms -verify -CAfile sender.pem` also trusts the system's CA store: a bag signed by a
    stranger whose certificate a trusted CA issued verifies. docs/bundle-format.md adds three options; with them
    the stranger is refused and the real sender still verifies (SSL_CERT_DIR stands in for the system store)."""
    from tests.interop import forge

    with unlock(scene.sender, "admin", PASS) as nl:
        result = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), scene.work / "b")
    out = _unpack_as_partner(scene, result.path)
    manifest = out / result.bundle_id / "tagmanifest-sha256.txt"
    sender_pem = scene.work / "sender-agency.pem"
    sender_pem.write_bytes(scene.sender_cert_pem)
    stranger = forge.new_agency("Mallory Ltd", "XX")
    forged = scene.work / "forged.p7s"
    forged.write_bytes(stranger.sign(manifest.read_bytes()))
    store = tmp_path / "system-cas"
    store.mkdir()
    (store / "public-ca.pem").write_bytes(stranger.pem)
    subprocess.run(["openssl", "rehash", str(store)], check=True, capture_output=True)
    env = os.environ | {"SSL_CERT_DIR": str(store)}

    def verify(signature: Path, *extra: str) -> int:
        return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
                               "-content", str(manifest), "-CAfile", str(sender_pem), "-purpose", "any", *extra,
                               "-out", os.devnull], capture_output=True, env=env, check=False).returncode

    genuine = out / f"{result.bundle_id}.p7s"
    assert verify(forged) == 0, "openssl no longer trusts its CA store beside -CAfile: update bundle-format.md"
    assert verify(forged, *HARDENED) != 0
    assert verify(genuine, *HARDENED) == 0 and verify(genuine) == 0


def test_an_export_is_journalled_and_one_that_died_shows_as_interrupted(scene: Scene) -> None:
    """Schema 9: the bundles_sent row exists from the 'bundled' events on ('writing'); a row left by a process
    that is gone (killed before its outcome was recorded) is listed as interrupted, naming where to look."""
    target = scene.work / "nightjar"
    with unlock(scene.sender, "admin", PASS) as nl:
        done = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), target)
        [sent] = bundles.list_sent(nl)
        assert (sent.id, sent.status, sent.problem) == (done.bundle_id, "written", "")
        # What a kill between the media and the outcome leaves (tests/reliability kills it for real).
        with nl.transaction() as conn:
            conn.execute("UPDATE bundles_sent SET status = 'writing', process = 'a-process-that-is-gone', size = NULL,"
                         " sha256 = NULL WHERE id = ?", (done.bundle_id,))
        [left] = bundles.list_sent(nl)
        assert left.status == "interrupted" and str(done.path) in left.problem and "bundle verify" in left.problem
    env = {"ICSPA_VAULT": str(scene.sender), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS,
           "ICSPA_WITNESS_DIR": str(scene.work / "witness")}
    listed = run_cli("bundle", "list", env=env)
    assert listed.returncode == 0 and "interrupted" in listed.stdout, listed.stdout + listed.stderr


def test_a_bundle_whose_records_a_partners_import_would_not_read_is_refused_before_it_is_written(
        scene: Scene) -> None:
    """What the exporter writes, the importer must read: a case of 10,000 items carries ~72 MB of custody proofs,
    which the import's first bound (64 MiB) refused. The export checks the records against the import's bounds
    (here made small) once they are made, before a byte reaches the medium; the failure is recorded."""
    target = scene.work / "nightjar"
    with unlock(scene.sender, "admin", PASS) as nl:
        plan = bundles.plan_export(nl, "2026/041", [scene.partner_name])
        with pytest.raises(UsageError, match=r"The bundle's metadata/custody\.json would hold [\d,]+ bytes for 2 "
                                             r"items; a partner's import reads at most 10,000\. Send the items in "
                                             r"several bundles"):
            bundles.export(nl, plan, target, readable_within=Limits(max_tag_file_bytes=10_000))
        with pytest.raises(UsageError, match=r"The bundle's records would hold [\d,]+ bytes for 2 items; a "
                                             r"partner's import reads at most 3,000\."):
            bundles.export(nl, plan, target, readable_within=Limits(max_tag_total_bytes=3_000))
        assert list(scene.work.iterdir()) == []  # nothing on the medium, not even a temporary file
        assert [sent.status for sent in bundles.list_sent(nl)] == ["failed", "failed"]
        done = bundles.export(nl, plan, target)  # within the import's own bounds
        assert done.path.exists()


def test_a_whole_case_whose_custody_proofs_certainly_exceed_the_bound_is_refused_before_anything_is_recorded(
        scene: Scene, tmp_path: Path) -> None:
    """The plan's bound on a whole case's custody.json is low: refused there, nothing is recorded; and the bound
    never exceeds what a real export writes."""
    from icspa_desktop.bundle import reader
    from icspa_desktop.custody import events

    with unlock(scene.sender, "admin", PASS) as nl:
        case = cases.get_case(nl, "2026/041")
        at_least = bundle_bounds.custody_json_at_least(nl, case)
        before = len(events.list_events(nl.conn))
        with pytest.raises(UsageError, match=rf"metadata/custody\.json would hold more than {at_least:,} bytes for 2 "
                                             r"items; a partner's import reads at most 1,000\."):
            bundles.plan_export(nl, "2026/041", [scene.partner_name], readable_within=Limits(max_tag_file_bytes=1000))
        assert len(events.list_events(nl.conn)) == before and bundles.list_sent(nl) == []
        done = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), scene.work / "b")
        trusted = [agency.agency_identity(nl).certificate]
    check = reader.check_bundle(done.path, [scene.partner_identity], trusted)
    assert check.ok, check.problems
    assert at_least <= len(check.tag_files["metadata/custody.json"])


def test_a_warning_about_many_h2_items_names_a_few_and_counts_the_rest(scene: Scene) -> None:
    """The plan lists every item; its warning about 30 H2 items names the first twelve and says how many more (the
    export wizard's preview was squeezed to a few lines by a warning naming 235 exhibits)."""
    folder = scene.work / "h2"
    folder.mkdir()
    for n in range(30):
        (folder / f"photo-{n:02d}.jpg").write_bytes(bytes([n]) * 100)
    with unlock(scene.sender, "admin", PASS) as nl:
        case = cases.create_case(nl, CaseFields("2026/043", "Many H2 photos"))
        evidence.add_files(nl, case.id, [folder], fields=ItemFields(markings=Markings(handling_code=HandlingCode.H2)))
        plan = bundles.plan_export(nl, "2026/043", [scene.partner_name], purpose="JIT")
    assert len(plan.items) == 30
    warning = next(w for w in plan.warnings if w.startswith("H2 items"))
    assert warning.count("2026/043-") == bundles.WARNING_NAMES and "and 18 more" in warning, warning


def test_the_custody_report_phase_shows_progress_and_cancel_stops_it(scene: Scene) -> None:
    """The report of a big case takes seconds before any byte is written: its progress is the export's, and a
    cancel there stops the export (nothing on the medium, the failure recorded) — it used to run to its end."""
    from icspa_desktop.domain.errors import Cancelled
    from icspa_desktop.domain.progress import CancelToken

    target = scene.work / "nightjar"
    token = CancelToken()
    seen: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(str(message))
        if message == "Making the custody report for the partner":
            token.cancel()

    with unlock(scene.sender, "admin", PASS) as nl:
        with pytest.raises(Cancelled):
            bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), target,
                           progress=progress, cancel=token)
        [sent] = bundles.list_sent(nl)
        assert sent.status == "failed"
    assert "Making the custody report for the partner" in seen
    assert not any(m.startswith("Encrypting") for m in seen)  # stopped before any byte was written
    assert os.listdir(scene.work) == []


def test_ctrl_c_while_writing_is_recorded_as_failed_and_says_so(scene: Scene) -> None:
    """Ctrl+C while the bundle is written: nothing on the medium, and the failure is in the journal and the case's
    custody; the message says so (an audit saw "interrupted; nothing was changed" after 21 'bundled' events and two
    checkpoints were recorded, and no failure)."""
    from icspa_desktop.domain.errors import Cancelled

    target = scene.work / "nightjar"

    def progress(done: int, total: int, message: str) -> None:
        if str(message).startswith("Encrypting") and done > 1 << 20:
            raise KeyboardInterrupt

    with unlock(scene.sender, "admin", PASS) as nl:
        before = len(events.list_events(nl.conn))
        with pytest.raises(Cancelled, match=r"Interrupted: the export stopped and nothing was left under "
                                            r"nightjar\.icspa; the case's custody records it as failed"):
            bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), target, progress=progress)
        [sent] = bundles.list_sent(nl)
        assert (sent.status, sent.problem) == ("failed", "interrupted by the user (Ctrl+C)")
        recorded = events.list_events(nl.conn)[before:]
        assert recorded[-1].body["result"] == "export failed" and "Ctrl+C" in json.dumps(recorded[-1].body)
    assert os.listdir(scene.work) == []


def test_sigterm_while_writing_is_recorded_as_stopped_by_sigterm(scene: Scene) -> None:
    """The CLI turns SIGTERM into ``Terminated`` (a KeyboardInterrupt): the record and the message name SIGTERM,
    not a Ctrl+C nobody pressed."""
    from icspa_desktop.domain.errors import Cancelled, Terminated

    def progress(done: int, total: int, message: str) -> None:
        if str(message).startswith("Encrypting") and done > 1 << 20:
            raise Terminated

    with unlock(scene.sender, "admin", PASS) as nl:
        with pytest.raises(Cancelled, match=r"^Stopped by SIGTERM: the export stopped and nothing was left under "
                                            r"nightjar\.icspa; the case's custody records it as failed"):
            bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), scene.work / "nightjar",
                           progress=progress)
        [sent] = bundles.list_sent(nl)
        assert (sent.status, sent.problem) == ("failed", "stopped by SIGTERM")
        assert "Ctrl+C" not in json.dumps(events.list_events(nl.conn)[-1].body)
    assert os.listdir(scene.work) == []


def test_a_folder_we_may_not_write_in_is_refused_before_anything_is_recorded(
        scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """An immutable or protected folder on a writable file system: found by a trial file before the 'bundled'
    events are recorded (an audit found it after them, with "Operation not permitted" as the whole message).
    Root passes permission bits, so the refusal the kernel gives there (EPERM) is made for this folder."""
    import errno

    target = scene.work / "nightjar"
    real_open = os.open

    def protected(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).parent == scene.work and flags & os.O_CREAT:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return real_open(path, flags, *args, **kwargs)

    with unlock(scene.sender, "admin", PASS) as nl:
        before = len(events.list_events(nl.conn))
        monkeypatch.setattr(os, "open", protected)
        with pytest.raises(IcspaError, match=r"Writing in .*work is not permitted \(a protected or immutable folder\); "
                                             r"nothing was written"):
            bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), target)
        monkeypatch.undo()
        assert len(events.list_events(nl.conn)) == before and bundles.list_sent(nl) == []
    assert os.listdir(scene.work) == []


def test_the_room_asked_for_up_front_bounds_what_the_writer_asks_for(scene: Scene,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The medium is checked twice: before the 'bundled' events (payloads, items, the case's events) and by the
    writer once the bag's documents exist. The first must ask for at least as much, or a stick it let pass is
    refused by the second after the events were recorded (an audit's 50 MB stick). Measured on a case whose
    custody grew over several exports."""
    from icspa_desktop.bundle import format as bundle_format

    asked: list[int] = []
    real = bundle_format.estimated_size

    def seen(spec: bundle_format.BagSpec, recipients: int) -> int:
        asked.append(real(spec, recipients))
        return asked[-1]

    monkeypatch.setattr(bundle_format, "estimated_size", seen)
    with unlock(scene.sender, "admin", PASS) as nl:
        for n in range(3):
            plan = bundles.plan_export(nl, "2026/041", [scene.partner_name])
            events_now = int(nl.conn.execute("SELECT COUNT(*) FROM custody_events WHERE case_id = ?",
                                             (plan.case.id,)).fetchone()[0])
            upfront = bundle_format.upfront_size([i.size or 0 for i in plan.items], events_now + len(plan.items) + 8,
                                                 len(plan.recipients) + 1)
            bundles.export(nl, plan, scene.work / f"b{n}")
            assert asked[-1] <= upfront, (n, asked[-1], upfront)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                     max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_metadata_json_layout_is_the_same_json(value: object) -> None:
    """The bundle's metadata documents put each member and each list element on a line of their own (made by
    json's C encoder); whatever the value, the text reads back as exactly it."""
    text = bundles._record_lines(value)
    assert json.loads(text) == value
    if isinstance(value, list) and value:
        assert text.count("\n") == len(value) + 1  # one line per element, between the brackets


def test_a_report_drawn_apart_goes_into_the_bag_and_a_cancel_while_streaming_ends_its_process(
        scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big report is drawn in a process of its own while the payloads stream (services/custody_reports.py,
    ``SEPARATE_FROM``; here for this small case too): its PDF is the bag's last tag file; a cancel in the middle of
    the payloads ends that process, leaves nothing on the medium and records the failed export."""
    import multiprocessing

    from icspa_desktop.domain.errors import Cancelled
    from icspa_desktop.domain.progress import CancelToken
    from icspa_desktop.services import custody_reports

    monkeypatch.setattr(custody_reports, "SEPARATE_FROM", 0)
    token = CancelToken()

    def progress(done: int, total: int, message: str) -> None:
        if message.startswith("Encrypting"):  # the payloads stream; the report is being drawn meanwhile
            assert multiprocessing.active_children()
            token.cancel()

    target = scene.work / "usb"
    target.mkdir()
    with unlock(scene.sender, "admin", PASS) as nl:
        with pytest.raises(Cancelled):
            bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), target / "first",
                           progress=progress, cancel=token)
        assert not multiprocessing.active_children() and os.listdir(target) == []
        assert bundles.list_sent(nl)[0].status == "failed"
        result = bundles.export(nl, bundles.plan_export(nl, "2026/041", [scene.partner_name]), target / "second")
        assert not multiprocessing.active_children()
    out = _unpack_as_partner(scene, result.path)
    bag = out / result.bundle_id
    assert (bag / "metadata" / "custody-report.pdf").read_bytes().startswith(b"%PDF")
    assert _run(str(BIN / "bagit.py"), "--validate", str(bag)).returncode == 0
