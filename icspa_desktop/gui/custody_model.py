"""Custody events as a sortable, filterable table, and an event's full details as HTML.

The timeline holds our own events and, beside them, the partners' events that came with imported bundles
(``services.received``): those are theirs, as they signed them, and say so — a "Source" column naming the
partner and their event number, a tinted row, and a banner in the details.
"""

from __future__ import annotations

import heapq
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.crypto.signing import key_fingerprint
from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.enums import CUSTODY_ACTION_WORDS
from icspa_desktop.gui.markings import full_time
from icspa_desktop.gui.models import PreparedRows, RecordFilterModel, RecordTableModel, prepare_rows
from icspa_desktop.i18n import N_, _
from icspa_desktop.services import table_texts
from icspa_desktop.services.received import PartnerEventView
from icspa_desktop.services.table_texts import (
    OURS,
    EventColumn,
    action_text,
    actor_text,
    event_cells,
    event_extra,
    local_text,
    role_name,
)

# One row of a timeline: an event of our log, or a partner's event kept verbatim from a bundle.
TimelineEvent = StoredEvent | PartnerEventView
_PARTNER_BACKGROUND = QColor("#fff4dc")  # a warm tint; the Source column says the same in words


HEADERS = {
    EventColumn.INDEX: "#", EventColumn.TIME: N_("Time"), EventColumn.ACTION: N_("Action"),
    EventColumn.ITEMS: N_("Exhibit(s)"), EventColumn.PURPOSE: N_("Purpose"), EventColumn.ACTOR: N_("Actor"),
    EventColumn.SOURCE: N_("Source"), EventColumn.ROLE: N_("Role"), EventColumn.AUTHORITY: N_("Authority"),
    EventColumn.LOCATION: N_("Location"), EventColumn.RESULT: N_("Result"),
}

# Each recorded action in words (domain/enums.py).
ACTION_NAMES = CUSTODY_ACTION_WORDS


# Both timelines' first column widths (pixels; the rest stretches).
TIMELINE_WIDTHS = ((EventColumn.INDEX, 44), (EventColumn.TIME, 136), (EventColumn.ACTION, 120),
                   (EventColumn.ITEMS, 110), (EventColumn.PURPOSE, 160), (EventColumn.ACTOR, 140),
                   (EventColumn.SOURCE, 90), (EventColumn.ROLE, 88), (EventColumn.AUTHORITY, 100),
                   (EventColumn.LOCATION, 80), (EventColumn.RESULT, 64))


def notes_text(event: TimelineEvent) -> str:
    """An event's notes; a verification's problem (recorded in English) in the reader's language."""
    return table_texts.notes_text(event.action, event.body)


def utc_text(at: str) -> str:
    """``2026-11-26T22:01:02.123456Z`` → ``2026-11-26 22:01:02 UTC`` (no microseconds)."""
    return f"{at[:10]} {at[11:19]} UTC" if len(at) >= 19 else at


def items_text(body: Mapping[str, Any], exhibits: Mapping[str, str]) -> str:
    return ", ".join(exhibits.get(str(i), str(i)) for i in body.get("item_ids") or [])


def event_items_text(event: TimelineEvent, exhibits: Mapping[str, str]) -> str:
    """A partner's event names the partner's item ids; the view maps them to ours (``item_ids``)."""
    if isinstance(event, PartnerEventView):
        return ", ".join(exhibits.get(i, i) for i in event.item_ids)
    return items_text(event.body, exhibits)


def time_tooltip(event: TimelineEvent) -> str:
    """The moment with UTC beside it, and the actor's own local time as their event recorded it."""
    local = local_text(event.body)
    when = moment_text(event.at)
    return _("{when}; the actor's local time: {local}", when=when, local=local) if local else when


