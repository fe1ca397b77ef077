"""Custody events as a sortable, filterable table, and an event's full details as HTML.

The timeline holds our own events and, beside them, the partners' events that came with imported bundles
(``services.received``): those are theirs, as they signed them, and say so — a "Source" column naming the
partner and their event number, a tinted row, and a banner in the details.
"""

from __future__ import annotations

import heapq
import html
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.crypto.signing import key_fingerprint
from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.services.received import PartnerEventView

_Index = QModelIndex | QPersistentModelIndex
# One row of a timeline: an event of our log, or a partner's event kept verbatim from a bundle.
TimelineEvent = StoredEvent | PartnerEventView
OURS = "this agency"
_PARTNER_BACKGROUND = QColor("#fff4dc")  # a warm tint; the Source column says the same in words


class EventColumn(IntEnum):
    INDEX = 0
    SOURCE = 1
    TIME_UTC = 2
    LOCAL_TIME = 3
    ACTOR = 4
    ROLE = 5
    ACTION = 6
    PURPOSE = 7
    AUTHORITY = 8
    LOCATION = 9
    RESULT = 10
    ITEMS = 11


HEADERS = {
    EventColumn.INDEX: "#", EventColumn.SOURCE: "Source", EventColumn.TIME_UTC: "Time (UTC)",
    EventColumn.LOCAL_TIME: "Actor's local time",
    EventColumn.ACTOR: "Actor", EventColumn.ROLE: "Role", EventColumn.ACTION: "Action",
    EventColumn.PURPOSE: "Purpose", EventColumn.AUTHORITY: "Authority", EventColumn.LOCATION: "Location",
    EventColumn.RESULT: "Result", EventColumn.ITEMS: "Item(s)",
}


def action_text(action: str) -> str:
    return action.replace("_", " ")


def utc_text(at: str) -> str:
    """``2026-11-26T22:01:02.123456Z`` → ``2026-11-26 22:01:02``."""
    return f"{at[:10]} {at[11:19]}" if len(at) >= 19 else at


def local_text(body: Mapping[str, Any]) -> str:
    local = str(body.get("local_time", ""))
    zone = str(body.get("time_zone", ""))
    text = f"{local[:10]} {local[11:19]}" if len(local) >= 19 else local
    return f"{text} {zone}".strip()


def actor_text(body: Mapping[str, Any]) -> str:
    actor = body.get("actor") or {}
    name = str(actor.get("name", "?"))
    display = str(actor.get("display_name") or name)
    return display if display == name else f"{display} ({name})"


def items_text(body: Mapping[str, Any], exhibits: Mapping[str, str]) -> str:
    return ", ".join(exhibits.get(str(i), str(i)) for i in body.get("item_ids") or [])


def event_items_text(event: TimelineEvent, exhibits: Mapping[str, str]) -> str:
    """A partner's event names the partner's item ids; the view maps them to ours (``item_ids``)."""
    if isinstance(event, PartnerEventView):
        return ", ".join(exhibits.get(i, i) for i in event.item_ids)
    return items_text(event.body, exhibits)


def source_text(event: TimelineEvent) -> str:
    if isinstance(event, PartnerEventView):
        return f"{event.partner_name} #{event.leaf_index}"
    return OURS


