"""The chain of custody as a service: timelines, signed checkpoints, the witness file, verification."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from icspa_desktop.crypto import cms
from icspa_desktop.crypto import keys as vault_keys
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events, merkle
from icspa_desktop.custody.events import EventDraft, StoredEvent
from icspa_desktop.custody.merkle import Frontier, MerkleTree, ProofError
from icspa_desktop.custody.verify import (
    Damage,
    DamageKind,
    Progress,
    as_bytes,
    index_damages,
    load_keys,
    scan_log,
)
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import (
    Conflict,
    IcspaError,
    NotFound,
    RefusedInput,
    UsageError,
    VaultError,
    VerificationFailed,
)
from icspa_desktop.domain.ids import CaseId, ItemId, new_id
from icspa_desktop.services import agency
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db
from icspa_desktop.vault.atomic import atomic_write


# ---- the agency key (services.agency and crypto.cms, built by the agency work) --------------------
def agency_signer(session: Session) -> cp.CheckpointSigner:
    """The agency key, as checkpoint signer (every role may have a checkpoint signed)."""
    if not agency.has_identity(session):
        raise VaultError("This vault has no agency identity yet, so checkpoints cannot be signed; an administrator "
                         "creates one with 'icspa agency init'.")
    return agency.checkpoint_signer(session)


def agency_verifier(session: Session) -> cp.SignatureVerifier:
    """Checks a detached CMS signature against this agency's own certificates (old ones included)."""
    trusted = agency.agency_certificates(session)
    if not trusted:
        raise VaultError("This vault has no agency certificate, so checkpoint signatures cannot be checked.")

    def check(signature: bytes, content: bytes, at: datetime) -> x509.Certificate:
        return cms.verify_detached(signature, content, trusted, at=at)

    return check


# ---- timelines ------------------------------------------------------------------------------------
def _item_exists(conn: db.Connection, item_id: str) -> bool:
    try:
        return conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is not None
    except db.DatabaseError:  # schema without items
        return False


def resolve_subject(session: Session, ref: str) -> tuple[CaseId | None, ItemId | None, str]:
    """A case (number or id) or an item (id or CASE/EXHIBIT) → (case_id, item_id, label)."""
    conn = session.conn
    row = conn.execute("SELECT id, number FROM cases WHERE id = ? OR number = ?", (ref, ref)).fetchone()
    if row is not None:
        return CaseId(str(row[0])), None, f"case {row[1]}"
    try:
        from icspa_desktop.services import evidence

        item = evidence.get_item(session, ref)
        return item.case_id, item.id, f"item {item.exhibit_number}"
    except (ImportError, NotFound):
        pass
    if _item_exists(conn, ref) or conn.execute(
            "SELECT 1 FROM custody_event_items WHERE item_id = ? LIMIT 1", (ref,)).fetchone():
        return None, ItemId(ref), f"item {ref}"
    raise NotFound(f"No case or item {ref!r} (give a case number or id, or an item id).")


def timeline(session: Session, ref: str | None = None) -> tuple[str, list[StoredEvent]]:
    """The events of one case, one item, or (``ref`` None) the whole log, in log order."""
    session.require(Permission.READ)
    if ref is None:
        return "the whole vault", events.list_events(session.conn)
    case_id, item_id, label = resolve_subject(session, ref)
    if item_id is not None:
        return label, events.list_events(session.conn, item_id=item_id)
    return label, events.list_events(session.conn, case_id=case_id)


def event_to_json(event: StoredEvent) -> dict[str, Any]:
    data = dict(event.body)
    data["index"] = event.index
    data["leaf_hash"] = event.leaf_hash.hex()
    data["signature"] = base64.b64encode(event.signature).decode("ascii")
    data["public_key"] = base64.b64encode(event.public_key).decode("ascii")
    return data


# ---- checkpoints ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    id: int
    checkpoint: cp.Checkpoint
    body: bytes
    signature: bytes
    reason: str
    created_at: str
    created_by: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def signed_bytes(self) -> bytes:
        """The witness-file form: body, blank line, CMS signature as PEM."""
        return cp.encode_signed(self.body, self.signature)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "tree_size": self.size, "root_hash": self.checkpoint.root_b64,
                "timestamp": self.checkpoint.timestamp_text, "origin": self.checkpoint.origin,
                "text": self.text, "signature_der_b64": base64.b64encode(self.signature).decode("ascii"),
                "reason": self.reason, "created_at": self.created_at, "created_by": self.created_by}


_CP_COLUMNS = "id, tree_size, root_hash, body, signature, reason, created_at, created_by"


