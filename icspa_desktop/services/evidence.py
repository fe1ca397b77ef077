"""Evidence items: settings, records, validation, exhibit numbers, ingest and annotation.

Physical items and check-out/in are in services/physical.py; fixity verification and extraction in
services/fixity.py (both build on this module, never the reverse).

Every action records its custody event in the same transaction as the rows it changes. Content goes
through the encrypted blob store (vault/blobs.py); a blob is durably in place before the row naming it
commits, and a failed or cancelled action removes whatever it had written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icspa_desktop.crypto import keys, stream
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import (
    CaseStatus,
    CustodyAction,
    HandlingCode,
    InformationEvaluation,
    SourceEvaluation,
    Tlp,
)
from icspa_desktop.domain.errors import (
    Conflict,
    NotFound,
    RefusedInput,
    UsageError,
    _,
)
from icspa_desktop.domain.evidence import (
    Acquisition,
    HashAlgorithm,
    Item,
    ItemFields,
    ItemKind,
    MarkingChanges,
    Markings,
)
from icspa_desktop.domain.ids import CaseId, ItemId, UserId, new_item_id
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.i18n import N_
from icspa_desktop.services import cases, received
from icspa_desktop.services.ingest import SealedContent, detect_mime, seal_file, source_size
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session, set_setting, setting
from icspa_desktop.vault import db
from icspa_desktop.vault.blobs import BlobStore, wrap_key

SETTING_HASHES = "evidence.hash_algorithms"  # agency default beyond SHA-256, e.g. "md5,sha1"
SETTING_EXHIBIT_FORMAT = "evidence.exhibit_format"
DEFAULT_EXHIBIT_FORMAT = "{case}-{seq:03d}"
MAX_TEXT = 10_000
MAX_SHORT = 300

_COLUMNS = (
    "id, case_id, exhibit_number, kind, blob_id, original_name, original_path, size, sha256, md5, sha1, mime_type,"
    " description, notes, tags, handling_code, handling_text, tlp, source_evaluation, information_evaluation,"
    " parent_id, acquired_by, acquired_at, acquisition_location, acquisition_method, tool, tool_version,"
    " source_device, source_serial, seal_number, storage_location, holder, checked_out, created_at, created_by,"
    " updated_at"
)
_N_COLUMNS = _COLUMNS.count(",") + 1
ITEM_COLUMNS = _COLUMNS  # what ``row_to_item`` reads (services/item_pages.py)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# ---- settings ---------------------------------------------------------------------------------------
def parse_algorithms(text: str) -> tuple[HashAlgorithm, ...]:
    """``"md5,sha1"`` → the algorithms, SHA-256 first and always included."""
    chosen: list[HashAlgorithm] = [HashAlgorithm.SHA256]
    for part in text.replace(" ", "").lower().split(","):
        if not part:
            continue
        name = part.replace("-", "")
        try:
            algorithm = HashAlgorithm(name)
        except ValueError:
            raise UsageError(_("Unknown hash algorithm {part!r}: choose from sha256, md5, sha1.", part=part)) from None
        if algorithm not in chosen:
            chosen.append(algorithm)
    return tuple(chosen)


def default_algorithms(session: Session) -> tuple[HashAlgorithm, ...]:
    return parse_algorithms(setting(session.conn, SETTING_HASHES, ""))


def set_default_algorithms(session: Session, algorithms: Sequence[HashAlgorithm]) -> tuple[HashAlgorithm, ...]:
    """The agency default digests for every ingest (administrators); recorded as an agency change."""
    session.require(Permission.MANAGE_AGENCY, attempted="change the default evidence hash algorithms")
    chosen = parse_algorithms(",".join(a.value for a in algorithms))
    old = setting(session.conn, SETTING_HASHES, "")
    new = ",".join(a.value for a in chosen if a is not HashAlgorithm.SHA256)
    with session.transaction() as conn:
        set_setting(conn, SETTING_HASHES, new)
        session.record(EventDraft(CustodyAction.AGENCY_CHANGED,
                                  details={"changes": {SETTING_HASHES: {"old": old, "new": new}}}))
    return chosen


# ---- reading records --------------------------------------------------------------------------------
def _row_to_item(row: Sequence[Any]) -> Item:
    (iid, case_id, exhibit, kind, blob_id, name, path, size, sha256, md5, sha1, mime, description, notes, tags,
     handling, handling_text, tlp, source_eval, info_eval, parent, acquired_by, acquired_at, acq_location,
     acq_method, tool, tool_version, device, serial, seal, storage, holder, checked_out, created_at, created_by,
     updated_at) = row
    hashes = {key: value for key, value in (("sha256", sha256), ("md5", md5), ("sha1", sha1)) if value}
    markings = Markings(
        HandlingCode(handling), handling_text, Tlp(tlp),
        SourceEvaluation(source_eval) if source_eval else None,
        InformationEvaluation(info_eval) if info_eval else None,
    )
    acquisition = Acquisition(acquired_by, acquired_at, acq_location, acq_method, tool, tool_version, device,
                              serial, seal)
    return Item(
        id=ItemId(iid), case_id=CaseId(case_id), exhibit_number=exhibit, kind=ItemKind(kind), original_name=name,
        original_path=path, size=None if size is None else int(size), hashes=hashes, mime_type=mime,
        description=description, notes=notes, tags=split_tags(tags), markings=markings, acquisition=acquisition,
        parent_id=ItemId(parent) if parent else None, storage_location=storage, checked_out=bool(checked_out),
        holder=holder, created_at=created_at, created_by=UserId(created_by), updated_at=updated_at, blob_id=blob_id,
    )


# For the paged reads of services/item_pages.py: the columns an item record is read from, and the record.
row_to_item = _row_to_item


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(tag for tag in (part.strip() for part in text.split(",")) if tag)


def _fetch_item(conn: db.Connection, ref: str) -> Item:
    row = conn.execute(f"SELECT {_COLUMNS} FROM items WHERE id = ?", (ref,)).fetchone()
    if row is not None:
        return _row_to_item(row)
    rows = conn.execute(f"SELECT {_COLUMNS} FROM items WHERE exhibit_number = ? LIMIT 2", (ref,)).fetchall()
    if len(rows) == 1:
        return _row_to_item(rows[0])
    if len(rows) > 1:
        raise UsageError(_("Exhibit number {ref!r} exists in several cases; give the item id instead.", ref=ref))
    raise NotFound(_("No evidence item {ref!r} (give an item id or exhibit number; 'icspa evidence list CASE').",
                     ref=ref))


def get_item(session: Session, ref: str) -> Item:
    """An item by id or (vault-wide unique) exhibit number."""
    session.require(Permission.READ)
    return _fetch_item(session.conn, ref.strip())


@dataclass(frozen=True, slots=True)
class CaseOrItem:
    """What a CASE|ITEM reference named: a case (``item`` None), or an item and the case it belongs to."""

    case: Case
    item: Item | None

    @property
    def label(self) -> str:
        return f"item {self.item.exhibit_number}" if self.item is not None else f"case {self.case.number}"


def resolve_case_or_item(session: Session, ref: str) -> CaseOrItem:
    """A case (id or case number) or else an item (id or unique exhibit number).

    A case wins when a case number is also an exhibit number: commands that take CASE|ITEM act on the
    larger set, and an item can always be named by its id.
    """
    session.require(Permission.READ)
    ref = ref.strip()
    with contextlib.suppress(NotFound):
        return CaseOrItem(cases.get_case(session, ref), None)
    try:
        item = _fetch_item(session.conn, ref)
    except NotFound:
        raise NotFound(_("No case or item {ref!r} (give a case number or id, or an item id or exhibit number).",
                         ref=ref)) from None
    return CaseOrItem(cases.get_case(session, item.case_id), item)


def list_items(session: Session, case_ref: str) -> list[Item]:
    case = cases.get_case(session, case_ref)
    rows = session.conn.execute(
        f"SELECT {_COLUMNS} FROM items WHERE case_id = ? ORDER BY created_at, exhibit_number", (case.id,)
    ).fetchall()
    return [_row_to_item(row) for row in rows]


def items_by_ids(session: Session, item_ids: Sequence[str]) -> list[Item]:
    session.require(Permission.READ)
    found: list[Item] = []
    for start in range(0, len(item_ids), 500):
        part = list(item_ids[start : start + 500])
        marks = ",".join("?" * len(part))
        rows = session.conn.execute(f"SELECT {_COLUMNS} FROM items WHERE id IN ({marks})", part).fetchall()
        found.extend(_row_to_item(row) for row in rows)
    order = {item_id: i for i, item_id in enumerate(item_ids)}
    return sorted(found, key=lambda item: order[item.id])


# ---- validation -------------------------------------------------------------------------------------
# The acquisition's fields as a refusal names them ("The acquisition method must be at most 200 characters.").
_ACQUISITION_LABELS = {
    "acquired_by": N_("The acquiring person"), "acquired_at": N_("The acquisition time"),
    "location": N_("The acquisition place"), "method": N_("The acquisition method"), "tool": N_("The tool"),
    "tool_version": N_("The tool version"), "source_device": N_("The source device"),
    "source_serial": N_("The source serial number"), "seal_number": N_("The seal number"),
}


def _check_text(label: str, value: str, limit: int = MAX_SHORT) -> str:
    value = value.strip()
    if len(value) > limit:
        raise UsageError(_("{label} must be at most {limit} characters.", label=_(label), limit=limit))
    if limit == MAX_SHORT and any(ord(ch) < 32 for ch in value):
        raise UsageError(_("{label} must be printable text on one line.", label=_(label)))
    return value


def _check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for tag in tags:
        tag = _check_text(N_("A tag"), tag, 64)
        if "," in tag:
            raise UsageError(_("Tag {tag!r} must not contain a comma.", tag=tag))
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return tuple(cleaned)


def _resolve_markings(case: Case, markings: Markings | None) -> Markings:
    if markings is None:
        return Markings(case.fields.handling_code, case.fields.handling_text, case.fields.tlp)
    try:
        checked = Markings(
            HandlingCode(markings.handling_code), markings.handling_text.strip(), Tlp(markings.tlp),
            SourceEvaluation(markings.source_evaluation) if markings.source_evaluation else None,
            InformationEvaluation(markings.information_evaluation) if markings.information_evaluation else None,
        )
    except ValueError as exc:
        raise UsageError(_("Unknown marking: {error}. Handling H0–H3, TLP CLEAR/GREEN/AMBER/AMBER+STRICT/RED, source "
                           "A/B/C/X, information 1–4.", error=exc)) from None
    if checked.handling_code is HandlingCode.H3 and not checked.handling_text:
        raise UsageError(_("Handling code H3 needs the restriction stated in text."))
    return checked


def _clean_fields(session: Session, case: Case, fields: ItemFields) -> tuple[ItemFields, Markings]:
    acq = fields.acquisition
    acquisition = Acquisition(**{key: _check_text(_ACQUISITION_LABELS[key], value)
                                 for key, value in asdict(acq).items()})
    if acquisition.acquired_at:
        try:
            datetime.fromisoformat(acquisition.acquired_at)
        except ValueError:
            raise UsageError(_("Acquisition time {acquired_at!r} is not an ISO 8601 date/time (e.g. "
                               "2024-05-01T14:30+02:00).", acquired_at=acquisition.acquired_at)) from None
    parent_id = fields.parent_id
    if parent_id is not None:
        parent = _fetch_item(session.conn, parent_id)
        if parent.case_id != case.id:
            raise UsageError(_("The parent item {exhibit_number} belongs to another case.",
                               exhibit_number=parent.exhibit_number))
        parent_id = parent.id
    cleaned = ItemFields(
        description=_check_text(N_("The description"), fields.description, MAX_TEXT),
        notes=_check_text(N_("The notes"), fields.notes, MAX_TEXT),
        tags=_check_tags(fields.tags),
        exhibit_number=_check_text(N_("The exhibit number"), fields.exhibit_number, 64),
        markings=fields.markings,
        acquisition=acquisition,
        parent_id=parent_id,
        storage_location=_check_text(N_("The storage location"), fields.storage_location),
    )
    return cleaned, _resolve_markings(case, fields.markings)


def _open_case_for_change(session: Session, case_ref: str, permission: Permission, what: str) -> Case:
    session.require_writable()  # before anything is staged (ingest writes blobs before its transaction)
    case = cases.get_case(session, case_ref)
    session.require(permission, case_id=case.id, attempted=f"{what} in case {case.number}")
    if case.status is CaseStatus.CLOSED:
        raise UsageError(_("Case {number} is closed; a supervisor must reopen it before evidence is added.",
                           number=case.number))
    return case


# ---- exhibit numbers --------------------------------------------------------------------------------
def exhibit_format(conn: db.Connection) -> str:
    return setting(conn, SETTING_EXHIBIT_FORMAT, DEFAULT_EXHIBIT_FORMAT)


def get_exhibit_format(session: Session) -> str:
    """The agency's exhibit number pattern (for display)."""
    session.require(Permission.READ)
    return exhibit_format(session.conn)


