"""Backups of a whole vault made while it is in use, and their restore (issue 14 item 3).

**Backup.** One read transaction on a connection of its own fixes a snapshot of the database: the list of blobs
to copy and the custody log's head come from it, and ``sqlcipher_export`` writes exactly that state into a new
file under the same key (SQLCipher disabled its backup API for encrypted databases), so the key slots open the
copy. A blob published after the snapshot is not needed by the copy, and every blob the copy names is there:
blob files never change once published, so they are copied after the snapshot while ingest goes on. Everything
is written under a hidden name in the target folder, made durable, checked (the copy's database opens with the
master key and passes SQLCipher's integrity checks; it names the same blobs and log head as the snapshot; every
blob row has its file at its stored size), renamed, and recorded as a ``vault_backed_up`` custody event.
``MANIFEST`` lists every file with its size and SHA-256. Nothing is decrypted: the copy is as encrypted as the vault.

**Restore.** The backup's ``MANIFEST`` is checked first (every file read and hashed, nothing unlisted, no links)
before anything is written; the copy is put in place under a hidden name and renamed, and an existing vault is
moved aside, never deleted (DESIGN §2: opening never destroys). The restored log is older than the witnesses kept
outside the vault, so the first administrator to unlock it records a signed ``vault_restored`` event with the
reason (``record_restore``) and replaces this OS account's witnesses through the administrators' witness
replacement — ``custody verify`` is then clean and the restore stays in the log (docs/SECURITY.md).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from icspa_desktop.bundle import media
from icspa_desktop.crypto import keys, stream
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events, user_witness, userstate
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.custody.merkle import Frontier
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import (
    Conflict,
    IcspaError,
    RefusedInput,
    UsageError,
    VaultBusy,
    VaultError,
    VerificationFailed,
    _,
    english,
)
from icspa_desktop.domain.ids import new_id
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.files import DIR_MODE, FILE_MODE, fsync_dir, read_full, read_regular, syncfs, write_all
from icspa_desktop.i18n import N_
from icspa_desktop.services import agency
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services import session as session_service
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.layout import Dir, VaultLayout
from icspa_desktop.vault.lockfile import VaultLock
from icspa_desktop.vault.migrations import schema_version
from icspa_desktop.vault.store import HEADER_FORMAT

FORMAT = "icspa-backup/v1"
MANIFEST = "MANIFEST"
VAULT_DIR = "vault"  # the vault's files inside a backup folder
NAME_PREFIX = "icspa-backup-"
PARTIAL_PREFIX = ".icspa-backup-partial-"
RESTORE_PREFIX = ".icspa-restore-"
RESTORE_MARKER = session_service.RESTORE_MARKER  # in a restored vault until its restore is recorded
MARKER_FORMAT = "icspa-restore/v1"
ASIDE_MARK = ".replaced-"  # PATH.replaced-<UTC time>: an existing vault moved aside by a restore

# Bounds on what is read from a backup before it is trusted.
MAX_MANIFEST_BYTES = 128 << 20
MAX_FILE_BYTES = 1 << 50
MAX_SMALL_FILE = 16 << 20  # vault.json, keyslots.json, restore.json
_BUF_SIZE = 4 << 20
_SYNC_EARLY = 1 << 20  # files at least this large are fsynced while the next one is copied
# Free space asked for beyond the bytes copied: file-system blocks, directories, the MANIFEST.
_SPACE_MARGIN = 1 << 20
_FAT_MAX_FILE = media.FAT_MAX_FILE
_PER_FILE_OVERHEAD = 4096

_ENTRY_RE = re.compile(r"^vault/(?:vault\.json|keyslots\.json|metadata\.db|blobs/([0-9a-f]{2})/\1[0-9a-f]{30})$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_REQUIRED = ("vault/vault.json", "vault/keyslots.json", "vault/metadata.db")


# ---- the manifest --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str  # relative to the backup folder, "/"-separated
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``MANIFEST`` states: the backup, the snapshot it holds, and every file with its size and SHA-256."""

    backup_id: str
    vault_id: str
    created_at: str
    created_by: str
    schema_version: int
    tree_size: int
    root_hash: bytes
    files: tuple[ManifestEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def blobs(self) -> int:
        return sum(1 for f in self.files if f.path.startswith(f"{VAULT_DIR}/blobs/"))

    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "backup_id": self.backup_id, "vault_id": self.vault_id,
               "created_at": self.created_at, "created_by": self.created_by, "schema_version": self.schema_version,
               "tree_size": self.tree_size, "root_hash": base64.b64encode(self.root_hash).decode("ascii"),
               "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files]}
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def parse(cls, untrusted: bytes) -> Manifest:
        """Parse and bound a MANIFEST read from a backup; RefusedInput for anything malformed."""
        def refuse(why: str) -> RefusedInput:
            return RefusedInput(_("The backup's {manifest} is not valid ({why}); nothing was written.",
                                  manifest=MANIFEST, why=why))

        try:
            doc = json.loads(untrusted)
        except ValueError:
            raise refuse(_("not JSON")) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise refuse(_("not an {format} manifest", format=FORMAT))
        try:
            backup_id, vault_id = str(doc["backup_id"]), str(doc["vault_id"])
            created_at, created_by = str(doc["created_at"]), str(doc["created_by"])
            version, tree_size = doc["schema_version"], doc["tree_size"]
            root = base64.b64decode(str(doc["root_hash"]), validate=True)
            raw_files = doc["files"]
        except (KeyError, ValueError, TypeError):
            raise refuse(_("a field is missing or malformed")) from None
        if not (_ID_RE.fullmatch(backup_id) and _ID_RE.fullmatch(vault_id)):
            raise refuse(_("a malformed id"))
        if not (_int_in(version, 0, 10_000) and _int_in(tree_size, 0, 1 << 48) and len(root) == 32):
            raise refuse(_("a malformed schema version, tree size or root hash"))
        if not isinstance(raw_files, list) or len(raw_files) > 50_000_000:
            raise refuse(_("no file list"))
        files: list[ManifestEntry] = []
        seen: set[str] = set()
        for raw in raw_files:
            if not isinstance(raw, dict):
                raise refuse(_("a malformed file entry"))
            path, size, digest = raw.get("path"), raw.get("size"), raw.get("sha256")
            if not (isinstance(path, str) and _ENTRY_RE.fullmatch(path)):
                raise refuse(_("a file name that is not part of a vault: {name!r}", name=str(path)[:80]))
            if not (_int_in(size, 0, MAX_FILE_BYTES) and isinstance(digest, str) and _SHA256_RE.fullmatch(digest)):
                raise refuse(_("a malformed size or SHA-256 for {path}", path=path))
            if path in seen:
                raise refuse(_("{path} is listed twice", path=path))
            seen.add(path)
            files.append(ManifestEntry(path, int(size), digest))
        missing = [p for p in _REQUIRED if p not in seen]
        if missing:
            raise refuse(f"{missing[0]} is not listed")
        return cls(backup_id, vault_id, created_at, created_by, int(version), int(tree_size), root, tuple(files))


def _int_in(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


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


@dataclass(frozen=True, slots=True)
class RestoreResult:
    backup_id: str
    vault_id: str
    path: Path
    set_aside: Path | None  # the vault that was at ``path`` before, moved aside (``--force``)
    files: int
    total_bytes: int
    tree_size: int
    manifest_sha256: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.backup_id, "vault_id": self.vault_id, "path": str(self.path),
                "set_aside": None if self.set_aside is None else str(self.set_aside), "files": self.files,
                "bytes": self.total_bytes, "tree_size": self.tree_size, "manifest_sha256": self.manifest_sha256,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class PendingRestore:
    """The note a restore leaves in the vault until its first unlock records it (``restore.json``)."""

    backup_id: str
    vault_id: str
    manifest_sha256: str
    backup_created_at: str
    backup_created_by: str
    tree_size: int
    root_hash: bytes
    restored_at: str
    restored_from: str
    set_aside: str | None

    def to_json(self) -> dict[str, Any]:
        return {"format": MARKER_FORMAT, "backup_id": self.backup_id, "vault_id": self.vault_id,
                "manifest_sha256": self.manifest_sha256, "backup_created_at": self.backup_created_at,
                "backup_created_by": self.backup_created_by, "tree_size": self.tree_size,
                "root_hash": base64.b64encode(self.root_hash).decode("ascii"), "restored_at": self.restored_at,
                "restored_from": self.restored_from, "set_aside": self.set_aside}


@dataclass(frozen=True, slots=True)
class RestoreRecord:
    """What ``record_restore`` did: the signed event, the checkpoint that replaced the agency witness, and the
    witnesses of this OS account it set aside (renamed, kept)."""

    event_index: int
    backup_id: str
    tree_size_restored: int
    witness_tree_size: int | None  # the largest tree size a replaced witness had seen
    checkpoint_id: int | None
    user_witnesses_set_aside: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"custody_event": self.event_index, "backup_id": self.backup_id,
                "tree_size_restored": self.tree_size_restored, "witness_tree_size": self.witness_tree_size,
                "checkpoint": self.checkpoint_id, "user_witnesses_set_aside": list(self.user_witnesses_set_aside)}


# ---- file helpers --------------------------------------------------------------------------------
def free_space(path: Path) -> int:
    """Bytes an unprivileged user may still write on the file system holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _out_of_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, db.DatabaseError) and "full" in str(exc)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"





def _sync_tree(root: Path, files: list[Path]) -> None:
    """Make every file and folder under ``root`` durable."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if syncfs(fd):
            return
    finally:
        os.close(fd)
    for path in files:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
    for directory in sorted({p.parent for p in files} | {root}, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(directory)


def _create(path: Path) -> int:
    """A new file, owner-only from its first byte; never an existing one, never through a link."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)


def _write_new(path: Path, data: bytes) -> None:
    fd = _create(path)
    try:
        write_all(fd, memoryview(data))
    finally:
        os.close(fd)


def _read_small(path: Path, what: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise VaultError(_("{what} {path} cannot be read ({cause}); no backup was made.",
                           what=_(what), path=path, cause=exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SMALL_FILE:
            raise VaultError(_("{what} {path} is not a regular file of a sensible size; no backup was made.",
                               what=_(what), path=path))
        data = os.read(fd, MAX_SMALL_FILE + 1)
    finally:
        os.close(fd)
    return data


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


# Errors of copy_file_range(2) that mean "not between these two files" (another file system, an old kernel):
# the copy then goes through user space.
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


class _Copier:
    """Copies (or only reads) files while hashing them, so that a copy costs about the larger of its I/O and its
    SHA-256, not their sum (hashlib and file I/O release the GIL).

    ``run(kernel=True)``: the kernel copies (``copy_file_range``, as ``cp`` does: no pass through user space) while
    a helper thread reads the same source from the page cache and hashes it — for the vault's own files, which
    never change once written. Otherwise each buffer is read once, then hashed in the helper thread while it is
    written and the next one read: the hash is of exactly the bytes written (restore, whose source is untrusted).
    Measured on one 256 MiB file, fsynced: 0.30 s kernel copy + hash, 0.40 s through user space, 0.19 s ``cp -a`` +
    ``sync -f``. A whole 1 GiB vault (``./dev.sh bench backup``, two runs): 776 and 552 MB/s, 0.43x and 0.86x
    ``cp -a`` + ``sync -f`` — SHA-256 of every byte (~2 GB/s on one core) shares the two cores with the copy."""

    def __init__(self, progress: ProgressCallback, total: int, cancel: CancelToken, message: str) -> None:
        self._buffers = (bytearray(_BUF_SIZE), bytearray(_BUF_SIZE))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-hash")
        self._progress = progress
        self._cancel = cancel
        self._kernel = hasattr(os, "copy_file_range")
        self._syncer: ThreadPoolExecutor | None = None
        self._syncs: list[Future[None]] = []
        self.total = total
        self.done = 0
        self.message = message

    def run(self, src: int, dst: int | None, head_check: Callable[[bytes], None] | None = None, *,
            kernel: bool = False) -> tuple[int, str]:
        """Copy ``src`` to ``dst`` (None: only read) from offset 0; (bytes, SHA-256 hex)."""
        if dst is not None and kernel and self._kernel:
            done_before = self.done
            try:
                return self._run_kernel(src, dst, head_check)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                self._kernel = False  # not between these file systems: user space from now on
                self.done = done_before
                os.ftruncate(dst, 0)
                os.lseek(dst, 0, os.SEEK_SET)
                os.lseek(src, 0, os.SEEK_SET)
        return self._run_user(src, dst, head_check)

    def _run_user(self, src: int, dst: int | None, head_check: Callable[[bytes], None] | None) -> tuple[int, str]:
        digest = hashlib.sha256()
        pending: Future[None] | None = None
        size, index = 0, 0
        try:
            while True:
                self._cancel.check()
                view = memoryview(self._buffers[index])
                n = read_full(src, view)
                if pending is not None:
                    pending.result()
                    pending = None
                if n == 0:
                    break
                chunk = view[:n]
                if head_check is not None and size == 0:
                    head_check(bytes(chunk[: stream.HEADER_LEN]))
                pending = self._pool.submit(digest.update, chunk)
                if dst is not None:
                    write_all(dst, chunk)
                size += n
                self.done += n
                self._progress(self.done, self.total, self.message)
                index ^= 1
        finally:
            if pending is not None:
                with contextlib.suppress(BaseException):
                    pending.result()
        return size, digest.hexdigest()

    def _run_kernel(self, src: int, dst: int, head_check: Callable[[bytes], None] | None) -> tuple[int, str]:
        if head_check is not None:
            head_check(os.pread(src, stream.HEADER_LEN, 0))
        digest = hashlib.sha256()
        stop = threading.Event()
        hashing = self._pool.submit(self._hash_all, src, digest, stop)
        copied = 0
        try:
            while True:
                self._cancel.check()
                n = os.copy_file_range(src, dst, 2 * _BUF_SIZE, copied, copied)
                if n == 0:
                    break
                copied += n
                self.done += n
                self._progress(self.done, self.total, self.message)
        except BaseException:
            stop.set()
            with contextlib.suppress(BaseException):
                hashing.result()
            raise
        hashed = hashing.result()
        if hashed != copied:
            raise VaultError(_("A file changed size while it was copied; no backup was made."))
        return copied, digest.hexdigest()

    def _hash_all(self, src: int, digest: Any, stop: threading.Event) -> int:
        view = memoryview(self._buffers[0])
        offset = 0
        while not stop.is_set():
            n = os.preadv(src, [view], offset)
            if n == 0:
                break
            digest.update(view[:n])
            offset += n
        return offset

    def sync_later(self, fd: int) -> None:
        """fsync and close ``fd`` in another thread, while the next file is copied: the write-back of one file
        overlaps the copy of the next, and the final syncfs has little left to wait for."""
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-sync")
        self._syncs.append(self._syncer.submit(_fsync_close, fd))

    def wait_synced(self) -> None:
        """Wait for every ``sync_later``; the first failure is raised."""
        syncs, self._syncs = self._syncs, []
        failure: BaseException | None = None
        for done in syncs:
            try:
                done.result()
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def close(self) -> None:
        with contextlib.suppress(BaseException):
            self.wait_synced()
        self._pool.shutdown(wait=True)
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stream_head_check(where: str, chunk_size: int | None) -> Callable[[bytes], None]:
    def check(head: bytes) -> None:
        try:
            found = stream.parse_header(head)
        except stream.StreamError as exc:
            raise VaultError(_("{where} is not an encrypted evidence file ({error}).", where=where,
                               error=stream.DAMAGE.text(str(exc)))) from None
        if chunk_size is not None and found != chunk_size:
            raise VaultError(_("{where} has chunk size {found} in its header, the database says {recorded}.",
                               where=where, found=found, recorded=chunk_size))
    return check


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
    if _inside(out_dir, layout.root):
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
                               "nothing was written.", folder=out_dir, needed=_mib(needed), free=_mib(free)))
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
            if _out_of_space(exc):
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
    needed = int(blobs) + pages + small + (int(count) + 8) * (_PER_FILE_OVERHEAD + 200) + _SPACE_MARGIN
    return needed, max(int(biggest), pages)


def _check_medium(out_dir: Path, largest: int) -> None:
    """Refuse up front a read-only target, and a FAT32 one when a file of the vault is larger than FAT32 holds."""
    if os.statvfs(out_dir).f_flag & os.ST_RDONLY:
        raise VaultError(_("{folder} is read-only (write-protected or mounted read-only); nothing was written.",
                           folder=out_dir))
    fs_type, _mount_point = media.file_system_of(out_dir)
    if fs_type in media.FAT_TYPES and largest > _FAT_MAX_FILE:
        raise VaultError(_("{folder} is a FAT32 file system, which holds at most 4 GiB − 1 per file; this vault has "
                           "a file of {size}. Use an exFAT, NTFS or ext4 medium; nothing was written.",
                           folder=out_dir, size=_mib(largest)))


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
        header = _read_small(layout.header, N_("The vault header"))
        slots = _read_small(layout.keyslots, N_("The key-slot file"))

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
    _write_new(vault_dir / "vault.json", snap.header)
    _write_new(vault_dir / "keyslots.json", snap.keyslots)
    os.mkdir(vault_dir / "blobs", DIR_MODE)
    total = sum(size for _id, size, _chunk in snap.blobs) + sum(
        (vault_dir / n).stat().st_size for n in ("metadata.db", "vault.json", "keyslots.json"))
    copier = _Copier(progress, total, cancel, _("Copying"))
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
    _write_new(temp / MANIFEST, manifest.to_bytes())
    written.append(temp / MANIFEST)
    progress(copier.done, total, _("Making the copy durable"))
    _sync_tree(temp, written)
    progress(copier.done, total, _("Checking the copy"))
    _check_copy(vault_dir, raw_key, snap)
    if read_back:
        _read_back(temp, manifest, progress, cancel)
    return manifest


def _copy_blobs(layout: VaultLayout, target: Path, blobs: tuple[tuple[str, int, int], ...], copier: _Copier,
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
                    dst = _create(path)
                    written.append(path)
                    try:
                        size, digest = copier.run(src, dst, _stream_head_check(shown, chunk_size), kernel=True)
                    except BaseException:
                        os.close(dst)
                        raise
                    if size >= _SYNC_EARLY:
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
    copier = _Copier(progress, manifest.total_bytes, cancel, _("Reading the copy back"))
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
    copier = _Copier(progress, manifest.total_bytes, cancel, _("Checking the backup"))
    try:
        for entry in manifest.files:
            size, digest = _hash_entry(backup_dir, entry, copier, None)
            _compare(entry, size, digest)
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


def _hash_entry(folder: Path, entry: ManifestEntry, copier: _Copier, dst: int | None) -> tuple[int, str]:
    path = folder / entry.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise RefusedInput(_("The backup's {path} cannot be read ({cause}); nothing was written.",
                             path=entry.path, cause=exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
            raise RefusedInput(_("The backup is damaged or was altered: {path} has {size} bytes, its {manifest} "
                                 "says {recorded}; nothing was written.",
                                 path=entry.path, size=st.st_size, manifest=MANIFEST, recorded=entry.size))
        check = None
        if entry.path.startswith(f"{VAULT_DIR}/blobs/"):
            check = _refusing(_stream_head_check(f"The backup's {entry.path}", None))
        return copier.run(fd, dst, check)
    finally:
        os.close(fd)


def _refusing(check: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def run(head: bytes) -> None:
        try:
            check(head)
        except VaultError as exc:
            raise RefusedInput(_("{error} Nothing was written.", error=exc)) from None
    return run


def _compare(entry: ManifestEntry, size: int, digest: str) -> None:
    if size != entry.size or digest != entry.sha256:
        raise RefusedInput(_("The backup is damaged or was altered: the SHA-256 of {path} does not match its "
                             "{manifest}; nothing was written.", path=entry.path, manifest=MANIFEST))


def _check_header(path: Path, manifest: Manifest) -> None:
    try:
        doc = json.loads(read_regular(path, "vault header", MAX_SMALL_FILE))
    except (OSError, ValueError, RefusedInput):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != HEADER_FORMAT or doc.get("vault_id") != manifest.vault_id:
        raise RefusedInput(_("The backup's vault header does not name the vault its {manifest} names; nothing was "
                             "written.", manifest=MANIFEST))


# ---- restore -------------------------------------------------------------------------------------
def restore(backup_dir: Path, target: Path, *, force: bool = False, progress: ProgressCallback = no_progress,
            cancel: CancelToken | None = None) -> RestoreResult:
    """Check a backup against its MANIFEST, then put it in place at ``target`` (a new path; with ``force`` an
    existing vault there is moved aside to ``target.replaced-<UTC time>``, never deleted). The restore is recorded
    at the first unlock (``record_restore``); until then ``restore.json`` in the vault says what was restored."""
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    backup_dir = backup_dir.expanduser().absolute()
    target = target.expanduser().absolute()
    if _inside(target, backup_dir) or _inside(backup_dir, target):
        raise UsageError(_("The backup {backup} and the vault path {target} overlap; restore somewhere else.",
                           backup=backup_dir, target=target))
    existing = _existing_target(target, force)
    checked = check_backup(backup_dir, progress, cancel)
    manifest = checked.manifest
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    free = free_space(target.parent)
    needed = manifest.total_bytes + (len(manifest.files) + 8) * _PER_FILE_OVERHEAD + _SPACE_MARGIN
    if free < needed:
        raise VaultError(_("Not enough free space in {folder}: the restore needs about {needed}, {free} is free; "
                           "nothing was written.", folder=target.parent, needed=_mib(needed), free=_mib(free)))
    stamp = datetime.now(UTC).replace(microsecond=0)
    aside = (target.with_name(f"{target.name}{ASIDE_MARK}{stamp.strftime('%Y%m%dT%H%M%SZ')}")
             if existing == "vault" else None)
    temp = target.parent / f"{RESTORE_PREFIX}{target.name}-{secrets.token_hex(4)}"
    os.mkdir(temp, DIR_MODE)
    try:
        _copy_into(temp, checked, progress, cancel)
        marker = PendingRestore(manifest.backup_id, manifest.vault_id, checked.manifest_sha256, manifest.created_at,
                                manifest.created_by, manifest.tree_size, manifest.root_hash, stamp.isoformat(),
                                str(backup_dir), None if aside is None else str(aside))
        _write_new(temp / RESTORE_MARKER, json.dumps(marker.to_json(), indent=1, sort_keys=True).encode())
        os.mkdir(temp / "staging", DIR_MODE)
        _sync_tree(temp, [temp / RESTORE_MARKER, *(temp / f.path.removeprefix(f"{VAULT_DIR}/")
                                                   for f in manifest.files)])
        cancel.check()
        _put_in_place(temp, target, existing, aside)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if _out_of_space(exc):
            raise VaultError(_("{folder} ran out of space during the restore; nothing was written.",
                               folder=target.parent)) from exc
        raise
    return RestoreResult(manifest.backup_id, manifest.vault_id, target, aside,
                         len(manifest.files), manifest.total_bytes, manifest.tree_size, checked.manifest_sha256,
                         time.perf_counter() - started)


def _existing_target(target: Path, force: bool) -> str | None:
    """None (nothing there), "empty" (an empty folder) or "vault"; anything else is refused up front."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode) and not any(target.iterdir()):
        return "empty"
    if not stat.S_ISDIR(st.st_mode) or not (target / "vault.json").is_file():
        raise UsageError(_("{target} exists and is not a vault; restore into a new path (nothing was changed).",
                           target=target))
    if not force:
        raise Conflict(_("A vault already exists at {target}; restore into a new path, or add --force to move it "
                         "aside ({name}{mark}<time>, kept) and put the backup in its place.",
                         target=target, name=target.name, mark=ASIDE_MARK))
    return "vault"


def _copy_into(temp: Path, checked: CheckedBackup, progress: ProgressCallback, cancel: CancelToken) -> None:
    """Copy the backup's vault files into ``temp``, hashing them again as they are read: a file changed since
    ``check_backup`` is refused too."""
    manifest = checked.manifest
    copier = _Copier(progress, manifest.total_bytes, cancel, _("Restoring"))
    try:
        for entry in manifest.files:
            relative = Path(entry.path.removeprefix(f"{VAULT_DIR}/"))
            path = temp / relative
            for parent in reversed(relative.parents[:-1]):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(temp / parent, DIR_MODE)
            dst = _create(path)
            try:
                size, digest = _hash_entry(checked.path, entry, copier, dst)
            finally:
                os.close(dst)
            _compare(entry, size, digest)
    finally:
        copier.close()
    if not (temp / "blobs").exists():
        os.mkdir(temp / "blobs", DIR_MODE)


def _put_in_place(temp: Path, target: Path, existing: str | None, aside: Path | None) -> None:
    """Rename the finished copy to ``target``; an existing vault is moved aside first (under its own lock, so a
    vault open in another process is refused) and put back if the copy cannot take its place."""
    lock: VaultLock | None = None
    try:
        if existing == "vault":
            assert aside is not None
            lock = VaultLock(target / "vault.lock")
            try:
                lock.acquire()
            except VaultBusy:
                lock = None
                raise
            if os.path.lexists(aside):
                raise Conflict(_("{path} already exists; nothing was changed. Try again in a second.", path=aside))
            os.rename(target, aside)
        elif existing == "empty":
            target.rmdir()
        try:
            os.rename(temp, target)
        except BaseException:
            if aside is not None and existing == "vault" and not os.path.lexists(target):
                os.rename(aside, target)
            raise
        fsync_dir(target.parent)
    finally:
        if lock is not None:
            lock.release()


# ---- the first unlock after a restore ---------------------------------------------------------------
def pending_restore(session: Session) -> PendingRestore | None:
    """The restore waiting to be recorded in this vault (its ``restore.json``), or None."""
    path = session.vault.layout.root / RESTORE_MARKER
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VaultError(_("The restore note {path} cannot be read ({cause}; a link is refused).",
                           path=path, cause=exc.strerror)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise VaultError(_("The restore note {path} is not a regular file.", path=path))
        raw = os.read(fd, MAX_SMALL_FILE)
    finally:
        os.close(fd)
    try:
        doc = json.loads(raw)
        if doc.get("format") != MARKER_FORMAT:
            raise ValueError
        set_aside = doc.get("set_aside")
        note = PendingRestore(str(doc["backup_id"]), str(doc["vault_id"]), str(doc["manifest_sha256"]),
                              str(doc["backup_created_at"]), str(doc["backup_created_by"]), int(doc["tree_size"]),
                              base64.b64decode(str(doc["root_hash"]), validate=True), str(doc["restored_at"]),
                              str(doc["restored_from"]), None if set_aside is None else str(set_aside))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise VaultError(_("The restore note {path} is damaged; an administrator records the restore by hand with "
                           "'icspa custody witness-reset --reason …'.", path=path)) from None
    if note.vault_id != session.vault.header.vault_id:
        raise VaultError(_("The restore note {path} names another vault ({vault_id}).",
                           path=path, vault_id=note.vault_id))
    return note


def record_restore(session: Session, reason: str, *, witness_dir: Path | None = None) -> RestoreRecord:
    """Administrator, at the first unlock after a restore: record a signed ``vault_restored`` event (the reason,
    the backup, the tree size restored, and every witness this OS account holds that the restore contradicts —
    their content is kept in the event), set those user witnesses aside and sign a checkpoint that replaces the
    agency witness (``make_checkpoint(replace_witness=True)``), so that ``custody verify`` is clean while the
    restore stays in the log. Idempotent: after a crash it finishes what is left."""
    note = pending_restore(session)
    if note is None:
        raise UsageError(_("No restore is waiting to be recorded in this vault."))
    session.require(Permission.MANAGE_USERS, attempted="record a restored backup and replace the custody witnesses")
    if not reason.strip():
        raise UsageError(_("Say why the backup was restored (--reason); it is recorded in the chain of custody."))
    conn = session.conn
    tree = custody_service.stored_tree(conn)
    if note.tree_size > tree.size or tree.root(note.tree_size) != note.root_hash:
        raise VerificationFailed(_("The restored custody log does not begin with the {n} events its backup "
                                   "names; nothing was recorded. Run 'icspa custody verify'.",
                                   n=note.tree_size))
    vault_id = session.vault.header.vault_id
    agency_path = custody_service.witness_file(session, witness_dir)
    agency_witness = _agency_witness(agency_path)
    keys_by_user = {uid: [span.public_key for span in u.keys] for uid, u in userstate.replay(conn).users.items()}
    stale = [p for p in user_witness.all_for_vault(vault_id, witness_dir) if user_witness.check(conn, p, keys_by_user)]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = [p.with_name(f"{p.name}.replaced-{stamp}") for p in stale]
    stale_sizes = [_witness_size(p) for p in stale]
    user_witnesses = [{"path": str(p), "set_aside_as": str(a), "tree_size": size,
                       "user_id": p.name.removesuffix(".head").rsplit(".", 1)[-1]}
                      for p, a, size in zip(stale, aside, stale_sizes, strict=True)]
    sizes = [size for size in stale_sizes if size is not None]
    if agency_witness is not None and isinstance(agency_witness.get("tree_size"), int):
        sizes.append(int(agency_witness["tree_size"]))
    witness_size = max(sizes, default=None)
    earlier = _recorded_event(conn, note)
    if earlier is None:
        with session.transaction():
            event = session.record(EventDraft(
                CustodyAction.VAULT_RESTORED, purpose=reason, result="restored",
                location=str(session.vault.layout.root),
                details={"backup_id": note.backup_id, "manifest_sha256": note.manifest_sha256,
                         "backup_created_at": note.backup_created_at, "backup_created_by": note.backup_created_by,
                         "tree_size_restored": note.tree_size,
                         "root_hash_restored": base64.b64encode(note.root_hash).decode("ascii"),
                         "restored_at": note.restored_at, "restored_from": note.restored_from,
                         "vault_set_aside": note.set_aside, "witness_tree_size": witness_size,
                         "agency_witness": agency_witness, "user_witnesses": user_witnesses}))
        event_index = event.index
    else:
        event_index = earlier
    try:
        for old, new in zip(stale, aside, strict=True):
            old.rename(new)
    except OSError as exc:
        raise VaultError(_("The restore was recorded (custody event {index}), but a witness could not be set "
                           "aside: {cause} ({path}). Run 'icspa vault restore --reason …' again.",
                           index=event_index, cause=exc.strerror or exc, path=exc.filename)) from exc
    checkpoint_id = None
    if agency.has_identity(session) and allowed(session.user.role, Permission.SIGN_AS_AGENCY):
        checkpoint_id = custody_service.make_checkpoint(session, reason, witness_dir=witness_dir,
                                                        replace_witness=True).id
    # The unlock found this user's witness stale and would never overwrite it; it was set aside above.
    session._witness_stale = False
    session.write_own_witness()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(session.vault.layout.root / RESTORE_MARKER)
    fsync_dir(session.vault.layout.root)
    return RestoreRecord(event_index, note.backup_id, note.tree_size, witness_size, checkpoint_id,
                         [str(a) for a in aside])


def _agency_witness(path: Path) -> dict[str, Any] | None:
    """The agency witness as the event keeps it: its path, tree size and full signed text (None: there is none)."""
    try:
        found = cp.read_witness(path)
    except (RefusedInput, OSError) as exc:
        return {"path": str(path), "tree_size": None, "text": None, "problem": english(exc)}  # recorded: English
    if found is None:
        return None
    body, signature = found
    try:
        size: int | None = cp.parse_body(body).size
    except RefusedInput:
        size = None
    return {"path": str(path), "tree_size": size,
            "text": cp.encode_signed(body, signature).decode("utf-8", "replace")}


def _witness_size(path: Path) -> int | None:
    try:
        size = json.loads(read_regular(path, "witness", user_witness.MAX_BYTES))["tree_size"]
    except (OSError, ValueError, KeyError, TypeError, RefusedInput):
        return None
    return size if _int_in(size, 0, 1 << 48) else None


def _recorded_event(conn: db.Connection, note: PendingRestore) -> int | None:
    """The index of this restore's event when an earlier attempt recorded it (then crashed before the end)."""
    rows = conn.execute("SELECT idx, body FROM custody_events WHERE action = ? ORDER BY idx",
                        (str(CustodyAction.VAULT_RESTORED),)).fetchall()
    for idx, body in rows:
        try:
            details = json.loads(bytes(body))["details"]
        except (ValueError, KeyError, TypeError):
            continue
        if details.get("backup_id") == note.backup_id and details.get("restored_at") == note.restored_at:
            return int(idx)
    return None


__all__ = ["FORMAT", "MANIFEST", "BackupResult", "CheckedBackup", "Manifest", "ManifestEntry", "PendingRestore",
           "RestoreRecord", "RestoreResult", "backup", "check_backup", "free_space",
           "pending_restore", "record_restore", "restore"]
