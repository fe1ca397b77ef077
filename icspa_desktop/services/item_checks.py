"""What every change to evidence checks first: that the case is open to it, and that the fields and markings
given are well-formed (lengths, one-line texts, tags, acquisition time, parent item, marking codes).

Used by services/evidence.py (ingest, annotation), services/physical.py and services/evidence_settings.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from icspa_desktop.domain.enums import CaseStatus, HandlingCode, InformationEvaluation, SourceEvaluation, Tlp
from icspa_desktop.domain.errors import UsageError, _
from icspa_desktop.domain.evidence import Acquisition, ItemFields, MarkingChanges, Markings
from icspa_desktop.domain.models import Case
from icspa_desktop.i18n import N_
from icspa_desktop.services import cases
from icspa_desktop.services.item_records import fetch_item
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session

MAX_TEXT = 10_000
MAX_SHORT = 300

# The acquisition's fields as a refusal names them ("The acquisition method must be at most 200 characters.").
_ACQUISITION_LABELS = {
    "acquired_by": N_("The acquiring person"), "acquired_at": N_("The acquisition time"),
    "location": N_("The acquisition place"), "method": N_("The acquisition method"), "tool": N_("The tool"),
    "tool_version": N_("The tool version"), "source_device": N_("The source device"),
    "source_serial": N_("The source serial number"), "seal_number": N_("The seal number"),
}


def open_case_for_change(session: Session, case_ref: str, permission: Permission, what: str) -> Case:
    """The case a change adds to, once the session may write, the user may ``permission`` and the case is open."""
    session.require_writable()  # before anything is staged (ingest writes blobs before its transaction)
    case = cases.get_case(session, case_ref)
    session.require(permission, case_id=case.id, attempted=f"{what} in case {case.number}")
    if case.status is CaseStatus.CLOSED:
        raise UsageError(_("Case {number} is closed; a supervisor must reopen it before evidence is added.",
                           number=case.number))
    return case


def check_text(label: str, value: str, limit: int = MAX_SHORT) -> str:
    """``value`` stripped, refused when longer than ``limit`` or (short texts) not on one printable line."""
    value = value.strip()
    if len(value) > limit:
        raise UsageError(_("{label} must be at most {limit} characters.", label=_(label), limit=limit))
    if limit == MAX_SHORT and any(ord(ch) < 32 for ch in value):
        raise UsageError(_("{label} must be printable text on one line.", label=_(label)))
    return value


def check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for tag in tags:
        tag = check_text(N_("A tag"), tag, 64)
        if "," in tag:
            raise UsageError(_("Tag {tag!r} must not contain a comma.", tag=tag))
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return tuple(cleaned)


def clean_fields(session: Session, case: Case, fields: ItemFields) -> tuple[ItemFields, Markings]:
    """``fields`` checked and trimmed, the parent item resolved to its id; and the markings the item gets."""
    acq = fields.acquisition
    acquisition = Acquisition(**{key: check_text(_ACQUISITION_LABELS[key], value)
                                 for key, value in asdict(acq).items()})
    if acquisition.acquired_at:
        try:
            datetime.fromisoformat(acquisition.acquired_at)
        except ValueError:
            raise UsageError(_("Acquisition time {acquired_at!r} is not an ISO 8601 date/time (e.g. "
                               "2024-05-01T14:30+02:00).", acquired_at=acquisition.acquired_at)) from None
    parent_id = fields.parent_id
    if parent_id is not None:
        parent = fetch_item(session.conn, parent_id)
        if parent.case_id != case.id:
            raise UsageError(_("The parent item {exhibit_number} belongs to another case.",
                               exhibit_number=parent.exhibit_number))
        parent_id = parent.id
    cleaned = ItemFields(
        description=check_text(N_("The description"), fields.description, MAX_TEXT),
        notes=check_text(N_("The notes"), fields.notes, MAX_TEXT),
        tags=check_tags(fields.tags),
        exhibit_number=check_text(N_("The exhibit number"), fields.exhibit_number, 64),
        markings=fields.markings,
        acquisition=acquisition,
        parent_id=parent_id,
        storage_location=check_text(N_("The storage location"), fields.storage_location),
    )
    return cleaned, resolve_markings(case, fields.markings)


# ---- markings ---------------------------------------------------------------------------------------
def resolve_markings(case: Case, markings: Markings | None) -> Markings:
    """``markings`` checked (H3 needs its text), or the case's when None."""
    if markings is None:
        return case_markings(case)
    checked = _markings(markings.handling_code, markings.handling_text.strip(), markings.tlp,
                        markings.source_evaluation, markings.information_evaluation)
    if checked.handling_code is HandlingCode.H3 and not checked.handling_text:
        raise UsageError(_("Handling code H3 needs the restriction stated in text."))
    return checked


def merge_markings(current: Markings, changes: MarkingChanges) -> Markings:
    """``current`` with the fields ``changes`` gives replaced (checked by ``resolve_markings`` afterwards)."""
    return _markings(changes.handling_code or current.handling_code,
                     current.handling_text if changes.handling_text is None else changes.handling_text,
                     changes.tlp or current.tlp, changes.source_evaluation or current.source_evaluation,
                     changes.information_evaluation or current.information_evaluation)


def _markings(handling_code: str, handling_text: str, tlp: str, source: str | None,
              information: str | None) -> Markings:
    """Markings from their codes (enum members or their values); an unknown code is refused."""
    try:
        return Markings(
            HandlingCode(handling_code), handling_text, Tlp(tlp),
            SourceEvaluation(source) if source else None,
            InformationEvaluation(information) if information else None,
        )
    except ValueError as exc:
        raise UsageError(_("Unknown marking: {error}. Handling H0–H3, TLP CLEAR/GREEN/AMBER/AMBER+STRICT/RED, source "
                           "A/B/C/X, information 1–4.", error=exc)) from None


def case_markings(case: Case) -> Markings:
    """The markings a new item of ``case`` gets unless it is given its own: the case's."""
    return Markings(case.fields.handling_code, case.fields.handling_text, case.fields.tlp)


def new_item_markings(case: Case, changes: MarkingChanges) -> Markings | None:
    """The markings of a new item given only some fields: the case's, with those fields replaced (as
    ``annotate`` merges into an item's and the desktop presets its editor with the case's); None (the case's,
    decided at ingest) when no field is given."""
    if not changes.any():
        return None
    return merge_markings(case_markings(case), changes)
