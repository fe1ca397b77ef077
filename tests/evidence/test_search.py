"""Full-text search (FTS5 inside SQLCipher) over cases and items, and search by hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from icspa_desktop.domain.errors import UsageError
from icspa_desktop.domain.evidence import HashAlgorithm, ItemFields
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.services import cases, evidence, search
from icspa_desktop.services.session import Session


def _numbers(results: search.SearchResults) -> tuple[list[str], list[str]]:
    return [c.number for c in results.cases], [i.exhibit_number for i in results.items]


def test_text_search_over_cases_and_items(admin: Session, case: Case, files: Path) -> None:
    evidence.add_files(admin, case.id, [files / "notes.txt"],
                       ItemFields(description="Burner phone dump", notes="Müller's contacts", tags=("sim-card",)))
    assert _numbers(search.search(admin, "harbour")) == (["2024-0042"], [])
    assert _numbers(search.search(admin, "pier")) == (["2024-0042"], [])  # case description
    assert _numbers(search.search(admin, "burner")) == ([], ["2024-0042-001"])
    assert _numbers(search.search(admin, "muller")) == ([], ["2024-0042-001"])  # diacritics folded
    assert _numbers(search.search(admin, "notes.txt")) == ([], ["2024-0042-001"])
    assert _numbers(search.search(admin, "sim-card")) == ([], ["2024-0042-001"])
    assert _numbers(search.search(admin, "2024-0042-001"))[1] == ["2024-0042-001"]
    assert _numbers(search.search(admin, "burn")) == ([], ["2024-0042-001"])  # prefix
    assert _numbers(search.search(admin, "burner harbour")) == ([], [])  # every word must match one record
    assert _numbers(search.search(admin, "meeting")) == ([], [])  # content is never indexed


@pytest.mark.parametrize("query", ["NOT", "a OR", "x AND (", "col:val", "NEAR(a b)", '"pier', "pier*^"])
def test_query_syntax_cannot_break_search(admin: Session, case: Case, query: str) -> None:
    results = search.search(admin, query)
    assert isinstance(results.cases, list)


@pytest.mark.parametrize("query", ['"', "*", "^", "()", "  "])
def test_queries_without_words_are_refused(admin: Session, case: Case, query: str) -> None:
    with pytest.raises(UsageError):
        search.search(admin, query)


def test_index_follows_case_edits(admin: Session, case: Case) -> None:
    from dataclasses import replace

    cases.edit_case(admin, case.id, replace(case.fields, title="Airport cocaine"))
    assert _numbers(search.search(admin, "harbour")) == ([], [])
    assert _numbers(search.search(admin, "cocaine")) == (["2024-0042"], [])


def test_index_follows_item_annotations(admin: Session, case: Case, files: Path) -> None:
    item = evidence.add_files(admin, case.id, [files / "notes.txt"]).items[0]
    evidence.annotate(admin, item.id, notes="ledger of payments", tags=["finance"])
    assert _numbers(search.search(admin, "ledger"))[1] == [item.exhibit_number]
    assert _numbers(search.search(admin, "finance"))[1] == [item.exhibit_number]
    evidence.annotate(admin, item.id, notes="nothing", tags=[])
    assert _numbers(search.search(admin, "ledger")) == ([], [])


def test_hash_search_across_cases(admin: Session, case: Case, files: Path) -> None:
    other = cases.create_case(admin, CaseFields(number="2025-0001", title="Second case"))
    data = (files / "notes.txt").read_bytes()
    a = evidence.add_files(admin, case.id, [files / "notes.txt"], algorithms=[HashAlgorithm.MD5,
                                                                              HashAlgorithm.SHA1]).items[0]
    b = evidence.add_files(admin, other.id, [files / "notes.txt"]).items[0]
    found = search.search(admin, hashlib.sha256(data).hexdigest().upper())
    assert found.by_hash is HashAlgorithm.SHA256
    assert [i.id for i in found.items] == [a.id, b.id]
    assert [i.id for i in search.search(admin, hashlib.md5(data).hexdigest()).items] == [a.id]
    assert [i.id for i in search.search(admin, hashlib.sha1(data).hexdigest()).items] == [a.id]
    assert search.search(admin, "0" * 64).items == []
    json_rows = search.results_to_json(found)
    assert all(row["type"] == "item" and row["id"] and row["sha256"] for row in json_rows)


def test_hash_detection() -> None:
    assert search.hash_algorithm_of("a" * 32) is HashAlgorithm.MD5
    assert search.hash_algorithm_of("A" * 40) is HashAlgorithm.SHA1
    assert search.hash_algorithm_of(" " + "f" * 64 + " ") is HashAlgorithm.SHA256
    assert search.hash_algorithm_of("g" * 64) is None
    assert search.hash_algorithm_of("a" * 33) is None


def test_a_capped_result_says_how_many_there_are(admin: Session, case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(7):
        (folder / f"harbour-{i}.txt").write_text(f"harbour log {i}\n")
    evidence.add_files(admin, case.id, [folder], ItemFields(description="harbour camera"))
    capped = search.search(admin, "harbour", limit=3)
    assert len(capped.items) == 3 and capped.items_total == 7 and capped.truncated
    full = search.search(admin, "harbour", limit=50)
    assert len(full.items) == 7 and full.items_total == 7 and not full.truncated


def test_the_sha256_prefix_shown_in_tables_finds_the_item(admin: Session, case: Case, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"prefix search")
    item = evidence.add_files(admin, case.id, [source]).items[0]
    assert item.sha256 is not None
    prefix = item.sha256[:16] if any(ch.isdigit() for ch in item.sha256[:16]) else item.sha256[:20]
    found = search.search(admin, prefix.upper())
    assert found.prefix and [i.id for i in found.items] == [item.id] and found.items_total == 1
    with pytest.raises(UsageError, match="SHA-256"):
        search.find_by_hash(admin, "12ab")
