"""``services.backup.backup`` on real vaults: consistent while an ingest runs, checked, recorded, all or nothing."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from icspa_desktop.crypto import stream
from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import Cancelled, UsageError, VaultError
from icspa_desktop.domain.evidence import FixityResult
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.services import backup, custody_verify, evidence, fixity, search, vault_service
from icspa_desktop.services import restore as restore_service
from icspa_desktop.services.session import Session, unlock
from tests.backup.conftest import CASE, write_files
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo


def blob_files(vault_path: Path) -> set[str]:
    return {p.name for p in (vault_path / "blobs").glob("*/*")}


def item_count(session: Session) -> int:
    return len(evidence.list_items(session, CASE))


def test_a_backup_taken_during_an_ingest_is_one_consistent_snapshot(stocked: VaultInfo, out: Path,
                                                                    tmp_path: Path) -> None:
    """An ingest runs in another thread on the same session throughout the backup, and commits items while the
    evidence files are being copied: the copy holds exactly the snapshot's items, each of which verifies."""
    sources = write_files(tmp_path / "more", [300_000 + n for n in range(40)], "late")
    committed = threading.Semaphore(0)
    stop = threading.Event()
    failures: list[BaseException] = []
    with stocked.session() as alice:
        before = item_count(alice)

        def ingest() -> None:
            try:
                for source in sources:
                    if stop.is_set():
                        return
                    evidence.add_files(alice, CASE, [source])
                    committed.release()
            except BaseException as exc:
                failures.append(exc)

        waited: list[bool] = []

        def progress(done: int, total: int, message: str) -> None:
            # While the first evidence file is copied (after the snapshot), let the ingest commit two more items.
            if message == "Copying evidence files" and not waited:
                waited.append(True)
                assert committed.acquire(timeout=60) and committed.acquire(timeout=60)

        worker = threading.Thread(target=ingest)
        worker.start()
        assert committed.acquire(timeout=60)  # the ingest is running before the backup starts
        try:
            result = backup.backup(alice, out, progress)
        finally:
            stop.set()
            worker.join()
        assert not failures
        after = item_count(alice)
        live_log = events.count(alice.conn)
        recorded = [e for e in events.list_events(alice.conn) if e.action == CustodyAction.VAULT_BACKED_UP]
    assert waited
    manifest = backup.check_backup(result.path).manifest
    snapshot_items = manifest.blobs
    assert before + 1 <= snapshot_items <= after - 2  # ingest commits on both sides of the snapshot
    assert manifest.tree_size == result.tree_size < live_log
    assert [e.body["details"]["backup_id"] for e in recorded] == [result.id]
    details = recorded[0].body["details"]
    assert details["manifest_sha256"] == hashlib.sha256((result.path / "MANIFEST").read_bytes()).hexdigest()
    assert details["tree_size"] == result.tree_size and recorded[0].body["location"] == str(result.path)

    # The copy opens, verifies and every item in it verifies.
    copy = tmp_path / "copy"
    restore_service.restore(result.path, copy)
    assert blob_files(copy) == {Path(f.path).name for f in manifest.files if "/blobs/" in f.path}
    with unlock(copy, ADMIN, ADMIN_PASS) as admin:
        assert admin.vault.quarantined == ()  # no blob without a row, no row without its blob
        restore_service.record_restore(admin, "test the backup taken during an ingest")
        assert vault_service.check_vault(admin).ok
        assert custody_verify.verify(admin).ok
        reports = fixity.verify_case(admin, CASE)
        assert len(reports) == snapshot_items
        assert {r.result for r in reports} == {FixityResult.OK}
        assert search.search(admin, "late").items  # the full-text index came along


