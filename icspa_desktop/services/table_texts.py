"""The texts the evidence table and the custody timeline show in their cells, in the reader's language and time
zone (issue 11: an investigator types what they see into the filter box and sorts by what they see).

One definition for both sides: the GUI's table models show these texts, and the paged services
(``item_pages``, ``timeline_pages``) filter and sort by the same functions, called from SQL on the read-only
reader connection (``register_functions``; ``Session.reading`` registers them). Qt-free.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from icspa_desktop.domain.enums import CUSTODY_ACTION_WORDS, CustodyAction, Role
from icspa_desktop.domain.evidence import ItemKind
from icspa_desktop.i18n import N_, SIZE_UNITS, _, current_language, decimal_separator, format_local, format_size
from icspa_desktop.services import fixity
from icspa_desktop.vault.db import Connection

OURS = N_("this agency")  # the Source of our own events; translated where shown
_ROLES = {Role.ADMINISTRATOR: N_("administrator"), Role.SUPERVISOR: N_("supervisor"),
          Role.INVESTIGATOR: N_("investigator"), Role.AUDITOR: N_("auditor")}


# ---- the evidence table --------------------------------------------------------------------------------------
def kind_text(kind: str) -> str:
    """An item's kind as the table words it: ``file`` or ``physical``."""
    return _("file") if kind == ItemKind.DIGITAL else _("physical")


def status_text(kind: str, checked_out: bool, holder: str) -> str:
    """``stored`` (digital), ``in storage`` or ``checked out to {holder}`` (physical)."""
    if kind == ItemKind.DIGITAL:
        return _("stored")
    return _("checked out to {holder}", holder=holder) if checked_out else _("in storage")


def size_text(size: int | None) -> str:
    """A size as the table shows it (``i18n.format_size``); empty for a physical item (no size)."""
    return "" if size is None else format_size(size)


def could_be_size(text: str) -> bool:
    """Whether a case-folded text could be found in a ``size_text``: it has nothing but digits, the decimal
    separator, the units' letters and spaces (a filter skips formatting every size for "f12")."""
    shown = set("0123456789 -") | set("".join(("B", *SIZE_UNITS)).casefold()) | set(decimal_separator())
    return set(text) <= shown


# Moments whose texts show every character a time cell can hold: digits, the format's separators and the zone's
# names in winter and summer, over the eras whose names differ (local mean time, wartime, today).
_SAMPLE_MOMENTS = tuple(datetime(year, month, 15, 10, 30, 45, tzinfo=UTC)
                        for year in (1850, 1900, 1942, 1970, 2000, 2026, 2037) for month in (1, 7))


@functools.lru_cache(maxsize=8)
def _time_characters(language: str, zones: tuple[str, ...]) -> frozenset[str]:
    """The characters of the sample moments' texts; ``zones`` (``time.tzname``) only keys the cache."""
    shown = "".join(format_local(moment, language) for moment in _SAMPLE_MOMENTS)
    return frozenset(shown.casefold()) | frozenset("0123456789")


def could_be_time(text: str) -> bool:
    """Whether a case-folded text could be found in a ``time_text``: it has nothing but digits and the characters
    the reader's format and zone show (a filter skips formatting every row's time for "f12" or "annotated")."""
    return set(text) <= _time_characters(current_language(), time.tzname)


def time_text(at: str) -> str:
    """A stored moment (ISO 8601) in the reader's conventions and this workstation's zone, without the UTC beside
    it (a table cell: its tooltip or the details give the UTC). Text that is not a moment stays as it is."""
    try:
        return format_local(datetime.fromisoformat(at))
    except (ValueError, TypeError):
        return at


# ---- the custody timeline ------------------------------------------------------------------------------------
class EventColumn(IntEnum):
    """The timeline's columns. What an investigator reads first comes first: when, what, which exhibit, why
    (issue 11)."""

    INDEX = 0
    TIME = 1
    ACTION = 2
    ITEMS = 3
    PURPOSE = 4
    ACTOR = 5
    SOURCE = 6
    ROLE = 7
    AUTHORITY = 8
    LOCATION = 9
    RESULT = 10


def action_text(action: str) -> str:
    """A recorded action in the reader's words: ``checked_out`` → ``checked out``."""
    known = CUSTODY_ACTION_WORDS.get(action)
    return _(known) if known is not None else action.replace("_", " ")


def action_cell(action: str, partner: str = "") -> str:
    """The Action cell: a partner's event names the partner too (the Source column may be scrolled out of view)."""
    return _("{partner}: {action}", partner=partner, action=action_text(action)) if partner else action_text(action)


def role_name(role: Role | str) -> str:
    """A role's name in the reader's language (a recorded role that is not one of ours stays as recorded)."""
    try:
        return _(_ROLES[Role(role)])
    except ValueError:
        return str(role)


