"""``events.append_many`` writes exactly what ``events.append`` called once per draft writes, byte for byte.

Two fresh databases with the same schema, the same signing key, the same event ids and the same clock: the
drafts appended one by one into one, as one batch into the other. Every stored row (body, signature, public
key, leaf hash, indexed columns, item links) and the cached tree head must be identical, and equal to the
log the code wrote before the batch existed (the golden root and leaf hashes below were computed with it).
A batch in a real vault then passes the full ``custody verify``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.crypto import signing
from icspa_desktop.custody import events, merkle
from icspa_desktop.custody.events import Actor, EventDraft
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.ids import CaseId, EventId, ItemId, UserId
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.migrations import migrate
from tests.custody.conftest import Verify, add_cases

KEY = bytes(range(32))
ACTOR = Actor(UserId("u" * 26), "alice", "Alice Ä. Admin", Role.ADMINISTRATOR, "Test Police")
MOMENT = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)

# The log the drafts below make from an empty log (first 5 one by one, then the rest), as written by
# events.append before append_many existed: the format must not change by a single byte.
GOLDEN_ROOT = "3827278c1b02ad3ad0207d00c3ac296f94d61e1d781b2741e2a8a1ac5570e111"
# GOLDEN_LEAVES_SHA256: SHA-256 of the 13 leaf hashes concatenated.
GOLDEN_LEAVES_SHA256 = "d61cdf0bfdd5c897b44fbba69c78417bd2078c9a2f1a51e91a6f10c45ce64465"


def _drafts(count: int) -> list[EventDraft]:
    kinds = [CustodyAction.ACQUIRED, CustodyAction.IMPORTED, CustodyAction.CASE_CREATED, CustodyAction.EXPORTED]
    drafts = []
    for i in range(count):
        items = tuple(ItemId(f"item-{(i * 7 + k) % 5:02d}") for k in range(i % 4))  # unsorted, repeated, or none
        drafts.append(EventDraft(
            kinds[i % len(kinds)], case_id=CaseId(f"case-{i % 3}") if i % 5 else None, item_ids=items + items[:1],
            purpose=f"purpose {i}", authority="W-1" if i % 2 else "", location="Den Haag", counterparty="BKA (DE)",
            notes="ünïcode ✓ \u2028 line", result="ok", hashes={"sha256": f"{i:064x}", "md5": f"{i:032x}"},
            details={"size": i * 4096, "nested": {"list": [i, None, True, "1.5", -i], "z": "last", "a": "first"}}))
    return drafts


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Deterministic event ids, tool version and local time zone; calling the result restarts the ids."""
    monkeypatch.setattr(events, "__version__", "0.0.0-test")
    counter: Iterator[int] = itertools.count()

    def restart(start: int = 0) -> None:
        nonlocal counter
        counter = itertools.count(start)

    monkeypatch.setattr(events, "new_event_id", lambda: EventId(f"event-{next(counter):06d}"))
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield restart
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


def _database(path: Path) -> db.Connection:
    conn = db.open_database(path, hashlib.sha256(path.name.encode()).digest(), create=True)
    migrate(conn)
    return conn


def _log(conn: db.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], tuple[Any, ...]]:
    rows = conn.execute("SELECT idx, id, case_id, action, actor_id, at, body, signature, public_key, leaf_hash"
                        " FROM custody_events ORDER BY idx").fetchall()
    links = conn.execute("SELECT event_idx, item_id FROM custody_event_items ORDER BY event_idx, item_id").fetchall()
    head = conn.execute("SELECT tree_size, frontier FROM custody_head WHERE id = 1").fetchone()
    return [tuple(r) for r in rows], [tuple(r) for r in links], tuple(head)


def _stored(batch: list[events.StoredEvent]) -> list[tuple[Any, ...]]:
    return [(e.index, e.id, e.body, e.body_bytes, e.signature, e.public_key, e.leaf_hash) for e in batch]


