"""Custody events: canonical body, Ed25519 signature by the actor, RFC 9162 leaf, append.

The byte formats are specified in docs/custody-format.md; keep the two in step.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.crypto import signing
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody.merkle import Frontier
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.ids import CaseId, EventId, ItemId, UserId, new_event_id
from icspa_desktop.vault.db import Connection

# Format 2 chains the log: each signed body carries its own index and the tree head before it
# (docs/custody-format.md §2). Format-1 events (before the chain start) still verify as they were.
EVENT_VERSION = 2
EVENT_VERSIONS_KNOWN = frozenset({1, 2})
# The context names the signature scheme, not the body format: format 2 bodies differ by their fields.
SIGNATURE_CONTEXT = b"icspa-custody-event/v1\n"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: UserId
    name: str
    display_name: str
    role: Role
    agency: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "name": self.name,
            "display_name": self.display_name,
            "role": str(self.role),
            "agency": self.agency,
        }


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What a service states about an action; the log adds id, time, actor and signature."""

    action: CustodyAction
    case_id: CaseId | None = None
    item_ids: tuple[ItemId, ...] = ()
    purpose: str = ""
    authority: str = ""
    location: str = ""
    counterparty: str = ""
    notes: str = ""
    result: str = ""
    hashes: dict[str, str] = field(default_factory=dict)
    # Field-level changes, e.g. {"title": {"old": "a", "new": "b"}}, or other structured facts.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    index: int
    id: EventId
    body: dict[str, Any]
    body_bytes: bytes
    signature: bytes
    public_key: bytes
    leaf_hash: bytes

    @property
    def action(self) -> str:
        return str(self.body["action"])

    @property
    def at(self) -> str:
        return str(self.body["at"])


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_body(draft: EventDraft, actor: Actor, moment: datetime, event_id: EventId, index: int,
               prev_root: bytes) -> dict[str, Any]:
    local = moment.astimezone()
    return {
        "v": EVENT_VERSION,
        "index": index,
        "prev_root": base64.b64encode(prev_root).decode("ascii"),
        "id": event_id,
        "action": str(draft.action),
        "case_id": draft.case_id,
        "item_ids": sorted(draft.item_ids),
        "at": format_utc(moment),
        "local_time": local.isoformat(timespec="seconds"),
        "time_zone": local.tzname() or "",
        "actor": actor.to_json(),
        "purpose": draft.purpose,
        "authority": draft.authority,
        "location": draft.location,
        "counterparty": draft.counterparty,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "hashes": dict(sorted(draft.hashes.items())),
        "result": draft.result,
        "notes": draft.notes,
        "details": draft.details,
    }


def signed_message(body_bytes: bytes) -> bytes:
    return SIGNATURE_CONTEXT + body_bytes


def leaf_bytes(body_bytes: bytes, signature: bytes, public_key: bytes) -> bytes:
    """The Merkle leaf: the body and its signature, so a re-signed event changes the tree too."""
    return b"".join(
        (
            b'{"event":',
            body_bytes,
            b',"public_key":"',
            base64.b64encode(public_key),
            b'","signature":"',
            base64.b64encode(signature),
            b'"}',
        )
    )


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def append(
    conn: Connection, draft: EventDraft, actor: Actor, signing_private_key: bytes, moment: datetime | None = None
) -> StoredEvent:
    """Sign and append one event. Call inside the transaction of the action it records."""
    return append_many(conn, (draft,), actor, signing_private_key, moment)[0]


