"""Schema 4: signed checkpoints of the custody log, and the state of the last full verification."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 4

_STATEMENTS = (
    # body is the exact signed checkpoint text; the other columns are copies for queries and are
    # checked against the body at every verification.
    """CREATE TABLE custody_checkpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tree_size INTEGER NOT NULL,
        root_hash BLOB NOT NULL,
        created_at TEXT NOT NULL,
        body BLOB NOT NULL,
        signature BLOB NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL
    )""",
    "CREATE INDEX custody_checkpoints_size ON custody_checkpoints(tree_size)",
    # A covering index: building the tree for a checkpoint or a proof reads 32-byte hashes, not every
    # page of the log (1 GB for a million events).
    "CREATE INDEX custody_events_leaf ON custody_events(idx, leaf_hash)",
    # One row: the log as it was when last verified in full, so routine checks only read what came after.
    # frontier = the Merkle frontier (perfect subtree hashes, largest first) of the first tree_size leaves.
    """CREATE TABLE custody_verification (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        tree_size INTEGER NOT NULL,
        root_hash BLOB NOT NULL,
        frontier BLOB NOT NULL,
        checkpoint_id INTEGER NOT NULL,
        verified_at TEXT NOT NULL,
        verified_by TEXT NOT NULL
    )""",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
