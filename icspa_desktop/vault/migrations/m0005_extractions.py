"""Schema 5: the journal of extractions in flight, so that one a crash interrupted is found and cleaned up.

A row is committed together with the "export started" custody event, before the first plaintext byte
is written outside the vault, and removed with the completion (or abort) event. A row still present at
the next check names a partial plaintext file that may still be on disk.
"""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 5

_STATEMENTS = (
    """CREATE TABLE extractions_in_flight (
        id TEXT PRIMARY KEY,
        item_id TEXT NOT NULL REFERENCES items(id),
        exhibit_number TEXT NOT NULL,
        target TEXT NOT NULL,
        partial TEXT NOT NULL,
        process TEXT NOT NULL,
        started_event TEXT NOT NULL,
        started_at TEXT NOT NULL,
        started_by TEXT NOT NULL REFERENCES users(id),
        reported_at TEXT
    )""",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
