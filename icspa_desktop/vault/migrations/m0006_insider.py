"""Schema 6: the chained custody log (cached tree head), user state from signed events, per-user agency key wraps.

Step 5 is taken by the extraction journal; the steps are independent.
"""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 6

_STATEMENTS = (
    # The Merkle frontier of the whole log, updated by every append in the same transaction, so that
    # a new event can carry the tree head before it without reading every leaf. A cache: verification
    # recomputes the tree; a wrong cache shows as a chain break at the next event.
    """CREATE TABLE custody_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        tree_size INTEGER NOT NULL,
        frontier BLOB NOT NULL
    )""",
    # User-state events (added, changed, keys) are replayed at unlock and in every verification.
    "CREATE INDEX custody_events_action ON custody_events(action)",
    # The user's age X25519 recipient (public); its identity is in the user's own key slot.
    "ALTER TABLE users ADD COLUMN box_recipient TEXT",
    # The agency signing key, age-encrypted to each user whose role may sign with it. The copy sealed
    # under the master key (agency_keys.sealed_signing_key) is emptied once these exist.
    """CREATE TABLE agency_key_wraps (
        key_id TEXT NOT NULL REFERENCES agency_keys(id),
        user_id TEXT NOT NULL REFERENCES users(id),
        wrapped BLOB NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (key_id, user_id)
    )""",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