def source_text(partner: str = "", leaf_index: int = 0) -> str:
    """The Source cell: ``this agency`` for ours, ``{partner} #{their index}`` for a partner's event."""
    return f"{partner} #{leaf_index}" if partner else _(OURS)


def actor_text(body: Mapping[str, Any]) -> str:
    """``Display Name (name)``, or the name alone when it is the display name."""
    actor = body.get("actor") or {}
    name = str(actor.get("name", "?"))
    display = str(actor.get("display_name") or name)
    return display if display == name else f"{display} ({name})"


def local_text(body: Mapping[str, Any]) -> str:
    """The actor's own local time and zone, as their event recorded it."""
    local = str(body.get("local_time", ""))
    zone = str(body.get("time_zone", ""))
    text = f"{local[:10]} {local[11:19]}" if len(local) >= 19 else local
    return f"{text} {zone}".strip()


def notes_text(action: str, body: Mapping[str, Any]) -> str:
    """An event's notes; a verification's problem (recorded in English) in the reader's language."""
    notes = str(body.get("notes", ""))
    return fixity.PROBLEMS.shown(notes) if action == CustodyAction.VERIFIED else notes


def event_cells(body: Mapping[str, Any], action: str, at: str, items: str, index: int | None = None,
                partner: str = "", leaf_index: int = 0) -> tuple[str, ...]:
    """The cells of one timeline row, in ``EventColumn`` order: our event (``index``) or a partner's (``partner``,
    their ``leaf_index``); ``items`` is the Exhibit(s) cell."""
    role = str((body.get("actor") or {}).get("role", ""))
    actor = f"{actor_text(body)}, {partner}" if partner else actor_text(body)
    cells = {
        EventColumn.INDEX: "" if partner or index is None else str(index),
        EventColumn.TIME: time_text(at),
        EventColumn.ACTION: action_cell(action, partner),
        EventColumn.ITEMS: items,
        EventColumn.ACTOR: actor,
        EventColumn.SOURCE: source_text(partner, leaf_index),
        EventColumn.ROLE: role_name(role) if role else "",
    }
    return tuple(cells[column] if column in cells else str(body.get(column.name.lower(), ""))
                 for column in EventColumn)


def event_extra(action: str, body: Mapping[str, Any]) -> tuple[str, ...]:
    """What the timeline's filter finds beside the cells: the actor's local time, the counterparty, the notes."""
    return local_text(body), str(body.get("counterparty", "")), notes_text(action, body)


# ---- SQL --------------------------------------------------------------------------------------------------------
def _event_haystack(src: int, pos: int, at: str, action: str, body: str, partner: str, exhibits: str) -> str:
    """A stored timeline row's cells and extras, case-folded, one per line; ``exhibits`` holds the exhibit numbers
    of its items as ``id US exhibit`` joined by RS (``timeline_pages``)."""
    record = json.loads(body)
    numbers = dict(pair.split("\x1f", 1) for pair in exhibits.split("\x1e") if "\x1f" in pair)
    # The Exhibit(s) cell as the timeline's model words it: ours in the event's order, a partner's by our item id.
    ids = sorted(numbers) if src else [str(i) for i in record.get("item_ids") or []]
    items = ", ".join(numbers.get(i, i) for i in ids)
    theirs = partner if src else ""
    cells = event_cells(record, action, at, items, None if src else pos, theirs, pos)
    return "\n".join((*cells, *event_extra(action, record))).casefold()


def _or_none(function: Callable[..., str]) -> Callable[..., str | None]:
    def call(*args: Any) -> str | None:
        return None if any(arg is None for arg in args) else function(*args)

    return call


def register_functions(conn: Connection) -> None:
    """The cells' texts as SQL functions on a reader connection (``db.register_functions`` says why readers only):
    ``icspa_kind(kind)``, ``icspa_status(kind, checked_out, holder)``, ``icspa_size(size)`` (NULL: ``''``),
    ``icspa_time(at)``, ``icspa_action(action, partner)``, ``icspa_role(role)`` and ``icspa_event_text(src, pos,
    at, action, body, partner, exhibits)`` (a timeline row's texts, case-folded). They answer in the language and
    zone of the moment they run in, not the one they were registered in."""
    conn.create_function("icspa_kind", 1, _or_none(kind_text))
    conn.create_function("icspa_status", 3, _or_none(lambda k, out, holder: status_text(k, bool(out), holder)))
    conn.create_function("icspa_size", 1, size_text)
    conn.create_function("icspa_time", 1, _or_none(time_text))
    conn.create_function("icspa_action", 2, _or_none(action_cell))
    conn.create_function("icspa_role", 1, _or_none(lambda role: role_name(role) if role else ""))
    conn.create_function("icspa_event_text", 7, lambda src, pos, at, action, body, partner, exhibits: _event_haystack(
        src, pos, at, action, body, partner or "", exhibits or ""))
