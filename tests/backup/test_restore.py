"""``services.restore.restore`` and ``record_restore`` on real vaults: the MANIFEST is checked before anything is
written, an existing vault is moved aside, and the custody rollback is recorded so that verification is clean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.custody.verify import DamageKind
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import Conflict, PermissionDenied, RefusedInput, UsageError, VerificationFailed
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import backup, cases, custody_verify
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services import restore as restore_service
from icspa_desktop.services.session import unlock
from tests.conftest import NAMES, PASSPHRASES, VaultInfo


def tree_listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def made(stocked: VaultInfo, out: Path) -> backup.BackupResult:
    with stocked.session() as alice:
        return backup.backup(alice, out)


def later_activity(vault: VaultInfo) -> None:
    """What happens after the backup: a case, a checkpoint — the witnesses move on."""
    with vault.session() as alice:
        cases.create_case(alice, CaseFields("2026/B-2", "after the backup"))
        custody_service.make_checkpoint(alice, "after the backup")


def test_restore_into_a_new_path_then_record_it(stocked: VaultInfo, made: backup.BackupResult,
                                                tmp_path: Path) -> None:
    later_activity(stocked)
    target = tmp_path / "restored" / "vault"
    result = restore_service.restore(made.path, target)
    assert result.set_aside is None and result.tree_size == made.tree_size
    assert sorted(p.name for p in target.iterdir()) == ["blobs", "keyslots.json", "metadata.db", "restore.json",
                                                        "staging", "vault.json"]
    assert [p.name for p in target.parent.iterdir()] == ["vault"]  # no hidden partial folder left
    assert (target / "metadata.db").read_bytes() == (made.path / "vault/metadata.db").read_bytes()
    with VaultInfo(target, stocked.recovery_key).session() as alice:
        pending = restore_service.pending_restore(alice)
        assert pending is not None and pending.backup_id == made.id
        record = restore_service.record_restore(alice, "restored the nightly backup after a disk failure (ticket 4711)")
        assert restore_service.pending_restore(alice) is None
        assert custody_verify.verify(alice).ok
    assert record.tree_size_restored == made.tree_size and record.witness_tree_size is not None
    assert record.witness_tree_size > made.tree_size and record.checkpoint_id is not None
    assert not (target / "restore.json").exists()


def test_restore_over_an_existing_vault_needs_force_and_keeps_the_old_one(stocked: VaultInfo,
                                                                          made: backup.BackupResult) -> None:
    later_activity(stocked)
    before = tree_listing(stocked.path)
    with pytest.raises(Conflict, match="--force"):
        restore_service.restore(made.path, stocked.path)
    assert tree_listing(stocked.path) == before
    result = restore_service.restore(made.path, stocked.path, force=True)
    assert result.set_aside is not None and result.set_aside.name.startswith("vault.replaced-")
    assert result.set_aside.parent == stocked.path.parent
    kept = tree_listing(result.set_aside)
    assert {k: v for k, v in kept.items() if k != "vault.lock"} == {k: v for k, v in before.items()
                                                                     if k != "vault.lock"}
    note = json.loads((stocked.path / "restore.json").read_bytes())
    assert note["set_aside"] == str(result.set_aside) and note["backup_id"] == made.id


def test_a_vault_open_in_another_process_is_not_moved_aside(stocked: VaultInfo, made: backup.BackupResult) -> None:
    from icspa_desktop.domain.errors import VaultBusy
    from icspa_desktop.vault.lockfile import VaultLock

    lock = VaultLock(stocked.path / "vault.lock")
    lock.acquire()  # (the same process; flock is per open file, as another process's would be)
    try:
        with pytest.raises(VaultBusy):
            restore_service.restore(made.path, stocked.path, force=True)
    finally:
        lock.release()
    assert not list(stocked.path.parent.glob("vault.replaced-*"))
    assert not list(stocked.path.parent.glob(".icspa-restore-*"))


def test_custody_verify_is_clean_after_a_recorded_restore_and_the_restore_stays_visible(
        stocked: VaultInfo, made: backup.BackupResult, witness_dir: Path) -> None:
    later_activity(stocked)
    with stocked.session() as alice:
        live_size = events.count(alice.conn)
    restore_service.restore(made.path, stocked.path, force=True)
    with stocked.session() as alice:
        # Before it is recorded the rollback is damage, as for any rollback.
        report = custody_verify.verify(alice)
        assert {d.kind for d in report.damages} >= {DamageKind.ROLLBACK, DamageKind.USER_WITNESS}
        with pytest.raises(UsageError, match="reason"):
            restore_service.record_restore(alice, "  ")
        record = restore_service.record_restore(alice, "restored the Monday backup (ticket 881)")
        report = custody_verify.verify(alice)
        assert report.ok, report.damages
        log = events.list_events(alice.conn)
    restored = [e for e in log if e.action == CustodyAction.VAULT_RESTORED]
    assert len(restored) == 1 and restored[0].index == made.tree_size
    body = restored[0].body
    assert body["purpose"] == "restored the Monday backup (ticket 881)"
    details = body["details"]
    assert details["backup_id"] == made.id and details["tree_size_restored"] == made.tree_size
    assert record.witness_tree_size is not None and details["witness_tree_size"] == record.witness_tree_size
    assert record.witness_tree_size >= live_size
    assert details["agency_witness"]["tree_size"] > made.tree_size
    assert "-----BEGIN" in details["agency_witness"]["text"]  # the replaced signed checkpoint, kept whole
    assert [w["user_id"] for w in details["user_witnesses"]]  # the restorer's own witness, set aside and kept
    for witness in details["user_witnesses"]:
        assert Path(witness["set_aside_as"]).is_file()  # kept; the user's new witness fits the restored log
        assert json.loads(Path(witness["set_aside_as"]).read_bytes())["tree_size"] == witness["tree_size"]
    checkpoint = next(e for e in log if e.index > restored[0].index and e.action == CustodyAction.CHECKPOINT_SIGNED)
    assert "replaced_witness" in checkpoint.body["details"]
    # The next unlock is quiet and verification stays clean.
    with stocked.session() as alice:
        assert alice.warnings == []
        assert custody_verify.verify(alice).ok


def test_only_an_administrator_records_a_restore(stocked: VaultInfo, made: backup.BackupResult) -> None:
    later_activity(stocked)
    restore_service.restore(made.path, stocked.path, force=True)
    with stocked.session(Role.SUPERVISOR) as sam:
        with pytest.raises(PermissionDenied):
            restore_service.record_restore(sam, "I would like the old state back")
        assert restore_service.pending_restore(sam) is not None
    with stocked.session() as alice:
        restore_service.record_restore(alice, "restored on purpose")
        denied = [e for e in events.list_events(alice.conn) if e.action == CustodyAction.ACCESS_DENIED]
    assert denied and denied[-1].body["actor"]["name"] == "sam"


def test_a_user_witness_in_another_os_account_still_reports_the_rollback(
        stocked: VaultInfo, made: backup.BackupResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sam works from his own OS account (his own witness folder): the administrator cannot reach his witness, so
    after the recorded restore Sam's unlock still says his newest event is gone — intended (docs/SECURITY.md)."""
    sams_account = tmp_path / "sam-witness"
    mine = os.environ["ICSPA_WITNESS_DIR"]
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(sams_account))
    with stocked.session(Role.SUPERVISOR) as sam:
        cases.create_case(sam, CaseFields("2026/S-1", "Sam's case after the backup"))
    monkeypatch.setenv("ICSPA_WITNESS_DIR", mine)
    restore_service.restore(made.path, stocked.path, force=True)
    with stocked.session() as alice:
        restore_service.record_restore(alice, "restored the Monday backup")
        assert custody_verify.verify(alice).ok
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(sams_account))
    with stocked.session(Role.SUPERVISOR) as sam:
        assert any("the newest one this user saw" in w for w in sam.warnings), sam.warnings
        report = custody_verify.verify(sam)
        # (His folder has no agency witness at all — WITNESS_MISSING — as for any second account.)
        assert DamageKind.USER_WITNESS in {d.kind for d in report.damages}
        assert DamageKind.ROLLBACK not in {d.kind for d in report.damages}
        restored = [e for e in events.list_events(sam.conn) if e.action == CustodyAction.VAULT_RESTORED]
        assert restored  # what explains it is in the log he verifies
    # An administrator re-establishes Sam's witness in his account (docs/SECURITY.md), recorded; then it is clean.
    with stocked.session() as alice:
        reset = custody_service.reset_witness(alice, "Sam accepts the restore of the Monday backup")
        assert len(reset.set_aside) == 1
    with stocked.session(Role.SUPERVISOR) as sam:
        assert sam.warnings == []
        assert custody_verify.verify(sam).ok


