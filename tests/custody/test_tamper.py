"""Every tamper class the chain of custody must reveal, on real SQLCipher vaults edited with SQL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.crypto import signing
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody import events
from icspa_desktop.custody.verify import DamageKind
from icspa_desktop.domain.enums import Role
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services import custody_verify, users
from icspa_desktop.services.session import Session
from tests.conftest import NAMES, PASSPHRASES, VaultInfo
from tests.custody.conftest import Agency, Verify, add_cases

Checkpoint = Callable[..., custody_service.StoredCheckpoint]


def kinds(report: custody_verify.VerifyReport) -> set[DamageKind]:
    return {d.kind for d in report.damages}


def row(session: Session, idx: int) -> dict[str, Any]:
    r = session.conn.execute("SELECT id, body, signature, public_key, leaf_hash FROM custody_events WHERE idx = ?",
                             (idx,)).fetchone()
    return {"id": r[0], "body": bytes(r[1]), "signature": bytes(r[2]), "public_key": bytes(r[3]),
            "leaf_hash": bytes(r[4])}


def other_user(admin: Session, role: Role = Role.INVESTIGATOR) -> Session:
    """Another user's session on the same open vault (one process may hold the vault at a time)."""
    unlocked = admin.vault.keyslots.unlock(NAMES[role], PASSPHRASES[role])
    return Session(admin.vault, users.get_user(admin, NAMES[role]), unlocked.signing_private_key)


def size(session: Session) -> int:
    return events.count(session.conn)


@pytest.fixture
def logged(admin: Session, checkpoint: Checkpoint) -> Session:
    """A vault with a few cases, one checkpoint, and a few events after it."""
    add_cases(admin, 4, "A")
    checkpoint()
    add_cases(admin, 3, "B")
    return admin


def test_clean_log_verifies(logged: Session, verify: Verify, agency: Agency) -> None:
    report = verify()
    assert report.ok, report.damages
    assert report.tree_size == size(logged)
    assert report.checkpoints_checked == 1
    assert report.witness_status == "ok"
    assert report.root_hash == custody_service.stored_tree(logged.conn).root()


BODY_FIELDS = ["v", "id", "action", "case_id", "item_ids", "at", "local_time", "time_zone", "actor", "purpose",
               "authority", "location", "counterparty", "tool", "hashes", "result", "notes", "details"]


def _edited(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, "extra-item"]
    if isinstance(value, dict):
        return {**value, "tampered": "yes"}
    return "x"


@pytest.mark.parametrize("name", BODY_FIELDS)
def test_edit_of_any_signed_field(logged: Session, verify: Verify, name: str) -> None:
    target = 5
    before = row(logged, target)
    body = json.loads(before["body"])
    body[name] = _edited(body.get(name))
    logged.conn.execute("UPDATE custody_events SET body = ? WHERE idx = ?", (canonical_json(body), target))
    report = verify()
    bad = [d for d in report.damages if d.kind is DamageKind.BAD_SIGNATURE]
    assert [d.event_index for d in bad] == [target]
    assert bad[0].event_id == before["id"]
    assert "altered after it was signed" in bad[0].message
    assert f"#{target} ({before['id']}" in bad[0].message


def test_edit_with_recomputed_leaf_hash_is_still_caught(logged: Session, verify: Verify) -> None:
    before = row(logged, 2)
    body = json.loads(before["body"])
    body["purpose"] = "a different purpose"
    new = canonical_json(body)
    leaf = events.leaf_hash(events.leaf_bytes(new, before["signature"], before["public_key"]))
    logged.conn.execute("UPDATE custody_events SET body = ?, leaf_hash = ? WHERE idx = 2", (new, leaf))
    report = verify()
    assert DamageKind.BAD_SIGNATURE in kinds(report)
    assert DamageKind.INCONSISTENT in kinds(report)  # the checkpoint pinned the old leaf


@pytest.mark.parametrize(("column", "value"), [("action", "disposed"), ("case_id", "other-case"),
                                                ("actor_id", "someone-else"), ("at", "2001-01-01T00:00:00.000000Z")])