def _row_to_checkpoint(row: Sequence[Any]) -> StoredCheckpoint:
    cid, _size, _root, body, signature, reason, created_at, created_by = row
    return StoredCheckpoint(int(cid), cp.parse_body(bytes(body)), bytes(body), bytes(signature), str(reason),
                            str(created_at), str(created_by))


def list_checkpoints(session: Session) -> list[StoredCheckpoint]:
    session.require(Permission.READ)
    rows = session.conn.execute(f"SELECT {_CP_COLUMNS} FROM custody_checkpoints ORDER BY id").fetchall()
    return [_row_to_checkpoint(row) for row in rows]


def latest_checkpoint(session: Session) -> StoredCheckpoint | None:
    row = session.conn.execute(f"SELECT {_CP_COLUMNS} FROM custody_checkpoints ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else _row_to_checkpoint(row)


def vault_origin(session: Session) -> str:
    return cp.origin_for(session.vault.header.vault_id)


def witness_file(session: Session, directory: Path | None = None) -> Path:
    return cp.witness_path(session.vault.header.vault_id, directory)


def stored_tree(conn: db.Connection) -> MerkleTree:
    """The tree over the stored leaf hashes (not re-derived: that is verification's job)."""
    rows = conn.execute("SELECT leaf_hash FROM custody_events ORDER BY idx").fetchall()
    return MerkleTree(b"".join(bytes(r[0]) for r in rows))


def _witness_conflict(tree: MerkleTree, body: bytes) -> str | None:
    """Why the existing witness does not fit this log (None when it is an ancestor of it)."""
    try:
        old = cp.parse_body(body)
    except RefusedInput as exc:
        return str(exc)
    if old.size > tree.size:
        return (f"the witness checkpoint covers {old.size} events but the log has only {tree.size} — the vault "
                "was rolled back to an older copy or its log truncated")
    if tree.root(old.size) != old.root:
        return (f"the log's first {old.size} events no longer match the witness checkpoint — the history was "
                "rewritten")
    return None


def make_checkpoint(
    session: Session,
    reason: str = "on demand",
    *,
    signer: cp.CheckpointSigner | None = None,
    witness_dir: Path | None = None,
    replace_witness: bool = False,
    case_id: CaseId | None = None,
) -> StoredCheckpoint:
    """Sign (size, root, time) of the log with the agency key, store it, record CHECKPOINT_SIGNED, and
    write it to the witness file outside the vault.

    Refuses (VerificationFailed) when the existing witness shows a rollback or rewritten history, since
    overwriting it would erase the evidence; ``replace_witness`` overrides this and records the old one.
    """
    session.require(Permission.READ)
    signer = signer or agency_signer(session)
    path = witness_file(session, witness_dir)
    previous = cp.read_witness(path) if path.exists() else None
    replaced: dict[str, Any] = {}
    with session.transaction() as conn:
        tree = stored_tree(conn)
        if previous is not None:
            conflict = _witness_conflict(tree, previous[0])
            if conflict and not replace_witness:
                raise VerificationFailed(
                    f"No checkpoint was made: {conflict} (witness file {path}). Run 'icspa custody verify'; "
                    "if an older vault copy was restored on purpose, use --replace-witness."
                )
            if conflict:
                replaced = {"replaced_witness": previous[0].decode("utf-8", "replace"), "conflict": conflict}
        now = datetime.now(UTC).replace(microsecond=0)
        checkpoint = cp.Checkpoint(vault_origin(session), tree.size, tree.root(), now)
        body = checkpoint.body()
        signature = signer.sign_detached(body)
        cursor = conn.execute(
            "INSERT INTO custody_checkpoints (tree_size, root_hash, created_at, body, signature, reason, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (checkpoint.size, checkpoint.root, now.isoformat(), body, signature, reason, session.user.id),
        )
        checkpoint_id = int(cursor.lastrowid)
        session.record(EventDraft(
            CustodyAction.CHECKPOINT_SIGNED, case_id=case_id, purpose=reason, result="signed",
            details={"checkpoint_id": checkpoint_id, "tree_size": checkpoint.size, "root_hash": checkpoint.root_b64,
                     "timestamp": checkpoint.timestamp_text,
                     "certificate_sha256": _cert_fingerprint(signer), **replaced},
        ))
    # After COMMIT: a witness ahead of the vault would itself look like a rollback.
    try:
        cp.write_witness(path, body, signature)
    except OSError as exc:
        raise VaultError(f"The checkpoint was stored in the vault, but the witness file {path} could not be "
                         f"written: {exc.strerror or exc}.") from exc
    return StoredCheckpoint(checkpoint_id, checkpoint, body, signature, reason, now.isoformat(), session.user.id)


def _cert_fingerprint(signer: cp.CheckpointSigner) -> str:
    return signer.certificate.fingerprint(hashes.SHA256()).hex()


def inclusion_proof(session: Session, event_index: int, tree_size: int) -> list[bytes]:
    """Audit path of one event in the tree of the first ``tree_size`` events (e.g. a checkpoint's)."""
    return stored_tree(session.conn).inclusion_proof(event_index, tree_size)


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[bytes]:
    return stored_tree(session.conn).consistency_proof(old_size, new_size)


# ---- verification ---------------------------------------------------------------------------------
@dataclass(slots=True)
class VerifyReport:
    vault_id: str
    mode: str  # "full" or "incremental"
    tree_size: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    events_checked: int = 0
    first_checked: int = 0
    checkpoints_checked: int = 0
    witness_path: str = ""
    witness_status: str = "absent"  # absent | ok | damaged
    witness_size: int | None = None
    damages: list[Damage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.damages

    def summary(self) -> str:
        if self.ok:
            return (f"The custody log is intact: {self.tree_size} events, {self.checkpoints_checked} checkpoint(s) "
                    f"checked ({self.mode} verification of {self.events_checked} events).")
        return f"The custody log is damaged: {len(self.damages)} problem(s) found. First: {self.damages[0].message}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.vault_id, "ok": self.ok, "mode": self.mode, "tree_size": self.tree_size,
                "root_hash": base64.b64encode(self.root_hash).decode("ascii"), "events_checked": self.events_checked,
                "first_checked": self.first_checked, "checkpoints_checked": self.checkpoints_checked,
                "witness": {"path": self.witness_path, "status": self.witness_status, "tree_size": self.witness_size},
                "damages": [d.to_json() for d in self.damages], "notes": list(self.notes),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class _State:
    size: int
    root: bytes
    frontier: bytes
    checkpoint_id: int


def _load_state(conn: db.Connection) -> _State | None:
    row = conn.execute(
        "SELECT tree_size, root_hash, frontier, checkpoint_id FROM custody_verification WHERE id = 1").fetchone()
    return None if row is None else _State(int(row[0]), bytes(row[1]), bytes(row[2]), int(row[3]))


def _save_state(session: Session, frontier: Frontier, checkpoint_id: int) -> None:
    with session.transaction() as conn:
        conn.execute(
            "INSERT INTO custody_verification (id, tree_size, root_hash, frontier, checkpoint_id, verified_at,"
            " verified_by) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET tree_size = excluded.tree_size,"
            " root_hash = excluded.root_hash, frontier = excluded.frontier, checkpoint_id = excluded.checkpoint_id,"
            " verified_at = excluded.verified_at, verified_by = excluded.verified_by",
            (frontier.size, frontier.root(), frontier.to_bytes(), checkpoint_id,
             datetime.now(UTC).isoformat(timespec="seconds"), session.user.id),
        )


class _NeedFull(Exception):
    """Incremental verification cannot decide; fall back to a full pass."""


@dataclass(frozen=True, slots=True)
class _CheckpointRecord:
    id: int
    label: str
    checkpoint: cp.Checkpoint | None


def _check_checkpoint_rows(
    session: Session, verifier: cp.SignatureVerifier | None, report: VerifyReport, after_id: int = 0
) -> list[_CheckpointRecord]:
    """Parse and signature-check the stored checkpoints with id > ``after_id``."""
    records: list[_CheckpointRecord] = []
    origin = vault_origin(session)
    rows = session.conn.execute(
        "SELECT id, tree_size, root_hash, body, signature, created_at FROM custody_checkpoints WHERE id > ?"
        " ORDER BY id", (after_id,)).fetchall()
    for cid, size, root, body_raw, signature_raw, created_at in rows:
        cid = int(cid)
        body, signature = as_bytes(body_raw), as_bytes(signature_raw)
        label = f"Checkpoint {cid} (signed {created_at})"
        try:
            parsed = cp.parse_body(body)
        except RefusedInput as exc:
            report.damages.append(Damage(DamageKind.CHECKPOINT_MALFORMED, f"{label}: {exc}", checkpoint_id=cid))
            records.append(_CheckpointRecord(cid, label, None))
            continue
        label = f"Checkpoint {cid} (tree size {parsed.size}, signed {parsed.timestamp_text})"
        problem = ""
        if parsed.origin != origin:
            problem = f"it belongs to another log ({parsed.origin})"
        elif size != parsed.size or as_bytes(root) != parsed.root:
            problem = "its size or root columns were edited and no longer match its signed text"
        if problem:
            report.damages.append(Damage(DamageKind.CHECKPOINT_MALFORMED, f"{label}: {problem}.", checkpoint_id=cid))
        if verifier is not None:
            try:
                verifier(signature, body, parsed.timestamp)
            except (IcspaError, ValueError) as exc:
                report.damages.append(Damage(DamageKind.CHECKPOINT_SIGNATURE,
                                             f"{label}: the agency signature is not valid ({exc}).", checkpoint_id=cid))
        records.append(_CheckpointRecord(cid, label, parsed))
        report.checkpoints_checked += 1
    return records


def _read_witness(session: Session, verifier: cp.SignatureVerifier | None, directory: Path | None,
                  report: VerifyReport) -> cp.Checkpoint | None:
    path = witness_file(session, directory)
    report.witness_path = str(path)
    try:
        found = cp.read_witness(path)
    except RefusedInput as exc:
        report.witness_status = "damaged"
        report.damages.append(Damage(DamageKind.WITNESS_INVALID, f"The witness file {path} is damaged: {exc}"))
        return None
    except OSError as exc:
        report.notes.append(f"The witness file {path} cannot be read ({exc.strerror}).")
        return None
    if found is None:
        made = int(session.conn.execute("SELECT COUNT(*) FROM custody_checkpoints").fetchone()[0])
        if made:
            report.notes.append(f"No witness checkpoint at {path}, although this vault has {made} checkpoint(s): "
                                "it was deleted, or this is another account or computer. A rollback of the vault "
                                "directory cannot be detected without it; keep copies of checkpoints (reports, "
                                "bundles) outside the vault.")
        else:
            report.notes.append(f"No witness checkpoint at {path}: a rollback of the whole vault directory cannot "
                                "be detected until one is written ('icspa custody checkpoint').")
        return None
    body, signature = found
    try:
        witness = cp.parse_body(body)
        if witness.origin != vault_origin(session):
            raise RefusedInput(f"it belongs to another log ({witness.origin})")
        if verifier is not None:
            verifier(signature, body, witness.timestamp)
    except (IcspaError, ValueError) as exc:
        report.witness_status = "damaged"
        report.damages.append(Damage(DamageKind.WITNESS_INVALID, f"The witness checkpoint {path} is not valid: {exc}."))
        return None
    report.witness_status = "ok"
    report.witness_size = witness.size
    return witness


def _witness_damage(witness: cp.Checkpoint, size: int, matches: bool, path: str) -> Damage | None:
    if witness.size > size:
        return Damage(DamageKind.ROLLBACK, f"The vault's custody log has {size} events, but the witness checkpoint "
                      f"kept outside the vault ({path}, signed {witness.timestamp_text}) covers {witness.size}: the "
                      "vault was rolled back to an older copy, or its log was truncated.")
    if not matches:
        return Damage(DamageKind.FORK, f"The first {witness.size} events of the log do not match the witness "
                      f"checkpoint kept outside the vault ({path}, signed {witness.timestamp_text}): the history "
                      "was forked — rewritten, or an older vault copy was restored and continued.")
    return None


def _consistency_damages(records: list[_CheckpointRecord], tree: MerkleTree) -> list[Damage]:
    n, root = tree.size, tree.root()
    good_sizes: list[int] = [0]
    bad: list[tuple[_CheckpointRecord, int]] = []
    damages: list[Damage] = []
    for record in records:
        c = record.checkpoint
        if c is None:
            continue
        if c.size > n:
            damages.append(Damage(DamageKind.TRUNCATED, f"{record.label}: it covers {c.size} events but the log has "
                                  f"only {n} — events #{n}–#{c.size - 1} were removed (log truncated).",
                                  checkpoint_id=record.id))
            continue
        try:
            merkle.verify_consistency(c.size, n, c.root, root, tree.consistency_proof(c.size))
        except ProofError:
            bad.append((record, c.size))
        else:
            good_sizes.append(c.size)
    for record, size in bad:
        below = max(s for s in good_sizes if s < size) if any(s < size for s in good_sizes) else 0
        damages.append(Damage(
            DamageKind.INCONSISTENT,
            f"{record.label}: the current log is not an extension of it — among events #{below}–#{size - 1} some "
            "were altered, inserted, deleted or reordered since it was signed.", event_index=below,
            checkpoint_id=record.id))
    return damages


def verify(
    session: Session,
    *,
    incremental: bool = False,
    verifier: cp.SignatureVerifier | None = None,
    witness_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check every event, the tree, every stored checkpoint and the witness; damage is in the report.

    ``incremental``: only events after the last clean full verification (falls back to full when the
    record of that verification does not fit the log).
    """
    session.require(Permission.VERIFY, attempted="verify the chain of custody")
    started = time.perf_counter()
    missing_agency = ""
    if verifier is None:
        try:
            verifier = agency_verifier(session)
        except VaultError as exc:
            missing_agency = f"Checkpoint signatures were not checked: {exc}"
    if incremental:
        try:
            report = _verify_incremental(session, verifier, witness_dir)
        except _NeedFull as why:
            report = _verify_full(session, verifier, witness_dir, workers, progress)
            report.notes.append(f"Full verification was needed: {why}")
    else:
        report = _verify_full(session, verifier, witness_dir, workers, progress)
    report.seconds = time.perf_counter() - started
    if missing_agency:
        report.notes.append(missing_agency)
    return report


def _verify_full(session: Session, verifier: cp.SignatureVerifier | None, witness_dir: Path | None,
                 workers: int | None, progress: Progress | None) -> VerifyReport:
    conn = session.conn
    report = VerifyReport(session.vault.header.vault_id, "full")
    scan = scan_log(conn, load_keys(conn), db_path=session.vault.layout.database,
                    raw_key=session.vault.subkey(vault_keys.PURPOSE_SQLCIPHER), workers=workers, progress=progress)
    report.damages.extend(scan.damages)
    report.damages.extend(index_damages(scan.indices))
    tree = MerkleTree(scan.leaf_hashes)
    report.tree_size, report.root_hash, report.events_checked = tree.size, tree.root(), tree.size
    records = _check_checkpoint_rows(session, verifier, report)
    report.damages.extend(_consistency_damages(records, tree))
    witness = _read_witness(session, verifier, witness_dir, report)
    if witness is not None:
        matches = witness.size <= tree.size and tree.root(witness.size) == witness.root
        damage = _witness_damage(witness, tree.size, matches, report.witness_path)
        if damage is not None:
            report.witness_status = "damaged"
            report.damages.append(damage)
    report.damages.sort(key=lambda d: (d.event_index is None, d.event_index or 0))
    if report.ok:
        _save_state(session, _frontier_of(tree), max((r.id for r in records), default=0))
    return report


def _frontier_of(tree: MerkleTree) -> Frontier:
    """The frontier of a full tree from its perfect subtrees (no rehashing)."""
    size, start, stack = tree.size, 0, []
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            stack.append(tree.subtree_hash(start, start + (1 << height)))
            start += 1 << height
    return Frontier(size, stack)


def _verify_incremental(session: Session, verifier: cp.SignatureVerifier | None,
                        witness_dir: Path | None) -> VerifyReport:
    conn = session.conn
    state = _load_state(conn)
    if state is None:
        raise _NeedFull("no earlier full verification is recorded.")
    frontier = Frontier.from_bytes(state.size, state.frontier)
    if frontier.root() != state.root:
        raise _NeedFull("the record of the last verification is inconsistent.")
    count, last = conn.execute("SELECT COUNT(*), MAX(idx) FROM custody_events").fetchone()
    count = int(count)
    report = VerifyReport(session.vault.header.vault_id, "incremental", first_checked=state.size)
    if count < state.size:
        report.damages.append(Damage(DamageKind.TRUNCATED, f"The log has {count} events but had {state.size} when it "
                                     "was last verified: events were removed (log truncated or vault rolled back)."))
    if last is not None and int(last) != count - 1:
        raise _NeedFull("the event indices are not contiguous.")
    scan = scan_log(conn, load_keys(conn), start=state.size, workers=1)
    report.damages.extend(scan.damages)
    report.damages.extend(index_damages(scan.indices, state.size))
    records = _check_checkpoint_rows(session, verifier, report, after_id=state.checkpoint_id)
    witness = _read_witness(session, verifier, witness_dir, report)
    wanted: dict[int, list[cp.Checkpoint]] = {}
    for record in records:
        if record.checkpoint is not None:
            if record.checkpoint.size < state.size:
                raise _NeedFull("a checkpoint older than the last verification was added since.")
            wanted.setdefault(record.checkpoint.size, []).append(record.checkpoint)
    if witness is not None and witness.size >= state.size:
        wanted.setdefault(witness.size, []).append(witness)
    elif witness is not None:
        known = conn.execute("SELECT 1 FROM custody_checkpoints WHERE id <= ? AND body = ?",
                             (state.checkpoint_id, witness.body())).fetchone()
        if known is None:
            raise _NeedFull("the witness checkpoint predates the last verification and is not among its checkpoints.")
    roots: dict[int, bytes] = {state.size: frontier.root()} if state.size in wanted else {}
    hashes = scan.leaf_hashes
    for offset in range(0, len(hashes), merkle.HASH_SIZE):
        frontier.push(bytes(hashes[offset:offset + merkle.HASH_SIZE]))
        if frontier.size in wanted:
            roots[frontier.size] = frontier.root()
    report.tree_size, report.root_hash = frontier.size, frontier.root()
    report.events_checked = frontier.size - state.size
    for size, items in wanted.items():
        for c in items:
            is_witness = witness is not None and c is witness
            if is_witness:
                damage = _witness_damage(c, frontier.size, roots.get(size) == c.root, report.witness_path)
                if damage is not None:
                    report.witness_status = "damaged"
                    report.damages.append(damage)
            elif size > frontier.size:
                report.damages.append(Damage(DamageKind.TRUNCATED, f"A checkpoint covers {size} events but the log "
                                             f"has only {frontier.size}: events were removed (log truncated)."))
            elif roots.get(size) != c.root:
                report.damages.append(Damage(DamageKind.INCONSISTENT, f"The checkpoint of tree size {size} does not "
                                             "match the log: events were altered, inserted, deleted or reordered."))
    if report.ok:
        _save_state(session, frontier, max((r.id for r in records), default=state.checkpoint_id))
    return report


def require_intact(report: VerifyReport) -> None:
    if not report.ok:
        raise VerificationFailed(report.summary())


# ---- proofs for partners (docs/verify_custody_proofs.py checks these) -----------------------------
PROOFS_FORMAT = "icspa-custody-proofs/v1"


def proof_document(
    session: Session,
    selected: Sequence[StoredEvent],
    checkpoint: StoredCheckpoint,
    previous: StoredCheckpoint | None = None,
) -> dict[str, Any]:
    """The selected events, each with its inclusion proof against ``checkpoint``; with ``previous``
    (e.g. the last checkpoint sent to the same partner) also the consistency proof between the two."""
    tree = stored_tree(session.conn)
    if checkpoint.size > tree.size or tree.root(checkpoint.size) != checkpoint.checkpoint.root:
        raise VerificationFailed(f"Checkpoint {checkpoint.id} does not match the custody log; run 'icspa custody "
                                 "verify'.")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    entries = []
    for event in selected:
        if event.index >= checkpoint.size:
            raise UsageError(f"Event {event.id} is newer than checkpoint {checkpoint.id}; make a new checkpoint.")
        entries.append({
            "id": event.id, "leaf_index": event.index, "event": event.body, "event_b64": b64(event.body_bytes),
            "signature": b64(event.signature), "public_key": b64(event.public_key),
            "inclusion_proof": [b64(node) for node in tree.inclusion_proof(event.index, checkpoint.size)],
        })
    doc: dict[str, Any] = {
        "format": PROOFS_FORMAT,
        "checkpoint": {"text": checkpoint.text, "signature_der_b64": b64(checkpoint.signature)},
        "events": entries,
    }
    if previous is not None:
        if previous.size > checkpoint.size:
            raise UsageError("The previous checkpoint is newer than the current one.")
        doc["previous_checkpoint"] = {"text": previous.text, "signature_der_b64": b64(previous.signature)}
        doc["consistency_proof"] = [b64(node) for node in tree.consistency_proof(previous.size, checkpoint.size)]
    return doc


def checkpoint_covering(session: Session, size: int, *, signer: cp.CheckpointSigner | None = None,
                        witness_dir: Path | None = None, reason: str = "proofs") -> StoredCheckpoint:
    """The latest checkpoint if it covers the first ``size`` events, else a new one."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.size >= size:
        return latest
    return make_checkpoint(session, reason, signer=signer, witness_dir=witness_dir)


def get_checkpoint(session: Session, checkpoint_id: int) -> StoredCheckpoint:
    row = session.conn.execute(f"SELECT {_CP_COLUMNS} FROM custody_checkpoints WHERE id = ?",
                               (checkpoint_id,)).fetchone()
    if row is None:
        raise NotFound(f"No checkpoint {checkpoint_id} ('icspa custody checkpoints' lists them).")
    return _row_to_checkpoint(row)


# ---- reports --------------------------------------------------------------------------------------
_HANDLING_TEXT = {
    "H0": "use for crime prevention/combating only",
    "H1": "no use in judicial proceedings without the provider's permission",
    "H2": "no dissemination without the provider's permission",
    "H3": "other restrictions",
}


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What a report states about a case or item: the facts, its events, and the checkpoint covering them."""

    report_id: str
    case: Any  # domain.models.Case
    items: list[Any]  # domain.evidence.Item
    item: Any | None
    events: list[StoredEvent]
    checkpoint: StoredCheckpoint
    verification: VerifyReport | None
    certificate_sha256: str


def report_context(session: Session, case_ref: str, *, item_ref: str | None = None,
                   signer: cp.CheckpointSigner | None = None, verifier: cp.SignatureVerifier | None = None,
                   witness_dir: Path | None = None, purpose: str = "custody report") -> ReportContext:
    """Gather a case (or one of its items), sign a fresh checkpoint covering its events, verify the log."""
    from icspa_desktop.services import cases, evidence

    session.require(Permission.REPORT, attempted=f"produce a {purpose} for {case_ref}")
    case = cases.get_case(session, case_ref)
    item = None
    if item_ref is not None:
        item = evidence.get_item(session, item_ref)
        if item.case_id != case.id:
            raise UsageError(f"Item {item.exhibit_number} does not belong to case {case.number}.")
    items = [item] if item is not None else evidence.list_items(session, case.id)
    report_id = f"{purpose.split()[0][:4].upper()}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{new_id()[:6]}"
    signer = signer or agency_signer(session)
    checkpoint = make_checkpoint(session, f"{purpose} {report_id}", signer=signer, witness_dir=witness_dir,
                                 case_id=case.id)
    found = (events.list_events(session.conn, item_id=item.id) if item is not None
             else events.list_events(session.conn, case_id=case.id))
    found = [e for e in found if e.index < checkpoint.size]
    try:
        verification: VerifyReport | None = verify(session, incremental=True, verifier=verifier,
                                                   witness_dir=witness_dir)
    except VaultError:
        verification = None
    return ReportContext(report_id, case, items, item, found, checkpoint, verification, _cert_fingerprint(signer))


def _markings_text(handling: str, handling_text: str, tlp: str) -> str:
    meaning = handling_text if handling == "H3" and handling_text else _HANDLING_TEXT.get(handling, "")
    return f"{handling} ({meaning}) · TLP:{tlp}" if meaning else f"{handling} · TLP:{tlp}"


def _report_item(item: Any) -> Any:
    from icspa_desktop.reports.custody_pdf import ReportItem

    acq = item.acquisition
    details = [
        ("Original name", item.original_name), ("Original path", item.original_path), ("Media type", item.mime_type),
        ("Acquired by", acq.acquired_by), ("Acquired at", acq.acquired_at), ("Acquisition place", acq.location),
        ("Method", acq.method), ("Tool", " ".join(p for p in (acq.tool, acq.tool_version) if p)),
        ("Source device", " / ".join(p for p in (acq.source_device, acq.source_serial) if p)),
        ("Seal number", acq.seal_number), ("Storage location", item.storage_location),
        ("Holder", item.holder + (" (checked out)" if item.checked_out else "")),
    ]
    m = item.markings
    markings = _markings_text(str(m.handling_code), m.handling_text, str(m.tlp))
    if m.source_evaluation or m.information_evaluation:
        markings += f" · evaluation {m.source_evaluation or '-'}{m.information_evaluation or '-'}"
    return ReportItem(item.exhibit_number, item.original_name, str(item.kind), item.description, item.size,
                      dict(item.hashes), markings, [(k, v) for k, v in details if v], item.id)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Non-empty leaves of nested details as ("acquisition.tool", "Guymager") pairs."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key in sorted(value):
            pairs.extend(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    if value in ("", None, [], {}):
        return []
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return [(prefix, text)]


def _report_event(event: StoredEvent, exhibits: dict[str, str]) -> Any:
    from icspa_desktop.reports.custody_pdf import ReportEvent

    b = event.body
    actor = b.get("actor") or {}
    extra = []
    if b.get("counterparty"):
        extra.append(f"Counterparty: {b['counterparty']}")
    for algorithm, value in sorted((b.get("hashes") or {}).items()):
        extra.append(f"{algorithm.upper()} {value}")
    tool = b.get("tool") or {}
    if tool:
        extra.append(f"Tool: {tool.get('name', '')} {tool.get('version', '')}".strip())
    if b.get("notes"):
        extra.append(f"Notes: {b['notes']}")
    facts = "; ".join(f"{k}: {v}" for k, v in _flatten(b.get("details") or {}))
    if facts:
        extra.append(f"Details: {facts if len(facts) <= 400 else facts[:400] + '…'}")
    at = str(b.get("at", ""))
    return ReportEvent(
        index=event.index, id=event.id, at_utc=f"{at[:10]}\n{at[11:19]} UTC" if at else "",
        local_time=str(b.get("local_time", "")), time_zone=str(b.get("time_zone", "")),
        actor=f"{actor.get('display_name') or actor.get('name', '?')} ({actor.get('name', '?')})",
        role=str(actor.get("role", "")), agency=str(actor.get("agency", "")),
        action=str(b.get("action", "")).replace("_", " "), purpose=str(b.get("purpose", "")),
        authority=str(b.get("authority", "")), location=str(b.get("location", "")), result=str(b.get("result", "")),
        items=", ".join(exhibits.get(i, i) for i in b.get("item_ids") or []), extra=" · ".join(extra),
    )


def custody_report_pdf(session: Session, case_ref: str, out: Path, *, item_ref: str | None = None,
                       signer: cp.CheckpointSigner | None = None, verifier: cp.SignatureVerifier | None = None,
                       witness_dir: Path | None = None) -> ReportContext:
    """Write the PDF chain-of-custody report of a case or one item to ``out`` (never over an existing file)."""
    from icspa_desktop.reports import custody_pdf
    from icspa_desktop.services.session import setting

    if out.exists():
        raise Conflict(f"{out} already exists; choose another file name.")
    ctx = report_context(session, case_ref, item_ref=item_ref, signer=signer, verifier=verifier,
                         witness_dir=witness_dir)
    case = ctx.case
    f = case.fields
    conn = session.conn
    agency_lines = [setting(conn, "agency.name") or "Agency name not set",
                    " · ".join(p for p in (setting(conn, "agency.unit"), setting(conn, "agency.country")) if p),
                    setting(conn, "agency.contact")]
    subject = f"Case {case.number}" if ctx.item is None else f"Exhibit {ctx.item.exhibit_number} of case {case.number}"
    case_fields = [("Case number", case.number), ("Title", f.title), ("Status", str(case.status)),
                   ("Lead investigator", f.lead_investigator), ("Jurisdiction", f.jurisdiction),
                   ("Legal authority", f.legal_authority), ("Description", f.description),
                   ("Opened", case.created_at.strftime("%Y-%m-%d %H:%M UTC")), ("Case id", case.id)]
    v = ctx.verification
    if v is None:
        verification, ok = "The custody log could not be verified when this report was produced.", False
    elif v.ok:
        verification = (f"Verified intact when this report was produced: all {v.tree_size} events of the vault's "
                        "log (signatures, leaf hashes, Merkle tree, stored checkpoints and the external witness).")
        ok = True
    else:
        verification = f"WARNING — the custody log is damaged: {v.summary()}"
        ok = False
    notes = [d.message for d in v.damages[:10]] if v is not None else []
    exhibits = {i.id: i.exhibit_number for i in ctx.items}
    report = custody_pdf.CustodyReport(
        report_id=ctx.report_id, subject=subject, agency_lines=[line for line in agency_lines if line],
        markings=_markings_text(str(f.handling_code), f.handling_text, str(f.tlp)),
        case_fields=[(k, val) for k, val in case_fields if val],
        items=[_report_item(i) for i in ctx.items], events=[_report_event(e, exhibits) for e in ctx.events],
        checkpoint_text=ctx.checkpoint.text,
        checkpoint_signature_b64=base64.b64encode(ctx.checkpoint.signature).decode("ascii"),
        certificate_sha256=ctx.certificate_sha256, verification=verification, verification_ok=ok,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        generated_by=f"{session.user.display_name} ({session.user.name}, {session.user.role})", notes=notes,
    )
    atomic_write(out, custody_pdf.render(report))
    return ctx


def case_uco_export(session: Session, case_ref: str, out: Path) -> dict[str, Any]:
    """Write the CASE/UCO JSON-LD of a case to ``out``; the export is recorded on the case."""
    from icspa_desktop.reports import case_uco
    from icspa_desktop.services import cases, evidence
    from icspa_desktop.services.session import setting

    session.require(Permission.REPORT, attempted=f"export case {case_ref} as CASE/UCO")
    if out.exists():
        raise Conflict(f"{out} already exists; choose another file name.")
    case = cases.get_case(session, case_ref)
    items = evidence.list_items(session, case.id)
    doc = case_uco.build(vault_id=session.vault.header.vault_id, agency_name=setting(session.conn, "agency.name"),
                         case=case, items=items, events=events.list_events(session.conn, case_id=case.id))
    data = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    with session.transaction():
        session.record(EventDraft(CustodyAction.EXPORTED, case_id=case.id, purpose="CASE/UCO JSON-LD export",
                                  result="written", hashes={"sha256": hashlib.sha256(data).hexdigest()},
                                  details={"format": "CASE/UCO JSON-LD", "file_name": out.name,
                                           "items": len(items)}))
        atomic_write(out, data)
    return doc


DAILY = 24 * 3600


def checkpoint_if_due(session: Session, *, max_age_seconds: int = DAILY, signer: cp.CheckpointSigner | None = None,
                      witness_dir: Path | None = None) -> StoredCheckpoint | None:
    """The daily checkpoint when the app is used: sign one if the log grew and the last is older than a day."""
    latest = latest_checkpoint(session)
    size = events.count(session.conn)
    if latest is not None:
        age = (datetime.now(UTC) - latest.checkpoint.timestamp).total_seconds()
        # The checkpoint's own event follows it, so "nothing new" means size == latest.size + 1.
        if age < max_age_seconds or size <= latest.size + 1:
            return None
    elif size == 0:
        return None
    return make_checkpoint(session, "daily", signer=signer, witness_dir=witness_dir)