def test_recording_is_idempotent_after_a_crash(stocked: VaultInfo, made: backup.BackupResult,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    later_activity(stocked)
    restore_service.restore(made.path, stocked.path, force=True)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError("power cut")

    with stocked.session() as alice:
        monkeypatch.setattr(custody_service, "make_checkpoint", crash)
        with pytest.raises(OSError):
            restore_service.record_restore(alice, "restored on purpose")
        monkeypatch.undo()
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(stocked.path.parent / "witness"))
    with stocked.session() as alice:
        assert restore_service.pending_restore(alice) is not None
        restore_service.record_restore(alice, "restored on purpose")
        log = events.list_events(alice.conn)
        assert custody_verify.verify(alice).ok
    assert sum(e.action == CustodyAction.VAULT_RESTORED for e in log) == 1


def test_a_note_that_does_not_fit_the_restored_log_is_refused(stocked: VaultInfo, made: backup.BackupResult) -> None:
    restore_service.restore(made.path, stocked.path, force=True)
    note = stocked.path / "restore.json"
    doc = json.loads(note.read_bytes())
    doc["tree_size"] += 5
    note.write_text(json.dumps(doc))
    with stocked.session() as alice, pytest.raises(VerificationFailed, match="does not begin"):
        restore_service.record_restore(alice, "restored on purpose")


