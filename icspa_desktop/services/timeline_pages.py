"""A case's custody timeline a page at a time (issue 11: 200,000 events must not be read to show the first 40).

The timeline is our events of the case and, beside them, the partners' events that came with imported bundles
(``services.received``). A query names the case, the column to sort by, the direction and the filter text:
``count_events`` says how many match, ``event_page`` reads a page (each row with the exhibit numbers of its
items), ``event_positions`` where given rows stand (to keep a selection across a reload).

The default order (``TimelineSort.ORDER``) is the log's: ours by their index; when the case holds partners'
events, everything by time (ours before theirs at the same moment). The other sorts order by the cell's text as
the table shows it (``table_texts``, the functions the timeline's model shows: the action and the role in the
reader's words), case-folded, in natural order; ties keep the default order, the same way round. "Source" puts
ours first, then each partner's.

The filter is case-insensitive and finds exactly the texts the table's cells show, in the reader's language and
time zone — "#" (our index), the time as shown, the action's words, the exhibit numbers, purpose, actor, source
("this agency", or the partner's name and "#" their index), role, authority, location, result — and the actor's
local time and zone, the counterparty and the notes, as the details show them. The cells are worded by
``table_texts`` from SQL; only rows whose stored text could hold the filter's text are worded in full
(``_where`` says when that is every row).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from icspa_desktop.custody import events
from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.enums import CUSTODY_ACTION_WORDS, CustodyAction, Role
from icspa_desktop.i18n import _
from icspa_desktop.services import received
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.received import PartnerEventView
from icspa_desktop.services.session import Session
from icspa_desktop.services.table_texts import OURS, action_text, could_be_time, role_name


class TimelineSort(StrEnum):
    ORDER = "order"  # the log's order (the "#" and "Time" columns)
    ACTION = "action"
    ITEMS = "items"
    PURPOSE = "purpose"
    ACTOR = "actor"
    SOURCE = "source"  # ours first, then each partner's
    ROLE = "role"
    AUTHORITY = "authority"
    LOCATION = "location"
    RESULT = "result"


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    case_id: str
    sort: TimelineSort = TimelineSort.ORDER
    descending: bool = False
    text: str = ""


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One row: our event or a partner's, with the exhibit numbers of the items it names (item id → exhibit)."""

    event: StoredEvent | PartnerEventView
    exhibits: dict[str, str]

    @property
    def key(self) -> str:
        return row_key(self.event)


def row_key(event: StoredEvent | PartnerEventView) -> str:
    """A row's stable id: our event id, or the partner's log position."""
    if isinstance(event, PartnerEventView):
        return f"partner:{event.partner_name}:{event.leaf_index}:{event.event_id}"
    return str(event.id)


# Both kinds of rows as one relation: src 0 ours (pos = our index), 1 theirs (pos = their leaf index).
_ROWS = """
    SELECT 0 AS src, e.idx AS pos, '' AS origin, e.at AS at, e.action AS action, CAST(e.body AS TEXT) AS body,
           '' AS partner, e.id AS key
    FROM custody_events e WHERE e.case_id = :case
    UNION ALL
    SELECT 1, p.leaf_index, p.origin, p.at, p.action, CAST(p.body AS TEXT),
           COALESCE(pa.name, b.partner_fingerprint, ''),
           'partner:' || COALESCE(pa.name, b.partner_fingerprint, '') || ':' || p.leaf_index || ':' || p.event_id
    FROM partner_events p LEFT JOIN bundles_received b ON b.id = p.bundle_id
         LEFT JOIN partners pa ON pa.id = b.partner_id
    WHERE p.case_id = :case"""


def _of_items(value: str, separator: str) -> str:
    """The row's items' ``value`` joined by ``separator``: a subquery evaluated only where it is asked for (as a
    column of ``_ROWS`` it was evaluated for every row, ~0.8 s over 200,000 events)."""
    return f"""CASE WHEN r.src = 0
        THEN (SELECT group_concat({value}, {separator}) FROM custody_event_items ci JOIN items i ON i.id = ci.item_id
              WHERE ci.event_idx = r.pos)
        ELSE (SELECT group_concat({value}, {separator}) FROM partner_event_items pi JOIN items i ON i.id = pi.item_id
              WHERE pi.origin = r.origin AND pi.leaf_index = r.pos) END"""


