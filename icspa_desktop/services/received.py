"""What came from partners, read back: provenance of imported items and cases, and the partners' own custody
events (kept verbatim at import) as a timeline beside ours. Read-only views for the CLI and the GUI."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from icspa_desktop.domain.ids import CaseId, ItemId
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db


@dataclass(frozen=True, slots=True)
class ItemProvenance:
    """Where an imported item came from; its record (description, markings, hashes) is the partner's."""

    partner_name: str
    partner_lineage: str
    partner_item_id: str
    partner_exhibit_number: str
    bundle_id: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CaseProvenance:
    partner_name: str
    partner_country: str
    partner_case_number: str
    partner_lineage: str
    created_by_import: bool  # the case record itself is the partner's (read-only)


def item_provenance(conn: db.Connection, item_id: str) -> ItemProvenance | None:
    row = conn.execute("SELECT partner_name, partner_lineage, partner_item_id, partner_exhibit_number, bundle_id,"
                       " record FROM imported_items WHERE item_id = ?", (item_id,)).fetchone()
    if row is None:
        return None
    return ItemProvenance(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), json.loads(row[5]))


def case_provenance(conn: db.Connection, case_id: str) -> CaseProvenance | None:
    """The partner case held in ``case_id`` (the first, when bundles of several went into one case)."""
    row = conn.execute("SELECT partner_name, partner_country, partner_case_number, partner_lineage, created_by_import"
                       " FROM partner_cases WHERE case_id = ? ORDER BY created_by_import DESC", (case_id,)).fetchone()
    if row is None:
        return None
    return CaseProvenance(str(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]))


def get_item_provenance(session: Session, item_id: ItemId) -> ItemProvenance | None:
    session.require(Permission.READ)
    return item_provenance(session.conn, item_id)


def get_case_provenance(session: Session, case_id: CaseId) -> CaseProvenance | None:
    session.require(Permission.READ)
    return case_provenance(session.conn, case_id)


@dataclass(frozen=True, slots=True)
class PartnerEventView:
    """One of a partner's custody events as they signed it (never ours): shown in the timeline as theirs."""

    partner_name: str
    leaf_index: int
    event_id: str
    at: str
    action: str
    actor: str  # the partner's officer, as their event names them
    agency: str
    purpose: str
    counterparty: str
    item_ids: tuple[str, ...]  # our local ids of the items it concerns
    body: dict[str, Any]
    public_key_b64: str = ""  # the partner officer's Ed25519 key, as the event was verified at import
    signature_b64: str = ""
    bundle_id: str = ""  # the bundle it came in (its checkpoint holds the event's inclusion proof)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.event_id, "source": "partner", "partner": self.partner_name, "index": self.leaf_index,
                "at": self.at, "action": self.action, "actor": self.actor, "agency": self.agency,
                "purpose": self.purpose, "counterparty": self.counterparty, "item_ids": list(self.item_ids),
                "event": self.body, "public_key": self.public_key_b64, "signature": self.signature_b64,
                "bundle_id": self.bundle_id}


_PARTNER_SELECT = (
    "SELECT e.origin, e.leaf_index, e.event_id, e.at, e.action, e.body, COALESCE(b.partner_id, ''),"
    " COALESCE(p.name, b.partner_fingerprint, ''), e.public_key, e.signature, e.bundle_id FROM partner_events e"
    " LEFT JOIN bundles_received b ON b.id = e.bundle_id LEFT JOIN partners p ON p.id = b.partner_id")


def partner_events(session: Session, *, case_id: str | None = None, item_id: str | None = None
                   ) -> list[PartnerEventView]:
    """The partners' events of a case or an item (or all), in time order."""
    session.require(Permission.READ)
    conn = session.conn
    sql = _PARTNER_SELECT
    args: tuple[str, ...] = ()
    if item_id is not None:
        sql += " WHERE EXISTS (SELECT 1 FROM partner_event_items i WHERE i.origin = e.origin AND" \
               " i.leaf_index = e.leaf_index AND i.item_id = ?)"
        args = (item_id,)
    elif case_id is not None:
        sql += " WHERE e.case_id = ?"
        args = (case_id,)
    rows = conn.execute(sql + " ORDER BY e.at, e.leaf_index", args).fetchall()
    return [_partner_view(conn, row) for row in rows]


def partner_events_at(session: Session, keys: Sequence[tuple[str, int]]) -> list[tuple[str, PartnerEventView]]:
    """The partners' events at these (origin, leaf index) positions, each with its origin (a timeline's page)."""
    session.require(Permission.READ)
    found = []
    for origin, index in keys:
        row = session.conn.execute(_PARTNER_SELECT + " WHERE e.origin = ? AND e.leaf_index = ?",
                                   (origin, index)).fetchone()
        if row is not None:
            found.append((str(origin), _partner_view(session.conn, row)))
    return found


def _partner_view(conn: Any, row: Sequence[Any]) -> PartnerEventView:
    origin, index, event_id, at, action, body_bytes, _pid, partner_name, public_key, signature, bundle = row
    body = json.loads(bytes(body_bytes))
    actor = body.get("actor") if isinstance(body.get("actor"), dict) else {}
    local = tuple(str(r[0]) for r in conn.execute(
        "SELECT item_id FROM partner_event_items WHERE origin = ? AND leaf_index = ? ORDER BY item_id",
        (origin, index)))
    return PartnerEventView(
        str(partner_name), int(index), str(event_id), str(at), str(action),
        str(actor.get("display_name") or actor.get("name") or ""), str(actor.get("agency") or partner_name),
        str(body.get("purpose") or ""), str(body.get("counterparty") or ""), local, body,
        base64.b64encode(bytes(public_key)).decode("ascii"), base64.b64encode(bytes(signature)).decode("ascii"),
        str(bundle))
