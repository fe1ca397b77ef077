"""Restoring a vault from a backup (issue 14 item 3), and recording the restore at the first unlock.

The backup's ``MANIFEST`` is checked first (every file read and hashed, nothing unlisted, no links) before
anything is written; the copy is put in place under a hidden name and renamed, and an existing vault is moved
aside, never deleted (DESIGN §2: opening never destroys). The restored log is older than the witnesses kept
outside the vault, so the first administrator to unlock it records a signed ``vault_restored`` event with the
reason (``record_restore``) and replaces this OS account's witnesses through the administrators' witness
replacement — ``custody verify`` is then clean and the restore stays in the log (docs/SECURITY.md).
"""


from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import user_witness, userstate
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import (
    Conflict,
    RefusedInput,
    UsageError,
    VaultBusy,
    VaultError,
    VerificationFailed,
    _,
    english,
)
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.files import DIR_MODE, fsync_dir, read_regular
from icspa_desktop.services import agency
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.backup import CheckedBackup, check_backup
from icspa_desktop.services.backup_files import (
    ASIDE_MARK,
    MARKER_FORMAT,
    MAX_SMALL_FILE,
    PER_FILE_OVERHEAD,
    RESTORE_MARKER,
    RESTORE_PREFIX,
    SPACE_MARGIN,
    VAULT_DIR,
    Copier,
    compare_entry,
    create_exclusive,
    free_space,
    hash_entry,
    inside,
    int_in,
    mib,
    out_of_space,
    sync_tree,
    write_new,
)
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.lockfile import VaultLock


# ---- results -------------------------------------------------------------------------------------
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
    if inside(target, backup_dir) or inside(backup_dir, target):
        raise UsageError(_("The backup {backup} and the vault path {target} overlap; restore somewhere else.",
                           backup=backup_dir, target=target))
    existing = _existing_target(target, force)
    checked = check_backup(backup_dir, progress, cancel)
    manifest = checked.manifest
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    free = free_space(target.parent)
    needed = manifest.total_bytes + (len(manifest.files) + 8) * PER_FILE_OVERHEAD + SPACE_MARGIN
    if free < needed:
        raise VaultError(_("Not enough free space in {folder}: the restore needs about {needed}, {free} is free; "
                           "nothing was written.", folder=target.parent, needed=mib(needed), free=mib(free)))
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
        write_new(temp / RESTORE_MARKER, json.dumps(marker.to_json(), indent=1, sort_keys=True).encode())
        os.mkdir(temp / "staging", DIR_MODE)
        sync_tree(temp, [temp / RESTORE_MARKER, *(temp / f.path.removeprefix(f"{VAULT_DIR}/")
                                                   for f in manifest.files)])
        cancel.check()
        _put_in_place(temp, target, existing, aside)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if out_of_space(exc):
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
    copier = Copier(progress, manifest.total_bytes, cancel, _("Restoring"))
    try:
        for entry in manifest.files:
            relative = Path(entry.path.removeprefix(f"{VAULT_DIR}/"))
            path = temp / relative
            for parent in reversed(relative.parents[:-1]):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(temp / parent, DIR_MODE)
            dst = create_exclusive(path)
            try:
                size, digest = hash_entry(checked.path, entry, copier, dst)
            finally:
                os.close(dst)
            compare_entry(entry, size, digest)
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
    return size if int_in(size, 0, 1 << 48) else None


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


__all__ = ["PendingRestore", "RestoreRecord", "RestoreResult", "pending_restore", "record_restore", "restore"]