# ---- tampered backups: refused before anything is written ----------------------------------------------
def _flip_blob(folder: Path) -> None:
    blob = max((folder / "vault/blobs").glob("*/*"), key=lambda p: p.stat().st_size)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))


def _edit_manifest(folder: Path) -> None:
    doc = json.loads((folder / "MANIFEST").read_bytes())
    doc["files"][0]["sha256"] = "0" * 64
    (folder / "MANIFEST").write_text(json.dumps(doc))


def _add_stray(folder: Path) -> None:
    (folder / "vault/blobs/evil.sh").write_text("#!/bin/sh\n")


def _drop_blob(folder: Path) -> None:
    next((folder / "vault/blobs").glob("*/*")).unlink()


def _link_blob(folder: Path) -> None:
    blob = next((folder / "vault/blobs").glob("*/*"))
    blob.unlink()
    blob.symlink_to("/etc/passwd")


def _truncate_manifest(folder: Path) -> None:
    data = (folder / "MANIFEST").read_bytes()
    (folder / "MANIFEST").write_bytes(data[: len(data) // 2])


def _swap_header(folder: Path) -> None:
    header = folder / "vault/vault.json"
    doc = json.loads(header.read_bytes())
    doc["vault_id"] = "00000000-0000-4000-8000-000000000000"
    header.write_text(json.dumps(doc))
    manifest = json.loads((folder / "MANIFEST").read_bytes())
    import hashlib

    for entry in manifest["files"]:
        if entry["path"] == "vault/vault.json":
            entry["size"], entry["sha256"] = header.stat().st_size, hashlib.sha256(header.read_bytes()).hexdigest()
    (folder / "MANIFEST").write_text(json.dumps(manifest))


@pytest.mark.parametrize("tamper", [_flip_blob, _edit_manifest, _add_stray, _drop_blob, _link_blob,
                                    _truncate_manifest, _swap_header])
def test_a_tampered_backup_is_refused_and_nothing_is_written(stocked: VaultInfo, made: backup.BackupResult,
                                                             tmp_path: Path, tamper: object) -> None:
    assert callable(tamper)
    tamper(made.path)
    before = tree_listing(stocked.path)
    with pytest.raises(RefusedInput, match="nothing was written"):
        backup.check_backup(made.path)
    with pytest.raises(RefusedInput):
        restore_service.restore(made.path, tmp_path / "new")
    with pytest.raises(RefusedInput):
        restore_service.restore(made.path, stocked.path, force=True)
    assert not (tmp_path / "new").exists()
    assert tree_listing(stocked.path) == before
    assert not list(tmp_path.glob(".icspa-restore-*")) and not list(stocked.path.parent.glob("vault.replaced-*"))


def test_a_restore_names_the_passphrase_users_of_the_backup(stocked: VaultInfo, made: backup.BackupResult,
                                                            tmp_path: Path) -> None:
    """The key slots travel with the database: every user of the backup unlocks the copy with their passphrase."""
    target = tmp_path / "copy"
    restore_service.restore(made.path, target)
    for role in Role:
        VaultInfo(target, stocked.recovery_key).session(role).lock()
    assert NAMES and PASSPHRASES


def test_every_unlock_says_a_restore_is_not_recorded_yet_until_it_is(vault: VaultInfo, tmp_path: Path) -> None:
    """Not only 'vault restore': any unlock (CLI command, desktop) of a restored vault says why the rollback
    warnings come, first, until an administrator records the restore."""
    out = tmp_path / "backups"
    out.mkdir()
    with vault.session() as admin:
        made = backup.backup(admin, out)
    target = tmp_path / "restored"
    restore_service.restore(made.path, target)
    with unlock(target, NAMES[Role.ADMINISTRATOR], PASSPHRASES[Role.ADMINISTRATOR]) as admin:
        assert "restored from a backup" in admin.warnings[0]
        restore_service.record_restore(admin, "restore drill, ticket 42")
    with unlock(target, NAMES[Role.ADMINISTRATOR], PASSPHRASES[Role.ADMINISTRATOR]) as admin:
        assert not any("restored from a backup" in w for w in admin.warnings)