def test_edit_of_an_indexed_column(logged: Session, verify: Verify, column: str, value: str) -> None:
    logged.conn.execute(f"UPDATE custody_events SET {column} = ? WHERE idx = 3", (value,))
    report = verify()
    assert [(d.kind, d.event_index) for d in report.damages if d.event_index is not None] == [
        (DamageKind.INDEX_MISMATCH, 3)]
    assert "disagree with the signed event" in report.damages[0].message
    # Event 3 adds a user: with its action column changed, the user has no signed origin any more.
    assert {d.kind for d in report.damages if d.event_index is None} <= {DamageKind.USERS_TABLE}


def test_item_link_added_to_an_event(logged: Session, verify: Verify) -> None:
    logged.conn.execute("INSERT INTO custody_event_items (event_idx, item_id) VALUES (4, 'smuggled-item')")
    report = verify()
    assert [(d.kind, d.event_index) for d in report.damages] == [(DamageKind.INDEX_MISMATCH, 4)]
    assert "items" in report.damages[0].message


def test_stored_leaf_hash_edited(logged: Session, verify: Verify) -> None:
    logged.conn.execute("UPDATE custody_events SET leaf_hash = zeroblob(32) WHERE idx = 1")
    report = verify()
    assert [(d.kind, d.event_index) for d in report.damages] == [(DamageKind.LEAF_MISMATCH, 1)]


def test_bit_flip_in_a_signature(logged: Session, verify: Verify) -> None:
    sig = bytearray(row(logged, 6)["signature"])
    sig[17] ^= 0x04
    logged.conn.execute("UPDATE custody_events SET signature = ? WHERE idx = 6", (bytes(sig),))
    report = verify()
    bad = [d for d in report.damages if d.kind is DamageKind.BAD_SIGNATURE]
    assert [d.event_index for d in bad] == [6]
    assert "signature" in bad[0].message


def test_deleted_event_leaves_a_gap(logged: Session, verify: Verify) -> None:
    logged.conn.execute("DELETE FROM custody_event_items WHERE event_idx = 4")
    logged.conn.execute("DELETE FROM custody_events WHERE idx = 4")
    report = verify()
    gaps = [d for d in report.damages if d.kind is DamageKind.GAP]
    assert [d.event_index for d in gaps] == [4]
    assert "event #4 is missing" in gaps[0].message
    assert DamageKind.INCONSISTENT in kinds(report)


def _renumber(session: Session, start: int, delta: int, end: int = 10**6) -> None:
    """Shift idx of events in [start, end) by delta (through a negative detour to respect the primary key)."""
    conn = session.conn
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE custody_events SET idx = -(idx + ?) - 1 WHERE idx >= ? AND idx < ?", (delta, start, end))
    conn.execute("UPDATE custody_events SET idx = -idx - 1 WHERE idx < 0")
    conn.execute("UPDATE custody_event_items SET event_idx = -(event_idx + ?) - 1"
                 " WHERE event_idx >= ? AND event_idx < ?", (delta, start, end))
    conn.execute("UPDATE custody_event_items SET event_idx = -event_idx - 1 WHERE event_idx < 0")
    conn.execute("PRAGMA foreign_keys = ON")


def test_deleted_event_with_renumbering(logged: Session, verify: Verify) -> None:
    logged.conn.execute("DELETE FROM custody_events WHERE idx = 2")
    _renumber(logged, 3, -1)
    report = verify()
    # The stored checkpoint, the witness, and every later event's signed tree head (the chain).
    assert kinds(report) == {DamageKind.INCONSISTENT, DamageKind.FORK, DamageKind.CHAIN_BROKEN}
    damage = next(d for d in report.damages if d.kind is DamageKind.INCONSISTENT)
    size_at_checkpoint = int(logged.conn.execute("SELECT tree_size FROM custody_checkpoints").fetchone()[0])
    expected = f"among events #0–#{size_at_checkpoint - 1} some were altered, inserted, deleted or reordered"
    assert expected in damage.message


