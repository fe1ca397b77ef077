"""Cases: create, list, show, edit, close and reopen — each with its custody event."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from icspa_desktop import i18n
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CASE_STATUS_WORDS, CaseStatus, CustodyAction, HandlingCode, Tlp
from icspa_desktop.domain.errors import Conflict, NotFound, Text, UsageError, _
from icspa_desktop.domain.ids import CaseId, UserId, new_case_id
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.services import received
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db

MAX_NUMBER_LEN = 64
MAX_TITLE_LEN = 300

_COLUMNS = (
    "id, number, title, description, status, lead_investigator, jurisdiction, legal_authority, "
    "handling_code, handling_text, tlp, created_at, updated_at, created_by"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def validate(fields: CaseFields) -> CaseFields:
    """Normalise and check user input; UsageError names the field at fault."""
    number = fields.number.strip()
    title = fields.title.strip()
    if not number:
        raise UsageError(_("A case needs a case number."))
    if len(number) > MAX_NUMBER_LEN or any(ord(ch) < 32 for ch in number):
        raise UsageError(_("Case number must be at most {limit} printable characters.",
                           limit=MAX_NUMBER_LEN))
    if not title:
        raise UsageError(_("A case needs a title."))
    if len(title) > MAX_TITLE_LEN:
        raise UsageError(_("Case title must be at most {limit} characters.", limit=MAX_TITLE_LEN))
    try:
        handling = HandlingCode(fields.handling_code)
        tlp = Tlp(fields.tlp)
    except ValueError as exc:
        raise UsageError(_("Unknown marking: {error}. Handling codes: H0–H3; TLP: CLEAR, GREEN, AMBER, AMBER+STRICT, "
                           "RED.", error=exc)) from None
    handling_text = fields.handling_text.strip()
    if handling is HandlingCode.H3 and not handling_text:
        raise UsageError(_("Handling code H3 needs the restriction stated in text."))
    return replace(fields, number=number, title=title, handling_code=handling, tlp=tlp, handling_text=handling_text,
                   description=fields.description.strip(), lead_investigator=fields.lead_investigator.strip(),
                   jurisdiction=fields.jurisdiction.strip(), legal_authority=fields.legal_authority.strip())


def _row_to_case(row: tuple[Any, ...]) -> Case:
    (cid, number, title, description, status, lead, jurisdiction, authority, handling, handling_text, tlp,
     created, updated, created_by) = row
    fields = CaseFields(
        number=number, title=title, description=description, lead_investigator=lead, jurisdiction=jurisdiction,
        legal_authority=authority, handling_code=HandlingCode(handling), handling_text=handling_text, tlp=Tlp(tlp),
    )
    return Case(CaseId(cid), fields, CaseStatus(status), datetime.fromisoformat(created),
                datetime.fromisoformat(updated), UserId(created_by))


def insert_case_row(conn: db.Connection, case_id: CaseId, fields: CaseFields, now: str, user_id: UserId) -> None:
    """The row of a new, open case (fields validated; inside the caller's transaction)."""
    try:
        conn.execute(
            f"INSERT INTO cases ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (case_id, fields.number, fields.title, fields.description, str(CaseStatus.OPEN),
             fields.lead_investigator, fields.jurisdiction, fields.legal_authority, str(fields.handling_code),
             fields.handling_text, str(fields.tlp), now, now, user_id),
        )
    except db.IntegrityError:
        raise Conflict(_("A case with number {number!r} already exists.", number=fields.number)) from None


def fields_json(fields: CaseFields) -> dict[str, str]:
    return {key: str(value) for key, value in asdict(fields).items()}


def create_case(session: Session, fields: CaseFields) -> Case:
    session.require(Permission.CREATE_CASE, attempted=f"create case {fields.number}")
    fields = validate(fields)
    case_id = new_case_id()
    now = _now()
    with session.transaction() as conn:
        insert_case_row(conn, case_id, fields, now, session.user.id)
        session.record(
            EventDraft(CustodyAction.CASE_CREATED, case_id=case_id, authority=fields.legal_authority,
                       details={"fields": fields_json(fields)})
        )
    return get_case(session, case_id)


def _fetch(conn: db.Connection, ref: str) -> Case | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM cases WHERE id = ? OR number = ?", (ref, ref)).fetchone()
    return None if row is None else _row_to_case(row)