def event_texts(event: TimelineEvent, exhibits: Mapping[str, str]) -> tuple[str, ...]:
    """The cells of an event's row, in ``EventColumn`` order (``table_texts.event_cells``)."""
    items = event_items_text(event, exhibits)
    if isinstance(event, PartnerEventView):
        return event_cells(event.body, event.action, event.at, items, partner=event.partner_name,
                           leaf_index=event.leaf_index)
    return event_cells(event.body, event.action, event.at, items, index=event.index)


def event_text(event: TimelineEvent, column: EventColumn, exhibits: Mapping[str, str]) -> str:
    """One cell of the timeline."""
    return event_texts(event, exhibits)[column]


def event_key(event: TimelineEvent) -> str:
    """A row's stable id: our event id, or the partner's log position."""
    if isinstance(event, PartnerEventView):
        return f"partner:{event.partner_name}:{event.leaf_index}:{event.event_id}"
    return str(event.id)


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


@dataclass(frozen=True, slots=True)
class PreparedTimeline:
    """A timeline ready to show: merged, every cell's text computed (in the worker that loaded it)."""

    rows: PreparedRows[TimelineEvent]
    exhibits: dict[str, str]
    partner_count: int


def prepare_timeline(events: Iterable[StoredEvent], exhibits: Mapping[str, str],
                     partner_events: Iterable[PartnerEventView] = ()) -> PreparedTimeline:
    """Merge ours and the partners' events and compute every text the table shows (no Qt: any thread)."""
    merged = merge_timeline(events, partner_events)
    known = dict(exhibits)

    def texts(event: TimelineEvent) -> tuple[str, ...]:
        return event_texts(event, known)

    def extra(event: TimelineEvent) -> tuple[str, ...]:
        return event_extra(event.action, event.body)

    theirs = sum(isinstance(event, PartnerEventView) for event in merged)
    return PreparedTimeline(prepare_rows(merged, texts, extra), known, theirs)


class EventTableModel(RecordTableModel[TimelineEvent]):
    """One row per event, ours and the partners' merged in time order; ``exhibits`` maps item ids to exhibit
    numbers. The "#" and "Time" columns sort by that merged order."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_(HEADERS[c]) for c in EventColumn], event_key, parent)  # owned by its view's widget
        self._exhibits: dict[str, str] = {}
        self._partners = 0
        self._bold = QFont()
        self._bold.setBold(True)

    def set_events(self, events: list[StoredEvent], exhibits: Mapping[str, str] | None = None,
                   partner_events: Iterable[PartnerEventView] = ()) -> None:
        self.set_timeline(prepare_timeline(events, exhibits or {}, partner_events))

    def set_timeline(self, timeline: PreparedTimeline) -> None:
        self._exhibits = dict(timeline.exhibits)
        self._partners = timeline.partner_count
        self.set_prepared(timeline.rows)

    def clear(self) -> None:
        self._exhibits, self._partners = {}, 0
        super().clear()

    def row_texts(self, record: TimelineEvent) -> tuple[str, ...]:
        return event_texts(record, self._exhibits)

    def sort_value(self, row: int, column: int) -> Any:
        if column in (EventColumn.INDEX, EventColumn.TIME):
            return self._seq[row]
        return super().sort_value(row, column)

    def event_at(self, row: int) -> TimelineEvent:
        return self._records[row]

    def partner_count(self) -> int:
        return self._partners

    @property
    def exhibits(self) -> dict[str, str]:
        return dict(self._exhibits)

    def other_data(self, row: int, column: int, role: int) -> object:
        return event_role_data(self._records[row], self._texts[row][column], column, role, self._bold)


def event_role_data(event: TimelineEvent, text: str, column: int, role: int, bold: QFont) -> object:
    """A timeline cell's roles beyond its text (both timelines, in memory and paged): the partners' rows tinted,
    their source in bold, tooltips (whose event, the time in UTC and local, a long text in full)."""
    theirs = isinstance(event, PartnerEventView)
    if role == Qt.ItemDataRole.BackgroundRole and theirs:
        return QBrush(_PARTNER_BACKGROUND)
    if role == Qt.ItemDataRole.FontRole and theirs and column == EventColumn.SOURCE:
        return bold
    if role != Qt.ItemDataRole.ToolTipRole:
        return None
    if isinstance(event, PartnerEventView) and column in (EventColumn.INDEX, EventColumn.SOURCE):
        return _("Recorded by {partner} in their own custody log (their event #{index}); kept as they signed "
                 "it, with its proof", partner=event.partner_name, index=event.leaf_index)
    if column == EventColumn.TIME:
        return time_tooltip(event)
    return text if len(text) > 30 else None


class EventFilterModel(RecordFilterModel):
    """Case-insensitive filter over every column and the actor's local time, counterparty and notes."""