def test_inserted_event(logged: Session, verify: Verify) -> None:
    # A correctly signed event by a real user, slipped into the middle of the log.
    add_cases(other_user(logged), 1, "I")
    n = size(logged)
    conn = logged.conn
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE custody_events SET idx = 10000000 WHERE idx = ?", (n - 1,))
    conn.execute("UPDATE custody_event_items SET event_idx = 10000000 WHERE event_idx = ?", (n - 1,))
    _renumber(logged, 3, 1)
    conn.execute("UPDATE custody_events SET idx = 3 WHERE idx = 10000000")
    conn.execute("UPDATE custody_event_items SET event_idx = 3 WHERE event_idx = 10000000")
    conn.execute("PRAGMA foreign_keys = ON")
    report = verify()
    assert DamageKind.INCONSISTENT in kinds(report), report.damages
    assert {DamageKind.BAD_SIGNATURE, DamageKind.GAP}.isdisjoint(kinds(report))


def test_reordered_events(logged: Session, verify: Verify) -> None:
    conn = logged.conn
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE custody_events SET idx = -1 WHERE idx = 2")
    conn.execute("UPDATE custody_events SET idx = 2 WHERE idx = 3")
    conn.execute("UPDATE custody_events SET idx = 3 WHERE idx = -1")
    conn.execute("PRAGMA foreign_keys = ON")
    report = verify()
    assert DamageKind.INCONSISTENT in kinds(report)
    damage = next(d for d in report.damages if d.kind is DamageKind.INCONSISTENT)
    assert "reordered" in damage.message


def test_truncated_log(logged: Session, verify: Verify, checkpoint: Checkpoint) -> None:
    cp = checkpoint()
    n = cp.size
    logged.conn.execute("DELETE FROM custody_event_items WHERE event_idx >= ?", (n - 3,))
    logged.conn.execute("DELETE FROM custody_events WHERE idx >= ?", (n - 3,))
    report = verify()
    truncated = [d for d in report.damages if d.kind is DamageKind.TRUNCATED]
    assert truncated
    assert "truncated" in truncated[0].message
    assert f"#{n - 3}–#{n - 1}" in truncated[0].message
    assert DamageKind.ROLLBACK in kinds(report)  # the witness also saw the longer log


def _copy_vault(session: Session, target: Path) -> None:
    session.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(session.vault_path, target, ignore=shutil.ignore_patterns("vault.lock"))


def test_rollback_of_the_vault_directory(admin: Session, vault: VaultInfo, agency: Agency,
                                         checkpoint: Checkpoint) -> None:
    old_copy = vault.path.parent / "old-copy"
    add_cases(admin, 2, "R")
    checkpoint()
    _copy_vault(admin, old_copy)
    add_cases(admin, 2, "S")
    checkpoint()
    admin.lock()
    shutil.rmtree(vault.path)
    shutil.copytree(old_copy, vault.path)
    with vault.session() as s:
        report = custody_verify.verify(s, verifier=agency.verifier, witness_dir=agency.witness_dir)
        # Inside the restored copy everything is self-consistent; only the witness outside reveals it.
        assert kinds(report) == {DamageKind.ROLLBACK}
        assert "rolled back to an older copy" in report.damages[0].message
        assert report.witness_status == "damaged"
        # And no new checkpoint may silently overwrite the evidence.
        with pytest.raises(custody_service.VerificationFailed, match="rolled back"):
            checkpoint(s)


def test_forked_history_against_the_stored_checkpoint(logged: Session, vault: VaultInfo, verify: Verify) -> None:
    # An insider with every key rewrites history after event 3 and re-signs it validly.
    n = size(logged)
    logged.conn.execute("DELETE FROM custody_event_items WHERE event_idx >= 3")
    logged.conn.execute("DELETE FROM custody_events WHERE idx >= 3")
    add_cases(logged, n, "F")  # longer than before, every event validly signed
    report = verify()
    assert DamageKind.INCONSISTENT in kinds(report)
    assert {DamageKind.BAD_SIGNATURE, DamageKind.GAP, DamageKind.LEAF_MISMATCH}.isdisjoint(kinds(report))