def set_exhibit_format(session: Session, pattern: str) -> str:
    """The agency's exhibit-number format, e.g. ``{case}-{seq:03d}`` or ``EX-{seq:05d}`` (administrators)."""
    session.require(Permission.MANAGE_AGENCY, attempted="change the exhibit number format")
    pattern = _check_text(N_("The exhibit number format"), pattern, 64)
    try:
        first, second = pattern.format(case="C", seq=1), pattern.format(case="C", seq=2)
    except (KeyError, ValueError, IndexError):
        raise UsageError(
            _("The exhibit number format may use only {case} and {seq} (e.g. {case}-{seq:03d}).")) from None
    if first == second:
        raise UsageError(_("The exhibit number format must contain {seq} so that numbers differ."))
    old = exhibit_format(session.conn)
    if old != pattern:
        with session.transaction() as conn:
            set_setting(conn, SETTING_EXHIBIT_FORMAT, pattern)
            session.record(EventDraft(CustodyAction.AGENCY_CHANGED,
                                      details={"changes": {SETTING_EXHIBIT_FORMAT: {"old": old, "new": pattern}}}))
    return pattern


def suggest_exhibit_numbers(session: Session, case_ref: str, count: int = 1) -> list[str]:
    """The next ``count`` free exhibit numbers of a case in the agency format (default ``<case>-001``)."""
    case = cases.get_case(session, case_ref)
    return _next_exhibits(session.conn, case, count)


