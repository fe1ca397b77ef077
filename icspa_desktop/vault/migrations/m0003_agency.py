"""Schema 3: the agency identity (certificate + age identity, private parts sealed) and partner agencies."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 3

_STATEMENTS = (
    # One row per identity generation; the current one has retired_at NULL. Old certificates stay
    # so that checkpoints and bundles signed before a replacement still verify.
    """CREATE TABLE agency_keys (
        id TEXT PRIMARY KEY,
        certificate BLOB NOT NULL,
        age_recipient TEXT NOT NULL,
        sealed_signing_key BLOB NOT NULL,
        sealed_age_identity BLOB NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('generated', 'imported')),
        created_at TEXT NOT NULL,
        retired_at TEXT
    )""",
    # One row per partner key generation; lineage groups the generations of one partner agency.
    """CREATE TABLE partners (
        id TEXT PRIMARY KEY,
        lineage TEXT NOT NULL,
        name TEXT NOT NULL,
        country TEXT NOT NULL,
        unit TEXT NOT NULL DEFAULT '',
        contact TEXT NOT NULL DEFAULT '',
        certificate BLOB NOT NULL,
        age_recipient TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('card', 'manual')),
        card_expires TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'superseded')),
        status_reason TEXT NOT NULL DEFAULT '',
        status_changed_at TEXT,
        confirmed_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX partners_lineage ON partners(lineage)",
    "CREATE UNIQUE INDEX partners_fingerprint ON partners(fingerprint)",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
