"""Checkpoint origins name the agency and the vault (DESIGN §7 errata); earlier origins stay verifiable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.services import agency, custody_verify
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import Session
from tests.custody.conftest import add_cases


def test_origin_follows_the_agency_identity_and_old_ones_still_verify(admin: Session, tmp_path: Path) -> None:
    witness = tmp_path / "witness"
    add_cases(admin, 2)
    first = custody_service.make_checkpoint(admin, witness_dir=witness)
    identity = agency.agency_identity(admin)
    fingerprint = identity.fingerprint.replace(" ", "").lower()
    assert first.checkpoint.origin == f"icspa/NL/{fingerprint}/{admin.vault.header.vault_id}"
    # A checkpoint from before origins were derived, signed by the same key, stored as it was then.
    old = cp.Checkpoint(cp.origin_for(admin.vault.header.vault_id), first.size, first.checkpoint.root,
                        datetime.now(UTC).replace(microsecond=0))
    signature = custody_service.agency_signer(admin).sign_detached(old.body())
    with admin.transaction() as conn:
        conn.execute("INSERT INTO custody_checkpoints (tree_size, root_hash, created_at, body, signature, reason,"
                     " created_by) VALUES (?, ?, ?, ?, ?, 'before origins', ?)",
                     (old.size, old.root, old.timestamp.isoformat(), old.body(), signature, admin.user.id))
    agency.create_identity(admin, "Test Police", "DE")  # a new identity: a new origin
    second = custody_service.make_checkpoint(admin, witness_dir=witness)
    assert second.checkpoint.origin.startswith("icspa/DE/") and second.checkpoint.origin != first.checkpoint.origin
    report = custody_verify.verify(admin, witness_dir=witness)
    assert report.ok, report.damages
    assert report.checkpoints_checked == 3
    # A checkpoint of some other log is still refused.
    stranger = cp.Checkpoint("icspa/NL/" + "0" * 32 + "/another-vault", 1, first.checkpoint.root, old.timestamp)
    with admin.transaction() as conn:
        conn.execute("INSERT INTO custody_checkpoints (tree_size, root_hash, created_at, body, signature, reason,"
                     " created_by) VALUES (1, ?, ?, ?, ?, 'foreign', ?)",
                     (stranger.root, old.timestamp.isoformat(), stranger.body(),
                      custody_service.agency_signer(admin).sign_detached(stranger.body()), admin.user.id))
    damaged = custody_verify.verify(admin, witness_dir=witness)
    assert any("belongs to another log" in d.message for d in damaged.damages)


def test_witness_written_in_two_phases_survives_a_crash_at_either_side(admin: Session, tmp_path: Path) -> None:
    witness = tmp_path / "witness"
    add_cases(admin, 1)
    custody_service.make_checkpoint(admin, witness_dir=witness)
    path = custody_service.witness_file(admin, witness)
    pending = cp.pending_path(path)
    # Killed after COMMIT, before the move: the pending witness holds the stored checkpoint.
    path.rename(pending)
    report = custody_verify.verify(admin, witness_dir=witness)
    assert report.ok and report.witness_status == "ok", report.damages
    assert path.exists() and not pending.exists()
    # Killed before COMMIT: a pending witness of a checkpoint that was never stored is dropped.
    fresh = cp.Checkpoint(custody_service.vault_origin(admin), 1, b"\x01" * 32,
                          datetime.now(UTC).replace(microsecond=0))
    cp.write_witness(pending, fresh.body(), custody_service.agency_signer(admin).sign_detached(fresh.body()))
    before = path.read_bytes()
    assert custody_verify.verify(admin, witness_dir=witness).ok
    assert not pending.exists() and path.read_bytes() == before
