"""Verification of the custody log: every event's signature, key, leaf and index, and the tree.

The row checks run in worker processes for large logs (Ed25519 verification holds the GIL in
``cryptography``; libsodium through PyNaCl is about twice as fast as OpenSSL here, and processes use
both cores). Each worker opens its own read-only connection to the vault database, so only leaf
hashes and findings travel between processes. Checkpoints and the witness are checked by the caller
(services.custody_verify) against the tree this module returns.
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from icspa_desktop.crypto import signing
from icspa_desktop.custody.events import SIGNATURE_CONTEXT
from icspa_desktop.custody.merkle import Frontier
from icspa_desktop.domain.enums import CUSTODY_ACTION_WORDS
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.i18n import N_
from icspa_desktop.vault import db

# Below this many events the pool's start-up (~0.3 s per worker) costs more than it saves.
POOL_THRESHOLD = 20_000
CHUNK = 10_000  # events per task: small enough that the last tasks finish together on every core
# Key validity times are stored to the second; events carry microseconds.
KEY_TIME_SLACK = timedelta(seconds=1)


class DamageKind(StrEnum):
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    WRONG_ACTOR_KEY = "wrong_actor_key"
    KEY_NOT_VALID = "key_not_valid_at_time"
    LEAF_MISMATCH = "leaf_hash_mismatch"
    INDEX_MISMATCH = "index_mismatch"
    MALFORMED = "malformed_event"
    GAP = "missing_events"
    CHECKPOINT_SIGNATURE = "checkpoint_signature"
    CHECKPOINT_MALFORMED = "checkpoint_malformed"
    TRUNCATED = "log_truncated"
    INCONSISTENT = "history_rewritten"
    ROLLBACK = "vault_rolled_back"
    FORK = "history_forked"
    WITNESS_INVALID = "witness_invalid"
    STATE_MISMATCH = "verification_record_mismatch"
    CHAIN_BROKEN = "chain_broken"
    USER_STATE = "user_state_forged"
    USERS_TABLE = "users_table_mismatch"
    WITNESS_MISSING = "witness_missing"
    USER_WITNESS = "user_witness"
    RECEIPT = "receipt_mismatch"  # a partner's receipt witnessed a log this one does not extend
    PARTNER_RECORD = "partner_record_changed"  # a partner's event stored at import no longer verifies


@dataclass(frozen=True, slots=True)
class Damage:
    kind: DamageKind
    message: str
    event_index: int | None = None
    event_id: str | None = None
    checkpoint_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "message": self.message, "event_index": self.event_index,
                "event_id": self.event_id, "checkpoint_id": self.checkpoint_id}


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A signing key of a user: for the chained log, the range of event indices it may sign
    (replayed from signed events); for events before the chain, its validity times from the table."""

    user_id: str
    user_name: str
    valid_from: datetime | None
    retired_at: datetime | None
    from_index: int = 0
    until_index: int | None = None


@dataclass(slots=True)
class ScanResult:
    """What a pass over (part of) the log found: the leaf hashes in index order, and any damage."""

    leaf_hashes: bytearray = field(default_factory=bytearray)
    indices: list[int] = field(default_factory=list)
    damages: list[Damage] = field(default_factory=list)
    # Per event, in index order: its body format (0 when unreadable) and, for format 2, the signed
    # tree head before it (32 zero bytes otherwise). The chain is checked where the tree is built.
    versions: bytearray = field(default_factory=bytearray)
    prev_roots: bytearray = field(default_factory=bytearray)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_keys(conn: db.Connection) -> dict[bytes, KeyRecord]:
    rows = conn.execute(
        "SELECT k.public_key, k.user_id, COALESCE(u.name, ''), k.valid_from, k.retired_at"
        " FROM user_keys k LEFT JOIN users u ON u.id = k.user_id"
    ).fetchall()
    return {
        bytes(pk): KeyRecord(str(uid), str(name), _parse_time(str(vf)), _parse_time(str(ra)) if ra else None)
        for pk, uid, name, vf, ra in rows
    }


# A damage's message is English: it goes into the report's --json and into the custody report that bundles carry.
# ``DAMAGE.shown`` gives it in the reader's language (custody verify's text output, the GUI's verification result).
_EVENT = N_("Event #{idx} ({id})")
_EVENT_BY = N_("Event #{idx} ({id}, {action} by {name} at {at})")
_NOT_AN_EVENT = N_("{label}: the signed content is not a valid event record.")
_MOVED = N_("{label}: its signed position (index {index}) or tree head is not where the log stores it — it was moved, "
            "or events before it were inserted or removed.")
