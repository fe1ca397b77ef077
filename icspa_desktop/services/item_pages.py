"""A case's items a page at a time, in the order and under the filter a table shows (issue 11: a view of a
100,000-item case must not read 100,000 records before it shows the first 40).

A query names the case, the column to sort by, the direction and the filter text; ``count_items`` says how
many items match, ``item_page`` reads ``limit`` of them from ``offset``, and ``item_positions`` says where
given items stand (to keep a selection across a reload). Every order is total: ties are broken by the row's
insertion order, in the same direction, so pages never overlap or skip a row.

What the table shows is what the filter finds and what the columns sort by: the texts of the cells come from
``table_texts`` — the same functions the evidence table's model shows — called from SQL on the reader
connection, in the reader's language and time zone. The filter is case-insensitive (Unicode case folding)
and finds the text anywhere in a row's cells (exhibit, name, kind, size as formatted — ``1,5 KiB`` in German —,
short hash, MIME type, TLP, handling code, status, the acquisition time as shown in local time) and in the
full hashes, path, description, notes, tags, holder and storage location. Kind and status sort by their
words as shown (case-folded, natural order); TLP by its label (``TLP:AMBER``: not translated, so the code's
order is the label's); size and acquisition time by the value, not its text (1 KiB after 900 B). Formatting
every row's size and time is most of a filter's cost: each is formatted only when the text could be part of
one (``could_be_size``, ``could_be_time``: "f12" on 100,000 items 585 → 252 ms).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from icspa_desktop.domain.evidence import Item, ItemKind
from icspa_desktop.services import evidence
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.services.table_texts import could_be_size, could_be_time, kind_text, status_text
from icspa_desktop.vault.db import natural_key

_BATCH = 500  # bound parameters per IN (...) list


class ItemSort(StrEnum):
    """The columns an item table sorts by (the evidence table's, in its order)."""

    EXHIBIT = "exhibit"  # natural order: BIG/001-999 before BIG/001-1000 (index items_exhibit_sort)
    NAME = "name"  # natural order: f9 before f10
    KIND = "kind"  # the words shown ("file", "physical"; "Datei", "physisch")
    SIZE = "size"  # physical items (no size) first
    SHA256 = "sha256"  # physical items (no hash) first
    MIME = "mime"
    TLP = "tlp"
    HANDLING = "handling"
    STATUS = "status"  # the words shown ("checked out to {holder}", "in storage", "stored")
    ACQUIRED = "acquired"


# Each sort's key expressions; the row's insertion order (rowid) breaks ties.
_KEYS: dict[ItemSort, tuple[str, ...]] = {
    ItemSort.EXHIBIT: ("exhibit_sort",),  # natural_key(exhibit_number), stored (schema 12)
    ItemSort.NAME: ("icspa_natural(original_name)",),
    ItemSort.KIND: ("CASE kind WHEN 'digital' THEN :file_key ELSE :physical_key END",),
    ItemSort.SIZE: ("COALESCE(size, -1)",),
    ItemSort.SHA256: ("COALESCE(sha256, '')",),
    ItemSort.MIME: ("icspa_fold(mime_type)",),
    ItemSort.TLP: ("tlp",),  # shown as "TLP:" + the code (table_texts has no word for it): the same order
    ItemSort.HANDLING: ("handling_code",),
    ItemSort.STATUS: ("CASE WHEN kind = 'digital' THEN :stored_key WHEN checked_out = 0 THEN :in_storage_key "
                      "ELSE icspa_natural(icspa_status(kind, checked_out, holder)) END",),
    ItemSort.ACQUIRED: ("acquired_at",),
}

# What the filter searches, one text per item (case-folded): the cells as table_texts words them (the words of a
# kind and of a status but "checked out to …" bound as parameters, worded once), and the rest.
_HAYSTACK = """icspa_fold(exhibit_number || char(10) || original_name || char(10)
    || CASE kind WHEN 'digital' THEN :file ELSE :physical END || char(10) || {size} || char(10)
    || COALESCE(sha256, '') || char(10) || mime_type || char(10) || 'TLP:' || tlp || char(10) || handling_code
    || char(10) || CASE WHEN kind = 'digital' THEN :stored WHEN checked_out = 0 THEN :in_storage
                        ELSE icspa_status(kind, checked_out, holder) END
    || char(10) || {time} || char(10) || COALESCE(md5, '') || char(10) || COALESCE(sha1, '')
    || char(10) || original_path || char(10) || description || char(10) || notes || char(10) || tags || char(10)
    || holder || char(10) || storage_location)"""


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """Which items of a case, in which order."""

    case_id: str
    sort: ItemSort = ItemSort.EXHIBIT
    descending: bool = False
    text: str = ""  # the filter; blank: every item


_PLAIN_SORTS = {ItemSort.EXHIBIT, ItemSort.KIND, ItemSort.SIZE, ItemSort.SHA256, ItemSort.TLP, ItemSort.HANDLING,
                ItemSort.ACQUIRED}


def _connection(session: Session, query: ItemQuery) -> contextlib.AbstractContextManager[Any]:
    """The session's connection for plain SQL; the reader (our SQL functions, one thread at a time) for a
    filter or a sort by natural, folded or shown text."""
    if query.sort in _PLAIN_SORTS and not query.text.strip():
        return contextlib.nullcontext(session.conn)
    return session.reading()


def _where(query: ItemQuery) -> tuple[str, dict[str, object]]:
    """The filter's condition, with the parameters of the condition and of the sort keys."""
    words = {"file": kind_text(ItemKind.DIGITAL), "physical": kind_text(ItemKind.PHYSICAL),
             "stored": status_text(ItemKind.DIGITAL, False, ""),
             "in_storage": status_text(ItemKind.PHYSICAL, False, "")}
    params: dict[str, object] = {"case": query.case_id}
    params.update({f"{name}_key": natural_key(word) for name, word in words.items()})
    needle = query.text.strip().casefold()
    if not needle:
        return "case_id = :case", params
    params.update(words, needle=needle)
    size = "icspa_size(size)" if could_be_size(needle) else "''"
    moment = "icspa_time(acquired_at)" if could_be_time(needle) else "''"
    return f"case_id = :case AND instr({_HAYSTACK.format(size=size, time=moment)}, :needle) > 0", params


def _order(query: ItemQuery) -> str:
    direction = " DESC" if query.descending else ""
    return ", ".join(f"{key}{direction}" for key in (*_KEYS[query.sort], "rowid"))


def count_items(session: Session, query: ItemQuery) -> int:
    """How many items of the case match the query's filter."""
    session.require(Permission.READ)
    where, params = _where(query)
    with _connection(session, query) as conn:
        return int(conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0])


