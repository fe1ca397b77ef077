"""Small read-only queries the desktop needs to stay responsive (issue 11): cheap questions answered without
reading whole records, so that views can skip a reload and label exhibits without listing every item.

Each takes the session like every service and checks the READ permission; none writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session

_BATCH = 500  # bound parameters per IN (...) list, well under SQLite's limit


def custody_log_size(session: Session) -> int:
    """How many events our custody log holds (its next index): a view that read the log at this size is
    current. Every action, an import included, appends to the log, so the size changes with any change."""
    session.require(Permission.READ)
    row = session.conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM custody_events").fetchone()
    return int(row[0])


def exhibit_numbers(session: Session, case_id: str) -> dict[str, str]:
    """Item id → exhibit number, for every item of a case (two columns, not whole item records)."""
    session.require(Permission.READ)
    rows = session.conn.execute("SELECT id, exhibit_number FROM items WHERE case_id = ?", (case_id,)).fetchall()
    return {str(item_id): str(exhibit) for item_id, exhibit in rows}


def case_numbers(session: Session, case_ids: Sequence[str]) -> dict[str, str]:
    """Case id → case number for the given ids (those that exist)."""
    session.require(Permission.READ)
    found: dict[str, str] = {}
    unique = list(dict.fromkeys(case_ids))
    for start in range(0, len(unique), _BATCH):
        part = unique[start : start + _BATCH]
        marks = ",".join("?" * len(part))
        for case_id, number in session.conn.execute(f"SELECT id, number FROM cases WHERE id IN ({marks})", part):
            found[str(case_id)] = str(number)
    return found