def append_many(
    conn: Connection, drafts: Sequence[EventDraft], actor: Actor, signing_private_key: bytes,
    moment: datetime | None = None,
) -> list[StoredEvent]:
    """Sign and append the drafts in order, as ``append`` once per draft would, byte for byte: each body
    carries its own index and the tree head after the one before it. The head is read once and saved once,
    and the key is built once for the batch (an import records one event per item). Call inside the
    transaction of the action they record: a failure part-way leaves rows that the rollback removes."""
    if not drafts:
        return []
    # One key object for the batch, dropped with it: the session keeps only the bytes it zeroes at lock.
    key = Ed25519PrivateKey.from_private_bytes(signing_private_key)
    public_key = signing.public_bytes(key.public_key())
    head = current_head(conn)
    stored: list[StoredEvent] = []
    event_rows: list[tuple[Any, ...]] = []
    item_rows: list[tuple[int, ItemId]] = []
    for draft in drafts:
        event_id = new_event_id()
        index = head.size
        body = build_body(draft, actor, moment or utc_now(), event_id, index, head.root())
        body_bytes = canonical_json(body)
        signature = key.sign(signed_message(body_bytes))
        digest = leaf_hash(leaf_bytes(body_bytes, signature, public_key))
        head.push(digest)
        event_rows.append((index, event_id, draft.case_id, body["action"], actor.user_id, body["at"], body_bytes,
                           signature, public_key, digest))
        item_rows.extend((index, item_id) for item_id in sorted(set(draft.item_ids)))
        stored.append(StoredEvent(index, event_id, body, body_bytes, signature, public_key, digest))
    _save_head(conn, head)
    conn.executemany(
        "INSERT INTO custody_events (idx, id, case_id, action, actor_id, at, body, signature, public_key, leaf_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        event_rows,
    )
    conn.executemany("INSERT INTO custody_event_items (event_idx, item_id) VALUES (?, ?)", item_rows)
    return stored


def current_head(conn: Connection) -> Frontier:
    """The Merkle frontier of the stored log: the cached head when it fits the log, else rebuilt from
    the stored leaf hashes (once, e.g. after an upgrade). The chain is checked by verification."""
    next_index = int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM custody_events").fetchone()[0])
    row = conn.execute("SELECT tree_size, frontier FROM custody_head WHERE id = 1").fetchone()
    if row is not None and int(row[0]) == next_index:
        try:
            return Frontier.from_bytes(int(row[0]), bytes(row[1]))
        except (ValueError, TypeError):
            pass  # a damaged cache is rebuilt
    head = Frontier()
    for (digest,) in conn.execute("SELECT leaf_hash FROM custody_events ORDER BY idx"):
        head.push(bytes(digest))
    return head


def _save_head(conn: Connection, head: Frontier) -> None:
    conn.execute(
        "INSERT INTO custody_head (id, tree_size, frontier) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET"
        " tree_size = excluded.tree_size, frontier = excluded.frontier",
        (head.size, head.to_bytes()),
    )


def _row_to_event(row: tuple[Any, ...]) -> StoredEvent:
    index, event_id, body_bytes, signature, public_key, digest = row
    return StoredEvent(
        index=int(index),
        id=EventId(event_id),
        body=json.loads(body_bytes),
        body_bytes=bytes(body_bytes),
        signature=bytes(signature),
        public_key=bytes(public_key),
        leaf_hash=bytes(digest),
    )


_SELECT = "SELECT idx, id, body, signature, public_key, leaf_hash FROM custody_events"


def list_events(
    conn: Connection, *, case_id: CaseId | None = None, item_id: ItemId | None = None
) -> list[StoredEvent]:
    """Events in log order, all or those of one case or one item."""
    if item_id is not None:
        rows = conn.execute(
            _SELECT + " WHERE idx IN (SELECT event_idx FROM custody_event_items WHERE item_id = ?) ORDER BY idx",
            (item_id,),
        ).fetchall()
    elif case_id is not None:
        rows = conn.execute(_SELECT + " WHERE case_id = ? ORDER BY idx", (case_id,)).fetchall()
    else:
        rows = conn.execute(_SELECT + " ORDER BY idx").fetchall()
    return [_row_to_event(row) for row in rows]


def events_by_index(conn: Connection, indexes: Sequence[int]) -> dict[int, StoredEvent]:
    """The events at these log indexes (a page of a timeline), by index."""
    found: dict[int, StoredEvent] = {}
    for start in range(0, len(indexes), 500):
        part = list(indexes[start : start + 500])
        marks = ",".join("?" * len(part))
        for row in conn.execute(_SELECT + f" WHERE idx IN ({marks})", part).fetchall():
            event = _row_to_event(row)
            found[event.index] = event
    return found


def count(conn: Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM custody_events").fetchone()[0])