def test_the_backup_folder_holds_the_vault_and_a_manifest_of_every_file(stocked: VaultInfo, out: Path) -> None:
    with stocked.session() as alice:
        result = backup.backup(alice, out, read_back=True)
    assert [p.name for p in out.iterdir()] == [result.path.name]
    assert result.path.name.startswith("icspa-backup-") and result.path.name.endswith(result.id[:8])
    doc = json.loads((result.path / "MANIFEST").read_bytes())
    assert doc["format"] == "icspa-backup/v1" and doc["backup_id"] == result.id
    on_disk = sorted(str(p.relative_to(result.path)) for p in result.path.rglob("*") if p.is_file())
    assert on_disk == sorted(["MANIFEST", *(f["path"] for f in doc["files"])])
    for entry in doc["files"]:
        data = (result.path / entry["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
    assert result.blobs == 6 and result.read_back
    # Still encrypted: the database is SQLCipher, the blobs are STREAM files, and nothing is in clear.
    assert not (result.path / "vault/metadata.db").read_bytes().startswith(b"SQLite format 3")
    for blob in (result.path / "vault/blobs").glob("*/*"):
        stream.parse_header(blob.read_bytes()[: stream.HEADER_LEN])
    assert all(p.stat().st_mode & 0o077 == 0 for p in result.path.rglob("*"))
    assert not (result.path / "vault/metadata.db-wal").exists()


def test_refused_targets(stocked: VaultInfo, out: Path, tmp_path: Path) -> None:
    with stocked.session() as alice:
        with pytest.raises(UsageError, match="inside the vault"):
            backup.backup(alice, stocked.path / "blobs")
        with pytest.raises(UsageError, match="inside the vault"):
            backup.backup(alice, stocked.path)
        with pytest.raises(UsageError, match="does not exist"):
            backup.backup(alice, tmp_path / "not-mounted")
        link = tmp_path / "link-into-vault"
        link.symlink_to(stocked.path / "staging")
        with pytest.raises(UsageError, match="inside the vault"):
            backup.backup(alice, link)
    assert list(out.iterdir()) == []


def test_too_little_free_space_is_refused_up_front(stocked: VaultInfo, out: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The free-space probe only (tests/backup/test_cli.py fills a real tmpfs): 1 MiB free for a 4 MiB vault."""
    monkeypatch.setattr(backup, "free_space", lambda _path: 1 << 20)
    with stocked.session() as alice, pytest.raises(VaultError, match="Not enough free space"):
        backup.backup(alice, out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("when", ["Exporting the database", "Copying", "Copying evidence files",
                                  "Checking the copy"])
def test_a_cancelled_backup_leaves_nothing(stocked: VaultInfo, out: Path, when: str) -> None:
    token = CancelToken()
    seen: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(message)
        if message == when:
            token.cancel()

    with stocked.session() as alice:
        with pytest.raises(Cancelled):
            backup.backup(alice, out, progress, token, read_back=True)
        assert not any(e.action == CustodyAction.VAULT_BACKED_UP for e in events.list_events(alice.conn))
    assert when in seen
    assert list(out.iterdir()) == []


def test_a_damaged_vault_is_not_backed_up_as_if_whole(stocked: VaultInfo, out: Path) -> None:
    victim = sorted((stocked.path / "blobs").glob("*/*"), key=lambda p: p.stat().st_size)[-1]
    with victim.open("r+b") as handle:
        handle.truncate(victim.stat().st_size - 1)
    with stocked.session() as alice, pytest.raises(VaultError, match="database says"):
        backup.backup(alice, out)
    assert list(out.iterdir()) == []
    os.unlink(victim)
    with stocked.session() as alice, pytest.raises(VaultError, match="is missing"):
        backup.backup(alice, out)
    assert list(out.iterdir()) == []


def test_every_role_may_back_up_and_the_auditor_s_backup_is_recorded(stocked: VaultInfo, out: Path) -> None:
    with stocked.session(Role.AUDITOR) as audrey:
        result = backup.backup(audrey, out)
        event = events.list_events(audrey.conn)[-1]
    assert event.action == CustodyAction.VAULT_BACKED_UP and event.body["actor"]["name"] == "audrey"
    assert event.index == result.event_index


def test_the_copy_falls_back_to_user_space_between_file_systems(stocked: VaultInfo, out: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """copy_file_range refuses some pairs of file systems (EXDEV, e.g. ext4 to a FAT stick on newer kernels)."""
    import errno

    calls: list[int] = []

    def refuse(*_args: object) -> int:
        calls.append(1)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    with stocked.session() as alice:
        result = backup.backup(alice, out, read_back=True)
    assert len(calls) == 1  # tried once, then user space for the rest
    assert backup.check_backup(result.path).manifest.blobs == 6


def test_a_fat32_medium_too_small_per_file_is_refused_up_front(stocked: VaultInfo, out: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The file-system probe is monkeypatched (no vfat can be mounted here): FAT32 with a limit below the 3 MiB blob."""
    from icspa_desktop.bundle import media

    monkeypatch.setattr(media, "file_system_of", lambda _folder: ("vfat", str(out)))
    monkeypatch.setattr(backup, "FAT_MAX_FILE", 1 << 20)
    with stocked.session() as alice, pytest.raises(VaultError, match="FAT32"):
        backup.backup(alice, out)
    assert list(out.iterdir()) == []
    monkeypatch.setattr(backup, "FAT_MAX_FILE", 16 << 20)
    with stocked.session() as alice:
        backup.backup(alice, out)