def test_forked_history_with_checkpoints_removed(logged: Session, verify: Verify) -> None:
    n = size(logged)
    logged.conn.execute("DELETE FROM custody_checkpoints")
    logged.conn.execute("DELETE FROM custody_event_items WHERE event_idx >= 3")
    logged.conn.execute("DELETE FROM custody_events WHERE idx >= 3")
    add_cases(logged, n, "F")
    report = verify()
    # The witness shows the fork; the users added by the deleted events are in the table but not the log.
    assert kinds(report) == {DamageKind.FORK, DamageKind.USERS_TABLE}
    assert any("forked" in d.message for d in report.damages if d.kind is DamageKind.FORK)


def test_event_signed_with_another_users_key(logged: Session, verify: Verify) -> None:
    ivan_key = other_user(logged).signing_key()
    before = row(logged, 5)
    signature = signing.sign(ivan_key, events.signed_message(before["body"]))
    public = signing.public_from_private(ivan_key)
    leaf = events.leaf_hash(events.leaf_bytes(before["body"], signature, public))
    logged.conn.execute("UPDATE custody_events SET signature = ?, public_key = ?, leaf_hash = ? WHERE idx = 5",
                        (signature, public, leaf))
    report = verify()
    wrong = [d for d in report.damages if d.kind is DamageKind.WRONG_ACTOR_KEY]
    assert [d.event_index for d in wrong] == [5]
    assert "key of user 'ivan'" in wrong[0].message


def test_event_signed_with_an_unknown_key(logged: Session, verify: Verify) -> None:
    private, public = signing.generate()
    before = row(logged, 1)
    signature = signing.sign(private, events.signed_message(before["body"]))
    leaf = events.leaf_hash(events.leaf_bytes(before["body"], signature, public))
    logged.conn.execute("UPDATE custody_events SET signature = ?, public_key = ?, leaf_hash = ? WHERE idx = 1",
                        (signature, public, leaf))
    report = verify()
    # Event 1 adds the first user: re-signed by a stranger it no longer establishes that user either.
    assert {(d.kind, d.event_index) for d in report.damages if d.event_index == 1} == {
        (DamageKind.UNKNOWN_KEY, 1), (DamageKind.USER_STATE, 1)}


def test_key_used_after_it_was_retired(logged: Session, verify: Verify) -> None:
    # Keys come from signed events now: retiring one in the table is an edit of the cache, and says so.
    logged.conn.execute("UPDATE user_keys SET retired_at = '2000-01-01T00:00:00+00:00' WHERE user_id = ?",
                        (logged.user.id,))
    report = verify()
    assert kinds(report) == {DamageKind.USERS_TABLE}
    assert "signing key" in report.damages[0].message


def test_checkpoint_signature_bit_flip(logged: Session, verify: Verify) -> None:
    sig = bytearray(logged.conn.execute("SELECT signature FROM custody_checkpoints").fetchone()[0])
    sig[-5] ^= 0x01
    logged.conn.execute("UPDATE custody_checkpoints SET signature = ?", (bytes(sig),))
    report = verify()
    assert kinds(report) == {DamageKind.CHECKPOINT_SIGNATURE}


def test_checkpoint_text_edited(logged: Session, verify: Verify) -> None:
    body = logged.conn.execute("SELECT body FROM custody_checkpoints").fetchone()[0]
    lines = bytes(body).decode().split("\n")
    lines[1] = str(int(lines[1]) - 1)
    logged.conn.execute("UPDATE custody_checkpoints SET body = ?", ("\n".join(lines).encode(),))
    report = verify()
    assert DamageKind.CHECKPOINT_SIGNATURE in kinds(report)


