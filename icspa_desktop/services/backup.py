"""Backups of a whole vault made while it is in use (issue 14 item 3), and checking a backup folder.

**Backup.** One read transaction on a connection of its own fixes a snapshot of the database: the list of blobs
to copy and the custody log's head come from it, and ``sqlcipher_export`` writes exactly that state into a new
file under the same key (SQLCipher disabled its backup API for encrypted databases), so the key slots open the
copy. A blob published after the snapshot is not needed by the copy, and every blob the copy names is there:
blob files never change once published, so they are copied after the snapshot while ingest goes on. Everything
is written under a hidden name in the target folder, made durable, checked (the copy's database opens with the
master key and passes SQLCipher's integrity checks; it names the same blobs and log head as the snapshot; every
blob row has its file at its stored size), renamed, and recorded as a ``vault_backed_up`` custody event.
``MANIFEST`` lists every file with its size and SHA-256. Nothing is decrypted: the copy is as encrypted as the vault.

Restoring one: services/restore.py; the folder's format: services/backup_files.py.
"""


from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icspa_desktop.bundle import media
from icspa_desktop.crypto import keys
from icspa_desktop.custody import events
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.custody.merkle import Frontier
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import (
    Conflict,
    IcspaError,
    RefusedInput,
    UsageError,
    VaultError,
    VerificationFailed,
    _,
)
from icspa_desktop.domain.ids import new_id
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.files import DIR_MODE, fsync_dir, read_regular
from icspa_desktop.i18n import N_
from icspa_desktop.services.backup_files import (
    FAT_MAX_FILE,
    FORMAT,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    MAX_SMALL_FILE,
    NAME_PREFIX,
    PARTIAL_PREFIX,
    PER_FILE_OVERHEAD,
    SPACE_MARGIN,
    SYNC_EARLY,
    VAULT_DIR,
    Copier,
    Manifest,
    ManifestEntry,
    compare_entry,
    create_exclusive,
    free_space,
    hash_entry,
    inside,
    mib,
    out_of_space,
    read_small,
    stream_head_check,
    sync_tree,
    write_new,
)
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.layout import Dir, VaultLayout
from icspa_desktop.vault.migrations import schema_version
from icspa_desktop.vault.store import HEADER_FORMAT


# ---- results -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BackupResult:
    id: str
    path: Path
    files: int
    total_bytes: int
    blobs: int
    tree_size: int
    root_hash: bytes
    manifest_sha256: str
    event_index: int
    read_back: bool
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path), "files": self.files, "bytes": self.total_bytes,
                "blobs": self.blobs, "tree_size": self.tree_size,
                "root_hash": base64.b64encode(self.root_hash).decode("ascii"),
                "manifest_sha256": self.manifest_sha256, "custody_event": self.event_index,
                "read_back": self.read_back, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class CheckedBackup:
    """A backup whose every file matched its MANIFEST when it was read."""

    path: Path
    manifest: Manifest
    manifest_sha256: str



# ---- backup --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Snapshot:
    blobs: tuple[tuple[str, int, int], ...]  # (id, stored size, chunk size)
    head: Frontier
    schema_version: int
    header: bytes
    keyslots: bytes


