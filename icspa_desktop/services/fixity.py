"""Evidence content: fixity verification (re-read, re-decrypt, re-hash) and extraction to a file.

Every action records its custody event. Extraction records "export started" before the first plaintext byte,
writes a private partial file, re-hashes it from disk and only then places it under its final name, never
overwriting an existing file; a partial file left by a failure or a crash is removed and reported.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from icspa_desktop.bundle.media import file_system_of
from icspa_desktop.bundle.mounts import FAT_NAME_RULES
from icspa_desktop.crypto import keys, stream
from icspa_desktop.custody.events import EventDraft, format_utc, utc_now
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import (
    Cancelled,
    Conflict,
    IcspaError,
    RefusedInput,
    UsageError,
    VerificationFailed,
    _,
    english,
)
from icspa_desktop.domain.evidence import FixityReport, FixityResult, HashAlgorithm, Item, ItemKind
from icspa_desktop.domain.ids import new_id
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.files import FILE_MODE, fat_name_problem, place_new, write_all
from icspa_desktop.i18n import N_
from icspa_desktop.services.ingest import new_hashers
from icspa_desktop.services.item_checks import MAX_TEXT, check_text
from icspa_desktop.services.item_records import ITEM_COLUMNS, get_item, list_items, row_to_item
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault.blobs import DAMAGE, BlobStore, Hasher, unwrap_key
from icspa_desktop.vault.process import PROCESS_TOKEN


# ---- reading content --------------------------------------------------------------------------------
def _blob_key(session: Session, item: Item) -> tuple[str, bytes]:
    if item.blob_id is None:
        raise UsageError(_("Item {exhibit_number} is a physical item and has no stored content.",
                           exhibit_number=item.exhibit_number))
    row = session.conn.execute("SELECT wrapped_key FROM blobs WHERE id = ?", (item.blob_id,)).fetchone()
    if row is None:
        raise VerificationFailed(_("The content record of item {exhibit_number} is missing; the vault is damaged.",
                                   exhibit_number=item.exhibit_number))
    key = unwrap_key(session.vault.subkey(keys.PURPOSE_BLOB_KEYS), item.blob_id, item.id, bytes(row[0]))
    return item.blob_id, key


def content_chunks(session: Session, item: Item, cancel: CancelToken | None,
                   hashers: Sequence[Hasher] = ()) -> Iterator[memoryview]:
    """The item's plaintext, chunk by chunk, decrypted from the blob store (authenticated as it goes); ``hashers``
    updated with each chunk by the reading thread before it is handed out (``BlobReader.chunks``)."""
    blob_id, key = _blob_key(session, item)
    return BlobStore(session.vault.layout).open_reader(blob_id, key).chunks(cancel, hashers)


# ---- verification (fixity) --------------------------------------------------------------------------
# Why an item failed verification: English, as the VERIFIED event's notes record it; ``PROBLEMS.shown`` gives it
# in the reader's language (the verification results, ``evidence verify``'s text output, an event's details).
_FAILED_AUTHENTICATION = N_("the stored content failed authentication: {error}")
_MISSING = N_("the stored content file is missing")
_UNREADABLE = N_("the stored content cannot be read ({cause})")
_WRONG_SIZE = N_("the stored content has {size} bytes, the record says {recorded}")
_WRONG_DIGEST = N_("the {algorithms} digest differs from the one recorded at acquisition")
# _blob_key's refusals (VerificationFailed) are recorded in English too.
PROBLEMS = Phrasebook(_FAILED_AUTHENTICATION, _MISSING, _UNREADABLE, _WRONG_SIZE, _WRONG_DIGEST,
                      N_("The content record of item {exhibit_number} is missing; the vault is damaged."),
                      fields={"error": DAMAGE})


def _check_content(session: Session, item: Item, progress: ProgressCallback, cancel: CancelToken,
                   done_before: int, grand_total: int) -> FixityReport:
    algorithms = [HashAlgorithm(name) for name in item.hashes]
    hashers = new_hashers(algorithms)
    size = 0
    problem = ""
    try:
        for chunk in content_chunks(session, item, cancel):
            for hasher in hashers.values():
                hasher.update(chunk)
            size += len(chunk)
            progress(done_before + size, grand_total, item.exhibit_number)
    except stream.StreamError as exc:
        problem = _FAILED_AUTHENTICATION.format(error=exc)
    except FileNotFoundError:
        problem = _MISSING
    except OSError as exc:
        problem = _UNREADABLE.format(cause=exc.strerror or exc)
    except VerificationFailed as exc:
        problem = english(exc)
    actual = {a.value: h.hexdigest() for a, h in hashers.items()} if not problem else {}
    if not problem and size != item.size:
        problem = _WRONG_SIZE.format(size=size, recorded=item.size)
    if not problem and actual != item.hashes:
        differing = ", ".join(sorted(k for k in item.hashes if actual.get(k) != item.hashes[k]))
        problem = _WRONG_DIGEST.format(algorithms=differing)
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
        raise UsageError(_("Item {exhibit_number} is physical; it has no content to verify.",
                           exhibit_number=item.exhibit_number))
    return verify_items(session, [item], progress, cancel)[0]


def verify_all(session: Session, progress: ProgressCallback = no_progress,
               cancel: CancelToken | None = None) -> list[FixityReport]:
    session.require(Permission.READ)
    rows = session.conn.execute(
        f"SELECT {ITEM_COLUMNS} FROM items WHERE kind = 'digital' ORDER BY created_at").fetchall()
    return verify_items(session, [row_to_item(row) for row in rows], progress, cancel)


# ---- extraction -------------------------------------------------------------------------------------
# The partial file sits beside the target, named after it and the journal row: ".NAME.icspa-partial-ID".
PARTIAL_MARK = ".icspa-partial-"
# This process's own journal rows carry vault/process.py PROCESS_TOKEN: a row written under another token
# belongs to a process that ended without finishing or cleaning up (a crash).


@dataclass(frozen=True, slots=True)
class Extraction:
    item: Item
    path: Path
    size: int
    sha256: str


class PartialState(StrEnum):
    REMOVED = "removed"  # found and removed now
    ABSENT = "absent"  # not on disk (never created, or already gone)
    LEFT = "left"  # still on disk: it could not be removed, or is not ours to remove


@dataclass(frozen=True, slots=True)
class InterruptedExtraction:
    """An extraction that a crash (or a failed clean-up) left unfinished, as found by the next check."""

    item_id: str
    exhibit_number: str
    target: Path
    partial: Path
    started_at: str
    partial_state: PartialState
    problem: str  # why a partial file was left
    target_exists: bool

    @property
    def message(self) -> str:
        text = f"An extraction of {self.exhibit_number} to {self.target} (started {self.started_at}) was interrupted; "
        if self.partial_state is PartialState.REMOVED:
            text += f"the partial file {self.partial} was removed."
        elif self.partial_state is PartialState.ABSENT:
            text += "it left no partial file."
        else:
            text += f"the partial file {self.partial} is still there ({self.problem}); delete it by hand."
        if self.target_exists:
            text += (f" A file exists at {self.target}, placed before its completion was recorded or made since: "
                     "check it.")
        return text


def interrupted_extractions(session: Session) -> list[InterruptedExtraction]:
    """Find extractions a crash left unfinished, remove their partial plaintext files and record it.

    Each one is recorded in custody once; one whose partial file cannot be removed is reported again at
    every check until it is gone.
    """
    rows = session.conn.execute(
        "SELECT j.id, j.item_id, j.exhibit_number, j.target, j.partial, j.started_event, j.started_at, "
        "j.reported_at, i.case_id FROM extractions_in_flight j JOIN items i ON i.id = j.item_id "
        "WHERE j.process != ? ORDER BY j.started_at", (PROCESS_TOKEN,)).fetchall()
    found: list[InterruptedExtraction] = []
    for journal_id, item_id, exhibit, target_text, partial_text, started_event, started_at, reported, case_id in rows:
        target, partial = Path(target_text), Path(partial_text)
        state, problem = _remove_partial(partial)
        result = InterruptedExtraction(str(item_id), str(exhibit), target, partial, str(started_at), state, problem,
                                       os.path.lexists(target))
        found.append(result)
        if state is PartialState.LEFT and reported is not None:
            continue  # recorded at an earlier check; reported again until it is removed
        with session.transaction() as conn:
            session.record(EventDraft(
                CustodyAction.EXPORT_ABORTED, case_id=case_id, item_ids=(item_id,), result="interrupted",
                notes=result.message,
                details={"exhibit_number": exhibit, "destination": target_text, "partial_file": partial_text,
                         "partial_state": state.value, "started_event": started_event,
                         "target_exists": result.target_exists, "kind": "extraction"},
            ))
            if state is PartialState.LEFT:
                conn.execute("UPDATE extractions_in_flight SET reported_at = ? WHERE id = ?",
                             (format_utc(utc_now()), journal_id))
            else:
                conn.execute("DELETE FROM extractions_in_flight WHERE id = ?", (journal_id,))
    return found


def _remove_partial(partial: Path) -> tuple[PartialState, str]:
    """Remove a partial file we wrote, without following links; (state, why it was left)."""
    try:
        dir_fd = os.open(partial.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return PartialState.ABSENT, ""
    except OSError as exc:
        return PartialState.LEFT, f"its folder cannot be opened: {exc.strerror or exc}"
    try:
        return _remove_partial_in(dir_fd, partial.name)
    finally:
        os.close(dir_fd)


def _remove_partial_in(dir_fd: int, name: str) -> tuple[PartialState, str]:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return PartialState.ABSENT, ""
    except OSError as exc:
        return PartialState.LEFT, exc.strerror or str(exc)
    if stat.S_ISLNK(info.st_mode):
        return PartialState.LEFT, "it is a symbolic link now, so it was not touched"
    if not stat.S_ISREG(info.st_mode):
        return PartialState.LEFT, "it is not a regular file now, so it was not touched"
    if info.st_uid != os.geteuid():
        return PartialState.LEFT, "it belongs to another user now, so it was not touched"
    try:
        os.unlink(name, dir_fd=dir_fd)  # unlink never follows a link, even if one was swapped in meanwhile
        os.fsync(dir_fd)
    except FileNotFoundError:
        return PartialState.ABSENT, ""
    except OSError as exc:
        return PartialState.LEFT, f"it cannot be removed: {exc.strerror or exc}"
    return PartialState.REMOVED, ""


_NAME_REFUSED = frozenset({errno.ENOENT, errno.EINVAL, errno.EILSEQ, errno.ENAMETOOLONG})


def _target_path(session: Session, out: Path) -> Path:
    """The file to create: its folder resolved, outside the vault, and nothing there yet."""
    out = Path(os.path.abspath(out))
    if not out.parent.is_dir():
        raise UsageError(_("The folder {folder} does not exist.", folder=out.parent))
    folder = Path(os.path.realpath(out.parent))
    vault_root = Path(os.path.realpath(session.vault_path))
    if folder == vault_root or vault_root in folder.parents:
        raise RefusedInput(_("{path} is inside the vault directory {vault}; decrypted evidence is never written "
                             "there. Choose a folder outside the vault.", path=out, vault=vault_root))
    target = folder / out.name
    if not out.name or os.path.lexists(target):
        raise Conflict(_("{path} already exists; choose a new file name (nothing is overwritten).", path=out))
    fs_type = file_system_of(folder)[0]
    problem = fat_name_problem(out.name) if fs_type in FAT_NAME_RULES else None
    if problem:  # before anything is recorded: a name the medium cannot hold is a bad input, not an attempt
        raise UsageError(_("{folder} is on a {fs_type} file system, which cannot hold the name {name}: {problem}. "
                           "Choose another file name (the item's original name stays in the vault).",
                           folder=folder, fs_type=fs_type, name=repr(out.name), problem=problem))
    return target


def _hash_file(dir_fd: int, name: str, cancel: CancelToken) -> str:
    """SHA-256 of a file read back from disk (page cache dropped first where the OS allows)."""
    hasher = hashlib.sha256()
    buf = bytearray(stream.DEFAULT_CHUNK_SIZE)
    with open(os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd), "rb", buffering=0) as handle:
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
    """Decrypt an item to ``out`` for examination; the written file is re-hashed before it appears.

    The "export started" custody event is committed before the first plaintext byte is written; the data
    goes to a private partial file beside ``out`` that is removed on any failure or cancel, and that the
    next check (``interrupted_extractions``) removes if a crash left it.
    """
    cancel = cancel or CancelToken()
    item = get_item(session, item_ref)
    session.require(Permission.EXTRACT_EVIDENCE, case_id=item.case_id, item_ids=(item.id,),
                    attempted=f"extract item {item.exhibit_number}")
    reason = check_text(N_("The reason"), reason, MAX_TEXT)
    if not reason:
        raise UsageError(_("Extraction needs a reason (--reason), recorded in the chain of custody."))
    if item.kind is not ItemKind.DIGITAL:
        raise UsageError(_("Item {exhibit_number} is physical; it has no content to extract.",
                           exhibit_number=item.exhibit_number))
    interrupted_extractions(session)  # what an earlier crash left is dealt with (and recorded) first
    target = _target_path(session, out)
    journal_id = new_id()
    partial = target.with_name(f".{target.name[:100]}{PARTIAL_MARK}{journal_id}")
    expected = item.hashes.get("sha256", "")
    details = {"exhibit_number": item.exhibit_number, "destination": str(target), "partial_file": str(partial),
               "kind": "extraction", "size": item.size}
    with session.transaction() as conn:
        started = session.record(EventDraft(
            CustodyAction.EXPORT_STARTED, case_id=item.case_id, item_ids=(item.id,), purpose=reason,
            hashes={"sha256": expected}, details=details,
        ))
        conn.execute(
            "INSERT INTO extractions_in_flight (id, item_id, exhibit_number, target, partial, process, "
            "started_event, started_at, started_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (journal_id, item.id, item.exhibit_number, str(target), str(partial), PROCESS_TOKEN, started.id,
             started.at, session.user.id))
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        _abort(session, item, journal_id, details, exc, PartialState.ABSENT)
        raise UsageError(_("Cannot write in {folder}: {cause}.", folder=target.parent,
                           cause=exc.strerror or exc)) from None
    try:
        return _extract_in(session, item, dir_fd, target, partial, journal_id, started.id, reason, details,
                           progress, cancel)
    finally:
        os.close(dir_fd)


def _extract_in(session: Session, item: Item, dir_fd: int, target: Path, partial: Path, journal_id: str,
                started_id: str, reason: str, details: dict[str, Any], progress: ProgressCallback,
                cancel: CancelToken) -> Extraction:
    expected = item.hashes.get("sha256", "")
    placed = False
    try:
        size = _write_partial(session, item, dir_fd, partial.name, expected, progress, cancel)
        _place_without_overwrite(dir_fd, partial.name, target)
        placed = True
        os.fsync(dir_fd)  # the name is durable before success is recorded; a failure here removes it again
        with session.transaction() as conn:
            session.record(EventDraft(
                CustodyAction.EXPORTED, case_id=item.case_id, item_ids=(item.id,), purpose=reason,
                hashes={"sha256": expected}, result=FixityResult.OK.value,
                details={**details, "size": size, "started_event": started_id},
            ))
            conn.execute("DELETE FROM extractions_in_flight WHERE id = ?", (journal_id,))
    except BaseException as exc:
        if placed:  # an export whose completion is not recorded must not stay on disk
            state, problem = _remove_partial_in(dir_fd, target.name)
            state = PartialState.REMOVED if state is PartialState.ABSENT else state
        else:
            state, problem = _remove_partial_in(dir_fd, partial.name)
        _abort(session, item, journal_id, details, exc, state)
        left = target if placed else partial
        if state is PartialState.REMOVED:
            note = (_("The extracted file was removed; nothing was left in {folder}.", folder=target.parent) if placed
                    else _("The partial file was removed; nothing was left in {folder}.", folder=target.parent))
        elif state is PartialState.ABSENT:
            note = _("Nothing was written to {folder}.", folder=target.parent)
        else:
            note = _("The file {path} could not be removed ({cause}); delete it by hand.", path=left, cause=problem)
        if isinstance(exc, Cancelled):
            raise Cancelled(_("Extraction of {exhibit_number} cancelled. {note}",
                              exhibit_number=item.exhibit_number, note=note)) from exc
        if isinstance(exc, IcspaError):
            raise _with_note(exc, note) from exc
        if isinstance(exc, OSError):
            cause = exc.strerror or str(exc)
            if not placed and exc.errno in _NAME_REFUSED and target.parent.is_dir():
                # The partial file's name carries the target's: the file system refused the name itself (exFAT
                # through FUSE says "No such file or directory" for a ':' or '?').
                why = fat_name_problem(target.name)
                cause = (_("the file system of {folder} does not accept the name {name} ({why}); choose another "
                           "file name", folder=target.parent, name=repr(target.name), why=why) if why else
                         _("the file system of {folder} does not accept the name {name}; choose another file name",
                           folder=target.parent, name=repr(target.name)))
            raise IcspaError(_("Extracting {exhibit_number} to {target} failed: {cause}. {note}",
                               exhibit_number=item.exhibit_number, target=target, cause=cause,
                               note=note)) from exc
        raise
    return Extraction(item, target, size, expected)


def _write_partial(session: Session, item: Item, dir_fd: int, name: str, expected: str,
                   progress: ProgressCallback, cancel: CancelToken) -> int:
    """Decrypt into a new private file (0600, created exclusively, no link followed), fsync it, check it."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE,
                 dir_fd=dir_fd)
    hasher = hashlib.sha256()
    size = 0
    try:
        for chunk in content_chunks(session, item, cancel):
            hasher.update(chunk)
            write_all(fd, chunk)
            size += len(chunk)
            progress(size, item.size or 0, item.exhibit_number)
        os.fsync(fd)
    except stream.StreamError as exc:
        raise VerificationFailed(_("Item {exhibit_number} failed its integrity check while extracting ({error}).",
                                   exhibit_number=item.exhibit_number, error=DAMAGE.text(str(exc)))) from None
    finally:
        os.close(fd)
    if hasher.hexdigest() != expected:
        raise VerificationFailed(_("Item {exhibit_number} does not match its recorded SHA-256; run 'icspa evidence "
                                   "verify'.", exhibit_number=item.exhibit_number))
    if _hash_file(dir_fd, name, cancel) != expected:
        raise VerificationFailed(_("The file written does not read back with the item's SHA-256 (storage fault?)."))
    return size


