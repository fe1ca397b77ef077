"""Custody events as a sortable, filterable table, and an event's full details as HTML."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from icspa_desktop.crypto.signing import key_fingerprint
from icspa_desktop.custody.events import StoredEvent

_Index = QModelIndex | QPersistentModelIndex


class EventColumn(IntEnum):
    INDEX = 0
    TIME_UTC = 1
    LOCAL_TIME = 2
    ACTOR = 3
    ROLE = 4
    ACTION = 5
    PURPOSE = 6
    AUTHORITY = 7
    LOCATION = 8
    RESULT = 9
    ITEMS = 10


HEADERS = {
    EventColumn.INDEX: "#", EventColumn.TIME_UTC: "Time (UTC)", EventColumn.LOCAL_TIME: "Actor's local time",
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


class EventTableModel(QAbstractTableModel):
    """One row per custody event, in log order; ``exhibits`` maps item ids to exhibit numbers."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)  # owned by its view's widget (see gui/models.py)
        self._events: list[StoredEvent] = []
        self._exhibits: dict[str, str] = {}

    def set_events(self, events: list[StoredEvent], exhibits: Mapping[str, str] | None = None) -> None:
        self.beginResetModel()
        self._events = list(events)
        self._exhibits = dict(exhibits or {})
        self.endResetModel()

    def clear(self) -> None:
        self.set_events([])

    def event_at(self, row: int) -> StoredEvent:
        return self._events[row]

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
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return event.index if column is EventColumn.INDEX else self.text(event, column).casefold()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(event, column)
        if role == Qt.ItemDataRole.ToolTipRole and column is EventColumn.LOCAL_TIME:
            return str(event.body.get("local_time", ""))
        if role == Qt.ItemDataRole.ToolTipRole and column is EventColumn.TIME_UTC:
            return event.at
        if role == Qt.ItemDataRole.ToolTipRole:
            text = self.text(event, column)
            return text if len(text) > 30 else None
        return None

    def text(self, event: StoredEvent, column: EventColumn) -> str:
        b = event.body
        match column:
            case EventColumn.INDEX:
                return str(event.index)
            case EventColumn.TIME_UTC:
                return utc_text(event.at)
            case EventColumn.LOCAL_TIME:
                return local_text(b)
            case EventColumn.ACTOR:
                return actor_text(b)
            case EventColumn.ROLE:
                return str((b.get("actor") or {}).get("role", ""))
            case EventColumn.ACTION:
                return action_text(event.action)
            case EventColumn.ITEMS:
                return items_text(b, self._exhibits)
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


def event_details_html(event: StoredEvent, exhibits: Mapping[str, str] | None = None) -> str:
    """Every recorded field of one event, for the details pane (escaped; nothing is interpreted)."""
    b = event.body
    e = html.escape
    actor = b.get("actor") or {}
    tool = b.get("tool") or {}
    rows = [
        ("Event", f"#{event.index} · {event.id}"),
        ("Action", action_text(event.action)),
        ("Time (UTC)", event.at),
        ("Actor's local time", local_text(b)),
        ("Actor", f"{actor_text(b)} · {actor.get('role', '')}" + (f" · {actor['agency']}" if actor.get("agency")
                                                                   else "")),
        ("Purpose", b.get("purpose", "")), ("Authority", b.get("authority", "")),
        ("Location", b.get("location", "")), ("Counterparty", b.get("counterparty", "")),
        ("Result", b.get("result", "")), ("Notes", b.get("notes", "")),
        ("Case id", b.get("case_id") or ""),
        ("Item(s)", items_text(b, exhibits or {})),
        ("Tool", f"{tool.get('name', '')} {tool.get('version', '')}".strip()),
    ]
    parts = ["<table class='event' cellspacing='0' cellpadding='3'>"]
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
    parts.append("<h4>Signature</h4><table cellspacing='0' cellpadding='3'>")
    for label, value in (("Signing key fingerprint", key_fingerprint(event.public_key)),
                         ("Public key (hex)", event.public_key.hex()),
                         ("Ed25519 signature (hex)", event.signature.hex()),
                         ("Merkle leaf hash", event.leaf_hash.hex())):
        parts.append(f"<tr><td><b>{e(label)}</b></td><td><tt>{e(value)}</tt></td></tr>")
    parts.append("</table>")
    return "".join(parts)