def _json(path: str) -> str:
    return f"COALESCE(json_extract(body, '$.{path}'), '')"


_KEYS: dict[TimelineSort, tuple[str, ...]] = {
    TimelineSort.ACTION: ("icspa_natural(icspa_action(action, partner))",),
    TimelineSort.ITEMS: ("icspa_natural(COALESCE(" + _of_items("i.exhibit_number", "', '") + ", ''))",),
    TimelineSort.PURPOSE: (f"icspa_natural({_json('purpose')})",),
    TimelineSort.ACTOR: ("icspa_natural(COALESCE(json_extract(body, '$.actor.display_name'), "
                         "json_extract(body, '$.actor.name'), ''))",),
    TimelineSort.SOURCE: ("src", "icspa_natural(partner)"),
    TimelineSort.ROLE: (f"icspa_natural(icspa_role({_json('actor.role')}))",),
    TimelineSort.AUTHORITY: (f"icspa_natural({_json('authority')})",),
    TimelineSort.LOCATION: (f"icspa_natural({_json('location')})",),
    TimelineSort.RESULT: (f"icspa_natural({_json('result')})",),
}

# A row's texts as the table shows them, case-folded (table_texts): JSON read and worded in Python, ~10 µs a row.
_TEXTS = ("icspa_event_text(src, pos, at, action, body, partner, "
          f"{_of_items('i.id || char(31) || i.exhibit_number', 'char(30)')})")
# What joins the parts of our rows' cells and extras that are stored apart: "Alice Admin (alice)", "2026-11-30
# 20:07:51 UTC", "BIG/001-7, BIG/001-8" (a partner's rows are always worded in full: see ``_where``).
_JOINS = re.compile(r"[ (),]")


def _has_partners(session: Session, case_id: str) -> bool:
    return session.conn.execute("SELECT 1 FROM partner_events WHERE case_id = ? LIMIT 1", (case_id,)).fetchone() \
        is not None


def _order_keys(session: Session, query: TimelineQuery) -> tuple[str, ...]:
    base = ("at", "src", "pos") if _has_partners(session, query.case_id) else ("src", "pos")
    return (*_KEYS.get(query.sort, ()), *base)


def _where(query: TimelineQuery) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {"case": query.case_id}
    needle = query.text.strip().casefold()
    if not needle:
        return "1", params
    params["needle"] = needle
    # The texts not stored as such, cheapest first: our index, the time as shown, the exhibit numbers.
    clauses = ["(src = 0 AND instr(pos, :needle) > 0)",
               *(["instr(icspa_fold(icspa_time(at)), :needle) > 0"] if could_be_time(needle) else []),
               """(src = 0 AND pos IN (SELECT ci.event_idx FROM custody_event_items ci JOIN items i ON i.id = ci.item_id
                   WHERE i.case_id = :case AND instr(icspa_fold(i.exhibit_number), :needle) > 0))""",
               """(src = 1 AND (origin, pos) IN (SELECT pi.origin, pi.leaf_index FROM partner_event_items pi
                   JOIN items i ON i.id = pi.item_id
                   WHERE i.case_id = :case AND instr(icspa_fold(i.exhibit_number), :needle) > 0))"""]
    if needle in _(OURS).casefold():
        clauses.append("src = 0")
    # Words from a small set (the actions', the roles'): the codes whose words hold the text, matched as codes.
    actions = [code for code in CUSTODY_ACTION_WORDS if needle in action_text(code).casefold()]
    roles = [role.value for role in Role if needle in role_name(role).casefold()]
    if actions:
        params.update({f"a{n}": code for n, code in enumerate(actions)})
        clauses.append(f"action IN ({', '.join(f':a{n}' for n in range(len(actions)))})")
    if roles:
        params.update({f"r{n}": code for n, code in enumerate(roles)})
        clauses.append(f"{_json('actor.role')} IN ({', '.join(f':r{n}' for n in range(len(roles)))})")
    # Every other text comes from the row's body, worded in full (a partner's rows and verifications always: their
    # cells and notes are worded beyond what they store) where the stored body holds each part of the filter's text
    # between the joins of a cell's parts: the longest part is asked for. A text the body stores escaped (a quote, a
    # backslash, a control character), or one of joins only, is looked for on every row.
    parts = [part for part in _JOINS.split(needle) if part]
    if not parts or any(char in needle for char in '"\\') or any(ord(char) < 32 for char in needle):
        clauses.append(f"instr({_TEXTS}, :needle) > 0")
    else:
        clauses.append(f"((src = 1 OR action = :verified OR instr(icspa_fold(body), :part) > 0) "
                       f"AND instr({_TEXTS}, :needle) > 0)")
        params.update(part=max(parts, key=len), verified=CustodyAction.VERIFIED.value)
    return "(" + " OR ".join(clauses) + ")", params