def item_page(session: Session, query: ItemQuery, offset: int, limit: int) -> list[Item]:
    """Up to ``limit`` matching items from position ``offset`` (0-based) in the query's order."""
    session.require(Permission.READ)
    where, params = _where(query)
    params.update(limit=max(0, limit), offset=max(0, offset))
    with _connection(session, query) as conn:
        rows = conn.execute(f"SELECT {evidence.ITEM_COLUMNS} FROM items WHERE {where} ORDER BY {_order(query)} "
                            "LIMIT :limit OFFSET :offset", params).fetchall()
    return [evidence.row_to_item(row) for row in rows]


def simple_order(query: ItemQuery) -> bool:
    """Whether ``item_page`` reads this query's pages from an index (exhibit order, no filter): otherwise each
    page sorts every item of the case, and a reader scrolling through should hold ``item_refs`` once instead."""
    return query.sort is ItemSort.EXHIBIT and not query.text.strip()


def item_refs(session: Session, query: ItemQuery) -> list[str]:
    """Every matching item's id, in the query's order: read once, then pages by ``evidence.items_by_ids``."""
    session.require(Permission.READ)
    where, params = _where(query)
    with _connection(session, query) as conn:
        return [str(row[0]) for row in conn.execute(f"SELECT id FROM items WHERE {where} ORDER BY {_order(query)}",
                                                    params).fetchall()]


def item_positions(session: Session, query: ItemQuery, item_ids: Sequence[str]) -> dict[str, int]:
    """Where each given item stands in the query's order (0-based); items not matching are left out."""
    session.require(Permission.READ)
    where, params = _where(query)
    keys = (*_KEYS[query.sort], "rowid")
    row_value = f"({', '.join(keys)})"
    before = ">" if query.descending else "<"
    found: dict[str, int] = {}
    with _connection(session, query) as conn:
        for start in range(0, len(item_ids), _BATCH):
            part = list(dict.fromkeys(item_ids[start : start + _BATCH]))
            marks = ", ".join(f":id{n}" for n in range(len(part)))
            batch = dict(params, **{f"id{n}": item_id for n, item_id in enumerate(part)})
            # Each wanted item's sort key, then how many matching items come before it.
            targets = conn.execute(f"SELECT id, {', '.join(keys)} FROM items WHERE {where} AND id IN ({marks})",
                                   batch).fetchall()
            for target in targets:
                key_params = dict(params, **{f"k{n}": value for n, value in enumerate(target[1:])})
                marks_k = ", ".join(f":k{n}" for n in range(len(keys)))
                position = conn.execute(f"SELECT count(*) FROM items WHERE {where} AND {row_value} {before} "
                                        f"({marks_k})", key_params).fetchone()[0]
                found[str(target[0])] = int(position)
    return found


def longest_exhibit(session: Session, case_id: str) -> str:
    """The case's longest exhibit number (a table sizes its column once, not by the rows it has read)."""
    session.require(Permission.READ)
    row = session.conn.execute("SELECT exhibit_number FROM items WHERE case_id = ? ORDER BY length(exhibit_number) "
                               "DESC LIMIT 1", (case_id,)).fetchone()
    return "" if row is None else str(row[0])
