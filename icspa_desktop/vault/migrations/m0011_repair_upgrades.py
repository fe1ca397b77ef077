"""Schema 11: what some upgrade paths missed, put in place where it is missing (a no-op for every other vault).

Three migrations were changed after vaults had been made with them, so a vault made in between never got the
change (``migrate`` runs only the versions above a vault's own):

- m0003 (agency identity and partners) was added *below* m0004, which programs had already shipped: a vault those
  programs brought to schema 4 skipped it, and had no ``agency_keys`` or ``partners`` table — custody verification
  then failed on it (tests/foundation/test_migrations.py, the schema-2 frozen vault as those programs left it);
- m0002 gained the ``items_exhibit`` index and the FTS5 prefix index of ``items_fts`` (fast 2–3 letter search);
- m0004 gained the covering index ``custody_events_leaf`` (checkpoints and proofs read hashes only);
- m0008 gained ``bundles_received.content_sha256`` and ``receipt_issued_at`` (an old row's content hash is
  unknown: empty).

Migrations are never edited once a vault may exist that ran them (docs/vault-format.md); this step repairs."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection
from icspa_desktop.vault.migrations import m0003_agency

VERSION = 11

_ITEMS_FTS = """CREATE VIRTUAL TABLE items_fts USING fts5(
        exhibit_number, original_name, original_path, description, notes, tags, source_device, source_serial,
        seal_number, content='items', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )"""


def _if_missing(statement: str) -> str:
    for kind in ("CREATE TABLE ", "CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if statement.startswith(kind):
            return statement.replace(kind, kind + "IF NOT EXISTS ", 1)
    raise ValueError(f"not a CREATE statement: {statement[:40]}")


def _columns(conn: Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})").fetchall()}


def _definition(conn: Connection, name: str) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def apply(conn: Connection) -> None:
    for statement in m0003_agency._STATEMENTS:
        conn.execute(_if_missing(statement))
    conn.execute("CREATE INDEX IF NOT EXISTS items_exhibit ON items(exhibit_number)")
    conn.execute("CREATE INDEX IF NOT EXISTS custody_events_leaf ON custody_events(idx, leaf_hash)")
    fts = _definition(conn, "items_fts")
    if fts is not None and "prefix=" not in fts.replace(" ", ""):
        # An external-content index: dropped and made again with the prefix index, then rebuilt from items (its
        # triggers belong to items and stay).
        conn.execute("DROP TABLE items_fts")
        conn.execute(_ITEMS_FTS)
        conn.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
    if _definition(conn, "bundles_received") is not None:
        received = _columns(conn, "bundles_received")
        if "content_sha256" not in received:
            conn.execute("ALTER TABLE bundles_received ADD COLUMN content_sha256 TEXT NOT NULL DEFAULT ''")
        if "receipt_issued_at" not in received:
            conn.execute("ALTER TABLE bundles_received ADD COLUMN receipt_issued_at TEXT")