def _connection(session: Session, query: TimelineQuery) -> contextlib.AbstractContextManager[Any]:
    """The session's connection in the log's order without a filter (plain SQL); otherwise the reader (our SQL
    functions, one thread at a time)."""
    if simple_order(query):
        return contextlib.nullcontext(session.conn)
    return session.reading()


def _order(keys: tuple[str, ...], descending: bool) -> str:
    direction = " DESC" if descending else ""
    return ", ".join(f"{key}{direction}" for key in keys)


def count_events(session: Session, query: TimelineQuery) -> int:
    """How many rows of the case's timeline match the query's filter."""
    session.require(Permission.READ)
    where, params = _where(query)
    if where == "1":  # the common case, without the union's per-row work
        ours = session.conn.execute("SELECT count(*) FROM custody_events WHERE case_id = ?", (query.case_id,))
        theirs = session.conn.execute("SELECT count(*) FROM partner_events WHERE case_id = ?", (query.case_id,))
        return int(ours.fetchone()[0]) + int(theirs.fetchone()[0])
    with _connection(session, query) as conn:
        return int(conn.execute(f"SELECT count(*) FROM ({_ROWS}) AS r WHERE {where}", params).fetchone()[0])


def partner_count(session: Session, case_id: str) -> int:
    """How many of the case's rows are partners' events."""
    session.require(Permission.READ)
    return int(session.conn.execute("SELECT count(*) FROM partner_events WHERE case_id = ?", (case_id,)).fetchone()[0])


def last_index(session: Session, case_id: str) -> str:
    """Our last event's index in the case, as text (a table sizes its "#" column once)."""
    session.require(Permission.READ)
    row = session.conn.execute("SELECT max(idx) FROM custody_events WHERE case_id = ?", (case_id,)).fetchone()
    return "" if row is None or row[0] is None else str(row[0])


def event_page(session: Session, query: TimelineQuery, offset: int, limit: int) -> list[TimelineRow]:
    """Up to ``limit`` rows from position ``offset`` (0-based) in the query's order."""
    session.require(Permission.READ)
    where, params = _where(query)
    params.update(limit=max(0, limit), offset=max(0, offset))
    order = _order(_order_keys(session, query), query.descending)
    if where == "1" and query.sort is TimelineSort.ORDER and not _has_partners(session, query.case_id):
        # Ours only, in log order: straight from the index on case_id, without the union.
        direction = "DESC" if query.descending else "ASC"
        keys = [(0, int(r[0]), "") for r in session.conn.execute(
            f"SELECT idx FROM custody_events WHERE case_id = :case ORDER BY idx {direction} LIMIT :limit "
            "OFFSET :offset", params)]
    else:
        with _connection(session, query) as conn:
            keys = [(int(src), int(pos), str(origin)) for src, pos, origin in conn.execute(
                f"SELECT src, pos, origin FROM ({_ROWS}) AS r WHERE {where} ORDER BY {order} LIMIT :limit "
                "OFFSET :offset", params).fetchall()]
    return _rows(session, keys)


@dataclass(frozen=True, slots=True)
class RowRef:
    """Where a row is stored: ours (src 0, pos = our index) or a partner's (src 1, their origin and leaf index)."""

    src: int
    pos: int
    origin: str
    key: str  # ``row_key`` of the row


