"""Verification of the chain of custody: every event, the tree, the stored checkpoints and the witness."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icspa_desktop.crypto import keys as vault_keys
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import merkle, user_witness, userstate
from icspa_desktop.custody import verify as verify_texts
from icspa_desktop.custody.merkle import Frontier, MerkleTree, ProofError
from icspa_desktop.custody.verify import (
    Damage,
    DamageKind,
    KeyRecord,
    Progress,
    as_bytes,
    chain_damages,
    index_damages,
    load_keys,
    scan_log,
)
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import IcspaError, RefusedInput, UsageError, VaultError, _, english
from icspa_desktop.domain.recorded import Messages, Phrasebook
from icspa_desktop.i18n import N_
from icspa_desktop.services import partner_custody, receipts
from icspa_desktop.services.custody import (
    agency_verifier,
    known_origins,
    settle_witness,
    witness_copy_dir,
    witness_file,
)
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db

# ---- the report's texts ------------------------------------------------------------------------------
# English: they are the report's --json and go into the custody report that bundles carry. ``SUMMARY``, ``DAMAGE``
# and ``NOTES`` show them in the reader's language (custody verify's text output, the GUI's verification result).
_INTACT_FULL = N_("The custody log is intact: {n} events, {checkpoints} checkpoint(s) checked (full verification of "
                  "{checked} events).")
_INTACT_INCREMENTAL = N_("The custody log is intact: {n} events, {checkpoints} checkpoint(s) checked (incremental "
                         "verification of {checked} events).")
_DAMAGED = N_("The custody log is damaged: {n} problem(s) found. First: {first}")
_CHECKPOINT_SIGNED = N_("Checkpoint {id} (signed {at})")
_CHECKPOINT = N_("Checkpoint {id} (tree size {size}, signed {at})")
_LABELLED = N_("{label}: {error}")
_OTHER_LOG = N_("{label}: it belongs to another log ({origin}).")
_COLUMNS_EDITED = N_("{label}: its size or root columns were edited and no longer match its signed text.")
_CHECKPOINT_SIGNATURE = N_("{label}: the agency signature is not valid ({error}).")
_CHECKPOINT_TRUNCATED = N_("{label}: it covers {covered} events but the log has only {n} — events #{n}–#{last} were "
                           "removed (log truncated).")
_NOT_EXTENDED = N_("{label}: the current log is not an extension of it — among events #{first}–#{last} some were "
                   "altered, inserted, deleted or reordered since it was signed.")
_WITNESS_DAMAGED = N_("The witness file {path} is damaged: {error}")
_WITNESS_MISSING = N_("The witness checkpoint {path} is missing, although this vault has signed {n} checkpoint(s): it "
                      "was deleted, or this is another OS account or computer. Without it a rollback or a rewritten "
                      "history cannot be ruled out. An administrator re-establishes it with 'icspa custody "
                      "witness-reset --reason …' (recorded).")
_WITNESS_OTHER_LOG = N_("it belongs to another log ({origin})")
_WITNESS_INVALID = N_("The witness checkpoint {path} is not valid: {error}.")
_ROLLBACK = N_("The vault's custody log has {n} events, but the witness checkpoint kept outside the vault ({path}, "
               "signed {at}) covers {covered}: the vault was rolled back to an older copy, or its log was truncated.")
_FORK = N_("The first {n} events of the log do not match the witness checkpoint kept outside the vault ({path}, signed "
           "{at}): the history was forked — rewritten, or an older vault copy was restored and continued.")
_CERTIFICATES_GONE = N_("{n} checkpoint(s) are stored but the agency certificates that signed them are gone from the "
                        "vault, so not one can be checked ({error}).")
_USER_WITNESS = N_("The witness of user {user} does not fit the log: {problem}.")
_SOME_USER_WITNESS = N_("A user's witness does not fit the log: {problem}.")
_EVENT_CHECKPOINT = N_("Event #{idx} recorded a checkpoint of {n} events that the current log does not match: events "
                       "before it were altered, inserted, deleted or reordered.")
_FEWER_EVENTS = N_("The log has {n} events but had {before} when it was last verified: events were removed (log "
                   "truncated or vault rolled back).")
_COVERS_MORE = N_("A checkpoint covers {covered} events but the log has only {n}: events were removed (log "
                  "truncated).")
_SIZE_MISMATCH = N_("The checkpoint of tree size {size} does not match the log: events were altered, inserted, "
                    "deleted or reordered.")
_PENDING_LEFT = N_("An interrupted witness write next to {path} was left as it is (the vault is read-only); the next "
                   "verification of the writable vault finishes it.")
_PENDING_FAILED = N_("An interrupted witness write next to {path} could not be finished ({cause}).")
_COPY_ABSENT = N_("The second witness folder {folder} is not there (medium not mounted?); it was not checked.")
_COPY_EMPTY = N_("The second witness folder {folder} holds no copy for this vault yet.")
_WITNESS_UNREADABLE = N_("The witness file {path} cannot be read ({cause}).")
_NO_WITNESS = N_("No witness checkpoint at {path}: a rollback of the whole vault directory cannot be detected until "
                 "one is written ('icspa custody checkpoint').")
_FULL_NEEDED = N_("Full verification was needed: {why}")
_NOT_CHECKED = N_("Checkpoint signatures were not checked: {error}")
_NOT_CHAINED = N_("The custody log is not chained yet (a vault from before format 2): unlock it once to start the "
                  "chain; until then users and keys come from the tables.")
_NO_EARLIER = N_("no earlier full verification is recorded.")
_RECORD_INCONSISTENT = N_("the record of the last verification is inconsistent.")
_NOT_CONTIGUOUS = N_("the event indices are not contiguous.")
_CHAIN_STARTS = N_("the chain starts among the new events.")
_OLDER_CHECKPOINT = N_("a checkpoint older than the last verification was added since.")
_WITNESS_PREDATES = N_("the witness checkpoint predates the last verification and is not among its checkpoints.")
_RECEIPT_UNCHECKED = N_("a partner's receipt witnessed a checkpoint the last verification did not check.")

# One book for every {label}: the union's fields are the last book's, so it must name them all.
_LABELS = Phrasebook(_CHECKPOINT_SIGNED, _CHECKPOINT) | verify_texts.EVENT_LABELS | receipts.LABELS
# An {error} quotes a core error message by its English: translated where the catalogue knows it (recorded.Messages).
DAMAGE = verify_texts.DAMAGE | receipts.DAMAGE | userstate.DAMAGE | partner_custody.RECHECK | Phrasebook(
    _LABELLED, _OTHER_LOG, _COLUMNS_EDITED, _CHECKPOINT_SIGNATURE, _CHECKPOINT_TRUNCATED, _NOT_EXTENDED,
    _WITNESS_DAMAGED, _WITNESS_MISSING, _WITNESS_INVALID, _ROLLBACK, _FORK, _CERTIFICATES_GONE, _USER_WITNESS,
    _SOME_USER_WITNESS, _EVENT_CHECKPOINT, _FEWER_EVENTS, _COVERS_MORE, _SIZE_MISMATCH,
    fields={"label": _LABELS, "error": Messages(_WITNESS_OTHER_LOG), "problem": user_witness.PROBLEMS})
NOTES = Phrasebook(_PENDING_LEFT, _PENDING_FAILED, _COPY_ABSENT, _COPY_EMPTY, _WITNESS_UNREADABLE, _NO_WITNESS,
                   _FULL_NEEDED, _NOT_CHECKED, _NOT_CHAINED,
                   fields={"why": Phrasebook(_NO_EARLIER, _RECORD_INCONSISTENT, _NOT_CONTIGUOUS, _CHAIN_STARTS,
                                             _OLDER_CHECKPOINT, _WITNESS_PREDATES, _RECEIPT_UNCHECKED),
                           "error": Messages()})
SUMMARY = Phrasebook(_INTACT_FULL, _INTACT_INCREMENTAL, _DAMAGED, fields={"first": DAMAGE})
# The report's words (--json values) as custody verify's text output says them.
WITNESS_STATES = {"absent": N_("absent"), "ok": N_("matches the log"), "damaged": N_("damaged"),
                  "missing": N_("missing")}
MODES = {"full": N_("full"), "incremental": N_("incremental")}


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
        """One sentence in English (the custody report that bundles carry quotes it); ``SUMMARY.shown`` shows it."""
        if self.ok:
            intact = _INTACT_FULL if self.mode == "full" else _INTACT_INCREMENTAL
            return intact.format(n=self.tree_size, checkpoints=self.checkpoints_checked, checked=self.events_checked)
        return _DAMAGED.format(n=len(self.damages), first=self.damages[0].message)

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
    """Record a clean verification for the next incremental one; not on a read-only vault (the next
    verification there is simply a full one again)."""
    if session.read_only:
        return
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
    origins = known_origins(session)
    rows = session.conn.execute(
        "SELECT id, tree_size, root_hash, body, signature, created_at FROM custody_checkpoints WHERE id > ?"
        " ORDER BY id", (after_id,)).fetchall()
    for cid, size, root, body_raw, signature_raw, created_at in rows:
        cid = int(cid)
        body, signature = as_bytes(body_raw), as_bytes(signature_raw)
        label = _CHECKPOINT_SIGNED.format(id=cid, at=created_at)
        try:
            parsed = cp.parse_body(body)
        except RefusedInput as exc:
            report.damages.append(Damage(DamageKind.CHECKPOINT_MALFORMED,
                                         _LABELLED.format(label=label, error=english(exc)), checkpoint_id=cid))
            records.append(_CheckpointRecord(cid, label, None))
            continue
        label = _CHECKPOINT.format(id=cid, size=parsed.size, at=parsed.timestamp_text)
        problem = ""
        if parsed.origin not in origins:
            problem = _OTHER_LOG.format(label=label, origin=parsed.origin)
        elif size != parsed.size or as_bytes(root) != parsed.root:
            problem = _COLUMNS_EDITED.format(label=label)
        if problem:
            report.damages.append(Damage(DamageKind.CHECKPOINT_MALFORMED, problem, checkpoint_id=cid))
        if verifier is not None:
            try:
                verifier(signature, body, parsed.timestamp)
            except (IcspaError, ValueError) as exc:
                report.damages.append(Damage(DamageKind.CHECKPOINT_SIGNATURE,
                                             _CHECKPOINT_SIGNATURE.format(label=label, error=english(exc)),
                                             checkpoint_id=cid))
        records.append(_CheckpointRecord(cid, label, parsed))
        report.checkpoints_checked += 1
    return records


def _read_witness(session: Session, verifier: cp.SignatureVerifier | None, directory: Path | None,
                  report: VerifyReport) -> cp.Checkpoint | None:
    path = witness_file(session, directory)
    report.witness_path = str(path)
    if session.read_only:
        # Settling would finish or drop the pending witness by what this database holds: a read-only copy
        # (often an older one of the same vault) is not the database that witness write belongs to.
        if cp.pending_path(path).exists():
            report.notes.append(_PENDING_LEFT.format(path=path))
        return _check_witness_file(session, verifier, path, report)
    try:
        settle_witness(session, path)  # what a crash between a checkpoint's COMMIT and its witness left
    except OSError as exc:
        report.notes.append(_PENDING_FAILED.format(path=path, cause=exc.strerror))
    return _check_witness_file(session, verifier, path, report)


def _witness_copies(session: Session, verifier: cp.SignatureVerifier | None, report: VerifyReport,
                    tree_size: int, root_at: Callable[[int], bytes], given: Path | None) -> None:
    """Second witnesses (e.g. on removable media): the one an administrator recorded (a note when its medium
    is not there) and one given for this check (it must hold the copy); each checked like the first."""
    recorded = witness_copy_dir(session)
    copies = [(given, True)] if given is not None else []
    if recorded is not None and recorded != given:
        copies.append((recorded, False))
    for directory, required in copies:
        if not directory.is_dir():
            report.notes.append(_COPY_ABSENT.format(folder=directory))
            continue
        path = witness_file(session, directory)
        if not path.exists() and not required:
            report.notes.append(_COPY_EMPTY.format(folder=directory))
            continue
        status = report.witness_status
        copy = _check_witness_file(session, verifier, path, report)
        report.witness_status = status  # the report's status is the first witness's
        if copy is not None:
            damage = _witness_damage(copy, tree_size, copy.size <= tree_size and root_at(copy.size) == copy.root,
                                     str(path))
            if damage is not None:
                report.damages.append(damage)


def _check_witness_file(session: Session, verifier: cp.SignatureVerifier | None, path: Path,
                        report: VerifyReport) -> cp.Checkpoint | None:
    try:
        found = cp.read_witness(path)
    except RefusedInput as exc:
        report.witness_status = "damaged"
        report.damages.append(Damage(DamageKind.WITNESS_INVALID,
                                     _WITNESS_DAMAGED.format(path=path, error=english(exc))))
        return None
    except OSError as exc:
        report.notes.append(_WITNESS_UNREADABLE.format(path=path, cause=exc.strerror))
        return None
    if found is None:
        made = int(session.conn.execute("SELECT COUNT(*) FROM custody_checkpoints").fetchone()[0])
        if made:
            report.witness_status = "missing"
            report.damages.append(Damage(DamageKind.WITNESS_MISSING, _WITNESS_MISSING.format(path=path, n=made)))
        else:
            report.notes.append(_NO_WITNESS.format(path=path))
        return None
    body, signature = found
    try:
        witness = cp.parse_body(body)
        if witness.origin not in known_origins(session):
            raise RefusedInput(_WITNESS_OTHER_LOG.format(origin=witness.origin))  # a damage's text: English
        if verifier is not None:
            verifier(signature, body, witness.timestamp)
    except (IcspaError, ValueError) as exc:
        report.witness_status = "damaged"
        report.damages.append(Damage(DamageKind.WITNESS_INVALID,
                                     _WITNESS_INVALID.format(path=path, error=english(exc))))
        return None
    report.witness_status = "ok"
    report.witness_size = witness.size
    return witness


def _witness_damage(witness: cp.Checkpoint, size: int, matches: bool, path: str) -> Damage | None:
    if witness.size > size:
        return Damage(DamageKind.ROLLBACK, _ROLLBACK.format(n=size, path=path, at=witness.timestamp_text,
                                                            covered=witness.size))
    if not matches:
        return Damage(DamageKind.FORK, _FORK.format(n=witness.size, path=path, at=witness.timestamp_text))
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
            damages.append(Damage(DamageKind.TRUNCATED, _CHECKPOINT_TRUNCATED.format(
                label=record.label, covered=c.size, n=n, last=c.size - 1), checkpoint_id=record.id))
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
            _NOT_EXTENDED.format(label=record.label, first=below, last=size - 1), event_index=below,
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
    witness_copy: Path | None = None,
) -> VerifyReport:
    """Check every event, the tree, every stored checkpoint and the witness; damage is in the report.

    ``incremental``: only events after the last clean full verification (falls back to full when the
    record of that verification does not fit the log). ``witness_copy``: a folder holding a copy of the
    agency witness (e.g. the medium an evidence office keeps), checked besides the recorded one; it must
    hold the copy.
    """
    session.require(Permission.VERIFY, attempted="verify the chain of custody")
    started = time.perf_counter()
    missing_agency = ""
    if verifier is None:
        try:
            verifier = agency_verifier(session)
        except VaultError as exc:
            missing_agency = english(exc)  # in the report, which bundles carry: English
    if witness_copy is not None and not witness_copy.is_dir():
        raise UsageError(_("{path} is not a folder (mount the medium first).", path=witness_copy))
    if incremental and witness_copy is None:
        try:
            report = _verify_incremental(session, verifier, witness_dir)
        except _NeedFull as why:
            report = _verify_full(session, verifier, witness_dir, workers, progress, witness_copy)
            report.notes.append(_FULL_NEEDED.format(why=why))
    else:
        report = _verify_full(session, verifier, witness_dir, workers, progress, witness_copy)
    report.seconds = time.perf_counter() - started
    if missing_agency:
        signed = int(session.conn.execute("SELECT COUNT(*) FROM custody_checkpoints").fetchone()[0])
        if signed:
            # Checkpoints were signed, so certificates existed: their absence now is damage, not a setting.
            report.damages.append(Damage(DamageKind.CHECKPOINT_SIGNATURE, _CERTIFICATES_GONE.format(
                n=signed, error=missing_agency)))
        else:
            report.notes.append(_NOT_CHECKED.format(error=missing_agency))
    return report


def _verify_full(session: Session, verifier: cp.SignatureVerifier | None, witness_dir: Path | None,
                 workers: int | None, progress: Progress | None, witness_copy: Path | None = None) -> VerifyReport:
    conn = session.conn
    report = VerifyReport(session.vault.header.vault_id, "full")
    _state, keys = _user_state(conn, report)
    scan = scan_log(conn, keys, db_path=session.vault.layout.database,
                    raw_key=session.vault.subkey(vault_keys.PURPOSE_SQLCIPHER), workers=workers, progress=progress)
    report.damages.extend(scan.damages)
    report.damages.extend(index_damages(scan.indices))
    report.damages.extend(chain_damages(scan))
    tree = MerkleTree(scan.leaf_hashes)
    report.damages.extend(_checkpoint_event_damages(conn, tree))
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
    _witness_copies(session, verifier, report, tree.size, tree.root, witness_copy)
    report.damages.extend(_user_witness_damages(session, _state, witness_dir))
    report.damages.extend(receipts.receipt_damages(conn, tree))
    report.damages.extend(_partner_damages(conn))
    report.damages.sort(key=lambda d: (d.event_index is None, d.event_index or 0))
    if report.ok:
        _save_state(session, _frontier_of(tree), max((r.id for r in records), default=0))
    return report


def _partner_damages(conn: db.Connection) -> list[Damage]:
    return [Damage(DamageKind.PARTNER_RECORD, message) for message in partner_custody.recheck_stored(conn)]


def _user_state(conn: db.Connection, report: VerifyReport) -> tuple[userstate.Replay, dict[bytes, KeyRecord]]:
    """Replay users, roles and keys from the signed log; compare the users tables with it. The keys the
    log grants (with the event range each may sign) are what every event is checked against."""
    state = userstate.replay(conn)
    report.damages.extend(state.damages)
    report.damages.extend(userstate.table_damages(conn, state))
    if state.chain_start is None:
        if conn.execute("SELECT 1 FROM custody_events LIMIT 1").fetchone() is not None:
            report.notes.append(_NOT_CHAINED)
        return state, load_keys(conn)
    keys = state.key_records()
    if state.chain_start > 0:
        # Events before the chain: their keys as the tables recorded them, valid only before it.
        for public_key, legacy in load_keys(conn).items():
            granted = keys.get(public_key)
            if granted is None:
                keys[public_key] = KeyRecord(legacy.user_id, legacy.user_name, legacy.valid_from, legacy.retired_at,
                                             0, state.chain_start)
            elif granted.from_index == 0:
                keys[public_key] = KeyRecord(granted.user_id, granted.user_name, legacy.valid_from,
                                             legacy.retired_at, 0, granted.until_index)
    return state, keys


def _user_witness_damages(session: Session, state: userstate.Replay, directory: Path | None) -> list[Damage]:
    """Every user witness of this vault found in the witness directory must still fit the log."""
    keys = {uid: [span.public_key for span in user.keys] for uid, user in state.users.items()}
    damages = []
    for path in user_witness.all_for_vault(session.vault.header.vault_id, directory):
        problem = user_witness.check(session.conn, path, keys)
        if problem:
            owner = state.users.get(path.name.removesuffix(".head").rsplit(".", 1)[-1])
            damage = (_USER_WITNESS.format(user=repr(owner.name), problem=problem) if owner
                      else _SOME_USER_WITNESS.format(problem=problem))
            damages.append(Damage(DamageKind.USER_WITNESS, damage))
    return damages


def _checkpoint_event_damages(conn: db.Connection, tree: MerkleTree) -> list[Damage]:
    """Every signed checkpoint_signed event states (tree size, root) as its signer saw them: both must hold."""
    damages: list[Damage] = []
    rows = conn.execute("SELECT idx, id, body FROM custody_events WHERE action = ? ORDER BY idx",
                        (str(CustodyAction.CHECKPOINT_SIGNED),)).fetchall()
    for idx, event_id, body_raw in rows:
        try:
            details = json.loads(as_bytes(body_raw)).get("details", {})
            size, root = int(details["tree_size"]), base64.b64decode(details["root_hash"], validate=True)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a malformed body is reported by the row scan
        if size > int(idx) or tree.root(size) != root:
            damages.append(Damage(DamageKind.INCONSISTENT, _EVENT_CHECKPOINT.format(idx=idx, n=size), int(idx),
                                  str(event_id)))
    return damages


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
        raise _NeedFull(_NO_EARLIER)
    frontier = Frontier.from_bytes(state.size, state.frontier)
    if frontier.root() != state.root:
        raise _NeedFull(_RECORD_INCONSISTENT)
    count, last = conn.execute("SELECT COUNT(*), MAX(idx) FROM custody_events").fetchone()
    count = int(count)
    report = VerifyReport(session.vault.header.vault_id, "incremental", first_checked=state.size)
    if count < state.size:
        report.damages.append(Damage(DamageKind.TRUNCATED, _FEWER_EVENTS.format(n=count, before=state.size)))
    if last is not None and int(last) != count - 1:
        raise _NeedFull(_NOT_CONTIGUOUS)
    users, keys = _user_state(conn, report)
    report.damages.extend(_user_witness_damages(session, users, witness_dir))
    scan = scan_log(conn, keys, start=state.size, workers=1)
    if 1 in scan.versions or (users.chain_start is None and 2 in scan.versions):
        raise _NeedFull(_CHAIN_STARTS)
    report.damages.extend(scan.damages)
    report.damages.extend(index_damages(scan.indices, state.size))
    records = _check_checkpoint_rows(session, verifier, report, after_id=state.checkpoint_id)
    witness = _read_witness(session, verifier, witness_dir, report)
    wanted: dict[int, list[cp.Checkpoint]] = {}
    for record in records:
        if record.checkpoint is not None:
            if record.checkpoint.size < state.size:
                raise _NeedFull(_OLDER_CHECKPOINT)
            wanted.setdefault(record.checkpoint.size, []).append(record.checkpoint)
    if witness is not None and witness.size >= state.size:
        wanted.setdefault(witness.size, []).append(witness)
    elif witness is not None:
        known = conn.execute("SELECT 1 FROM custody_checkpoints WHERE id <= ? AND body = ?",
                             (state.checkpoint_id, witness.body())).fetchone()
        if known is None:
            raise _NeedFull(_WITNESS_PREDATES)
    receipt_heads: list[tuple[str, cp.Checkpoint]] = []
    for label, head, body in receipts.receipt_heads(conn, report.damages):
        if head.size >= state.size:
            wanted.setdefault(head.size, [])
            receipt_heads.append((label, head))
        elif conn.execute("SELECT 1 FROM custody_checkpoints WHERE id <= ? AND body = ?",
                          (state.checkpoint_id, body)).fetchone() is None:
            raise _NeedFull(_RECEIPT_UNCHECKED)
    roots: dict[int, bytes] = {state.size: frontier.root()} if state.size in wanted else {}

    def note_root(tree: Frontier) -> None:
        if tree.size in wanted:
            roots[tree.size] = tree.root()

    report.damages.extend(chain_damages(scan, frontier, note_root))
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
                report.damages.append(Damage(DamageKind.TRUNCATED, _COVERS_MORE.format(covered=size,
                                                                                       n=frontier.size)))
            elif roots.get(size) != c.root:
                report.damages.append(Damage(DamageKind.INCONSISTENT, _SIZE_MISMATCH.format(size=size)))
    for label, head in receipt_heads:
        damage = receipts.receipt_damage(label, head, frontier.size, roots.get(head.size) == head.root)
        if damage is not None:
            report.damages.append(damage)
    report.damages.extend(_partner_damages(conn))
    if report.ok:
        _save_state(session, frontier, max((r.id for r in records), default=state.checkpoint_id))
    return report


def event_ids(session: Session, indices: Iterable[int]) -> dict[int, str]:
    """Log index -> event id, for naming damaged events that the report gives by index only."""
    session.require(Permission.READ)
    found: dict[int, str] = {}
    for index in sorted(set(indices)):
        row = session.conn.execute("SELECT id FROM custody_events WHERE idx = ?", (index,)).fetchone()
        if row is not None:
            found[index] = str(row[0])
    return found