def test_a_batch_writes_the_same_log_as_one_by_one(tmp_path: Path, fixed: Callable[..., None]) -> None:
    drafts = _drafts(13)  # 5 first, then 8: the batch starts from a cached head that is not a power of two
    one, many = _database(tmp_path / "one.db"), _database(tmp_path / "many.db")
    try:
        with db.transaction(one):
            singles = [events.append(one, d, ACTOR, KEY, MOMENT) for d in drafts]
        fixed()
        with db.transaction(many):
            first = [events.append(many, d, ACTOR, KEY, MOMENT) for d in drafts[:5]]
        with db.transaction(many):
            rest = events.append_many(many, drafts[5:], ACTOR, KEY, MOMENT)
        assert _stored(first + rest) == _stored(singles)
        assert _log(many) == _log(one)
        rows, links, head = _log(many)
        assert len(rows) == 13 and head[0] == 13 and len(links) == 18
        # Every event signed by the key, chained to the head before it, and the head the root of all leaves.
        public = signing.public_from_private(KEY)
        tree = merkle.Frontier()
        for idx, _id, _case, _action, _actor, _at, body, signature, key, leaf in rows:
            assert key == public and signing.verify(key, signature, events.signed_message(body))
            assert events.leaf_hash(events.leaf_bytes(body, signature, key)) == leaf
            assert f'"index":{idx},' in body.decode()
            assert f'"prev_root":"{base64.b64encode(tree.root()).decode()}"' in body.decode()
            tree.push(leaf)
        assert tree.to_bytes() == head[1]
        leaves = b"".join(r[9] for r in rows)
        assert (tree.root().hex(), hashlib.sha256(leaves).hexdigest()) == (GOLDEN_ROOT, GOLDEN_LEAVES_SHA256)
        # A single append after the batch chains onto the head the batch saved.
        fixed(100)
        with db.transaction(one):
            after_one = events.append(one, drafts[0], ACTOR, KEY, MOMENT)
        fixed(100)
        with db.transaction(many):
            after_many = events.append(many, drafts[0], ACTOR, KEY, MOMENT)
        assert _stored([after_many]) == _stored([after_one])
        assert after_many.index == 13 and _log(many) == _log(one)
    finally:
        one.close()
        many.close()


def test_an_empty_batch_writes_nothing(tmp_path: Path) -> None:
    conn = _database(tmp_path / "empty.db")
    try:
        with db.transaction(conn):
            events.append(conn, _drafts(1)[0], ACTOR, KEY, MOMENT)
        before = _log(conn)
        with db.transaction(conn):
            assert events.append_many(conn, [], ACTOR, KEY) == []
        assert _log(conn) == before
    finally:
        conn.close()


def test_a_batch_fails_as_a_whole_inside_its_transaction(tmp_path: Path) -> None:
    conn = _database(tmp_path / "fail.db")
    try:
        with db.transaction(conn):
            events.append(conn, _drafts(1)[0], ACTOR, KEY, MOMENT)
        before = _log(conn)
        bad = EventDraft(CustodyAction.ACQUIRED, details={"floats are not canonical JSON": 1.5})
        with pytest.raises(TypeError), db.transaction(conn):
            events.append_many(conn, [*_drafts(3), bad], ACTOR, KEY)
        assert _log(conn) == before
    finally:
        conn.close()


def test_a_batch_in_a_real_vault_passes_custody_verify(admin: Session, verify: Verify) -> None:
    add_cases(admin, 1)
    case_id = CaseId(str(admin.conn.execute("SELECT id FROM cases WHERE number = 'C-000'").fetchone()[0]))
    drafts = [EventDraft(CustodyAction.IMPORTED, case_id=case_id, counterparty="BKA (DE)", result="received",
                         hashes={"sha256": f"{i:064x}"}, details={"n": i}) for i in range(40)]
    before = events.count(admin.conn)
    with admin.transaction():
        stored = admin.record_many(drafts)
    with admin.transaction():
        admin.record(EventDraft(CustodyAction.EXPORTED, case_id=case_id, purpose="after the batch"))
    assert [e.index for e in stored] == list(range(before, before + 40))
    assert [e.body["details"]["n"] for e in events.list_events(admin.conn, case_id=case_id)[-41:-1]] == list(range(40))
    report = verify()
    assert report.ok, report.summary()
    assert report.tree_size == before + 41