def backup(session: Session, out_dir: Path, progress: ProgressCallback = no_progress,
           cancel: CancelToken | None = None, *, read_back: bool = False) -> BackupResult:
    """Write a verified, still-encrypted copy of the whole vault into a new folder inside ``out_dir``, while the
    vault stays in use; record it as a ``vault_backed_up`` custody event. ``read_back``: also read every copied
    file back from the medium and compare its SHA-256 with the MANIFEST. A failed or cancelled backup leaves
    nothing under the final name (and removes its hidden partial folder)."""
    cancel = cancel or CancelToken()
    session.require(Permission.READ, attempted="back up the vault")
    started = time.perf_counter()
    layout = session.vault.layout
    out_dir = out_dir.expanduser().absolute()
    if not out_dir.is_dir():
        raise UsageError(_("The folder {folder} does not exist (mount the medium first); no backup was made.",
                           folder=out_dir))
    if inside(out_dir, layout.root):
        raise UsageError(_("{folder} is inside the vault; choose a folder outside it (better: on another medium).",
                           folder=out_dir))
    backup_id = new_id()
    created = datetime.now(UTC).replace(microsecond=0)
    final = out_dir / f"{NAME_PREFIX}{created.strftime('%Y%m%dT%H%M%SZ')}-{backup_id[:8]}"
    if os.path.lexists(final):
        raise Conflict(_("{path} already exists; a backup never writes over anything.", path=final))
    raw_key = session.vault.subkey(keys.PURPOSE_SQLCIPHER)
    # A connection of its own: its read transaction holds the snapshot while the session's keeps writing (WAL).
    conn = db.open_database(layout.database, raw_key)
    try:
        needed, largest = _space_needed(conn, layout)
        _check_medium(out_dir, largest)
        free = free_space(out_dir)
        if free < needed:
            raise VaultError(_("Not enough free space in {folder}: the backup needs about {needed}, {free} is free; "
                               "nothing was written.", folder=out_dir, needed=mib(needed), free=mib(free)))
        cancel.check()
        temp = out_dir / f"{PARTIAL_PREFIX}{backup_id}"
        os.mkdir(temp, DIR_MODE)
        try:
            manifest = _write_backup(session, conn, raw_key, temp, backup_id, created, needed, progress, cancel,
                                     read_back)
            if os.path.lexists(final):
                raise Conflict(_("{path} appeared while the backup was written; the backup was not kept.",
                                 path=final))
            os.rename(temp, final)
        except BaseException as exc:
            shutil.rmtree(temp, ignore_errors=True)
            if out_of_space(exc):
                raise VaultError(_("{folder} ran out of space while the backup was written; nothing was kept. Free "
                                   "some space or use a larger medium.", folder=out_dir)) from exc
            raise
    finally:
        conn.close()
    fsync_dir(out_dir)
    manifest_bytes = manifest.to_bytes()
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    try:
        with session.transaction():
            event = session.record(EventDraft(
                CustodyAction.VAULT_BACKED_UP, result="verified", location=str(final),
                details={"backup_id": backup_id, "tree_size": manifest.tree_size,
                         "root_hash": base64.b64encode(manifest.root_hash).decode("ascii"),
                         "manifest_sha256": manifest_sha, "schema_version": manifest.schema_version,
                         "files": len(manifest.files), "bytes": manifest.total_bytes, "blobs": manifest.blobs,
                         "read_back": read_back}))
    except IcspaError as exc:
        raise VaultError(_("The backup {path} is complete and checked, but it could not be recorded in the chain of "
                           "custody: {error}", path=final, error=exc)) from exc
    return BackupResult(backup_id, final, len(manifest.files), manifest.total_bytes, manifest.blobs, manifest.tree_size,
                        manifest.root_hash, manifest_sha, event.index, read_back, time.perf_counter() - started)


def _space_needed(conn: db.Connection, layout: VaultLayout) -> tuple[int, int]:
    """What the backup will write, from the live database (blob files, the database, small files, a margin), and
    the size of its largest file."""
    blobs, count, biggest = conn.execute(
        "SELECT COALESCE(SUM(stored_size), 0), COUNT(*), COALESCE(MAX(stored_size), 0) FROM blobs").fetchone()
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0]) * int(conn.execute("PRAGMA page_size").fetchone()[0])
    small = sum(p.stat().st_size for p in (layout.header, layout.keyslots) if p.is_file())
    needed = int(blobs) + pages + small + (int(count) + 8) * (PER_FILE_OVERHEAD + 200) + SPACE_MARGIN
    return needed, max(int(biggest), pages)


def _check_medium(out_dir: Path, largest: int) -> None:
    """Refuse up front a read-only target, and a FAT32 one when a file of the vault is larger than FAT32 holds."""
    if os.statvfs(out_dir).f_flag & os.ST_RDONLY:
        raise VaultError(_("{folder} is read-only (write-protected or mounted read-only); nothing was written.",
                           folder=out_dir))
    fs_type, _mount_point = media.file_system_of(out_dir)
    if fs_type in media.FAT_TYPES and largest > FAT_MAX_FILE:
        raise VaultError(_("{folder} is a FAT32 file system, which holds at most 4 GiB − 1 per file; this vault has "
                           "a file of {size}. Use an exFAT, NTFS or ext4 medium; nothing was written.",
                           folder=out_dir, size=mib(largest)))


