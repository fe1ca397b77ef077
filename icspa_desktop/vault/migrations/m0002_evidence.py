"""Schema 2: evidence items (digital and physical), their encrypted blobs, and full-text search.

The FTS5 indexes are external-content tables kept in step with ``cases`` and ``items`` by triggers, so
every writer (services, bundle import, migrations of other helpers) updates them without knowing.
They live inside the SQLCipher database and are encrypted with it.
"""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 2

_MARKINGS = """
        handling_code TEXT NOT NULL CHECK (handling_code IN ('H0', 'H1', 'H2', 'H3')),
        handling_text TEXT NOT NULL DEFAULT '',
        tlp TEXT NOT NULL CHECK (tlp IN ('CLEAR', 'GREEN', 'AMBER', 'AMBER+STRICT', 'RED')),
        source_evaluation TEXT NOT NULL DEFAULT '' CHECK (source_evaluation IN ('', 'A', 'B', 'C', 'X')),
        information_evaluation TEXT NOT NULL DEFAULT '' CHECK (information_evaluation IN ('', '1', '2', '3', '4')),
"""

_STATEMENTS = (
    # One row per stored content file; the key is wrapped (see vault/blobs.py), never in clear.
    """CREATE TABLE blobs (
        id TEXT PRIMARY KEY,
        wrapped_key BLOB NOT NULL,
        stream_version INTEGER NOT NULL,
        chunk_size INTEGER NOT NULL,
        plain_size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )""",
    f"""CREATE TABLE items (
        id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL REFERENCES cases(id),
        exhibit_number TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('digital', 'physical')),
        blob_id TEXT UNIQUE REFERENCES blobs(id),
        original_name TEXT NOT NULL DEFAULT '',
        original_path TEXT NOT NULL DEFAULT '',
        size INTEGER,
        sha256 TEXT,
        md5 TEXT,
        sha1 TEXT,
        mime_type TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        notes TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        {_MARKINGS}
        parent_id TEXT REFERENCES items(id),
        acquired_by TEXT NOT NULL DEFAULT '',
        acquired_at TEXT NOT NULL DEFAULT '',
        acquisition_location TEXT NOT NULL DEFAULT '',
        acquisition_method TEXT NOT NULL DEFAULT '',
        tool TEXT NOT NULL DEFAULT '',
        tool_version TEXT NOT NULL DEFAULT '',
        source_device TEXT NOT NULL DEFAULT '',
        source_serial TEXT NOT NULL DEFAULT '',
        seal_number TEXT NOT NULL DEFAULT '',
        storage_location TEXT NOT NULL DEFAULT '',
        holder TEXT NOT NULL DEFAULT '',
        checked_out INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL REFERENCES users(id),
        updated_at TEXT NOT NULL,
        UNIQUE (case_id, exhibit_number),
        CHECK ((kind = 'digital') = (blob_id IS NOT NULL))
    )""",
    "CREATE INDEX items_case ON items(case_id)",
    "CREATE INDEX items_sha256 ON items(sha256)",
    "CREATE INDEX items_md5 ON items(md5)",
    "CREATE INDEX items_sha1 ON items(sha1)",
    "CREATE INDEX items_parent ON items(parent_id)",
    "CREATE INDEX items_exhibit ON items(exhibit_number)",
    # Full-text search; remove_diacritics so "Müller" finds "Muller" and the other way round. The prefix
    # indexes make the short prefixes typed in a search box fast (bench/bench_search.py: 2-3 letter
    # prefixes over 100,000 items went from ~0.5-1 s to a few ms).
    """CREATE VIRTUAL TABLE cases_fts USING fts5(
        number, title, description, content='cases', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
        INSERT INTO cases_fts(rowid, number, title, description)
        VALUES (new.rowid, new.number, new.title, new.description);
    END""",
    """CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
        INSERT INTO cases_fts(cases_fts, rowid, number, title, description)
        VALUES ('delete', old.rowid, old.number, old.title, old.description);
    END""",
    """CREATE TRIGGER cases_fts_update AFTER UPDATE OF number, title, description ON cases BEGIN
        INSERT INTO cases_fts(cases_fts, rowid, number, title, description)
        VALUES ('delete', old.rowid, old.number, old.title, old.description);
        INSERT INTO cases_fts(rowid, number, title, description)
        VALUES (new.rowid, new.number, new.title, new.description);
    END""",
    """CREATE VIRTUAL TABLE items_fts USING fts5(
        exhibit_number, original_name, original_path, description, notes, tags, source_device, source_serial,
        seal_number, content='items', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )""",
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, exhibit_number, original_name, original_path, description, notes, tags,
                              source_device, source_serial, seal_number)
        VALUES (new.rowid, new.exhibit_number, new.original_name, new.original_path, new.description, new.notes,
                new.tags, new.source_device, new.source_serial, new.seal_number);
    END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, exhibit_number, original_name, original_path, description, notes,
                              tags, source_device, source_serial, seal_number)
        VALUES ('delete', old.rowid, old.exhibit_number, old.original_name, old.original_path, old.description,
                old.notes, old.tags, old.source_device, old.source_serial, old.seal_number);
    END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF exhibit_number, original_name, original_path, description,
        notes, tags, source_device, source_serial, seal_number ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, exhibit_number, original_name, original_path, description, notes,
                              tags, source_device, source_serial, seal_number)
        VALUES ('delete', old.rowid, old.exhibit_number, old.original_name, old.original_path, old.description,
                old.notes, old.tags, old.source_device, old.source_serial, old.seal_number);
        INSERT INTO items_fts(rowid, exhibit_number, original_name, original_path, description, notes, tags,
                              source_device, source_serial, seal_number)
        VALUES (new.rowid, new.exhibit_number, new.original_name, new.original_path, new.description, new.notes,
                new.tags, new.source_device, new.source_serial, new.seal_number);
    END""",
    # Cases created under schema 1 become searchable too.
    "INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