def _abort(session: Session, item: Item, journal_id: str, details: dict[str, Any], exc: BaseException,
           state: PartialState) -> None:
    """Record a failed or cancelled extraction and close its journal row (best effort: the primary error wins)."""
    cancelled = isinstance(exc, Cancelled | KeyboardInterrupt)
    try:
        with session.transaction() as conn:
            session.record(EventDraft(
                CustodyAction.EXPORT_ABORTED, case_id=item.case_id, item_ids=(item.id,),
                result="cancelled" if cancelled else "failed", notes=english(exc) or type(exc).__name__,
                details={**details, "partial_state": state.value},
            ))
            if state is not PartialState.LEFT:
                conn.execute("DELETE FROM extractions_in_flight WHERE id = ?", (journal_id,))
    except Exception:  # noqa: S110 - the journal row stays, so the next check reports and records it
        pass


def _with_note(exc: IcspaError, note: str) -> IcspaError:
    try:
        return type(exc)(_("{error} {note}", error=exc, note=note))  # the English kept for records too
    except TypeError:  # an error class with another constructor keeps its own message
        return exc


def _place_without_overwrite(dir_fd: int, name: str, target: Path) -> None:
    try:
        place_new(name, target.name, dir_fd=dir_fd)  # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise Conflict(_("{path} already exists; choose a new file name (nothing is overwritten).",
                         path=target)) from None


# ---- JSON --------------------------------------------------------------------------------------------
def report_to_json(report: FixityReport) -> dict[str, Any]:
    return {"id": report.item_id, "exhibit_number": report.exhibit_number, "case_id": report.case_id,
            "result": report.result.value, "ok": report.ok, "sha256": report.expected.get("sha256"),
            "expected": report.expected, "actual": report.actual, "problem": report.problem}