_UNKNOWN_FORMAT = N_("{label}: unknown event format {version}.")
_LEAF = N_("{label}: its stored leaf hash does not match its content and signature.")
_SIGNATURE = N_("{label}: the signature does not match the event's content — the event was altered after it was "
                "signed, or its signature is damaged.")
_UNKNOWN_KEY = N_("{label}: it is signed with a key that belongs to no user of this vault (key {fingerprint}).")
_WRONG_ACTOR = N_("{label}: it is signed with the key of user {user}, not of its stated actor.")
_NOT_GRANTED = N_("{label}: it is signed with a key of {user} that the signed log does not grant at this point "
                  "(before it was issued or after it was replaced).")
_NOT_VALID_THEN = N_("{label}: it is signed with a key of {user} that was not valid at that time.")
_COLUMNS = N_("{label}: the database columns {columns} disagree with the signed event (they were edited).")
_HEAD = N_("Event #{idx}: the tree head it signed does not match the {n} events stored before it — events before it "
           "were edited, inserted, deleted or reordered after it was signed.")
_UNCHAINED = N_("Event #{idx} is in the old unchained format although the log is chained from event #{first}: it was "
                "inserted.")
_GAP_ONE = N_("The log has a gap: event #{idx} is missing (deleted from the database).")
_GAP = N_("The log has a gap: events #{first}–#{last} are missing (deleted from the database).")
_OUTSIDE = N_("Event #{idx} lies outside the log's sequence (inserted).")
EVENT_LABELS = Phrasebook(_EVENT, _EVENT_BY, fields={"action": CUSTODY_ACTION_WORDS})
DAMAGE = Phrasebook(_NOT_AN_EVENT, _MOVED, _UNKNOWN_FORMAT, _LEAF, _SIGNATURE, _UNKNOWN_KEY, _WRONG_ACTOR, _NOT_GRANTED,
                    _NOT_VALID_THEN, _COLUMNS, _HEAD, _UNCHAINED, _GAP_ONE, _GAP, _OUTSIDE,
                    fields={"label": EVENT_LABELS})


def _label(idx: int, event_id: str, body: dict[str, Any] | None) -> str:
    if not body:
        return _EVENT.format(idx=idx, id=event_id)
    actor = body.get("actor") if isinstance(body.get("actor"), dict) else {}
    name = actor.get("name", "?") if isinstance(actor, dict) else "?"
    return _EVENT_BY.format(idx=idx, id=event_id, action=body.get("action", "?"), name=name, at=body.get("at", "?"))


_ROW_SELECT = ("SELECT idx, id, case_id, action, actor_id, at, body, signature, public_key, leaf_hash"
               " FROM custody_events")


