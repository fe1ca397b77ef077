"""Evidence content: fixity verification (re-read, re-decrypt, re-hash) and extraction to a file.

Every action records its custody event. Extraction writes a temporary file, re-hashes it from disk and only then
places it under its final name, never overwriting an existing file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icspa_desktop.crypto import keys, stream
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, UsageError, VerificationFailed
from icspa_desktop.domain.evidence import FixityReport, FixityResult, HashAlgorithm, Item, ItemKind
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.services.evidence import (
    _COLUMNS,
    MAX_TEXT,
    _check_text,
    _row_to_item,
    get_item,
    list_items,
)
from icspa_desktop.services.ingest import new_hashers
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault.atomic import FILE_MODE, fsync_dir
from icspa_desktop.vault.blobs import BlobStore, unwrap_key


# ---- reading content --------------------------------------------------------------------------------
def _blob_key(session: Session, item: Item) -> tuple[str, bytes]:
    if item.blob_id is None:
        raise UsageError(f"Item {item.exhibit_number} is a physical item and has no stored content.")
    row = session.conn.execute("SELECT wrapped_key FROM blobs WHERE id = ?", (item.blob_id,)).fetchone()
    if row is None:
        raise VerificationFailed(f"The content record of item {item.exhibit_number} is missing; the vault is damaged.")
    key = unwrap_key(session.vault.subkey(keys.PURPOSE_BLOB_KEYS), item.blob_id, item.id, bytes(row[0]))
    return item.blob_id, key


def _content_chunks(session: Session, item: Item, cancel: CancelToken | None) -> Iterator[memoryview]:
    blob_id, key = _blob_key(session, item)
    return BlobStore(session.vault.layout).open_reader(blob_id, key).chunks(cancel)


# ---- verification (fixity) --------------------------------------------------------------------------
def _check_content(session: Session, item: Item, progress: ProgressCallback, cancel: CancelToken,
                   done_before: int, grand_total: int) -> FixityReport:
    algorithms = [HashAlgorithm(name) for name in item.hashes]
    hashers = new_hashers(algorithms)
    size = 0
    problem = ""
    try:
        for chunk in _content_chunks(session, item, cancel):
            for hasher in hashers.values():
                hasher.update(chunk)
            size += len(chunk)
            progress(done_before + size, grand_total, item.exhibit_number)
    except stream.StreamError as exc:
        problem = f"the stored content failed authentication: {exc}"
    except FileNotFoundError:
        problem = "the stored content file is missing"
    except OSError as exc:
        problem = f"the stored content cannot be read ({exc.strerror or exc})"
    except VerificationFailed as exc:
        problem = str(exc)
    actual = {a.value: h.hexdigest() for a, h in hashers.items()} if not problem else {}
    if not problem and size != item.size:
        problem = f"the stored content has {size} bytes, the record says {item.size}"
    if not problem and actual != item.hashes:
        differing = ", ".join(sorted(k for k in item.hashes if actual.get(k) != item.hashes[k]))
        problem = f"the {differing} digest differs from the one recorded at acquisition"
    result = FixityResult.MISMATCH if problem else FixityResult.OK
    return FixityReport(item.id, item.exhibit_number, item.case_id, result, dict(item.hashes), actual, problem)


def verify_items(session: Session, items: Sequence[Item], progress: ProgressCallback = no_progress,
                 cancel: CancelToken | None = None) -> list[FixityReport]:
    """Re-read, re-decrypt and re-hash each digital item; each result is a VERIFIED custody event."""
    cancel = cancel or CancelToken()
    digital = [item for item in items if item.kind is ItemKind.DIGITAL]
    if digital:
        session.require(Permission.VERIFY, case_id=digital[0].case_id, attempted="verify evidence")
    grand_total = sum(item.size or 0 for item in digital)
    done = 0
    reports: list[FixityReport] = []
    for item in digital:
        cancel.check()
        report = _check_content(session, item, progress, cancel, done, grand_total)
        done += item.size or 0
        with session.transaction():
            session.record(EventDraft(
                CustodyAction.VERIFIED, case_id=item.case_id, item_ids=(item.id,), result=report.result.value,
                hashes=report.actual, notes=report.problem,
                details={"exhibit_number": item.exhibit_number, "expected": report.expected},
            ))
        reports.append(report)
    return reports


def verify_case(session: Session, case_ref: str, progress: ProgressCallback = no_progress,
                cancel: CancelToken | None = None) -> list[FixityReport]:
    return verify_items(session, list_items(session, case_ref), progress, cancel)


def verify_item(session: Session, item_ref: str, progress: ProgressCallback = no_progress,
                cancel: CancelToken | None = None) -> FixityReport:
    item = get_item(session, item_ref)
    if item.kind is not ItemKind.DIGITAL:
        raise UsageError(f"Item {item.exhibit_number} is physical; it has no content to verify.")
    return verify_items(session, [item], progress, cancel)[0]


def verify_all(session: Session, progress: ProgressCallback = no_progress,
               cancel: CancelToken | None = None) -> list[FixityReport]:
    session.require(Permission.READ)
    rows = session.conn.execute(f"SELECT {_COLUMNS} FROM items WHERE kind = 'digital' ORDER BY created_at").fetchall()
    return verify_items(session, [_row_to_item(row) for row in rows], progress, cancel)


# ---- extraction -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Extraction:
    item: Item
    path: Path
    size: int
    sha256: str


def _hash_file(path: Path, cancel: CancelToken) -> str:
    """SHA-256 of a file read back from disk (page cache dropped first where the OS allows)."""
    hasher = hashlib.sha256()
    buf = bytearray(stream.DEFAULT_CHUNK_SIZE)
    with open(path, "rb", buffering=0) as handle:
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while True:
            cancel.check()
            n = handle.readinto(buf)
            if not n:
                break
            hasher.update(memoryview(buf)[:n])
    return hasher.hexdigest()


def extract(session: Session, item_ref: str, out: Path, reason: str, progress: ProgressCallback = no_progress,
            cancel: CancelToken | None = None) -> Extraction:
    """Decrypt an item to ``out`` for examination; the written file is re-hashed before it appears."""
    cancel = cancel or CancelToken()
    item = get_item(session, item_ref)
    session.require(Permission.EXTRACT_EVIDENCE, case_id=item.case_id, item_ids=(item.id,),
                    attempted=f"extract item {item.exhibit_number}")
    reason = _check_text("The reason", reason, MAX_TEXT)
    if not reason:
        raise UsageError("Extraction needs a reason (--reason), recorded in the chain of custody.")
    if item.kind is not ItemKind.DIGITAL:
        raise UsageError(f"Item {item.exhibit_number} is physical; it has no content to extract.")
    out = Path(os.path.abspath(out))
    if out.exists() or out.is_symlink():
        raise Conflict(f"{out} already exists; choose a new file name (nothing is overwritten).")
    if not out.parent.is_dir():
        raise UsageError(f"The folder {out.parent} does not exist.")
    temp = out.with_name(f".{out.name}.icspa-partial-{os.getpid()}")
    expected = item.hashes.get("sha256", "")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        raise UsageError(f"Cannot write in {out.parent}: {exc.strerror}.") from None
    try:
        hasher = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb", buffering=0) as handle:
                for chunk in _content_chunks(session, item, cancel):
                    hasher.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                    progress(size, item.size or 0, item.exhibit_number)
                handle.flush()
                os.fsync(handle.fileno())
        except stream.StreamError as exc:
            raise VerificationFailed(f"Item {item.exhibit_number} failed its integrity check while extracting "
                                     f"({exc}); nothing was written.") from None
        if hasher.hexdigest() != expected:
            raise VerificationFailed(f"Item {item.exhibit_number} does not match its recorded SHA-256; "
                                     "nothing was written. Run 'icspa evidence verify'.")
        if _hash_file(temp, cancel) != expected:
            raise VerificationFailed(f"The file written to {out.parent} does not read back with the item's SHA-256 "
                                     "(storage fault?); it was removed.")
        _place_without_overwrite(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    try:
        with session.transaction():
            session.record(EventDraft(
                CustodyAction.EXPORTED, case_id=item.case_id, item_ids=(item.id,), purpose=reason,
                hashes={"sha256": expected}, result=FixityResult.OK.value,
                details={"exhibit_number": item.exhibit_number, "destination": str(out), "kind": "extraction",
                         "size": size},
            ))
    except BaseException:
        # An unrecorded export must not stay on disk.
        out.unlink(missing_ok=True)
        raise
    return Extraction(item, out, size, expected)


def _place_without_overwrite(temp: Path, out: Path) -> None:
    try:
        os.link(temp, out)  # fails with EEXIST instead of replacing a file that appeared meanwhile
        temp.unlink()
    except FileExistsError:
        raise Conflict(f"{out} already exists; choose a new file name (nothing is overwritten).") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # File systems without hard links (FAT, exFAT): a best-effort check right before the rename.
        if out.exists():
            raise Conflict(f"{out} already exists; choose a new file name (nothing is overwritten).") from None
        os.rename(temp, out)
    fsync_dir(out.parent)


# ---- JSON --------------------------------------------------------------------------------------------
def report_to_json(report: FixityReport) -> dict[str, Any]:
    return {"id": report.item_id, "exhibit_number": report.exhibit_number, "case_id": report.case_id,
            "result": report.result.value, "ok": report.ok, "sha256": report.expected.get("sha256"),
            "expected": report.expected, "actual": report.actual, "problem": report.problem}