def _take_snapshot(session: Session, conn: db.Connection, raw_key: bytes, target: Path) -> _Snapshot:
    """Export the database and read what the copy needs from the same read transaction.

    The session's transaction lock is held from reading the key slots until the snapshot is fixed, so no action
    of this process (a new user's slot is saved inside its transaction) falls between the two; it is released
    before the export itself, so ingest goes on while the database is copied."""
    layout = session.vault.layout
    lock: Any = getattr(session.conn, "transaction_lock", None) or threading.RLock()
    lock.acquire()
    held = True
    try:
        header = read_small(layout.header, N_("The vault header"))
        slots = read_small(layout.keyslots, N_("The key-slot file"))

        def read(snap: db.Connection) -> _Snapshot:
            nonlocal held
            rows = snap.execute("SELECT id, stored_size, chunk_size FROM blobs ORDER BY id").fetchall()
            head = events.current_head(snap)
            version = schema_version(snap)
            lock.release()
            held = False
            return _Snapshot(tuple((str(r[0]), int(r[1]), int(r[2])) for r in rows), head, version, header, slots)

        return db.export_to(conn, target, raw_key, read)
    finally:
        if held:
            lock.release()


def _write_backup(session: Session, conn: db.Connection, raw_key: bytes, temp: Path, backup_id: str,
                  created: datetime, total: int, progress: ProgressCallback, cancel: CancelToken,
                  read_back: bool) -> Manifest:
    layout = session.vault.layout
    vault_dir = temp / VAULT_DIR
    os.mkdir(vault_dir, DIR_MODE)
    progress(0, total, _("Exporting the database"))
    snap = _take_snapshot(session, conn, raw_key, vault_dir / "metadata.db")
    cancel.check()
    write_new(vault_dir / "vault.json", snap.header)
    write_new(vault_dir / "keyslots.json", snap.keyslots)
    os.mkdir(vault_dir / "blobs", DIR_MODE)
    total = sum(size for _id, size, _chunk in snap.blobs) + sum(
        (vault_dir / n).stat().st_size for n in ("metadata.db", "vault.json", "keyslots.json"))
    copier = Copier(progress, total, cancel, _("Copying"))
    entries: list[ManifestEntry] = []
    written: list[Path] = []
    try:
        for name in ("metadata.db", "vault.json", "keyslots.json"):
            fd = os.open(vault_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                size, digest = copier.run(fd, None)
            finally:
                os.close(fd)
            entries.append(ManifestEntry(f"{VAULT_DIR}/{name}", size, digest))
            written.append(vault_dir / name)
        copier.message = _("Copying evidence files")
        entries.extend(_copy_blobs(layout, vault_dir / "blobs", snap.blobs, copier, written))
        copier.wait_synced()
    finally:
        copier.close()
    manifest = Manifest(backup_id, str(session.vault.header.vault_id), created.isoformat(), session.user.name,
                        snap.schema_version, snap.head.size, snap.head.root(),
                        tuple(sorted(entries, key=lambda e: e.path)))
    write_new(temp / MANIFEST, manifest.to_bytes())
    written.append(temp / MANIFEST)
    progress(copier.done, total, _("Making the copy durable"))
    sync_tree(temp, written)
    progress(copier.done, total, _("Checking the copy"))
    _check_copy(vault_dir, raw_key, snap)
    if read_back:
        _read_back(temp, manifest, progress, cancel)
    return manifest


def _copy_blobs(layout: VaultLayout, target: Path, blobs: tuple[tuple[str, int, int], ...], copier: Copier,
                written: list[Path]) -> Iterator[ManifestEntry]:
    """Copy the snapshot's blob files, opened without following links; each one's size and stream header are
    checked against its row (blobs never change once published, so the copy is the file the row names)."""
    fans: dict[str, Path] = {}
    with Dir.open_root(layout.root) as root, root.sub("blobs") as store:
        current: tuple[str, Dir] | None = None
        try:
            for blob_id, stored_size, chunk_size in blobs:
                fan = blob_id[:2]
                if current is None or current[0] != fan:
                    if current is not None:
                        current[1].close()
                    current = (fan, store.sub(fan))
                if fan not in fans:
                    fans[fan] = target / fan
                    os.mkdir(fans[fan], DIR_MODE)
                shown = f"The evidence file blobs/{fan}/{blob_id}"
                try:
                    src = os.open(blob_id, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current[1].fd)
                except FileNotFoundError:
                    raise VaultError(_("{file} is missing; no backup was made. Run 'icspa evidence verify' and "
                                       "'icspa vault check'.", file=shown)) from None
                try:
                    st = os.fstat(src)
                    if not stat.S_ISREG(st.st_mode) or st.st_size != stored_size:
                        raise VaultError(_("{file} has {size} bytes, the database says {recorded}; no backup "
                                           "was made. Run 'icspa evidence verify'.",
                                           file=shown, size=st.st_size, recorded=stored_size))
                    with contextlib.suppress(AttributeError, OSError):
                        os.posix_fadvise(src, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                    path = fans[fan] / blob_id
                    dst = create_exclusive(path)
                    written.append(path)
                    try:
                        size, digest = copier.run(src, dst, stream_head_check(shown, chunk_size), kernel=True)
                    except BaseException:
                        os.close(dst)
                        raise
                    if size >= SYNC_EARLY:
                        copier.sync_later(dst)
                    else:  # small files: the one syncfs at the end is cheaper than an fsync each
                        os.close(dst)
                finally:
                    os.close(src)
                if size != stored_size:
                    raise VaultError(_("{file} changed size while it was copied; no backup was made.", file=shown))
                yield ManifestEntry(f"{VAULT_DIR}/blobs/{fan}/{blob_id}", size, digest)
        finally:
            if current is not None:
                current[1].close()


def _drop_cache(path: Path) -> None:
    """Ask the kernel to forget the file's cached pages, so the next read comes from the medium (a hint)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _check_copy(vault_dir: Path, raw_key: bytes, snap: _Snapshot) -> None:
    """The copy's database opens with the master key, passes SQLCipher's integrity checks, holds the snapshot's
    log head and schema version, and every blob row it holds has its file at the stored size."""
    database = vault_dir / "metadata.db"
    _drop_cache(database)
    try:
        copy = db.open_export(database, raw_key)
    except VaultError as exc:
        raise VerificationFailed(_("The backup copy failed its check: {error} No backup was kept.", error=exc)) from exc
    try:
        problems = db.integrity_check(copy)
        rows = {(str(r[0]), int(r[1])) for r in copy.execute("SELECT id, stored_size FROM blobs").fetchall()}
        head = Frontier()
        for (digest,) in copy.execute("SELECT leaf_hash FROM custody_events ORDER BY idx"):
            head.push(bytes(digest))
        version = schema_version(copy)
    except db.DatabaseError as exc:
        problems = [str(exc)]
    finally:
        copy.close()
    if problems:
        raise VerificationFailed(_("The backup copy's database failed its integrity check ({problem}); no backup was "
                                   "kept.", problem=problems[0]))
    if rows != {(b, size) for b, size, _chunk in snap.blobs} or version != snap.schema_version or (
            head.size, head.root()) != (snap.head.size, snap.head.root()):
        raise VerificationFailed(_("The backup copy's database is not the snapshot it was made from; no backup was "
                                   "kept."))
    for blob_id, size in rows:
        try:
            st = os.lstat(vault_dir / "blobs" / blob_id[:2] / blob_id)
        except FileNotFoundError:
            raise VerificationFailed(_("The backup copy lacks the evidence file {blob}; no backup was kept.",
                                       blob=blob_id)) from None
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            raise VerificationFailed(_("The backup copy of evidence file {blob} has {size} bytes, not {recorded}; "
                                       "no backup was kept.", blob=blob_id, size=st.st_size, recorded=size))


def _read_back(folder: Path, manifest: Manifest, progress: ProgressCallback, cancel: CancelToken) -> None:
    """Read every copied file back (its cached pages dropped first) and compare it with the MANIFEST."""
    copier = Copier(progress, manifest.total_bytes, cancel, _("Reading the copy back"))
    try:
        for entry in manifest.files:
            path = folder / entry.path
            _drop_cache(path)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                size, digest = copier.run(fd, None)
            finally:
                os.close(fd)
            if (size, digest) != (entry.size, entry.sha256):
                raise VerificationFailed(_("The backup copy of {path} does not read back as written; no backup was "
                                           "kept (check the medium).", path=entry.path))
    finally:
        copier.close()


# ---- checking a backup ---------------------------------------------------------------------------
def check_backup(backup_dir: Path, progress: ProgressCallback = no_progress,
                 cancel: CancelToken | None = None) -> CheckedBackup:
    """Read every file of a backup and compare it with its MANIFEST; RefusedInput (nothing is written) when a file
    is missing, unlisted, a link, of another size or hash, or the MANIFEST itself is malformed."""
    cancel = cancel or CancelToken()
    backup_dir = backup_dir.expanduser().absolute()
    try:
        st = os.lstat(backup_dir)
    except FileNotFoundError:
        raise UsageError(_("There is no backup at {path}.", path=backup_dir)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise RefusedInput(_("{path} is not a backup folder (a link or a file); nothing was written.",
                             path=backup_dir))
    with Dir.open_root(backup_dir) as root:
        untrusted_manifest = _read_manifest(root, backup_dir)
        manifest = Manifest.parse(untrusted_manifest)
        found = _walk_backup(root, ())
    listed = {f.path for f in manifest.files}
    unlisted = sorted(found - listed)
    if unlisted:
        raise RefusedInput(_("The backup holds {file}, which its {manifest} does not list; nothing was written.",
                             file=unlisted[0], manifest=MANIFEST))
    absent = sorted(listed - found)
    if absent:
        raise RefusedInput(_("The backup lacks {file}, which its {manifest} lists; nothing was written.",
                             file=absent[0], manifest=MANIFEST))
    copier = Copier(progress, manifest.total_bytes, cancel, _("Checking the backup"))
    try:
        for entry in manifest.files:
            size, digest = hash_entry(backup_dir, entry, copier, None)
            compare_entry(entry, size, digest)
    finally:
        copier.close()
    _check_header(backup_dir / VAULT_DIR / "vault.json", manifest)
    return CheckedBackup(backup_dir, manifest, hashlib.sha256(untrusted_manifest).hexdigest())


def _read_manifest(root: Dir, backup_dir: Path) -> bytes:
    try:
        fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=root.fd)
    except FileNotFoundError:
        raise RefusedInput(_("{path} has no {manifest}: it is not a backup of this program, or it is "
                             "incomplete; nothing was written.", path=backup_dir, manifest=MANIFEST)) from None
    except OSError as exc:
        raise RefusedInput(_("The {manifest} of {path} cannot be opened ({cause}; a link is refused); "
                             "nothing was written.",
                             manifest=MANIFEST, path=backup_dir, cause=exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
            raise RefusedInput(_("The {manifest} of {path} is not a regular file of a sensible size; nothing "
                                 "was written.", manifest=MANIFEST, path=backup_dir))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            if sum(len(c) for c in chunks) > MAX_MANIFEST_BYTES:
                raise RefusedInput(_("The {manifest} of {path} is too large; nothing was written.",
                                     manifest=MANIFEST, path=backup_dir))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _walk_backup(directory: Dir, prefix: tuple[str, ...]) -> set[str]:
    """Every regular file under the backup folder (but MANIFEST), never following a link; anything else refused."""
    found: set[str] = set()
    for entry in directory.entries():
        parts = (*prefix, entry.name)
        shown = "/".join(parts)
        if entry.is_symlink():
            raise RefusedInput(_("The backup holds a link, {file}; nothing was written.", file=shown))
        if entry.is_dir(follow_symlinks=False):
            if len(parts) > 3:
                raise RefusedInput(_("The backup holds an unexpected folder, {file}; nothing was written.",
                                     file=shown))
            with directory.sub(entry.name) as sub:
                found |= _walk_backup(sub, parts)
        elif entry.is_file(follow_symlinks=False):
            if parts != (MANIFEST,):
                found.add(shown)
        else:
            raise RefusedInput(_("The backup holds {file}, which is not a regular file; nothing was written.",
                                 file=shown))
    return found


def _check_header(path: Path, manifest: Manifest) -> None:
    try:
        doc = json.loads(read_regular(path, "vault header", MAX_SMALL_FILE))
    except (OSError, ValueError, RefusedInput):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != HEADER_FORMAT or doc.get("vault_id") != manifest.vault_id:
        raise RefusedInput(_("The backup's vault header does not name the vault its {manifest} names; nothing was "
                             "written.", manifest=MANIFEST))


__all__ = ["FORMAT", "MANIFEST", "BackupResult", "CheckedBackup", "Manifest", "ManifestEntry", "backup",
           "check_backup", "free_space"]