def _next_exhibits(conn: db.Connection, case: Case, count: int) -> list[str]:
    pattern = exhibit_format(conn)
    existing = {str(row[0]) for row in conn.execute("SELECT exhibit_number FROM items WHERE case_id = ?",
                                                     (case.id,)).fetchall()}
    found: list[str] = []
    seq = 1
    while len(found) < count:
        try:
            candidate = pattern.format(case=case.number, seq=seq)
        except (KeyError, ValueError, IndexError):
            candidate = DEFAULT_EXHIBIT_FORMAT.format(case=case.number, seq=seq)
        if candidate not in existing:
            found.append(candidate)
            existing.add(candidate)
        seq += 1
    return found


# ---- ingest -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Source:
    """One file to ingest, with where it was found (``relative`` is its path inside a given folder)."""

    path: Path
    relative: str
    size: int

    # Names as the vault keeps them: text. A name that is not UTF-8 (a Latin-1 or CP-1252 name from a seized
    # disk) reaches Python with surrogate escapes, which no database or JSON text can hold: it is kept with
    # its undecodable bytes shown as backslash-x escapes, and its exact bytes go into the signed 'acquired' event.
    @property
    def name(self) -> str:
        return as_text(self.path.name)

    @property
    def shown_path(self) -> str:
        return as_text(str(self.path))

    @property
    def shown_relative(self) -> str:
        return as_text(self.relative)

    def name_bytes(self) -> dict[str, str]:
        """``{"original_name_bytes": hex}`` when the name is not UTF-8 (so it is not lost), else nothing."""
        return {} if self.name == self.path.name else {"original_name_bytes": os.fsencode(self.path.name).hex()}


