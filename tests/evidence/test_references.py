"""The rules the CLI and the desktop share, in the services: what a CASE|ITEM reference names, and the
markings of a new item given only some fields (issue 12 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from icspa_desktop.domain.enums import HandlingCode, SourceEvaluation, Tlp
from icspa_desktop.domain.errors import NotFound, UsageError
from icspa_desktop.domain.evidence import ItemFields, MarkingChanges, Markings
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.services import cases, evidence, physical
from icspa_desktop.services.session import Session


def _add(session: Session, case: Case, tmp_path: Path, name: str, exhibit: str = "") -> str:
    source = tmp_path / name
    source.write_bytes(name.encode() * 100)
    outcome = evidence.add_files(session, case.id, [source], ItemFields(exhibit_number=exhibit))
    return outcome.items[0].id


def test_a_case_by_number_or_id(admin: Session, case: Case) -> None:
    for ref in (case.number, case.id, f"  {case.number} "):
        found = evidence.resolve_case_or_item(admin, ref)
        assert (found.case.id, found.item, found.label) == (case.id, None, f"case {case.number}")


def test_an_item_by_id_or_exhibit_number_with_its_case(admin: Session, case: Case, tmp_path: Path) -> None:
    item_id = _add(admin, case, tmp_path, "a.txt", exhibit="EX-7")
    for ref in (item_id, "EX-7", " EX-7\n"):
        found = evidence.resolve_case_or_item(admin, ref)
        assert found.item is not None and found.item.id == item_id
        assert found.case.id == case.id
        assert found.label == "item EX-7"


def test_a_case_number_that_is_also_an_exhibit_number_names_the_case(admin: Session, case: Case,
                                                                     tmp_path: Path) -> None:
    other = cases.create_case(admin, CaseFields(number="2024-0043", title="Another"))
    item_id = _add(admin, other, tmp_path, "b.txt", exhibit=case.number)
    found = evidence.resolve_case_or_item(admin, case.number)
    assert (found.case.id, found.item) == (case.id, None)
    by_id = evidence.resolve_case_or_item(admin, item_id)  # the item is still reachable by its id
    assert by_id.item is not None and by_id.case.id == other.id


def test_unknown_and_ambiguous_references(admin: Session, case: Case, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"No case or item 'NOPE' \(give a case number or id, or an item id"):
        evidence.resolve_case_or_item(admin, "NOPE")
    other = cases.create_case(admin, CaseFields(number="2024-0050", title="Third"))
    _add(admin, case, tmp_path, "c.txt", exhibit="DUP-1")
    _add(admin, other, tmp_path, "d.txt", exhibit="DUP-1")
    with pytest.raises(UsageError, match="exists in several cases; give the item id"):
        evidence.resolve_case_or_item(admin, "DUP-1")


def test_physical_items_resolve_too(admin: Session, case: Case) -> None:
    item = physical.add_physical(admin, case.id, "Phone, black", ItemFields(exhibit_number="PH-1"))
    found = evidence.resolve_case_or_item(admin, "PH-1")
    assert found.item is not None and found.item.id == item.id


# ---- markings of a new item ------------------------------------------------------------------------------
@pytest.fixture
def restricted(admin: Session) -> Case:
    return cases.create_case(admin, CaseFields(number="M-1", title="Marked", handling_code=HandlingCode.H3,
                                               handling_text="only for the JIT", tlp=Tlp.RED))


def test_no_marking_given_means_the_cases_decided_at_ingest(restricted: Case) -> None:
    assert evidence.new_item_markings(restricted, MarkingChanges()) is None


def test_given_fields_replace_the_cases_the_rest_are_kept(restricted: Case) -> None:
    assert evidence.new_item_markings(restricted, MarkingChanges(tlp="AMBER")) == Markings(
        HandlingCode.H3, "only for the JIT", Tlp.AMBER)
    assert evidence.new_item_markings(restricted, MarkingChanges(source_evaluation="B")) == Markings(
        HandlingCode.H3, "only for the JIT", Tlp.RED, SourceEvaluation.B)
    assert evidence.new_item_markings(restricted, MarkingChanges(handling_code="H2", handling_text="")) == Markings(
        HandlingCode.H2, "", Tlp.RED)


def test_unknown_marking_codes_are_a_usage_error(restricted: Case) -> None:
    with pytest.raises(UsageError, match="Unknown marking"):
        evidence.new_item_markings(restricted, MarkingChanges(tlp="PURPLE"))


def test_the_item_is_stored_with_the_merged_markings(admin: Session, restricted: Case, tmp_path: Path) -> None:
    source = tmp_path / "m.txt"
    source.write_bytes(b"marked")
    markings = evidence.new_item_markings(restricted, MarkingChanges(tlp="GREEN"))
    item = evidence.add_files(admin, restricted.id, [source], ItemFields(markings=markings)).items[0]
    stored = evidence.get_item(admin, item.id).markings
    assert (stored.handling_code, stored.handling_text, stored.tlp) == (HandlingCode.H3, "only for the JIT",
                                                                        Tlp.GREEN)
