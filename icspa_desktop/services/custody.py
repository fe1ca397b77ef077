"""The chain of custody as a service: timelines, signed checkpoints, the witness file, proofs.

Verification is in services.custody_verify, the PDF and CASE/UCO reports in services.custody_reports."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from icspa_desktop.crypto import cms
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events, user_witness, userstate
from icspa_desktop.custody.events import EventDraft, StoredEvent
from icspa_desktop.custody.merkle import MerkleTree
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import NotFound, RefusedInput, UsageError, VaultError, VerificationFailed, _, english
from icspa_desktop.domain.ids import CaseId, ItemId
from icspa_desktop.files import fsync_dir, read_regular
from icspa_desktop.services import agency
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session, warning
from icspa_desktop.vault import db


# ---- the agency key (services.agency and crypto.cms, built by the agency work) --------------------
def agency_signer(session: Session) -> cp.CheckpointSigner:
    """The agency key, as checkpoint signer: only for roles that may sign with it (the others' own signed
    events are their tree heads; custody/user_witness.py keeps each user's newest)."""
    if not agency.has_identity(session):
        raise VaultError(_("This vault has no agency identity yet, so checkpoints cannot be signed; an administrator "
                           "creates one with 'icspa agency init'."))
    return agency.checkpoint_signer(session)


def agency_verifier(session: Session) -> cp.SignatureVerifier:
    """Checks a detached CMS signature against this agency's own certificates (old ones included)."""
    trusted = agency.agency_certificates(session)
    if not trusted:
        raise VaultError(_("This vault has no agency certificate, so checkpoint signatures cannot be checked."))

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
    """A case (number or id) or an item (id or exhibit number) → (case_id, item_id, label); also an item id
    that only the log still names (an item whose row is gone)."""
    from icspa_desktop.services import evidence  # evidence imports this module

    conn = session.conn
    with contextlib.suppress(NotFound):
        found = evidence.resolve_case_or_item(session, ref)
        if found.item is None:
            return found.case.id, None, f"case {found.case.number}"
        return found.item.case_id, found.item.id, f"item {found.item.exhibit_number}"
    if _item_exists(conn, ref) or conn.execute(
            "SELECT 1 FROM custody_event_items WHERE item_id = ? LIMIT 1", (ref,)).fetchone():
        return None, ItemId(ref), f"item {ref}"
    raise NotFound(_("No case or item {ref!r} (give a case number or id, or an item id).", ref=ref))


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
    """The name of this log in its checkpoints (DESIGN §7 errata): ``icspa/<country>/<agency
    fingerprint>/<vault id>``, from the current agency identity; the old placeholder without one."""
    origins = _origins(session)
    return origins[0] if origins else cp.origin_for(session.vault.header.vault_id)


def known_origins(session: Session) -> frozenset[str]:
    """Every name this log has had: one per agency identity (current and retired), and the placeholder
    ``icspa.example/<vault id>`` of checkpoints signed before origins were derived from the identity."""
    return frozenset([*_origins(session), cp.origin_for(session.vault.header.vault_id)])


def _origins(session: Session) -> list[str]:
    rows = session.conn.execute(
        "SELECT certificate, age_recipient FROM agency_keys ORDER BY retired_at IS NOT NULL, created_at DESC")
    found = []
    for der, recipient in rows.fetchall():
        cert = x509.load_der_x509_certificate(bytes(der))
        countries = cert.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
        country = str(countries[0].value) if countries else "XX"
        fingerprint = agency.fingerprint(cert, str(recipient)).replace(" ", "").lower()
        found.append(f"icspa/{country.upper()}/{fingerprint}/{session.vault.header.vault_id}")
    return found


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
        return english(exc)  # recorded in the event's details when the witness is replaced: English
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
    session.require_writable()  # settle_witness below may touch the live vault's witness files
    signer = signer or agency_signer(session)
    path = witness_file(session, witness_dir)
    settle_witness(session, path)
    previous = cp.read_witness(path) if path.exists() else None
    replaced: dict[str, Any] = {}
    pending = cp.pending_path(path)
    with session.transaction() as conn:
        tree = stored_tree(conn)
        if previous is not None:
            conflict = _witness_conflict(tree, previous[0])
            if conflict and not replace_witness:
                raise VerificationFailed(
                    _("No checkpoint was made: {conflict} (witness file {path}). Run 'icspa custody verify'; if an "
                      "older vault copy was restored on purpose, use --replace-witness.",
                      conflict=conflict, path=path)
                )
            if conflict:
                replaced = {"replaced_witness": previous[0].decode("utf-8", "replace"), "conflict": conflict}
    if replaced:
        # Signing over a witness the log no longer fits forks the log in the agency's name (C2SP: a log must
        # never sign a checkpoint inconsistent with an earlier one): an administrator's act, with a reason.
        session.require(Permission.MANAGE_USERS, attempted="replace a custody witness the log does not fit")
        if reason.strip() in ("", "on demand"):
            raise UsageError(_("Replacing a witness the log does not fit needs the reason stated (--reason), e.g. "
                               "which backup was restored and why; it is recorded."))
    with session.transaction() as conn:
        tree = stored_tree(conn)
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
        # Two phases, so a crash at any point leaves a witness that fits: written aside before COMMIT,
        # moved into place after it (a pending file whose checkpoint never committed is dropped later).
        try:
            cp.write_witness(pending, body, signature)
        except OSError as exc:
            raise VaultError(_("No checkpoint was made: the witness file {path} could not be written: {cause}.",
                               path=pending, cause=exc.strerror or exc)) from exc
    try:
        os.replace(pending, path)
        fsync_dir(path.parent)
    except OSError as exc:
        raise VaultError(_("The checkpoint was stored in the vault, but the witness file {path} could not be "
                           "written: {cause}.", path=path, cause=exc.strerror or exc)) from exc
    _write_witness_copy(session, body, signature)
    return StoredCheckpoint(checkpoint_id, checkpoint, body, signature, reason, now.isoformat(), session.user.id)


def user_checkpoint(session: Session, reason: str = "on demand", *, case_id: CaseId | None = None) -> StoredEvent:
    """For roles that may not use the agency key: the tree head, signed with the user's own key as a
    recorded ``checkpoint_signed`` event (verification checks it against the tree), and the user's witness
    written at once rather than at the next lock."""
    session.require(Permission.READ)
    with session.transaction() as conn:
        head = events.current_head(conn)  # the cached frontier: no read of every leaf hash
        event = session.record(EventDraft(
            CustodyAction.CHECKPOINT_SIGNED, case_id=case_id, purpose=reason, result="signed with the user's own key",
            details={"tree_size": head.size, "root_hash": base64.b64encode(head.root()).decode("ascii"),
                     "signed_by": "user"}))
    session.write_own_witness()
    return event


def settle_witness(session: Session, path: Path) -> None:
    """Finish or drop what a crash left of a two-phase witness write (``make_checkpoint``): a pending witness
    whose checkpoint is stored replaces the witness; one whose checkpoint never committed is removed."""
    pending = cp.pending_path(path)
    try:
        found = cp.read_witness(pending)
    except (RefusedInput, OSError):
        found = None
    if found is None:
        if pending.is_file() and not pending.is_symlink():
            pending.unlink()  # damaged: it was never the witness
        return
    stored = session.conn.execute("SELECT 1 FROM custody_checkpoints WHERE body = ? AND signature = ?",
                                  (found[0], found[1])).fetchone()
    if stored is not None:
        os.replace(pending, path)
        fsync_dir(path.parent)
    else:
        pending.unlink()


def _cert_fingerprint(signer: cp.CheckpointSigner) -> str:
    return signer.certificate.fingerprint(hashes.SHA256()).hex()


def inclusion_proof(session: Session, event_index: int, tree_size: int) -> list[bytes]:
    """Audit path of one event in the tree of the first ``tree_size`` events (e.g. a checkpoint's)."""
    return stored_tree(session.conn).inclusion_proof(event_index, tree_size)


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[bytes]:
    return stored_tree(session.conn).consistency_proof(old_size, new_size)


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
        raise VerificationFailed(_("Checkpoint {checkpoint} does not match the custody log; run 'icspa custody "
                                   "verify'.", checkpoint=checkpoint.id))

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    entries = []
    for event in selected:
        if event.index >= checkpoint.size:
            raise UsageError(_("Event {event} is newer than checkpoint {checkpoint}; make a new checkpoint.",
                               event=event.id, checkpoint=checkpoint.id))
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
            raise UsageError(_("The previous checkpoint is newer than the current one."))
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
        raise NotFound(_("No checkpoint {checkpoint} ('icspa custody checkpoints' lists them).",
                         checkpoint=checkpoint_id))
    return _row_to_checkpoint(row)


DAILY = 24 * 3600


def checkpoint_if_due(session: Session, *, max_age_seconds: int = DAILY, signer: cp.CheckpointSigner | None = None,
                      witness_dir: Path | None = None,
                      clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> StoredCheckpoint | None:
    """The daily checkpoint when the app is used: sign one if the log grew and the last is older than a day
    (by ``clock``).

    Only for roles that may sign with the agency key; for the others nothing is due (None)."""
    if signer is None and not allowed(session.user.role, Permission.SIGN_AS_AGENCY):
        return None
    if session.read_only:
        return None  # nothing can be signed into a read-only vault; its witness is not ours to settle
    if session.log_in_doubt:
        return None  # a daily checkpoint over a cut or rolled-back log would give it the agency's signature
    latest = latest_checkpoint(session)
    size = events.count(session.conn)
    if latest is not None:
        age = (clock() - latest.checkpoint.timestamp).total_seconds()
        # The checkpoint's own event follows it, so "nothing new" means size == latest.size + 1.
        if age < max_age_seconds or size <= latest.size + 1:
            return None
    elif size == 0:
        return None
    return make_checkpoint(session, "daily", signer=signer, witness_dir=witness_dir)


def _previous_witness_text(path: Path) -> str | None:
    """The agency witness being replaced, kept in the reset's event (bounded: it is a file anyone could swap)."""
    try:
        return read_regular(path, "witness", 1 << 20).decode("utf-8", "replace")
    except (OSError, RefusedInput):
        return None


@dataclass(frozen=True, slots=True)
class WitnessReset:
    checkpoint: StoredCheckpoint | None  # the agency witness was written anew from it
    set_aside: list[str]  # user witnesses the log no longer fits, renamed (kept, no longer checked)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.checkpoint.id if self.checkpoint else None,
                "checkpoint": self.checkpoint.to_json() if self.checkpoint else None, "set_aside": self.set_aside}


def reset_witness(session: Session, reason: str, *, witness_dir: Path | None = None) -> WitnessReset:
    """Administrator: re-establish the witnesses after a loss or a deliberate restore, recorded with the
    reason. The agency witness is written anew from the latest stored checkpoint when it is missing or
    does not fit; user witnesses the log no longer fits are renamed aside (kept, never deleted)."""
    session.require(Permission.MANAGE_USERS, attempted="re-establish the custody witness")
    if not reason.strip():
        raise UsageError(_("Say why the witness is re-established (--reason)."))
    tree = stored_tree(session.conn)
    path = witness_file(session, witness_dir)
    latest = latest_checkpoint(session)
    renew: StoredCheckpoint | None = None
    if latest is not None and _agency_witness_problem(session, path, tree):
        if latest.size > tree.size or tree.root(latest.size) != latest.checkpoint.root:
            raise VerificationFailed(_("Checkpoint {checkpoint} does not match the custody log; run 'icspa custody "
                                       "verify'.", checkpoint=latest.id))
        agency_verifier(session)(latest.signature, latest.body, latest.checkpoint.timestamp)
        renew = latest
    keys = {uid: [span.public_key for span in u.keys] for uid, u in userstate.replay(session.conn).users.items()}
    stale = [p for p in user_witness.all_for_vault(session.vault.header.vault_id, witness_dir)
             if user_witness.check(session.conn, p, keys)]
    if renew is None and not stale:
        raise UsageError(_("Every witness fits the custody log; there is nothing to re-establish."))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = [str(p.with_name(f"{p.name}.replaced-{stamp}")) for p in stale]
    previous = _previous_witness_text(path) if renew is not None else None
    with session.transaction():
        session.record(EventDraft(CustodyAction.WITNESS_RESET, purpose=reason, result="re-established", details={
            "checkpoint_id": renew.id if renew else None, "tree_size": renew.size if renew else None,
            "root_hash": renew.checkpoint.root_b64 if renew else None, "witness_path": str(path),
            "replaced_witness": previous, "user_witnesses_set_aside": aside}))
    try:
        for old, new in zip(stale, aside, strict=True):
            old.rename(new)
        if renew is not None:
            cp.write_witness(path, renew.body, renew.signature)
    except OSError as exc:
        raise VaultError(_("A witness file could not be written: {cause} ({path}).",
                           cause=exc.strerror or exc, path=exc.filename)) from exc
    return WitnessReset(renew, aside)


def _agency_witness_problem(session: Session, path: Path, tree: MerkleTree) -> bool:
    try:
        found = cp.read_witness(path)
    except (RefusedInput, OSError):
        return True
    if found is None:
        return True
    return _witness_conflict(tree, found[0]) is not None


# ---- a second witness, e.g. on removable media ------------------------------------------------------
def set_witness_copy(session: Session, directory: Path | None, reason: str = "") -> None:
    """Administrator: keep a copy of every agency witness in ``directory`` too (None: stop). The choice is
    a signed event, so direct SQL cannot quietly turn the check of the copy off."""
    session.require(Permission.MANAGE_USERS, attempted="set the second witness directory")
    if directory is not None and not directory.is_dir():
        raise UsageError(_("{path} is not a folder (mount the medium first).", path=directory))
    with session.transaction():
        session.record(EventDraft(CustodyAction.WITNESS_COPY_SET, purpose=reason, details={
            "directory": None if directory is None else str(directory.absolute())}))
    latest = latest_checkpoint(session)
    if latest is not None:
        _write_witness_copy(session, latest.body, latest.signature)


def witness_copy_dir(session: Session) -> Path | None:
    """The second witness directory the newest signed ``witness_copy_set`` event names (its signature is
    checked by verification), or None."""
    row = session.conn.execute("SELECT body FROM custody_events WHERE action = ? ORDER BY idx DESC LIMIT 1",
                               (str(CustodyAction.WITNESS_COPY_SET),)).fetchone()
    if row is None:
        return None
    try:
        directory = json.loads(bytes(row[0]))["details"]["directory"]
    except (ValueError, KeyError, TypeError):
        return None
    return Path(directory) if isinstance(directory, str) else None


def _write_witness_copy(session: Session, body: bytes, signature: bytes) -> None:
    directory = witness_copy_dir(session)
    if directory is None:
        return
    if not directory.is_dir():
        session.warnings.append(warning(_("the second witness folder {path} is not there (medium not mounted?); only "
                                          "the first witness was written.", path=directory)))
        return
    try:
        cp.write_witness(cp.witness_path(session.vault.header.vault_id, directory), body, signature)
    except OSError as exc:
        session.warnings.append(warning(_("the second witness in {path} could not be written ({cause}).",
                                          path=directory, cause=exc.strerror or exc)))