def as_text(name: str) -> str:
    r"""``name`` as UTF-8-safe text: unchanged if it is; else its undecodable bytes written as \xNN."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    items: list[Item]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of links and special files
    # (new exhibit number, exhibit number it duplicates) for content the case already held (same SHA-256),
    # or that came twice in this batch: added all the same, but the investigator is told (issue 11).
    duplicates: list[tuple[str, str]] = field(default_factory=list)


def collect_sources(paths: Sequence[Path]) -> tuple[list[Source], list[tuple[str, str]]]:
    """Expand folders (recursively, sorted, not following links); refuse what cannot be read."""
    sources: list[Source] = []
    skipped: list[tuple[str, str]] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
                dirnames.sort()
                for link in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    skipped.append((os.path.join(dirpath, link), "symbolic link to a folder (not followed)"))
                    dirnames.remove(link)
                for name in sorted(filenames):
                    full = Path(dirpath) / name
                    if full.is_symlink():
                        skipped.append((str(full), "symbolic link (not followed)"))
                        continue
                    try:
                        size = source_size(full)
                    except RefusedInput as exc:
                        skipped.append((str(full), str(exc)))
                        continue
                    relative = str(full.relative_to(path.parent))
                    sources.append(Source(full, relative, size))
        else:
            sources.append(Source(path, path.name, source_size(path)))
    seen: set[Path] = set()
    unique: list[Source] = []
    for source in sources:
        if source.path not in seen:
            seen.add(source.path)
            unique.append(source)
    return unique, skipped


def add_files(
    session: Session,
    case_ref: str,
    paths: Sequence[Path],
    fields: ItemFields | None = None,
    algorithms: Sequence[HashAlgorithm] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> IngestOutcome:
    """Ingest files and folders into a case in one pass each; all of them or (on failure/cancel) none."""
    cancel = cancel or CancelToken()
    case = _open_case_for_change(session, case_ref, Permission.ADD_EVIDENCE, "add evidence")
    fields, markings = _clean_fields(session, case, fields or ItemFields())
    chosen = parse_algorithms(",".join(a.value for a in algorithms)) if algorithms else default_algorithms(session)
    if not paths:
        raise UsageError(_("Name at least one file or folder to add."))
    sources, skipped = collect_sources(paths)
    if not sources:
        raise UsageError(_("There is no regular file to add among the paths given."))
    if fields.exhibit_number:
        if len(sources) != 1:
            raise UsageError(_("An exhibit number can only be given when adding a single file."))
        exhibits = [fields.exhibit_number]
        if session.conn.execute("SELECT 1 FROM items WHERE case_id = ? AND exhibit_number = ?",
                                (case.id, exhibits[0])).fetchone():
            raise Conflict(_("Exhibit number {exhibit} is already used in case {number}.",
                             exhibit=exhibits[0], number=case.number))
    else:
        exhibits = _next_exhibits(session.conn, case, len(sources))

    store = BlobStore(session.vault.layout)
    sealed: list[SealedContent] = []
    grand_total = sum(s.size for s in sources)
    done = 0
    try:
        for source in sources:
            cancel.check()
            content = seal_file(store, source.path, chosen, progress, cancel, done_before=done,
                                grand_total=grand_total)
            sealed.append(content)
            done += content.plain_size
        cancel.check()
        store.publish_many([content.blob_id for content in sealed])
        known = _exhibits_by_sha256(session, case.id)
        items = _commit_ingest(session, case, sources, sealed, exhibits, fields, markings)
    except BaseException:
        for content in sealed:
            with contextlib.suppress(OSError):
                store.remove(content.blob_id)
        raise
    duplicates: list[tuple[str, str]] = []
    for item in items:
        if item.sha256 in known:
            duplicates.append((item.exhibit_number, known[item.sha256]))
        elif item.sha256:
            known[item.sha256] = item.exhibit_number
    return IngestOutcome(items, skipped, duplicates)


def _exhibits_by_sha256(session: Session, case_id: str) -> dict[str, str]:
    """SHA-256 → the first exhibit number with that content, among the case's stored items."""
    rows = session.conn.execute("SELECT sha256, exhibit_number FROM items WHERE case_id = ? AND sha256 IS NOT NULL"
                                " ORDER BY created_at DESC", (case_id,)).fetchall()
    return {str(sha): str(exhibit) for sha, exhibit in rows}