def _moment(at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def merge_timeline(ours: Iterable[StoredEvent], theirs: Iterable[PartnerEventView]) -> list[TimelineEvent]:
    """Both in time order; each list keeps its own order (our log order is authoritative for ours)."""
    def key(event: TimelineEvent) -> datetime:
        return _moment(event.at)

    mine: Iterable[TimelineEvent] = ours
    partners: Iterable[TimelineEvent] = theirs
    return list(heapq.merge(mine, partners, key=key))


class EventTableModel(QAbstractTableModel):
    """One row per event, ours and the partners' merged in time order; ``exhibits`` maps item ids to exhibit
    numbers. The "#" column sorts by that merged order."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)  # owned by its view's widget (see gui/models.py)
        self._events: list[TimelineEvent] = []
        self._exhibits: dict[str, str] = {}

    def set_events(self, events: list[StoredEvent], exhibits: Mapping[str, str] | None = None,
                   partner_events: Iterable[PartnerEventView] = ()) -> None:
        self.beginResetModel()
        self._events = merge_timeline(events, partner_events)
        self._exhibits = dict(exhibits or {})
        self.endResetModel()

    def clear(self) -> None:
        self.set_events([])

    def event_at(self, row: int) -> TimelineEvent:
        return self._events[row]

    def partner_count(self) -> int:
        return sum(isinstance(event, PartnerEventView) for event in self._events)

    @property
    def exhibits(self) -> dict[str, str]:
        return dict(self._exhibits)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(EventColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[EventColumn(section)]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event = self._events[index.row()]
        column = EventColumn(index.column())
        theirs = isinstance(event, PartnerEventView)
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return index.row() if column is EventColumn.INDEX else self.text(event, column).casefold()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(event, column)
        if role == Qt.ItemDataRole.BackgroundRole and theirs:
            return QBrush(_PARTNER_BACKGROUND)
        if role == Qt.ItemDataRole.FontRole and theirs and column is EventColumn.SOURCE:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and theirs and column in (EventColumn.INDEX, EventColumn.SOURCE):
            assert isinstance(event, PartnerEventView)
            return (f"Recorded by {event.partner_name} in their own custody log (their event #{event.leaf_index}); "
                    "kept as they signed it, with its proof")
        if role == Qt.ItemDataRole.ToolTipRole and column is EventColumn.LOCAL_TIME:
            return str(event.body.get("local_time", ""))
        if role == Qt.ItemDataRole.ToolTipRole and column is EventColumn.TIME_UTC:
            return event.at
        if role == Qt.ItemDataRole.ToolTipRole:
            text = self.text(event, column)
            return text if len(text) > 30 else None
        return None

    def text(self, event: TimelineEvent, column: EventColumn) -> str:
        b = event.body
        match column:
            case EventColumn.INDEX:
                return "" if isinstance(event, PartnerEventView) else str(event.index)
            case EventColumn.SOURCE:
                return source_text(event)
            case EventColumn.TIME_UTC:
                return utc_text(event.at)
            case EventColumn.LOCAL_TIME:
                return local_text(b)
            case EventColumn.ACTOR:
                return f"{actor_text(b)}, {event.partner_name}" if isinstance(event, PartnerEventView) \
                    else actor_text(b)
            case EventColumn.ROLE:
                return str((b.get("actor") or {}).get("role", ""))
            case EventColumn.ACTION:  # theirs named here too: the Source column may be scrolled out of view
                return f"{event.partner_name}: {action_text(event.action)}" if isinstance(event, PartnerEventView) \
                    else action_text(event.action)
            case EventColumn.ITEMS:
                return event_items_text(event, self._exhibits)
            case _:
                return str(b.get(column.name.lower(), ""))


class EventFilterModel(QSortFilterProxyModel):
    """Case-insensitive filter over every column; numeric sort of the event index."""

    def __init__(self, source: EventTableModel, parent: QObject) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setSortRole(Qt.ItemDataRole.UserRole)


# ---- details ---------------------------------------------------------------------------------------
def _is_change(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"old", "new"}


def _scalar(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _detail_rows(value: object, prefix: str = "") -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(field changes as (field, old, new), other facts as (key, value)) from an event's ``details``."""
    changes: list[tuple[str, str, str]] = []
    facts: list[tuple[str, str]] = []
    if _is_change(value):
        assert isinstance(value, dict)
        changes.append((prefix or "value", _scalar(value["old"]), _scalar(value["new"])))
    elif isinstance(value, dict) and value:
        for key in sorted(value):
            name = str(key) if prefix in ("", "changes") else f"{prefix}.{key}"
            sub_changes, sub_facts = _detail_rows(value[key], name)
            changes.extend(sub_changes)
            facts.extend(sub_facts)
    elif value not in ("", None, [], {}):
        facts.append((prefix, _scalar(value)))
    return changes, facts


def event_details_html(event: TimelineEvent, exhibits: Mapping[str, str] | None = None) -> str:
    """Every recorded field of one event, for the details pane (escaped; nothing is interpreted)."""
    b = event.body
    e = html.escape
    actor = b.get("actor") or {}
    tool = b.get("tool") or {}
    theirs = isinstance(event, PartnerEventView)
    if isinstance(event, PartnerEventView):
        number, source = f"{event.partner_name}'s event #{event.leaf_index} · {event.event_id}", event.partner_name
    else:
        number, source = f"#{event.index} · {event.id}", OURS
    rows = [
        ("Event", number),
        ("Source", f"{source} (partner agency)" if theirs else OURS),
        ("Action", action_text(event.action)),
        ("Time (UTC)", event.at),
        ("Actor's local time", local_text(b)),
        ("Actor", f"{actor_text(b)} · {actor.get('role', '')}" + (f" · {actor['agency']}" if actor.get("agency")
                                                                   else "")),
        ("Purpose", b.get("purpose", "")), ("Authority", b.get("authority", "")),
        ("Location", b.get("location", "")), ("Counterparty", b.get("counterparty", "")),
        ("Result", b.get("result", "")), ("Notes", b.get("notes", "")),
        ("Their case id" if theirs else "Case id", b.get("case_id") or ""),
        ("Item(s)", event_items_text(event, exhibits or {})),
        ("Tool", f"{tool.get('name', '')} {tool.get('version', '')}".strip()),
    ]
    parts = []
    if isinstance(event, PartnerEventView):
        parts.append(f"<p style='background:{_PARTNER_BACKGROUND.name()}; padding:6px'><b>Recorded by "
                     f"{e(event.partner_name)}</b> in their own custody log, not ours: kept exactly as they signed it, "
                     "with its inclusion proof in their checkpoint, checked at import.</p>")
    parts.append("<table class='event' cellspacing='0' cellpadding='3'>")
    empty = [label for label, value in rows if value in ("", None)]
    for label, value in rows:
        if value not in ("", None):
            parts.append(f"<tr><td class='k'><b>{e(label)}</b></td><td>{e(_scalar(value))}</td></tr>")
    if empty:  # every field is accounted for, without a column of dashes
        parts.append(f"<tr><td><b>Not recorded</b></td><td style='color:#7c8692'>{e(', '.join(empty))}</td></tr>")
    parts.append("</table>")
    changes, facts = _detail_rows(b.get("details") or {})
    if changes:
        parts.append("<h4>Changed fields</h4><table cellspacing='0' cellpadding='3' border='1'>"
                     "<tr><th>Field</th><th>Old</th><th>New</th></tr>")
        for name, old, new in changes:
            parts.append(f"<tr><td>{e(name)}</td><td>{e(old)}</td><td>{e(new)}</td></tr>")
        parts.append("</table>")
    if facts:
        parts.append("<h4>Details</h4><table cellspacing='0' cellpadding='3'>")
        for key, value in facts:
            parts.append(f"<tr><td><b>{e(key)}</b></td><td>{e(value)}</td></tr>")
        parts.append("</table>")
    hashes = b.get("hashes") or {}
    if hashes:
        parts.append("<h4>Hashes</h4><table cellspacing='0' cellpadding='3'>")
        for algorithm in sorted(hashes):
            parts.append(f"<tr><td><b>{e(algorithm.upper())}</b></td><td><tt>{e(str(hashes[algorithm]))}</tt></td>"
                         "</tr>")
        parts.append("</table>")
    if isinstance(event, PartnerEventView):
        parts.append("<h4>Signature</h4><p>Signed by the partner's officer; the signature and the event's inclusion "
                     "in their signed checkpoint were verified when the bundle was imported, and 'Verify custody' "
                     "checks them again.</p>")
        return "".join(parts)
    parts.append("<h4>Signature</h4><table cellspacing='0' cellpadding='3'>")
    for label, value in (("Signing key fingerprint", key_fingerprint(event.public_key)),
                         ("Public key (hex)", event.public_key.hex()),
                         ("Ed25519 signature (hex)", event.signature.hex()),
                         ("Merkle leaf hash", event.leaf_hash.hex())):
        parts.append(f"<tr><td><b>{e(label)}</b></td><td><tt>{e(value)}</tt></td></tr>")
    parts.append("</table>")
    return "".join(parts)
