"""Evidence services on real vaults: ingest, records, custody events, fixity, extraction, physical items."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CaseStatus, CustodyAction, HandlingCode, Role, SourceEvaluation, Tlp
from icspa_desktop.domain.errors import Cancelled, Conflict, PermissionDenied, UsageError, VerificationFailed
from icspa_desktop.domain.evidence import Acquisition, HashAlgorithm, ItemFields, ItemKind, Markings
from icspa_desktop.domain.ids import ItemId
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.services import cases, evidence, fixity, physical
from icspa_desktop.services.session import Session
from tests.conftest import VaultInfo
from tests.evidence.conftest import MARKER, blob_files, blob_rows

MD5_SHA1 = [HashAlgorithm.MD5, HashAlgorithm.SHA1]


def _actions(session: Session, item_id: str) -> list[str]:
    return [e.action for e in events.list_events(session.conn, item_id=ItemId(item_id))]


def test_add_folder_records_items_hashes_and_events(admin: Session, case: Case, files: Path) -> None:
    outcome = evidence.add_files(admin, case.number, [files], ItemFields(description="laptop copy", tags=("pier",)),
                                 MD5_SHA1)
    items = outcome.items
    assert [i.exhibit_number for i in items] == ["2024-0042-001", "2024-0042-002", "2024-0042-003"]
    by_name = {i.original_name: i for i in items}
    assert set(by_name) == {"notes.txt", "invoice.pdf", "image.bin"}
    for path in files.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            item = by_name[path.name]
            assert item.hashes == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),
                                   "sha1": hashlib.sha1(data).hexdigest()}
            assert item.size == len(data)
            assert item.original_path == str(path)
            assert item.markings.handling_code is case.fields.handling_code  # inherited from the case
            acquired = events.list_events(admin.conn, item_id=item.id)
            assert [e.action for e in acquired] == [CustodyAction.ACQUIRED.value]
            assert acquired[0].body["hashes"] == item.hashes
            assert acquired[0].body["case_id"] == case.id
    assert by_name["invoice.pdf"].mime_type == "application/pdf"
    assert by_name["notes.txt"].mime_type == "text/plain"
    assert evidence.list_items(admin, case.number) == items
    assert blob_files(admin.vault.layout) == blob_rows(admin)
    assert len(blob_rows(admin)) == 3


def test_agency_default_digests_apply(admin: Session, case: Case, files: Path) -> None:
    only = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    assert set(only.hashes) == {"sha256"}
    evidence.set_default_algorithms(admin, [HashAlgorithm.MD5])
    second = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    assert set(second.hashes) == {"sha256", "md5"}
    with pytest.raises(UsageError, match="Unknown hash"):
        evidence.parse_algorithms("md5,crc32")


def test_item_record_fields(admin: Session, case: Case, files: Path) -> None:
    parent = evidence.add_files(admin, case.id, [files / "docs" / "image.bin"]).items[0]
    fields = ItemFields(
        description="carved JPEG", notes="found in unallocated space", tags=("carved", "photo"),
        exhibit_number="EX-7", parent_id=parent.id,
        markings=Markings(HandlingCode.H3, "only for the prosecutor", Tlp.RED, SourceEvaluation.B, None),
        acquisition=Acquisition("Det. Jansen", "2024-05-01T14:30+02:00", "Rotterdam lab", "carving", "PhotoRec",
                                "7.2", "Dell laptop", "SN123", "SEAL-9"),
    )
    item = evidence.add_files(admin, case.id, [files / "notes.txt"], fields).items[0]
    assert item.exhibit_number == "EX-7"
    assert item.parent_id == parent.id
    assert item.markings.handling_text == "only for the prosecutor"
    assert item.markings.tlp is Tlp.RED
    assert item.acquisition.tool == "PhotoRec"
    assert item.acquisition.seal_number == "SEAL-9"
    assert item.tags == ("carved", "photo")
    assert evidence.get_item(admin, "EX-7") == item
    data = evidence.item_to_json(item)
    assert data["id"] == item.id
    assert data["sha256"] == item.sha256
    with pytest.raises(Conflict, match="EX-7"):
        evidence.add_files(admin, case.id, [files / "notes.txt"], ItemFields(exhibit_number="EX-7"))
    with pytest.raises(UsageError, match="single file"):
        evidence.add_files(admin, case.id, [files], ItemFields(exhibit_number="EX-8"))
    with pytest.raises(UsageError, match="ISO 8601"):
        evidence.add_files(admin, case.id, [files / "notes.txt"],
                           ItemFields(acquisition=Acquisition(acquired_at="yesterday")))


def test_exhibit_numbers_are_per_case(admin: Session, case: Case, files: Path) -> None:
    other = cases.create_case(admin, cases.CaseFields(number="2024-0043", title="Other"))
    a = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    b = evidence.add_files(admin, other.id, [files / "notes.txt"]).items[0]
    assert (a.exhibit_number, b.exhibit_number) == ("2024-0042-001", "2024-0043-001")
    same = evidence.add_files(admin, other.id, [files / "notes.txt"], ItemFields(exhibit_number="2024-0042-001"))
    assert same.items[0].exhibit_number == "2024-0042-001"
    with pytest.raises(UsageError, match="several cases"):
        evidence.get_item(admin, "2024-0042-001")
    assert evidence.suggest_exhibit_numbers(admin, case.id, 2) == ["2024-0042-002", "2024-0042-003"]


def test_cancelled_ingest_leaves_nothing(admin: Session, case: Case, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 << 20))
    small = tmp_path / "small.bin"
    small.write_bytes(b"small")
    token = CancelToken()
    events_before = events.count(admin.conn)

    def progress(done: int, total: int, message: str) -> None:
        if done > (3 << 20):
            token.cancel()

    with pytest.raises(Cancelled):
        evidence.add_files(admin, case.id, [small, big], progress=progress, cancel=token)
    assert evidence.list_items(admin, case.id) == []
    assert blob_files(admin.vault.layout) == set()
    assert blob_rows(admin) == set()
    assert not any(admin.vault.layout.staging.iterdir())
    assert events.count(admin.conn) == events_before


def test_failed_commit_removes_published_blobs(admin: Session, case: Case, files: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure while recording")

    monkeypatch.setattr(Session, "record_many", boom)  # ingest records its events as one batch
    with pytest.raises(RuntimeError, match="simulated"):
        evidence.add_files(admin, case.id, [files])
    monkeypatch.undo()
    assert evidence.list_items(admin, case.id) == []
    assert blob_files(admin.vault.layout) == set()
    assert blob_rows(admin) == set()


def test_bad_inputs_change_nothing(admin: Session, case: Case, files: Path, tmp_path: Path) -> None:
    before = events.count(admin.conn)
    with pytest.raises(Exception, match="does not exist"):
        evidence.add_files(admin, case.id, [tmp_path / "nope"])
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(UsageError, match="no regular file"):
        evidence.add_files(admin, case.id, [tmp_path / "empty-dir"])
    cases.set_status(admin, case.id, CaseStatus.CLOSED)
    with pytest.raises(UsageError, match="closed"):
        evidence.add_files(admin, case.id, [files])
    assert events.count(admin.conn) == before + 1  # only the close
    assert blob_files(admin.vault.layout) == set()


def test_auditor_cannot_add_and_denial_is_recorded(vault: VaultInfo, vault_case: Case, files: Path) -> None:
    with vault.session(Role.AUDITOR) as auditor:
        with pytest.raises(PermissionDenied):
            evidence.add_files(auditor, vault_case.id, [files])
        denied = [e for e in events.list_events(auditor.conn, case_id=vault_case.id) if e.action == "access_denied"]
        assert len(denied) == 1
        assert blob_files(auditor.vault.layout) == set()


def test_no_plaintext_anywhere_in_the_vault(admin: Session, case: Case, files: Path, tmp_path: Path) -> None:
    evidence.add_files(admin, case.id, [files], ItemFields(description="DESCRIPTION-MARKER-55",
                                                           notes="NOTES-MARKER-66"))
    admin.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    known = [MARKER, b"DESCRIPTION-MARKER-55", b"NOTES-MARKER-66", b"invoice.pdf", b"Harbour smuggling",
             b"SQLite format 3", *(hashlib.sha256(p.read_bytes()).hexdigest().encode()
                                   for p in files.rglob("*") if p.is_file())]
    scanned = 0
    for path in admin.vault_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            scanned += 1
            for needle in known:
                assert needle not in content, f"{needle!r} in {path}"
                assert needle.hex().encode() not in content
    assert scanned >= 5


def test_orphan_blob_and_staging_leftover_are_quarantined_at_unlock(vault: VaultInfo, vault_case: Case,
                                                                    files: Path) -> None:
    with vault.session() as session:
        kept = evidence.add_files(session, vault_case.id, [files / "notes.txt"]).items[0]
        layout = session.vault.layout
        orphan = layout.blobs / "ab" / ("ab" + "0" * 30)
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_bytes(b"left by a crash between rename and commit")
        (layout.staging / "x.part").write_bytes(b"partial")
        foreign = layout.blobs / "ab" / "README"
        foreign.write_bytes(b"not ours")
    with vault.session() as session:
        # Moved aside, not deleted (DESIGN §2 "opening never destroys"), and reported on the vault.
        assert not orphan.exists()
        assert foreign.exists()
        assert not any(layout.staging.iterdir())
        moved = {f.origin: f for f in session.vault.quarantined}
        assert set(moved) == {f"blobs/ab/{orphan.name}", "staging/x.part"}
        assert (layout.root / moved[f"blobs/ab/{orphan.name}"].location).read_bytes() == \
            b"left by a crash between rename and commit"
        assert (layout.root / moved["staging/x.part"].location).read_bytes() == b"partial"
        assert fixity.verify_item(session, kept.id).ok
    with vault.session() as session:
        assert session.vault.quarantined == ()  # already moved: the next unlock finds nothing new


def test_verify_detects_a_flipped_byte_and_records_results(admin: Session, case: Case, files: Path) -> None:
    items = evidence.add_files(admin, case.id, [files], algorithms=MD5_SHA1).items
    reports = fixity.verify_case(admin, case.id)
    assert [r.ok for r in reports] == [True, True, True]
    assert reports[0].actual == items[0].hashes
    target = items[2]
    path = admin.vault.layout.blobs / target.blob_id[:2] / target.blob_id  # type: ignore[index]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    reports = fixity.verify_case(admin, case.id)
    assert [r.ok for r in reports] == [True, True, False]
    assert "failed authentication" in reports[2].problem
    verified = [e for e in events.list_events(admin.conn, item_id=target.id) if e.action == "verified"]
    assert [e.body["result"] for e in verified] == ["ok", "mismatch"]
    path.unlink()
    assert "missing" in fixity.verify_item(admin, target.id).problem
    assert [r.ok for r in fixity.verify_all(admin)] == [True, True, False]


def test_swapped_blob_keys_are_detected(admin: Session, case: Case, files: Path) -> None:
    a, b = evidence.add_files(admin, case.id, [files / "notes.txt", files / "docs" / "invoice.pdf"]).items
    conn = admin.conn
    ka = conn.execute("SELECT wrapped_key FROM blobs WHERE id = ?", (a.blob_id,)).fetchone()[0]
    kb = conn.execute("SELECT wrapped_key FROM blobs WHERE id = ?", (b.blob_id,)).fetchone()[0]
    conn.execute("UPDATE blobs SET wrapped_key = ? WHERE id = ?", (kb, a.blob_id))
    conn.execute("UPDATE blobs SET wrapped_key = ? WHERE id = ?", (ka, b.blob_id))
    assert not fixity.verify_item(admin, a.id).ok


def test_extract_writes_checked_copy_and_records_reason(admin: Session, case: Case, files: Path,
                                                        tmp_path: Path) -> None:
    item = evidence.add_files(admin, case.id, [files / "docs" / "image.bin"]).items[0]
    out = tmp_path / "exam" / "copy.bin"
    out.parent.mkdir()
    with pytest.raises(UsageError, match="reason"):
        fixity.extract(admin, item.id, out, "  ")
    result = fixity.extract(admin, item.id, out, "examination by lab")
    assert out.read_bytes() == (files / "docs" / "image.bin").read_bytes()
    assert result.sha256 == item.sha256
    exported = [e for e in events.list_events(admin.conn, item_id=item.id) if e.action == "exported"]
    assert exported[0].body["purpose"] == "examination by lab"
    assert exported[0].body["hashes"] == {"sha256": item.sha256}
    with pytest.raises(Conflict, match="already exists"):
        fixity.extract(admin, item.id, out, "again")
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.bin"]


def test_extract_of_a_tampered_blob_writes_nothing(admin: Session, case: Case, files: Path, tmp_path: Path) -> None:
    item = evidence.add_files(admin, case.id, [files / "docs" / "image.bin"]).items[0]
    path = admin.vault.layout.blobs / item.blob_id[:2] / item.blob_id  # type: ignore[index]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationFailed, match="integrity"):
        fixity.extract(admin, item.id, tmp_path / "out.bin", "exam")
    assert list(tmp_path.glob("*out.bin*")) == []
    assert "exported" not in _actions(admin, item.id)


def test_physical_item_check_out_and_in(admin: Session, case: Case) -> None:
    phone = physical.add_physical(admin, case.id, "iPhone 12, black",
                                  ItemFields(storage_location="Locker 4", acquisition=Acquisition(source_serial="F2L")))
    assert phone.kind is ItemKind.PHYSICAL
    assert phone.size is None
    assert phone.blob_id is None
    assert phone.exhibit_number == "2024-0042-001"
    with pytest.raises(UsageError, match="receiving person"):
        physical.check_out(admin, phone.id, "", "exam")
    out = physical.check_out(admin, phone.id, "Dr. Smit (lab)", "chip-off examination", released_by="Clerk Jo")
    assert out.checked_out
    assert out.holder == "Dr. Smit (lab)"
    with pytest.raises(Conflict, match="already checked out"):
        physical.check_out(admin, phone.id, "someone", "x")
    back = physical.check_in(admin, phone.id, "Dr. Smit (lab)", storage_location="Locker 9")
    assert not back.checked_out
    assert back.storage_location == "Locker 9"
    with pytest.raises(Conflict, match="not checked out"):
        physical.check_in(admin, phone.id, "x")
    history = events.list_events(admin.conn, item_id=phone.id)
    assert [e.action for e in history] == ["acquired", "checked_out", "checked_in"]
    assert history[1].body["details"]["releasing"] == "Clerk Jo"
    assert history[1].body["details"]["receiving"] == "Dr. Smit (lab)"
    assert history[1].body["purpose"] == "chip-off examination"
    assert history[2].body["details"]["releasing"] == "Dr. Smit (lab)"
    assert history[2].body["location"] == "Locker 9"
    with pytest.raises(UsageError, match="physical"):
        fixity.verify_item(admin, phone.id)


def test_digital_items_cannot_be_checked_out(admin: Session, case: Case, files: Path) -> None:
    item = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    with pytest.raises(UsageError, match="digital"):
        physical.check_out(admin, item.id, "x", "y")


def test_annotate_records_old_and_new(admin: Session, case: Case, files: Path) -> None:
    item = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    changed = evidence.annotate(admin, item.id, notes="second look", tags=["a", "b"], reason="review")
    assert changed.notes == "second look"
    assert changed.tags == ("a", "b")
    marked = evidence.annotate(admin, item.id, markings=Markings(HandlingCode.H2, "", Tlp.RED))
    assert marked.markings.handling_code is HandlingCode.H2
    history = events.list_events(admin.conn, item_id=item.id)
    assert [e.action for e in history] == ["acquired", "annotated", "marking_changed"]
    assert history[1].body["details"]["changes"]["notes"] == {"old": "", "new": "second look"}


def test_changed_recorded_digest_is_a_mismatch(admin: Session, case: Case, files: Path) -> None:
    item = evidence.add_files(admin, case.id, [files / "notes.txt"], algorithms=MD5_SHA1).items[0]
    admin.conn.execute("UPDATE items SET md5 = ? WHERE id = ?", ("0" * 32, item.id))
    report = fixity.verify_item(admin, item.id)
    assert not report.ok
    assert "md5" in report.problem
    assert report.actual["md5"] == item.hashes["md5"]


def test_agency_exhibit_format(admin: Session, case: Case, files: Path) -> None:
    with pytest.raises(UsageError, match="seq"):
        evidence.set_exhibit_format(admin, "{case}-X")
    with pytest.raises(UsageError, match="only"):
        evidence.set_exhibit_format(admin, "{case}-{n}")
    evidence.set_exhibit_format(admin, "EX-{seq:05d}")
    items = evidence.add_files(admin, case.id, [files / "notes.txt", files / "docs"]).items
    assert [i.exhibit_number for i in items] == ["EX-00001", "EX-00002", "EX-00003"]


def test_same_content_again_is_added_and_named_as_a_duplicate(admin: Session, case: Case, files: Path,
                                                              tmp_path: Path) -> None:
    first = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    assert evidence.add_files(admin, case.id, [files / "docs"]).duplicates == []
    twins = tmp_path / "twins"
    twins.mkdir()
    (twins / "a.bin").write_bytes(b"twin content")
    (twins / "b.bin").write_bytes(b"twin content")
    (twins / "notes-copy.txt").write_bytes((files / "notes.txt").read_bytes())
    outcome = evidence.add_files(admin, case.id, [twins])
    by_name = {i.original_name: i.exhibit_number for i in outcome.items}
    assert len(outcome.items) == 3
    assert sorted(outcome.duplicates) == sorted([(by_name["b.bin"], by_name["a.bin"]),
                                                 (by_name["notes-copy.txt"], first.exhibit_number)])


def test_a_cases_items_are_listed_in_natural_exhibit_order(admin: Session, case: Case, tmp_path: Path) -> None:
    """Items added together share their time; their exhibit numbers then order them naturally (-999 before -1000),
    as the Evidence tab sorts them: the export wizard, the CLI's list, a bundle's items.json and the custody
    report list them so (they listed 2024-0042-1000 before 2024-0042-101)."""
    folder = tmp_path / "card"
    folder.mkdir()
    for i in range(1001):
        (folder / f"{i:04d}.txt").write_bytes(b"x")
    evidence.add_files(admin, case.number, [folder])
    exhibits = [i.exhibit_number for i in evidence.list_items(admin, case.number)]
    assert exhibits[98:101] == ["2024-0042-099", "2024-0042-100", "2024-0042-101"]
    assert exhibits[-2:] == ["2024-0042-1000", "2024-0042-1001"]
