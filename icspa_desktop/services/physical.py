"""Physical evidence items: recording a seized object, checking it out to a person and back in.

Every action records its custody event in the same transaction as the rows it changes.
"""

from __future__ import annotations

from dataclasses import asdict

from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, UsageError, _
from icspa_desktop.domain.evidence import Item, ItemFields, ItemKind
from icspa_desktop.domain.ids import new_item_id
from icspa_desktop.i18n import N_
from icspa_desktop.services.evidence_settings import next_exhibits
from icspa_desktop.services.item_checks import MAX_TEXT, check_text, clean_fields, open_case_for_change
from icspa_desktop.services.item_records import fetch_item, get_item, insert_item_row, markings_json, timestamp
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session


# ---- physical items ---------------------------------------------------------------------------------
def add_physical(session: Session, case_ref: str, name: str, fields: ItemFields | None = None) -> Item:
    """Record a physical exhibit (no content): a seized phone, a hard disk, a document."""
    case = open_case_for_change(session, case_ref, Permission.ADD_EVIDENCE, "add a physical item")
    fields, markings = clean_fields(session, case, fields or ItemFields())
    name = check_text(N_("The item name"), name)
    if not name:
        raise UsageError(_("A physical item needs a short name, e.g. 'iPhone 12, black'."))
    exhibit = fields.exhibit_number or next_exhibits(session.conn, case, 1)[0]
    item_id = new_item_id()
    now = timestamp()
    acq = fields.acquisition
    acquired_by = acq.acquired_by or session.user.display_name
    acquired_at = acq.acquired_at or now
    with session.transaction() as conn:
        insert_item_row(conn, item_id, case, exhibit, ItemKind.PHYSICAL, None, name, "", None, {}, "", fields,
                     markings, acquired_by, acquired_at, session.user.id, now)
        session.record(EventDraft(
            CustodyAction.ACQUIRED, case_id=case.id, item_ids=(item_id,), authority=case.fields.legal_authority,
            location=fields.storage_location or acq.location, notes=fields.notes,
            details={"exhibit_number": exhibit, "kind": ItemKind.PHYSICAL.value, "name": name,
                     "storage_location": fields.storage_location, "parent_id": fields.parent_id,
                     "acquisition": {**asdict(acq), "acquired_by": acquired_by, "acquired_at": acquired_at},
                     "markings": markings_json(markings), "description": fields.description,
                     "tags": list(fields.tags)},
        ))
    return fetch_item(session.conn, item_id)


def _physical(session: Session, item_ref: str, verb: str) -> Item:
    item = get_item(session, item_ref)
    session.require(Permission.CHECK_OUT, case_id=item.case_id, item_ids=(item.id,),
                    attempted=f"{verb} item {item.exhibit_number}")
    if item.kind is not ItemKind.PHYSICAL:
        raise UsageError(_("Item {exhibit_number} is digital; only physical items are checked out and in (use "
                           "'evidence extract' for a copy of digital content).", exhibit_number=item.exhibit_number))
    return item


def check_out(session: Session, item_ref: str, to: str, purpose: str, *, released_by: str = "",
              authority: str = "", notes: str = "") -> Item:
    """Hand a physical item to ``to`` (the receiving person) for ``purpose``."""
    item = _physical(session, item_ref, "check out")
    to = check_text(N_("The receiving person"), to)
    purpose = check_text(N_("The purpose"), purpose, MAX_TEXT)
    if not to or not purpose:
        raise UsageError(_("A check-out needs the receiving person (--to) and the reason (--reason)."))
    if item.checked_out:
        raise Conflict(_("Item {exhibit_number} is already checked out to {holder}; check it in first.",
                         exhibit_number=item.exhibit_number, holder=item.holder))
    releasing = check_text(N_("The releasing person"), released_by) or session.user.display_name
    with session.transaction() as conn:
        conn.execute("UPDATE items SET checked_out = 1, holder = ?, updated_at = ? WHERE id = ?",
                     (to, timestamp(), item.id))
        session.record(EventDraft(
            CustodyAction.CHECKED_OUT, case_id=item.case_id, item_ids=(item.id,), purpose=purpose,
            authority=check_text(N_("The authority"), authority), counterparty=to, location=item.storage_location,
            notes=check_text(N_("The notes"), notes, MAX_TEXT),
            details={"releasing": releasing, "receiving": to, "exhibit_number": item.exhibit_number,
                     "from_location": item.storage_location},
        ))
    return fetch_item(session.conn, item.id)


def check_in(session: Session, item_ref: str, from_person: str, *, received_by: str = "",
             storage_location: str = "", notes: str = "") -> Item:
    """Take a physical item back from ``from_person`` (the releasing person) into storage."""
    item = _physical(session, item_ref, "check in")
    from_person = check_text(N_("The releasing person"), from_person)
    if not from_person:
        raise UsageError(_("A check-in needs the person handing the item back (--from)."))
    if not item.checked_out:
        raise Conflict(_("Item {exhibit_number} is not checked out.", exhibit_number=item.exhibit_number))
    location = check_text(N_("The storage location"), storage_location) or item.storage_location
    receiving = check_text(N_("The receiving person"), received_by) or session.user.display_name
    with session.transaction() as conn:
        conn.execute("UPDATE items SET checked_out = 0, holder = '', storage_location = ?, updated_at = ?"
                     " WHERE id = ?", (location, timestamp(), item.id))
        session.record(EventDraft(
            CustodyAction.CHECKED_IN, case_id=item.case_id, item_ids=(item.id,), counterparty=from_person,
            location=location, notes=check_text(N_("The notes"), notes, MAX_TEXT),
            details={"releasing": from_person, "receiving": receiving, "exhibit_number": item.exhibit_number,
                     "previous_holder": item.holder, "storage_location": location},
        ))
    return fetch_item(session.conn, item.id)