def get_case(session: Session, ref: str) -> Case:
    """A case by id or case number."""
    session.require(Permission.READ)
    case = _fetch(session.conn, ref)
    if case is None:
        raise NotFound(_("No case {ref!r} (give a case number or id; 'icspa case list' shows them).", ref=ref))
    return case


def list_cases(session: Session, status: CaseStatus | None = None) -> list[Case]:
    session.require(Permission.READ)
    if status is None:
        rows = session.conn.execute(f"SELECT {_COLUMNS} FROM cases ORDER BY created_at DESC, number").fetchall()
    else:
        rows = session.conn.execute(
            f"SELECT {_COLUMNS} FROM cases WHERE status = ? ORDER BY created_at DESC, number", (str(status),)
        ).fetchall()
    return [_row_to_case(row) for row in rows]


# The fields of a case created by import that are the partner's record (DESIGN §5: partner content read-only).
PARTNER_CASE_FIELDS = frozenset({"title", "description", "legal_authority", "handling_code", "handling_text", "tlp"})


def edit_case(session: Session, ref: str, fields: CaseFields, reason: str = "") -> Case:
    """Replace the case's fields; the custody event records each changed field as old → new."""
    case = get_case(session, ref)
    session.require(Permission.EDIT_CASE, case_id=case.id, attempted=f"edit case {case.number}")
    fields = validate(fields)
    old, new = fields_json(case.fields), fields_json(fields)
    changes = {key: {"old": old[key], "new": new[key]} for key in old if old[key] != new[key]}
    if not changes:
        return case
    origin = received.case_provenance(session.conn, case.id)
    if origin is not None and origin.created_by_import and (fixed := sorted(set(changes) & PARTNER_CASE_FIELDS)):
        raise UsageError(_("Case {number} is {partner_name}'s case {partner_case_number}, imported from a bundle: "
                           "its {names} are the partner's record and stay as they sent them (add notes to items, or "
                           "change the local number, lead and jurisdiction).",
                           number=case.number, partner_name=origin.partner_name,
                           partner_case_number=origin.partner_case_number,
                           names=', '.join(f.replace('_', ' ') for f in fixed)))
    marking_keys = {"handling_code", "handling_text", "tlp"}
    action = CustodyAction.MARKING_CHANGED if set(changes) <= marking_keys else CustodyAction.CASE_EDITED
    with session.transaction() as conn:
        try:
            conn.execute(
                "UPDATE cases SET number = ?, title = ?, description = ?, lead_investigator = ?, jurisdiction = ?,"
                " legal_authority = ?, handling_code = ?, handling_text = ?, tlp = ?, updated_at = ? WHERE id = ?",
                (fields.number, fields.title, fields.description, fields.lead_investigator, fields.jurisdiction,
                 fields.legal_authority, str(fields.handling_code), fields.handling_text, str(fields.tlp), _now(),
                 case.id),
            )
        except db.IntegrityError:
            raise Conflict(_("A case with number {number!r} already exists.", number=fields.number)) from None
        session.record(EventDraft(action, case_id=case.id, purpose=reason, details={"changes": changes}))
    return get_case(session, case.id)


def set_status(session: Session, ref: str, status: CaseStatus, reason: str = "") -> Case:
    case = get_case(session, ref)
    verb = "close" if status is CaseStatus.CLOSED else "reopen"
    session.require(Permission.CLOSE_CASE, case_id=case.id, attempted=f"{verb} case {case.number}")
    if case.status is status:
        raise UsageError(_("Case {number} is already {status}.", number=case.number,
                           status=Text(i18n._(CASE_STATUS_WORDS[status]), str(status))))
    action = CustodyAction.CASE_CLOSED if status is CaseStatus.CLOSED else CustodyAction.CASE_REOPENED
    with session.transaction() as conn:
        conn.execute("UPDATE cases SET status = ?, updated_at = ? WHERE id = ?", (str(status), _now(), case.id))
        session.record(EventDraft(action, case_id=case.id, purpose=reason,
                                  details={"status": {"old": str(case.status), "new": str(status)}}))
    return get_case(session, case.id)


def case_to_json(case: Case) -> dict[str, Any]:
    """The ``--json`` form of a case (DESIGN §6: carries ``id`` and ``number``)."""
    data: dict[str, Any] = {"id": case.id}
    data.update(fields_json(case.fields))
    data.update(status=str(case.status), created_at=case.created_at.isoformat(),
                updated_at=case.updated_at.isoformat(), created_by=case.created_by)
    return data