def simple_order(query: TimelineQuery) -> bool:
    """Whether ``event_page`` reads this query's pages from an index (the log's order, no filter): otherwise
    each page sorts every row, and a reader scrolling through should hold ``event_refs`` once instead."""
    return query.sort is TimelineSort.ORDER and not query.text.strip()


def event_refs(session: Session, query: TimelineQuery) -> list[RowRef]:
    """Every matching row's place, in the query's order: read once, then pages by ``rows_at``."""
    session.require(Permission.READ)
    where, params = _where(query)
    order = _order(_order_keys(session, query), query.descending)
    with _connection(session, query) as conn:
        return [RowRef(int(src), int(pos), str(origin), str(key)) for src, pos, origin, key in conn.execute(
            f"SELECT src, pos, origin, key FROM ({_ROWS}) AS r WHERE {where} ORDER BY {order}", params).fetchall()]


def rows_at(session: Session, refs: Sequence[RowRef]) -> list[TimelineRow]:
    """The rows at these places, in this order."""
    session.require(Permission.READ)
    return _rows(session, [(ref.src, ref.pos, ref.origin) for ref in refs])


def _rows(session: Session, keys: Sequence[tuple[int, int, str]]) -> list[TimelineRow]:
    ours = events.events_by_index(session.conn, [pos for src, pos, _origin in keys if src == 0])
    theirs = {(view_origin, view.leaf_index): view for view_origin, view in
              received.partner_events_at(session, [(origin, pos) for src, pos, origin in keys if src == 1])}
    found: list[StoredEvent | PartnerEventView] = []
    for src, pos, origin in keys:
        event = ours.get(pos) if src == 0 else theirs.get((origin, pos))
        if event is not None:
            found.append(event)
    item_ids = sorted({str(i) for event in found for i in _item_ids(event)})
    exhibits = _exhibits(session, item_ids)
    return [TimelineRow(event, {i: exhibits[i] for i in _item_ids(event) if i in exhibits}) for event in found]


def _item_ids(event: StoredEvent | PartnerEventView) -> list[str]:
    if isinstance(event, PartnerEventView):
        return list(event.item_ids)
    return [str(i) for i in event.body.get("item_ids") or []]


def _exhibits(session: Session, item_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(item_ids), 500):
        part = list(item_ids[start : start + 500])
        marks = ",".join("?" * len(part))
        for item_id, exhibit in session.conn.execute(
                f"SELECT id, exhibit_number FROM items WHERE id IN ({marks})", part):
            found[str(item_id)] = str(exhibit)
    return found


def event_positions(session: Session, query: TimelineQuery, keys: Sequence[str]) -> dict[str, int]:
    """Where each row (``row_key``) stands in the query's order (0-based); rows not matching are left out."""
    session.require(Permission.READ)
    if not keys:
        return {}
    if simple_order(query) and not _has_partners(session, query.case_id):
        # Ours only, in log order: how many of the case's events come before each (the index on case_id).
        found: dict[str, int] = {}
        for key in list(dict.fromkeys(keys))[:500]:
            row = session.conn.execute("SELECT idx FROM custody_events WHERE id = ? AND case_id = ?",
                                       (key, query.case_id)).fetchone()
            if row is not None:
                before = ">" if query.descending else "<"
                found[key] = int(session.conn.execute(
                    f"SELECT count(*) FROM custody_events WHERE case_id = ? AND idx {before} ?",
                    (query.case_id, int(row[0]))).fetchone()[0])
        return found
    where, params = _where(query)
    order = _order(_order_keys(session, query), query.descending)
    wanted = list(dict.fromkeys(keys))[:500]
    params.update({f"k{n}": key for n, key in enumerate(wanted)})
    marks = ", ".join(f":k{n}" for n in range(len(wanted)))
    with _connection(session, query) as conn:
        rows = conn.execute(
            f"SELECT key, n FROM (SELECT key, row_number() OVER (ORDER BY {order}) - 1 AS n FROM ({_ROWS}) AS r "
            f"WHERE {where}) WHERE key IN ({marks})", params).fetchall()
    return {str(key): int(n) for key, n in rows}