def _commit_ingest(session: Session, case: Case, sources: Sequence[Source], sealed: Sequence[SealedContent],
                   exhibits: Sequence[str], fields: ItemFields, markings: Markings) -> list[Item]:
    wrapping = session.vault.subkey(keys.PURPOSE_BLOB_KEYS)
    now = _now()
    acq = fields.acquisition
    acquired_by = acq.acquired_by or session.user.display_name
    acquired_at = acq.acquired_at or now
    item_ids: list[ItemId] = []
    drafts: list[EventDraft] = []
    with session.transaction() as conn:
        for source, content, exhibit in zip(sources, sealed, exhibits, strict=True):
            item_id = new_item_id()
            item_ids.append(item_id)
            mime = detect_mime(source.name, content.head)
            insert_blob_row(conn, wrapping, content.blob_id, item_id, content.key, content.chunk_size,
                            content.plain_size, content.stored_size, now)
            insert_item_row(conn, item_id, case, exhibit, ItemKind.DIGITAL, content.blob_id, source.name,
                         source.shown_path, content.plain_size, content.hashes, mime, fields, markings,
                         acquired_by, acquired_at, session.user.id, now)
            drafts.append(EventDraft(
                CustodyAction.ACQUIRED, case_id=case.id, item_ids=(item_id,), authority=case.fields.legal_authority,
                location=acq.location, notes=fields.notes, hashes=dict(content.hashes),
                details={"exhibit_number": exhibit, "kind": ItemKind.DIGITAL.value, "original_name": source.name,
                         **source.name_bytes(), "original_path": source.shown_path,
                         "relative_path": source.shown_relative,
                         "size": content.plain_size, "mime_type": mime, "parent_id": fields.parent_id,
                         "acquisition": {**asdict(acq), "acquired_by": acquired_by, "acquired_at": acquired_at},
                         "markings": markings_json(markings), "description": fields.description,
                         "tags": list(fields.tags)},
            ))
        # One batch: the log head is read and saved once for the whole ingest (the events are the same).
        session.record_many(drafts)
    return items_by_ids(session, item_ids)


