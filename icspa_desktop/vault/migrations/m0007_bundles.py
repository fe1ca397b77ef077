"""Schema 7: the sharing bundles this vault sent (DESIGN §5), for 'bundle list', receipts and consistency proofs."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 7

_STATEMENTS = (
    """CREATE TABLE bundles_sent (
        id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        recipients TEXT NOT NULL,            -- JSON list of {id, name, fingerprint}
        items TEXT NOT NULL,                 -- JSON list of {id, exhibit_number, sha256, size}
        file_name TEXT NOT NULL,
        size INTEGER,
        sha256 TEXT,
        checkpoint_id INTEGER,
        status TEXT NOT NULL CHECK (status IN ('written', 'failed')),
        problem TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX bundles_sent_case ON bundles_sent(case_id)",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