def check_rows(rows: Iterable[Sequence[Any]], keys: dict[bytes, KeyRecord],
               items: dict[int, list[str]] | None = None) -> ScanResult:
    """Check each row on its own (signature, key, leaf, indexed columns); leaves are recomputed.

    ``items``: the item links of these rows (event idx → item ids) from custody_event_items.
    """
    out = ScanResult()
    sha256 = hashlib.sha256
    loads = json.loads
    b64 = base64.b64encode
    verify_sig = signing.verify_strict  # libsodium: ~2x OpenSSL's rate
    context = SIGNATURE_CONTEXT
    items = items or {}
    leaves = out.leaf_hashes
    indices = out.indices
    damages = out.damages
    versions = out.versions
    prev_roots = out.prev_roots
    no_root = bytes(32)
    for row in rows:
        idx, event_id, case_id, action, actor_id, at, body_raw, sig_raw, pk_raw, leaf_raw = row
        if isinstance(body_raw, bytes) and isinstance(sig_raw, bytes) and isinstance(pk_raw, bytes):
            body_bytes, signature, public_key = body_raw, sig_raw, pk_raw
        else:  # someone stored TEXT (or another type) where the log writes BLOBs
            body_bytes, signature, public_key = as_bytes(body_raw), as_bytes(sig_raw), as_bytes(pk_raw)
        if not isinstance(leaf_raw, bytes):
            leaf_raw = as_bytes(leaf_raw)
        indices.append(idx)
        # events.leaf_bytes, inlined: this loop runs a million times in a full verification.
        leaf = sha256(b'\x00{"event":' + body_bytes + b',"public_key":"' + b64(public_key) + b'","signature":"'
                      + b64(signature) + b'"}').digest()
        leaves += leaf
        try:
            body = loads(body_bytes)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            damages.append(Damage(DamageKind.MALFORMED, _NOT_AN_EVENT.format(label=_label(idx, event_id, None)),
                                  idx, event_id))
            versions.append(0)
            prev_roots += no_root
            continue
        version = body.get("v")
        if version == 2:
            prev = _decode_root(body.get("prev_root"))
            if prev is None or body.get("index") != idx:
                damages.append(Damage(DamageKind.CHAIN_BROKEN, _MOVED.format(
                    label=_label(idx, event_id, body), index=repr(body.get("index"))), idx, event_id))
            versions.append(2)
            prev_roots += prev or no_root
        else:
            versions.append(1 if version == 1 else 0)
            prev_roots += no_root
            if version != 1:
                damages.append(Damage(DamageKind.MALFORMED, _UNKNOWN_FORMAT.format(
                    label=_label(idx, event_id, body), version=repr(version)), idx, event_id))
        if leaf != leaf_raw:
            damages.append(Damage(DamageKind.LEAF_MISMATCH, _LEAF.format(label=_label(idx, event_id, body)),
                                  idx, event_id))
        if not verify_sig(public_key, signature, context + body_bytes):
            damages.append(Damage(DamageKind.BAD_SIGNATURE, _SIGNATURE.format(label=_label(idx, event_id, body)),
                                  idx, event_id))
            continue
        actor = body.get("actor")
        actor_id_signed = actor.get("id") if isinstance(actor, dict) else None
        key = keys.get(public_key)
        if key is None:
            damages.append(Damage(DamageKind.UNKNOWN_KEY, _UNKNOWN_KEY.format(
                label=_label(idx, event_id, body), fingerprint=signing.key_fingerprint(public_key)), idx, event_id))
        elif key.user_id != actor_id_signed:
            damages.append(Damage(DamageKind.WRONG_ACTOR_KEY, _WRONG_ACTOR.format(
                label=_label(idx, event_id, body), user=repr(key.user_name)), idx, event_id))
        elif idx < key.from_index or (key.until_index is not None and idx >= key.until_index):
            damages.append(Damage(DamageKind.KEY_NOT_VALID, _NOT_GRANTED.format(
                label=_label(idx, event_id, body), user=repr(key.user_name)), idx, event_id))
        elif key.valid_from is not None:
            try:
                when: datetime | None = _parse_time(str(body.get("at")))
            except ValueError:
                when = None
            if when is None or when < key.valid_from or (
                    key.retired_at is not None and when >= key.retired_at + KEY_TIME_SLACK):
                damages.append(Damage(DamageKind.KEY_NOT_VALID, _NOT_VALID_THEN.format(
                    label=_label(idx, event_id, body), user=repr(key.user_name)), idx, event_id))
        linked = items.get(idx, [])
        signed_items = body.get("item_ids") or []
        if isinstance(signed_items, list) and len(signed_items) > 1:
            # append() links each item once, however often the draft named it.
            signed_items = sorted({str(i) for i in signed_items})
        if (event_id != body.get("id") or case_id != body.get("case_id") or action != body.get("action")
                or actor_id != actor_id_signed or at != body.get("at") or linked != signed_items):
            columns = {"id": event_id, "case_id": case_id, "action": action, "actor": actor_id, "at": at,
                       "items": linked}
            signed = {"id": body.get("id"), "case_id": body.get("case_id"), "action": body.get("action"),
                      "actor": actor_id_signed, "at": body.get("at"), "items": signed_items}
            differing = [name for name in columns if columns[name] != signed[name]]
            damages.append(Damage(DamageKind.INDEX_MISMATCH, _COLUMNS.format(
                label=_label(idx, event_id, body), columns=", ".join(differing)), idx, event_id))
    return out


def _decode_root(value: Any) -> bytes | None:
    if not isinstance(value, str) or len(value) != 44:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def chain_damages(scan: ScanResult, frontier: Frontier | None = None,
                  after_push: Callable[[Frontier], None] | None = None) -> list[Damage]:
    """The chain: every format-2 event signed the tree head of exactly the events before it, and no
    format-1 event follows a format-2 one. ``frontier``: the tree of the events before ``scan`` (advanced
    in place; the empty tree when ``scan`` starts at index 0); ``after_push`` sees it after every event."""
    damages: list[Damage] = []
    frontier = Frontier() if frontier is None else frontier
    leaves, versions, prevs, indices = scan.leaf_hashes, scan.versions, scan.prev_roots, scan.indices
    chained_from: int | None = None
    for position, idx in enumerate(indices):
        offset = position * 32
        version = versions[position]
        if version == 2:
            if chained_from is None:
                chained_from = idx
            if prevs[offset:offset + 32] != frontier.root():
                damages.append(Damage(DamageKind.CHAIN_BROKEN, _HEAD.format(idx=idx, n=frontier.size), idx))
        elif version == 1 and chained_from is not None:
            damages.append(Damage(DamageKind.CHAIN_BROKEN, _UNCHAINED.format(idx=idx, first=chained_from), idx))
        frontier.push(bytes(leaves[offset:offset + 32]))
        if after_push is not None:
            after_push(frontier)
    return damages