def insert_blob_row(conn: db.Connection, wrapping: bytes, blob_id: str, item_id: ItemId, key: bytes, chunk_size: int,
                    plain_size: int, stored_size: int, now: str) -> None:
    """The row of a published blob, its key wrapped for this item (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO blobs (id, wrapped_key, stream_version, chunk_size, plain_size, stored_size, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (blob_id, wrap_key(wrapping, blob_id, item_id, key), stream.VERSION_LATEST, chunk_size, plain_size,
         stored_size, now),
    )


def insert_item_row(conn: db.Connection, item_id: ItemId, case: Case, exhibit: str, kind: ItemKind,
                 blob_id: str | None, name: str, path: str, size: int | None, hashes: dict[str, str], mime: str,
                 fields: ItemFields, markings: Markings, acquired_by: str, acquired_at: str, user_id: UserId,
                 now: str) -> None:
    acq = fields.acquisition
    values = (
        item_id, case.id, exhibit, kind.value, blob_id, name, path, size, hashes.get("sha256"), hashes.get("md5"),
        hashes.get("sha1"), mime, fields.description, fields.notes, ",".join(fields.tags),
        markings.handling_code.value, markings.handling_text, markings.tlp.value,
        markings.source_evaluation.value if markings.source_evaluation else "",
        markings.information_evaluation.value if markings.information_evaluation else "",
        fields.parent_id, acquired_by, acquired_at, acq.location, acq.method, acq.tool, acq.tool_version,
        acq.source_device, acq.source_serial, acq.seal_number, fields.storage_location, "", 0, now, user_id, now,
    )
    assert len(values) == _N_COLUMNS
    try:
        conn.execute(f"INSERT INTO items ({_COLUMNS}, exhibit_sort) VALUES ({','.join('?' * (_N_COLUMNS + 1))})",
                     (*values, db.natural_key(exhibit)))  # the table's natural order (schema 12)
    except db.IntegrityError as exc:
        if "exhibit_number" in str(exc):
            raise Conflict(_("Exhibit number {exhibit} is already used in case {number}.",
                             exhibit=exhibit, number=case.number)) from None
        raise Conflict(_("Item {exhibit} cannot be stored: {error} (its parent or blob record is missing).",
                         exhibit=exhibit, error=exc)) from None


def markings_json(markings: Markings) -> dict[str, str]:
    return {
        "handling_code": markings.handling_code.value,
        "handling_text": markings.handling_text,
        "tlp": markings.tlp.value,
        "source_evaluation": markings.source_evaluation.value if markings.source_evaluation else "",
        "information_evaluation": markings.information_evaluation.value if markings.information_evaluation else "",
    }


# ---- annotations ------------------------------------------------------------------------------------
def merge_markings(current: Markings, changes: MarkingChanges) -> Markings:
    """``current`` with the fields ``changes`` gives replaced (checked by ``_resolve_markings`` afterwards)."""
    try:
        return Markings(
            HandlingCode(changes.handling_code) if changes.handling_code else current.handling_code,
            changes.handling_text if changes.handling_text is not None else current.handling_text,
            Tlp(changes.tlp) if changes.tlp else current.tlp,
            SourceEvaluation(changes.source_evaluation) if changes.source_evaluation else current.source_evaluation,
            InformationEvaluation(changes.information_evaluation) if changes.information_evaluation
            else current.information_evaluation,
        )
    except ValueError as exc:
        raise UsageError(_("Unknown marking: {error}. Handling H0–H3, TLP CLEAR/GREEN/AMBER/AMBER+STRICT/RED, source "
                           "A/B/C/X, information 1–4.", error=exc)) from None


def case_markings(case: Case) -> Markings:
    """The markings a new item of ``case`` gets unless it is given its own: the case's."""
    return Markings(case.fields.handling_code, case.fields.handling_text, case.fields.tlp)


