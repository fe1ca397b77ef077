"""Schema 9: a bundle export is journalled before it writes anything ('writing'), so an export that was killed
or whose outcome could not be committed still shows in 'bundle list' (as interrupted), with the file name it
was writing. SQLite cannot change a CHECK constraint in place: the table is rebuilt with the same rows."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 9

_STATEMENTS = (
    """CREATE TABLE bundles_sent_v9 (
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
        status TEXT NOT NULL CHECK (status IN ('writing', 'written', 'failed')),
        problem TEXT NOT NULL DEFAULT '',
        folder TEXT NOT NULL DEFAULT '',     -- where it was written (for an interrupted export: where to look)
        process TEXT NOT NULL DEFAULT ''     -- the writing process's token while 'writing'
    )""",
    "INSERT INTO bundles_sent_v9 (id, case_id, created_at, created_by, recipients, items, file_name, size, sha256,"
    " checkpoint_id, status, problem) SELECT id, case_id, created_at, created_by, recipients, items, file_name, size,"
    " sha256, checkpoint_id, status, problem FROM bundles_sent",
    "DROP TABLE bundles_sent",
    "ALTER TABLE bundles_sent_v9 RENAME TO bundles_sent",
    "CREATE INDEX bundles_sent_case ON bundles_sent(case_id)",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
