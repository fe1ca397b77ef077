"""Evidence items: ingest (one pass each, all files or none) and annotation — the changes to items.

The records and reads are in services/item_records.py, the checks every change makes first in
services/item_checks.py, the agency's digest and exhibit-number settings in services/evidence_settings.py;
this module's namespace carries their public names too, which is how the CLI, the GUI and other services call
them (``evidence.get_item``, ``evidence.list_items``...). Physical items and check-out/in are in
services/physical.py; fixity verification and extraction in services/fixity.py (all build on these modules,
never the reverse).

Every action records its custody event in the same transaction as the rows it changes. Content goes
through the encrypted blob store (vault/blobs.py); a blob is durably in place before the row naming it
commits, and a failed or cancelled action removes whatever it had written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from icspa_desktop.crypto import keys, stream
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, RefusedInput, UsageError, _
from icspa_desktop.domain.evidence import HashAlgorithm, Item, ItemFields, ItemKind, MarkingChanges, Markings
from icspa_desktop.domain.ids import ItemId, new_item_id
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.i18n import N_
from icspa_desktop.services import cases, received
from icspa_desktop.services.evidence_settings import (
    DEFAULT_EXHIBIT_FORMAT,
    SETTING_EXHIBIT_FORMAT,
    SETTING_HASHES,
    default_algorithms,
    exhibit_format,
    get_exhibit_format,
    next_exhibits,
    parse_algorithms,
    set_default_algorithms,
    set_exhibit_format,
    suggest_exhibit_numbers,
)
from icspa_desktop.services.ingest import SealedContent, detect_mime, seal_file, source_size
from icspa_desktop.services.item_checks import (
    MAX_SHORT,
    MAX_TEXT,
    case_markings,
    check_tags,
    check_text,
    clean_fields,
    merge_markings,
    new_item_markings,
    open_case_for_change,
    resolve_markings,
)
from icspa_desktop.services.item_records import (
    ITEM_COLUMNS,
    CaseOrItem,
    fetch_item,
    get_item,
    insert_item_row,
    item_to_json,
    items_by_ids,
    list_items,
    markings_json,
    resolve_case_or_item,
    row_to_item,
    split_tags,
    timestamp,
)
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.blobs import BlobStore, wrap_key

__all__ = [
    "DEFAULT_EXHIBIT_FORMAT",
    "ITEM_COLUMNS",
    "MAX_SHORT",
    "MAX_TEXT",
    "SETTING_EXHIBIT_FORMAT",
    "SETTING_HASHES",
    "CaseOrItem",
    "IngestOutcome",
    "Source",
    "add_files",
    "annotate",
    "as_text",
    "case_markings",
    "collect_sources",
    "default_algorithms",
    "exhibit_format",
    "get_exhibit_format",
    "get_item",
    "insert_blob_row",
    "insert_item_row",
    "item_to_json",
    "items_by_ids",
    "list_items",
    "markings_json",
    "merge_markings",
    "new_item_markings",
    "parse_algorithms",
    "resolve_case_or_item",
    "row_to_item",
    "set_default_algorithms",
    "set_exhibit_format",
    "split_tags",
    "suggest_exhibit_numbers",
]


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
    case = open_case_for_change(session, case_ref, Permission.ADD_EVIDENCE, "add evidence")
    fields, markings = clean_fields(session, case, fields or ItemFields())
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
        exhibits = next_exhibits(session.conn, case, len(sources))

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
    now = timestamp()
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


# ---- annotations ------------------------------------------------------------------------------------
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
        updates["description"] = check_text(N_("The description"), description, MAX_TEXT)
    if notes is not None:
        updates["notes"] = check_text(N_("The notes"), notes, MAX_TEXT)
    if tags is not None:
        updates["tags"] = ",".join(check_tags(tags))
    old = {"description": item.description, "notes": item.notes, "tags": ",".join(item.tags)}
    old.update(markings_json(item.markings))
    if markings is not None:
        case = cases.get_case(session, item.case_id)
        updates.update(markings_json(resolve_markings(case, markings)))
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
                     (*[changes[key]["new"] for key in changes], timestamp(), item.id))
        session.record(EventDraft(action, case_id=item.case_id, item_ids=(item.id,), purpose=reason,
                                  details={"changes": changes, "exhibit_number": item.exhibit_number}))
    return fetch_item(session.conn, item.id)