def as_bytes(value: Any) -> bytes:
    """A BLOB column as bytes, whatever type a hand edit left in it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8") if value is not None else b""


def _items_in(conn: db.Connection, start: int | None, end: int | None) -> dict[int, list[str]]:
    clauses, params = _bounds_sql("event_idx", start, end)
    found: dict[int, list[str]] = {}
    for idx, item_id in conn.execute("SELECT event_idx, item_id FROM custody_event_items" + clauses
                                     + " ORDER BY event_idx, item_id", params):
        found.setdefault(int(idx), []).append(str(item_id))
    return found


def _bounds_sql(column: str, start: int | None, end: int | None) -> tuple[str, list[int]]:
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} < ?")
        params.append(end)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def check_range(conn: db.Connection, keys: dict[bytes, KeyRecord], start: int | None, end: int | None) -> ScanResult:
    """Check the events with start <= idx < end (open bounds when None)."""
    return check_rows(_select_range(conn, start, end), keys, _items_in(conn, start, end))


# ---- worker processes ---------------------------------------------------------------------------
_worker_conn: db.Connection | None = None
_worker_keys: dict[bytes, KeyRecord] = {}


def _worker_init(db_path: str, raw_key: bytes, keys: dict[bytes, KeyRecord]) -> None:
    global _worker_conn, _worker_keys
    _worker_conn = db.open_database(Path(db_path), raw_key)
    _worker_conn.execute("PRAGMA query_only = ON")
    _worker_keys = keys


def _worker_chunk(bounds: tuple[int | None, int | None]) -> ScanResult:
    assert _worker_conn is not None
    return check_range(_worker_conn, _worker_keys, *bounds)


def _select_range(conn: db.Connection, start: int | None, end: int | None) -> Iterable[Sequence[Any]]:
    where, params = _bounds_sql("idx", start, end)
    cursor = conn.execute(_ROW_SELECT + where + " ORDER BY idx", params)
    while batch := cursor.fetchmany(2000):
        yield from batch


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


Progress = Callable[[int, int], None]


def scan_log(
    conn: db.Connection,
    keys: dict[bytes, KeyRecord],
    *,
    start: int = 0,
    db_path: Path | None = None,
    raw_key: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Check every event with idx >= ``start`` (all events when 0), in parallel for large logs."""
    first, last, total = conn.execute(
        "SELECT MIN(idx), MAX(idx), COUNT(*) FROM custody_events WHERE idx >= ?" if start else
        "SELECT MIN(idx), MAX(idx), COUNT(*) FROM custody_events", (start,) if start else ()).fetchone()
    result = ScanResult()
    if not total:
        return result
    workers = default_workers() if workers is None else workers
    chunk = max(1, min(CHUNK, int(total) // (4 * workers) or 1))
    # The first chunk has no lower bound and the last none above, so stray indices are seen too.
    cuts = list(range(max(int(first), start) + chunk, int(last) + 1, chunk))
    bounds: list[tuple[int | None, int | None]] = []
    lower: int | None = start if start else None
    for cut in cuts:
        bounds.append((lower, cut))
        lower = cut
    bounds.append((lower, None))
    done = 0
    if total < POOL_THRESHOLD or workers < 2 or db_path is None or raw_key is None:
        parts: Iterable[ScanResult] = (check_range(conn, keys, lo, hi) for lo, hi in bounds)
    else:
        # spawn, not fork: the GUI process has threads, and a forked SQLCipher handle is unsafe.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                   initargs=(str(db_path), raw_key, keys))
        parts = _pool_results(pool, bounds)
    for part in parts:
        result.leaf_hashes += part.leaf_hashes
        result.versions += part.versions
        result.prev_roots += part.prev_roots
        result.indices.extend(part.indices)
        result.damages.extend(part.damages)
        done += len(part.indices)
        if progress is not None:
            progress(done, int(total))
    return result


def _pool_results(pool: ProcessPoolExecutor, bounds: list[tuple[int | None, int | None]]) -> Iterable[ScanResult]:
    with pool:
        yield from pool.map(_worker_chunk, bounds)


def index_damages(indices: Sequence[int], start: int = 0) -> list[Damage]:
    """Gaps and stray indices: the log's indices must be start, start+1, … without holes."""
    damages: list[Damage] = []
    expected = start
    for idx in indices:
        if idx > expected:
            count = idx - expected
            gap = _GAP_ONE.format(idx=expected) if count == 1 else _GAP.format(first=expected, last=idx - 1)
            damages.append(Damage(DamageKind.GAP, gap, expected))
        elif idx < expected:
            damages.append(Damage(DamageKind.GAP, _OUTSIDE.format(idx=idx), idx))
            continue
        expected = idx + 1
    return damages
