"""Search: full text (SQLite FTS5 inside the encrypted database) over cases and items, and by hash.

A query that is a bare hex string of 32, 40 or 64 digits is taken as an MD5, SHA-1 or SHA-256 value
and matched exactly across every case; any other hex string of at least 8 digits is a SHA-256 prefix
(the tables show the first 16 digits); anything else is full-text search. Results are capped at a
limit, and the totals say how many there are in all, so a cap is never silent. User text never reaches
the FTS5 query language unquoted: each word becomes a quoted prefix term, so punctuation in exhibit
numbers or file names cannot break the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from icspa_desktop.domain.errors import UsageError, _
from icspa_desktop.domain.evidence import HashAlgorithm, Item
from icspa_desktop.domain.models import Case
from icspa_desktop.services import cases, evidence
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session

DEFAULT_LIMIT = 50
MAX_QUERY_LEN = 500
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_HASH_BY_LENGTH = {a.hex_length: a for a in HashAlgorithm}
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    by_hash: HashAlgorithm | None
    cases: list[Case]
    items: list[Item]
    cases_total: int = 0  # every match, even beyond the limit
    items_total: int = 0
    prefix: bool = False  # ``query`` was a SHA-256 prefix

    @property
    def truncated(self) -> bool:
        return self.cases_total > len(self.cases) or self.items_total > len(self.items)


def hash_algorithm_of(text: str) -> HashAlgorithm | None:
    """The algorithm a pasted hex digest belongs to, by its length; None if it is not one."""
    text = text.strip()
    if _HEX_RE.fullmatch(text):
        return _HASH_BY_LENGTH.get(len(text))
    return None


def fts_query(text: str) -> str:
    """User text → an FTS5 query in which nothing the user typed is syntax.

    Each white-space separated token becomes a quoted phrase of its words (so ``sim-card`` or
    ``2024-0042-001`` match as written), matched as a prefix unless it is a single character (a
    one-letter prefix would expand to a large part of the vocabulary); all tokens must match.
    """
    terms = []
    for token in text.split():
        words = _WORD_RE.findall(token)
        if not words:
            continue
        phrase = " ".join(words)
        terms.append(f'"{phrase}"' if len(phrase) == 1 else f'"{phrase}"*')
    return " AND ".join(terms)


MIN_PREFIX = 8


def find_by_hash(session: Session, digest: str, limit: int = DEFAULT_LIMIT) -> list[Item]:
    return _by_hash(session, digest, limit)[0]


def _by_hash(session: Session, digest: str, limit: int) -> tuple[list[Item], int]:
    """Items with this hash (or SHA-256 prefix), at most ``limit``, and how many there are in all."""
    session.require(Permission.READ)
    digest = digest.strip().lower()
    algorithm = hash_algorithm_of(digest)
    if algorithm is not None:
        where, params = f"{algorithm.value} = ?", [digest]
    elif _HEX_RE.fullmatch(digest) and MIN_PREFIX <= len(digest) < 64:
        # A range, so the sha256 index is used (LIKE would scan every row).
        where, params = "sha256 >= ? AND sha256 < ?", [digest, digest + "g"]
    else:
        raise UsageError(_("A hash is 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hexadecimal digits, or the first "
                           "{minimum} or more digits of a SHA-256.", minimum=MIN_PREFIX))
    conn = session.conn
    ids = [str(row[0]) for row in conn.execute(
        f"SELECT id FROM items WHERE {where} ORDER BY created_at LIMIT ?", (*params, limit)).fetchall()]
    total = len(ids) if len(ids) < limit else int(
        conn.execute(f"SELECT COUNT(*) FROM items WHERE {where}", params).fetchone()[0])
    return evidence.items_by_ids(session, ids), total


def search(session: Session, query: str, limit: int = DEFAULT_LIMIT) -> SearchResults:
    """Cases and items matching ``query`` (best matches first), or items with that hash value."""
    session.require(Permission.READ)
    query = query.strip()
    if not query:
        raise UsageError(_("Give something to search for."))
    if len(query) > MAX_QUERY_LEN:
        raise UsageError(_("The search text must be at most {limit} characters.",
                           limit=MAX_QUERY_LEN))
    algorithm = hash_algorithm_of(query)
    # A hex string with a digit in it is a hash prefix ("deadbeef"-like words stay words).
    if algorithm is not None or (_HEX_RE.fullmatch(query) and MIN_PREFIX <= len(query) < 64
                                 and any(ch.isdigit() for ch in query)):
        found, total = _by_hash(session, query, limit)
        return SearchResults(query, algorithm or HashAlgorithm.SHA256, [], found, 0, total,
                             prefix=algorithm is None)
    match = fts_query(query)
    if not match:
        raise UsageError(_("The search text has no words or numbers to look for."))
    conn = session.conn
    # Cases are few: best match first. Items come in order of acquisition: FTS5 then streams the
    # matches and stops at the limit, where ranking (bm25) or descending order must read every
    # match first (measured over 100,000 items: up to ~1 s instead of a few ms for common words).
    case_ids = [str(row[0]) for row in conn.execute(
        "SELECT c.id FROM cases_fts JOIN cases c ON c.rowid = cases_fts.rowid"
        " WHERE cases_fts MATCH ? ORDER BY bm25(cases_fts) LIMIT ?", (match, limit)).fetchall()]
    exact = [str(row[0]) for row in conn.execute(
        "SELECT id FROM items WHERE exhibit_number = ? ORDER BY rowid LIMIT ?", (query, limit)).fetchall()]
    rowids = [int(row[0]) for row in conn.execute(
        "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rowid LIMIT ?", (match, limit)).fetchall()]
    item_ids = list(dict.fromkeys([*exact, *_ids_of_rowids(conn, rowids)]))[:limit]
    found_cases = [cases.get_case(session, case_id) for case_id in case_ids]
    cases_total = len(case_ids) if len(case_ids) < limit else int(conn.execute(
        "SELECT COUNT(*) FROM cases_fts WHERE cases_fts MATCH ?", (match,)).fetchone()[0])
    items_total = len(item_ids) if len(rowids) < limit and len(exact) < limit else int(conn.execute(
        "SELECT COUNT(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? UNION SELECT rowid FROM items"
        " WHERE exhibit_number = ?)", (match, query)).fetchone()[0])
    return SearchResults(query, None, found_cases, evidence.items_by_ids(session, item_ids), cases_total,
                         items_total)


def _ids_of_rowids(conn: Any, rowids: list[int]) -> list[str]:
    if not rowids:
        return []
    marks = ",".join("?" * len(rowids))
    rows = conn.execute(f"SELECT id FROM items WHERE rowid IN ({marks}) ORDER BY rowid", rowids).fetchall()
    return [str(row[0]) for row in rows]


def results_to_json(results: SearchResults) -> list[dict[str, Any]]:
    """One list of objects, each with ``id`` and ``type``; items also carry ``sha256``, cases ``number``."""
    out: list[dict[str, Any]] = []
    for case in results.cases:
        out.append({"type": "case", **cases.case_to_json(case)})
    for item in results.items:
        out.append({"type": "item", **evidence.item_to_json(item)})
    return out