def new_item_markings(case: Case, changes: MarkingChanges) -> Markings | None:
    """The markings of a new item given only some fields: the case's, with those fields replaced (as
    ``annotate`` merges into an item's and the desktop presets its editor with the case's); None (the case's,
    decided at ingest) when no field is given."""
    if not changes.any():
        return None
    return merge_markings(case_markings(case), changes)


def annotate(session: Session, item_ref: str, *, description: str | None = None, notes: str | None = None,
             tags: Sequence[str] | None = None, markings: Markings | None = None,
             marking_changes: MarkingChanges | None = None, reason: str = "") -> Item:
    """Change the description, notes, tags or markings (whole, or the fields ``marking_changes`` names, merged
    with the item's current ones); the event records each field old → new."""
    item = get_item(session, item_ref)
    if marking_changes is not None and marking_changes.any():
        markings = merge_markings(markings or item.markings, marking_changes)
    session.require(Permission.EDIT_EVIDENCE, case_id=item.case_id, item_ids=(item.id,),
                    attempted=f"edit item {item.exhibit_number}")
    changes: dict[str, dict[str, str]] = {}
    updates: dict[str, str] = {}
    if description is not None:
        updates["description"] = _check_text(N_("The description"), description, MAX_TEXT)
    if notes is not None:
        updates["notes"] = _check_text(N_("The notes"), notes, MAX_TEXT)
    if tags is not None:
        updates["tags"] = ",".join(_check_tags(tags))
    old = {"description": item.description, "notes": item.notes, "tags": ",".join(item.tags)}
    old.update(markings_json(item.markings))
    if markings is not None:
        case = cases.get_case(session, item.case_id)
        updates.update(markings_json(_resolve_markings(case, markings)))
    for key, value in updates.items():
        if old[key] != value:
            changes[key] = {"old": old[key], "new": value}
    if not changes:
        return item
    origin = received.item_provenance(session.conn, item.id)
    if origin is not None and (fixed := sorted(set(changes) - {"notes", "tags"})):
        raise UsageError(_("Item {exhibit_number} came from {partner_name} (their exhibit {partner_exhibit_number}): "
                           "its {names} are the partner's record and stay as they sent them; notes and tags are "
                           "yours to add.",
                           exhibit_number=item.exhibit_number, partner_name=origin.partner_name,
                           partner_exhibit_number=origin.partner_exhibit_number,
                           names=', '.join(f.replace('_', ' ') for f in fixed)))
    marking_keys = set(markings_json(item.markings))
    action = CustodyAction.MARKING_CHANGED if set(changes) <= marking_keys else CustodyAction.ANNOTATED
    assignments = ", ".join(f"{key} = ?" for key in changes)
    with session.transaction() as conn:
        conn.execute(f"UPDATE items SET {assignments}, updated_at = ? WHERE id = ?",
                     (*[changes[key]["new"] for key in changes], _now(), item.id))
        session.record(EventDraft(action, case_id=item.case_id, item_ids=(item.id,), purpose=reason,
                                  details={"changes": changes, "exhibit_number": item.exhibit_number}))
    return _fetch_item(session.conn, item.id)


# ---- JSON --------------------------------------------------------------------------------------------
def item_to_json(item: Item) -> dict[str, Any]:
    """The ``--json`` form of an item (DESIGN §6: carries ``id`` and ``sha256``)."""
    return {
        "id": item.id,
        "case_id": item.case_id,
        "exhibit_number": item.exhibit_number,
        "kind": item.kind.value,
        "name": item.original_name,
        "original_path": item.original_path,
        "size": item.size,
        "sha256": item.hashes.get("sha256"),
        "md5": item.hashes.get("md5"),
        "sha1": item.hashes.get("sha1"),
        "mime_type": item.mime_type,
        "description": item.description,
        "notes": item.notes,
        "tags": list(item.tags),
        "markings": markings_json(item.markings),
        "acquisition": asdict(item.acquisition),
        "parent_id": item.parent_id,
        "storage_location": item.storage_location,
        "checked_out": item.checked_out,
        "holder": item.holder,
        "created_at": item.created_at,
        "created_by": item.created_by,
        "updated_at": item.updated_at,
    }
