"""Schema 1: settings, users and their signing keys, cases, custody events."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 1

_STATEMENTS = (
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('administrator', 'supervisor', 'investigator', 'auditor')),
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE user_keys (
        public_key BLOB PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        valid_from TEXT NOT NULL,
        retired_at TEXT
    )""",
    """CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        number TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        lead_investigator TEXT NOT NULL DEFAULT '',
        jurisdiction TEXT NOT NULL DEFAULT '',
        legal_authority TEXT NOT NULL DEFAULT '',
        handling_code TEXT NOT NULL CHECK (handling_code IN ('H0', 'H1', 'H2', 'H3')),
        handling_text TEXT NOT NULL DEFAULT '',
        tlp TEXT NOT NULL CHECK (tlp IN ('CLEAR', 'GREEN', 'AMBER', 'AMBER+STRICT', 'RED')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        created_by TEXT NOT NULL REFERENCES users(id)
    )""",
    # idx is the event's leaf index in the Merkle log: 0, 1, 2, … without gaps.
    """CREATE TABLE custody_events (
        idx INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        case_id TEXT,
        action TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        at TEXT NOT NULL,
        body BLOB NOT NULL,
        signature BLOB NOT NULL,
        public_key BLOB NOT NULL,
        leaf_hash BLOB NOT NULL
    )""",
    "CREATE INDEX custody_events_case ON custody_events(case_id)",
    """CREATE TABLE custody_event_items (
        event_idx INTEGER NOT NULL REFERENCES custody_events(idx),
        item_id TEXT NOT NULL,
        PRIMARY KEY (event_idx, item_id)
    )""",
    "CREATE INDEX custody_event_items_item ON custody_event_items(item_id)",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