# ---- details ---------------------------------------------------------------------------------------
def _is_change(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"old", "new"}


_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
# Words of recorded keys that a reader should not have to decode (issue 11: "markings.handling_code").
_KEY_WORDS = {"tlp": "TLP", "sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5", "mime": "MIME", "id": "ID",
              "ids": "IDs", "url": "URL", "uco": "UCO", "pdf": "PDF", "cms": "CMS"}
_CONTAINERS = ("fields", "changes")  # wrappers that say nothing to the reader


def field_label(path: str) -> str:
    """``markings.handling_code`` → ``Markings › handling code``; ``fields.tlp`` → ``TLP``."""
    parts = [part for part in path.split(".") if part]
    while len(parts) > 1 and parts[0] in _CONTAINERS:
        parts = parts[1:]
    words = [" ".join(_KEY_WORDS.get(word, word) for word in part.split("_")) for part in parts]
    text = " › ".join(words) or path
    return text[:1].upper() + text[1:]


def moment_text(at: str) -> str:
    """A recorded moment as a reader wants it: the reader's conventions and this workstation's time to the
    second, with UTC beside it (``i18n.format_moment``)."""
    if not _ISO_MOMENT.match(at):
        return at
    try:
        return full_time(datetime.fromisoformat(at))
    except ValueError:
        return at


