"""Schema 8: bundles received from partners (DESIGN §5, Import), the partner's records and custody kept
verbatim, the partner's checkpoints we hold (for consistency), and receipts both ways."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 8

_STATEMENTS = (
    # One row per imported bundle: importing the same bundle again finds it here and changes nothing.
    """CREATE TABLE bundles_received (
        id TEXT PRIMARY KEY,                 -- External-Identifier of the signed bag-info.txt
        sha256 TEXT NOT NULL,                -- of the file (or the concatenated volumes) as read
        content_sha256 TEXT NOT NULL,        -- of the signed tagmanifest: the bag's content, however encrypted
        size INTEGER NOT NULL,
        file_name TEXT NOT NULL,
        partner_id TEXT NOT NULL,            -- partners.id of the key that signed it
        partner_fingerprint TEXT NOT NULL,
        case_id TEXT NOT NULL,               -- the local case it went into
        signed_at TEXT NOT NULL,             -- the CMS signing time the sender's key was checked at
        imported_at TEXT NOT NULL,
        imported_by TEXT NOT NULL,
        checkpoint_text TEXT NOT NULL,       -- the sender's signed checkpoint, as verified
        checkpoint_signature BLOB NOT NULL,
        bag_info TEXT NOT NULL,              -- JSON [[label, value], …]
        checks TEXT NOT NULL,                -- JSON [{name, detail}, …]: what was verified
        items TEXT NOT NULL,                 -- JSON [{id, partner_item_id, exhibit_number, sha256, status}, …]
        receipt_issued_at TEXT               -- when we last signed a receipt for it
    )""",
    # Which local case holds a partner's case (a later bundle of the same partner case adds to it).
    """CREATE TABLE partner_cases (
        partner_lineage TEXT NOT NULL,
        partner_case_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        created_by_import INTEGER NOT NULL,  -- 1: the case record is the partner's and read-only
        partner_case_number TEXT NOT NULL,
        partner_name TEXT NOT NULL,
        partner_country TEXT NOT NULL,
        record TEXT NOT NULL,                -- metadata/case.json as received
        PRIMARY KEY (partner_lineage, partner_case_id)
    )""",
    "CREATE INDEX partner_cases_case ON partner_cases(case_id)",
    """CREATE TABLE imported_items (
        item_id TEXT PRIMARY KEY,
        partner_lineage TEXT NOT NULL,
        partner_item_id TEXT NOT NULL,
        partner_exhibit_number TEXT NOT NULL,
        partner_name TEXT NOT NULL,
        bundle_id TEXT NOT NULL,
        record TEXT NOT NULL,                -- the items.json record as received
        UNIQUE (partner_lineage, partner_item_id)
    )""",
    # The partner's custody events, verbatim, each with its inclusion proof against the checkpoint of the
    # bundle it came in (bundles_received.checkpoint_text).
    """CREATE TABLE partner_events (
        origin TEXT NOT NULL,
        leaf_index INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        body BLOB NOT NULL,
        signature BLOB NOT NULL,
        public_key BLOB NOT NULL,
        inclusion_proof TEXT NOT NULL,       -- JSON list of base64 hashes
        bundle_id TEXT NOT NULL,
        PRIMARY KEY (origin, leaf_index)
    )""",
    "CREATE INDEX partner_events_case ON partner_events(case_id)",
    """CREATE TABLE partner_event_items (
        origin TEXT NOT NULL,
        leaf_index INTEGER NOT NULL,
        item_id TEXT NOT NULL,               -- local item id
        PRIMARY KEY (origin, leaf_index, item_id)
    )""",
    "CREATE INDEX partner_event_items_item ON partner_event_items(item_id)",
    # Tree heads of partners' logs that we hold: signed checkpoints, and the older heads that a verified
    # consistency proof tied to one (text NULL). A new bundle must be consistent with these.
    """CREATE TABLE partner_checkpoints (
        origin TEXT NOT NULL,
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        text TEXT,
        signature BLOB,
        bundle_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (origin, size)
    )""",
    # Receipts partners returned for bundles we sent: they close the transfer and witness our log.
    """CREATE TABLE bundle_receipts (
        bundle_id TEXT NOT NULL,
        partner_fingerprint TEXT NOT NULL,
        partner_name TEXT NOT NULL,
        result TEXT NOT NULL,
        officer TEXT NOT NULL,
        receipt_time TEXT NOT NULL,
        checkpoint_size INTEGER NOT NULL,
        checkpoint_root BLOB NOT NULL,
        receipt BLOB NOT NULL,               -- the signed receipt file as received
        imported_at TEXT NOT NULL,
        PRIMARY KEY (bundle_id, partner_fingerprint)
    )""",
)


def apply(conn: Connection) -> None:
    for statement in _STATEMENTS:
        conn.execute(statement)