def test_incremental_verification(logged: Session, verify: Verify, checkpoint: Checkpoint) -> None:
    assert verify().ok
    add_cases(logged, 3, "N")
    checkpoint()
    add_cases(logged, 1, "M")
    report = verify(incremental=True)
    assert report.ok, report.damages
    assert report.mode == "incremental"
    assert report.events_checked == 5  # 3 cases, the checkpoint event, 1 case — nothing before
    assert report.tree_size == size(logged)
    assert report.root_hash == custody_service.stored_tree(logged.conn).root()
    # Damage in what came after the last verification is found incrementally.
    add_cases(logged, 1, "L")
    logged.conn.execute("UPDATE custody_events SET signature = zeroblob(64) WHERE idx = ?", (size(logged) - 1,))
    report = verify(incremental=True)
    assert report.mode == "incremental"
    assert kinds(report) == {DamageKind.BAD_SIGNATURE, DamageKind.LEAF_MISMATCH}


def test_incremental_without_record_falls_back_to_full(logged: Session, verify: Verify) -> None:
    report = verify(incremental=True)
    assert report.mode == "full"
    assert report.ok
    assert any("Full verification was needed" in note for note in report.notes)


def test_parallel_verification_matches_serial(logged: Session, verify: Verify, monkeypatch: pytest.MonkeyPatch) -> None:
    from icspa_desktop.custody import verify as verify_module

    add_cases(logged, 10, "P")
    logged.conn.execute("UPDATE custody_events SET signature = zeroblob(64) WHERE idx = 13")
    serial = verify(workers=1)
    monkeypatch.setattr(verify_module, "POOL_THRESHOLD", 1)
    monkeypatch.setattr(verify_module, "CHUNK", 4)
    parallel = verify(workers=2)
    assert [d.to_json() for d in parallel.damages] == [d.to_json() for d in serial.damages]
    assert parallel.root_hash == serial.root_hash
    assert [d.event_index for d in parallel.damages if d.kind is DamageKind.BAD_SIGNATURE] == [13]


def test_daily_checkpoint_only_when_due(logged: Session, agency: Agency) -> None:
    """A day by an injected clock, not by waiting or by a zero maximum age."""
    now = datetime.now(UTC)

    def due(at: datetime) -> custody_service.StoredCheckpoint | None:
        return custody_service.checkpoint_if_due(logged, signer=agency.signer, witness_dir=agency.witness_dir,
                                                 clock=lambda: at)

    latest = custody_service.latest_checkpoint(logged)
    assert latest is not None
    signed_at = latest.checkpoint.timestamp
    add_cases(logged, 1, "C")  # the log grew since the fixture's checkpoint
    assert due(signed_at + timedelta(hours=23, minutes=59)) is None  # not a day old yet
    made = due(signed_at + timedelta(days=1, seconds=1))
    assert made is not None
    assert made.size == size(logged) - 1
    assert due(now + timedelta(days=3)) is None  # nothing new since (only its own event)
    add_cases(logged, 1, "D")
    assert due(made.checkpoint.timestamp + timedelta(hours=1)) is None  # new events, but the last is fresh
    assert due(made.checkpoint.timestamp + timedelta(days=1, seconds=1)) is not None


def test_body_stored_as_text_is_damage_not_a_crash(logged: Session, verify: Verify) -> None:
    logged.conn.execute("UPDATE custody_events SET body = CAST(body AS TEXT) || ' ' WHERE idx = 2")
    logged.conn.execute("UPDATE custody_events SET signature = 'not a signature' WHERE idx = 3")
    report = verify()
    assert {d.event_index for d in report.damages if d.kind is DamageKind.BAD_SIGNATURE} == {2, 3}


def test_checkpoint_signed_by_another_agency(logged: Session, verify: Verify) -> None:
    from icspa_desktop.crypto import cms
    from icspa_desktop.services import agency

    key, cert = agency.new_self_signed("Impostor Police", "XX")
    body = logged.conn.execute("SELECT body FROM custody_checkpoints").fetchone()[0]
    logged.conn.execute("UPDATE custody_checkpoints SET signature = ?", (cms.sign_detached(bytes(body), cert, key),))
    report = verify()
    assert kinds(report) == {DamageKind.CHECKPOINT_SIGNATURE}
    assert "agency signature is not valid" in report.damages[0].message