def _scalar(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        return moment_text(value)
    return str(value)


def _detail_rows(value: object, prefix: str = "") -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(field changes as (field, old, new), other facts as (key, value)) from an event's ``details``."""
    changes: list[tuple[str, str, str]] = []
    facts: list[tuple[str, str]] = []
    if _is_change(value):
        assert isinstance(value, dict)
        changes.append((field_label(prefix or "value"), _scalar(value["old"]), _scalar(value["new"])))
    elif isinstance(value, dict) and value:
        for key in sorted(value):
            name = str(key) if prefix in ("", "changes") else f"{prefix}.{key}"
            sub_changes, sub_facts = _detail_rows(value[key], name)
            changes.extend(sub_changes)
            facts.extend(sub_facts)
    elif value not in ("", None, [], {}):
        facts.append((field_label(prefix), _scalar(value)))
    return changes, facts


def event_details_html(event: TimelineEvent, exhibits: Mapping[str, str] | None = None) -> str:
    """Every recorded field of one event, for the details pane (escaped; nothing is interpreted)."""
    b = event.body
    e = html.escape
    actor = b.get("actor") or {}
    tool = b.get("tool") or {}
    theirs = isinstance(event, PartnerEventView)
    if isinstance(event, PartnerEventView):
        number = _("{partner}'s event #{index} · {id}", partner=event.partner_name, index=event.leaf_index,
                   id=event.event_id)
        source = _("{partner} (partner agency)", partner=event.partner_name)
    else:
        number, source = f"#{event.index} · {event.id}", _(OURS)
    role = str(actor.get("role", ""))
    actor_line = f"{actor_text(b)} · {role_name(role) if role else ''}" + (f" · {actor['agency']}"
                                                                           if actor.get("agency") else "")
    rows = [
        (_("Event"), number),
        (_("Source"), source),
        (_("Action"), action_text(event.action)),
        (_("Time"), moment_text(event.at)),
        (_("Actor's local time"), local_text(b)),
        (_("Actor"), actor_line),
        (_("Purpose"), b.get("purpose", "")), (_("Authority"), b.get("authority", "")),
        (_("Location"), b.get("location", "")), (_("Counterparty"), b.get("counterparty", "")),
        (_("Result"), b.get("result", "")), (_("Notes"), notes_text(event)),
        (_("Their case id") if theirs else _("Case id"), b.get("case_id") or ""),
        (_("Item(s)"), event_items_text(event, exhibits or {})),
        (_("Tool"), f"{tool.get('name', '')} {tool.get('version', '')}".strip()),
    ]
    parts = []
    if isinstance(event, PartnerEventView):
        parts.append(f"<p style='background:{_PARTNER_BACKGROUND.name()}; padding:6px'>"
                     + _("<b>Recorded by {partner}</b> in their own custody log, not ours: kept exactly as they "
                         "signed it, with its inclusion proof in their checkpoint, checked at import.",
                         partner=e(event.partner_name)) + "</p>")
    parts.append("<table class='event' cellspacing='0' cellpadding='3'>")
    empty = [label for label, value in rows if value in ("", None)]
    for label, value in rows:
        if value not in ("", None):
            parts.append(f"<tr><td class='k'><b>{e(label)}</b></td><td>{e(_scalar(value))}</td></tr>")
    if empty:  # every field is accounted for, without a column of dashes
        parts.append(f"<tr><td><b>{e(_('Not recorded'))}</b></td><td style='color:#7c8692'>{e(', '.join(empty))}"
                     "</td></tr>")
    parts.append("</table>")
    changes, facts = _detail_rows(b.get("details") or {})
    if changes:
        parts.append(f"<h4>{e(_('Changed fields'))}</h4><table cellspacing='0' cellpadding='3' border='1'>"
                     f"<tr><th>{e(_('Field'))}</th><th>{e(_('Old'))}</th><th>{e(_('New'))}</th></tr>")
        for name, old, new in changes:
            parts.append(f"<tr><td>{e(name)}</td><td>{e(old)}</td><td>{e(new)}</td></tr>")
        parts.append("</table>")
    if facts:
        parts.append(f"<h4>{e(_('Details'))}</h4><table cellspacing='0' cellpadding='3'>")
        for key, value in facts:
            parts.append(f"<tr><td><b>{e(key)}</b></td><td>{e(value)}</td></tr>")
        parts.append("</table>")
    hashes = b.get("hashes") or {}
    if hashes:
        parts.append(f"<h4>{e(_('Hashes'))}</h4><table cellspacing='0' cellpadding='3'>")
        for algorithm in sorted(hashes):
            parts.append(f"<tr><td><b>{e(algorithm.upper())}</b></td><td><tt>{e(str(hashes[algorithm]))}</tt></td>"
                         "</tr>")
        parts.append("</table>")
    if isinstance(event, PartnerEventView):
        parts.append(f"<h4>{e(_('Signature'))}</h4><p>"
                     + e(_("Signed by the partner's officer; the signature and the event's inclusion in their signed "
                           "checkpoint were verified when the bundle was imported, and 'Verify custody' checks them "
                           "again.")) + "</p>")
        return "".join(parts)
    parts.append(f"<h4>{e(_('Signature'))}</h4><table cellspacing='0' cellpadding='3'>")
    for label, value in ((_("Signing key fingerprint"), key_fingerprint(event.public_key)),
                         (_("Public key (hex)"), event.public_key.hex()),
                         (_("Ed25519 signature (hex)"), event.signature.hex()),
                         (_("Merkle leaf hash"), event.leaf_hash.hex())):
        parts.append(f"<tr><td><b>{e(label)}</b></td><td><tt>{e(value)}</tt></td></tr>")
    parts.append("</table>")
    return "".join(parts)
