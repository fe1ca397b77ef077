"""Evidence item records: the ``items`` table's row (the columns, a row read as an ``Item``, a new row written)
and the reads every other evidence module builds on (by id or exhibit number, a case's items, a list of ids).

Changes are in services/evidence.py (ingest, annotation) and services/physical.py; the checks they share in
services/item_checks.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from icspa_desktop.domain.enums import HandlingCode, InformationEvaluation, SourceEvaluation, Tlp
from icspa_desktop.domain.errors import Conflict, NotFound, UsageError, _
from icspa_desktop.domain.evidence import Acquisition, Item, ItemFields, ItemKind, Markings
from icspa_desktop.domain.ids import CaseId, ItemId, UserId
from icspa_desktop.domain.models import Case
from icspa_desktop.services import cases
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db

ITEM_COLUMNS = (
    "id, case_id, exhibit_number, kind, blob_id, original_name, original_path, size, sha256, md5, sha1, mime_type,"
    " description, notes, tags, handling_code, handling_text, tlp, source_evaluation, information_evaluation,"
    " parent_id, acquired_by, acquired_at, acquisition_location, acquisition_method, tool, tool_version,"
    " source_device, source_serial, seal_number, storage_location, holder, checked_out, created_at, created_by,"
    " updated_at"
)  # what ``row_to_item`` reads and ``insert_item_row`` writes (and services/item_pages.py pages through)
_N_COLUMNS = ITEM_COLUMNS.count(",") + 1


def timestamp() -> str:
    """The time stamp item rows and their changes carry: UTC, ISO 8601 to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


# ---- reading records --------------------------------------------------------------------------------
def row_to_item(row: Sequence[Any]) -> Item:
    """An ``Item`` from a row of ``ITEM_COLUMNS``."""
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


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(tag for tag in (part.strip() for part in text.split(",")) if tag)


def fetch_item(conn: db.Connection, ref: str) -> Item:
    """An item by id or (vault-wide unique) exhibit number, without a permission check (the caller's)."""
    row = conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (ref,)).fetchone()
    if row is not None:
        return row_to_item(row)
    rows = conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE exhibit_number = ? LIMIT 2", (ref,)).fetchall()
    if len(rows) == 1:
        return row_to_item(rows[0])
    if len(rows) > 1:
        raise UsageError(_("Exhibit number {ref!r} exists in several cases; give the item id instead.", ref=ref))
    raise NotFound(_("No evidence item {ref!r} (give an item id or exhibit number; 'icspa evidence list CASE').",
                     ref=ref))


def get_item(session: Session, ref: str) -> Item:
    """An item by id or (vault-wide unique) exhibit number."""
    session.require(Permission.READ)
    return fetch_item(session.conn, ref.strip())


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
        item = fetch_item(session.conn, ref)
    except NotFound:
        raise NotFound(_("No case or item {ref!r} (give a case number or id, or an item id or exhibit number).",
                         ref=ref)) from None
    return CaseOrItem(cases.get_case(session, item.case_id), item)


def list_items(session: Session, case_ref: str) -> list[Item]:
    case = cases.get_case(session, case_ref)
    rows = session.conn.execute(  # among items added together: natural exhibit order (-999 before -1000)
        f"SELECT {ITEM_COLUMNS} FROM items WHERE case_id = ? ORDER BY created_at, exhibit_sort, exhibit_number",
        (case.id,),
    ).fetchall()
    return [row_to_item(row) for row in rows]


def items_by_ids(session: Session, item_ids: Sequence[str]) -> list[Item]:
    session.require(Permission.READ)
    found: list[Item] = []
    for start in range(0, len(item_ids), 500):
        part = list(item_ids[start : start + 500])
        marks = ",".join("?" * len(part))
        rows = session.conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id IN ({marks})", part).fetchall()
        found.extend(row_to_item(row) for row in rows)
    order = {item_id: i for i, item_id in enumerate(item_ids)}
    return sorted(found, key=lambda item: order[item.id])


# ---- writing records --------------------------------------------------------------------------------
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
        conn.execute(f"INSERT INTO items ({ITEM_COLUMNS}, exhibit_sort) VALUES ({','.join('?' * (_N_COLUMNS + 1))})",
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


# ---- JSON -------------------------------------------------------------------------------------------
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
