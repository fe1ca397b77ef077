"""services/gui_queries.py: the small read-only questions the desktop asks to avoid reading whole records."""

from __future__ import annotations

from pathlib import Path

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence, gui_queries, physical
from icspa_desktop.services.session import Session


def test_log_size_exhibits_and_case_numbers(admin: Session, tmp_path: Path) -> None:
    size = gui_queries.custody_log_size(admin)
    case = cases.create_case(admin, CaseFields("2026/900", "Queries"))
    assert gui_queries.custody_log_size(admin) == size + 1  # the case_created event
    source = tmp_path / "a.txt"
    source.write_text("a")
    added = evidence.add_files(admin, case.id, [source]).items[0]
    phone = physical.add_physical(admin, case.id, "Phone")
    assert gui_queries.custody_log_size(admin) == size + 3
    assert gui_queries.exhibit_numbers(admin, case.id) == {added.id: added.exhibit_number,
                                                           phone.id: phone.exhibit_number}
    other = cases.create_case(admin, CaseFields("2026/901", "Other"))
    assert gui_queries.exhibit_numbers(admin, other.id) == {}
    ids = [case.id, other.id, case.id, "no-such-case"]
    assert gui_queries.case_numbers(admin, ids) == {case.id: "2026/900", other.id: "2026/901"}
    assert gui_queries.case_numbers(admin, []) == {}
