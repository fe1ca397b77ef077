"""Receipts (DESIGN §5, issue 10 item 5): the recipient's signed word that a bundle arrived and verified.

The receiving agency writes a small file — a JSON body, a blank line, and a detached CMS signature by its
agency key as PEM (the witness-file form of custody/checkpoints.py) — naming the bundle and its SHA-256,
the verification result, the receiving agency and officer, the time, and the sender's checkpoint exactly
as it was verified. At the sender, ``import_receipt`` checks all of that against what was sent, closes
the transfer in custody and keeps the receipt as an *external witness*: ``custody verify`` checks every
stored receipt's checkpoint against the log (``receipt_damages``), so cutting or rewriting events the
partner has seen is visible even to someone who controls this vault.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from icspa_desktop.bundle import records
from icspa_desktop.crypto import cms
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import merkle
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.custody.verify import Damage, DamageKind
from icspa_desktop.domain.agency import PartnerStatus
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import NotFound, RefusedInput, _, english
from icspa_desktop.domain.ids import CaseId
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.files import atomic_write, create_new, read_regular, remove_published
from icspa_desktop.i18n import N_
from icspa_desktop.services import agency, custody, partners
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db

RECEIPT_FORMAT = "icspa-receipt/v1"
MAX_RECEIPT_BYTES = 32 << 20  # ~140 bytes per item: room for the 100,000 items a bundle may hold
RESULT_IMPORTED = "verified and imported"
_MARKER = b"\n-----BEGIN CMS-----\n"


@dataclass(frozen=True, slots=True)
class Receipt:
    bundle_id: str
    path: Path
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.bundle_id, "path": str(self.path), **self.body}


def received_bundle_id(session: Session, ref: str) -> str:
    """BUNDLE as a user gives it: an imported bundle's id (or its first characters), or the bundle file itself,
    found by its SHA-256 among the imported bundles."""
    path = Path(ref).expanduser()
    if not path.is_file():
        return str(_received_row(session, ref)[0])
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    row = session.conn.execute("SELECT id FROM bundles_received WHERE sha256 = ?", (digest.hexdigest(),)).fetchone()
    if row is None:
        raise NotFound(_("{path} is not a bundle this vault imported (no imported bundle has its SHA-256); 'icspa "
                         "bundle list --received' lists them.", path=path))
    return str(row[0])


def _received_row(session: Session, ref: str) -> tuple[Any, ...]:
    rows = session.conn.execute(
        "SELECT b.id, b.sha256, b.size, b.file_name, b.partner_id, b.checkpoint_text, b.checkpoint_signature,"
        " b.checks, b.items, b.imported_at FROM bundles_received b WHERE b.id = ? OR b.id LIKE ? || '%'",
        (ref, ref)).fetchall()
    if len(rows) != 1:
        raise NotFound(f"No imported bundle {ref!r}." if not rows else f"{ref!r} names several imported bundles; "
                       "give more of the id.")
    return tuple(rows[0])


def write_receipt(session: Session, bundle_ref: str, out: Path) -> Receipt:
    """Sign a receipt for an imported bundle (``bundle_ref``: see ``received_bundle_id``) with the agency key and
    write it to ``out`` (checked free by the
    caller); the custody log records that it was issued."""
    session.require(Permission.IMPORT_BUNDLE, attempted=f"issue a receipt for bundle {bundle_ref}")
    signer = agency.agency_signer(session)
    (bundle_id, sha256, size, file_name, partner_id, checkpoint_text, checkpoint_signature, checks, items,
     imported_at) = _received_row(session, received_bundle_id(session, bundle_ref))
    sender = partners.get_partner(session, str(partner_id))
    identity = agency.agency_identity(session)
    body: dict[str, Any] = {
        "format": RECEIPT_FORMAT,
        "bundle": {"id": bundle_id, "sha256": sha256, "size": size, "file_name": file_name},
        "result": RESULT_IMPORTED,
        "checks": [c["name"] for c in json.loads(checks)],
        "items": [{"exhibit_number": i["exhibit_number"], "sha256": i["sha256"]} for i in json.loads(items)],
        "receiving_agency": {"name": identity.name, "country": identity.country, "fingerprint": identity.fingerprint},
        "officer": {"user": session.user.name, "name": session.user.display_name},
        "imported_at": imported_at,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "sender": {"name": sender.name, "country": sender.country, "fingerprint": sender.fingerprint},
        "sender_checkpoint": {"text": checkpoint_text,
                              "signature_der_b64": base64.b64encode(bytes(checkpoint_signature)).decode("ascii")},
    }
    content = json.dumps(body, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    signature = signer.sign_detached(content)
    case_id = session.conn.execute("SELECT case_id FROM bundles_received WHERE id = ?", (bundle_id,)).fetchone()[0]
    signed = cp.encode_signed(content, signature)
    # The file is written inside the transaction that records it: a failed write records nothing, a failed
    # commit removes the file again; only a crash between the two can leave a receipt that was not recorded
    # (never a record of a receipt that does not exist).
    written = False
    try:
        with session.transaction() as conn:
            conn.execute("UPDATE bundles_received SET receipt_issued_at = ? WHERE id = ?",
                         (datetime.now(UTC).isoformat(timespec="seconds"), bundle_id))
            session.record(EventDraft(CustodyAction.RECEIPT_ISSUED, case_id=CaseId(str(case_id)),
                                      counterparty=f"{sender.name} ({sender.country})", result=RESULT_IMPORTED,
                                      details={"bundle_id": bundle_id, "bundle_sha256": sha256,
                                               "file_name": out.name}))
            if os.path.lexists(out):  # the caller allowed replacing it (--force, a confirmed save dialog)
                atomic_write(out, signed)
            else:
                create_new(out, signed)
            written = True
    except BaseException:
        if written:
            remove_published(out)
        raise
    return Receipt(str(bundle_id), out, body)


def _split(untrusted: bytes) -> tuple[bytes, bytes]:
    at = untrusted.find(_MARKER)
    if at < 0 or not untrusted.endswith(b"-----END CMS-----\n"):
        raise RefusedInput(_("This is not a receipt (a JSON body followed by a CMS signature)."))
    try:
        return cp.decode_signed(untrusted)
    except RefusedInput:
        raise RefusedInput(_("The receipt's signature block is damaged.")) from None


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    bundle_id: str
    partner_name: str
    result: str
    officer: str
    time: str
    checkpoint_size: int
    already: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.bundle_id, "partner": self.partner_name, "result": self.result, "officer": self.officer,
                "time": self.time, "checkpoint_size": self.checkpoint_size, "already_recorded": self.already}


def import_receipt(session: Session, path: Path) -> StoredReceipt:
    """Check a partner's receipt against the bundle we sent and keep it as a witness of our log."""
    session.require(Permission.EXPORT_BUNDLE, attempted=f"record the receipt {path.name}")
    try:
        untrusted = read_regular(path, "receipt", MAX_RECEIPT_BYTES)  # a FIFO must not hang us
    except OSError as exc:
        raise RefusedInput(_("Cannot read {path}: {cause}.", path=path, cause=exc.strerror or exc)) from None
    content, signature = _split(untrusted)
    known = partners.list_partners(session)
    own = agency.agency_certificates(session)
    try:
        cert, signed_at = cms.verify_detached_signed_at(signature, content, [*own, *(p.certificate for p in known)])
    except RefusedInput as exc:
        raise RefusedInput(_("The receipt's signature does not check out: {error}", error=exc)) from None
    if cert in own:
        raise RefusedInput(_("This receipt was signed by this agency itself, for a bundle it imported: the agency "
                             "that sent the bundle records it, not us."))
    partner = next(p for p in known if p.certificate == cert)
    if partner.status is PartnerStatus.REVOKED:
        raise RefusedInput(_("The receipt is signed with the key of {name}, which was revoked.", name=partner.name))
    body = records.load_json(content, _("The receipt"))
    if not isinstance(body, dict) or body.get("format") != RECEIPT_FORMAT:
        raise RefusedInput(_("The receipt is not in the format {format}.", format=RECEIPT_FORMAT))
    try:
        bundle = body["bundle"]
        bundle_id, sha256 = str(bundle["id"]), str(bundle["sha256"])
        receiver_fp = str(body["receiving_agency"]["fingerprint"])
        checkpoint_text = str(body["sender_checkpoint"]["text"]).encode("utf-8")
        result, time = str(body["result"]), str(body["time"])
        officer = str(body["officer"]["name"])
    except (KeyError, TypeError):
        raise RefusedInput(
            _("The receipt lacks a field it must have (bundle, receiving agency, checkpoint).")) from None
    row = session.conn.execute("SELECT sha256, recipients, checkpoint_id, case_id FROM bundles_sent WHERE id = ? AND"
                               " status = 'written'", (bundle_id,)).fetchone()
    if row is None:
        raise RefusedInput(_("The receipt is for bundle {bundle_id}, which this vault did not send.",
                             bundle_id=bundle_id))
    if str(row[0]) != sha256:
        raise RefusedInput(_("The receipt names bundle {bundle_id} with another SHA-256 than the one we sent: what "
                             "arrived is not what left.", bundle_id=bundle_id))
    if partners.signed_after_replacement(partner, signed_at):
        raise RefusedInput(_("The receipt is signed with a key of {name} that had been replaced by a newer one before "
                             "it signed.", name=partner.name))
    # A recipient is its agency: the receipt may be signed by the key that replaced the one the bundle was sent to.
    sent_to = partners.recipient_agencies(session.conn)(row[1])
    if receiver_fp != partner.fingerprint or partner.lineage not in sent_to:
        raise RefusedInput(_("The receipt is signed by {name}, who was not a recipient of bundle {bundle_id} (or it "
                             "names another receiving agency).", name=partner.name, bundle_id=bundle_id))
    ours = custody.get_checkpoint(session, int(row[2]))
    if checkpoint_text != ours.body:
        raise RefusedInput(_("The receipt carries another checkpoint than the one bundle {bundle_id} carried (ours "
                             "covers {size} events).", bundle_id=bundle_id, size=ours.size))
    already = session.conn.execute(
        "SELECT 1 FROM bundle_receipts r JOIN partners p ON p.fingerprint = r.partner_fingerprint"
        " WHERE r.bundle_id = ? AND p.lineage = ?", (bundle_id, partner.lineage)).fetchone() is not None
    if not already:
        with session.transaction() as conn:
            conn.execute("INSERT INTO bundle_receipts (bundle_id, partner_fingerprint, partner_name, result, officer,"
                         " receipt_time, checkpoint_size, checkpoint_root, receipt, imported_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (bundle_id, partner.fingerprint, partner.name, result, officer, time, ours.size,
                          ours.checkpoint.root, untrusted, datetime.now(UTC).isoformat(timespec="seconds")))
            session.record(EventDraft(
                CustodyAction.RECEIPT_RECEIVED, case_id=CaseId(str(row[3])),
                counterparty=f"{partner.name} ({partner.country})",
                result=f"transfer completed: {result}",
                details={"bundle_id": bundle_id, "bundle_sha256": sha256, "officer": officer, "receipt_time": time,
                         "signed_at": signed_at.isoformat(), "checkpoint_size": ours.size}))
    return StoredReceipt(bundle_id, partner.name, result, officer, time, ours.size, already)


def receipts_by_bundle(conn: db.Connection) -> dict[str, list[dict[str, str]]]:
    """bundle id -> the receipts recorded for it (partner, result, time), for ``bundle list``."""
    found: dict[str, list[dict[str, str]]] = {}
    for bundle_id, name, result, time in conn.execute(
            "SELECT bundle_id, partner_name, result, receipt_time FROM bundle_receipts ORDER BY imported_at"):
        found.setdefault(str(bundle_id), []).append({"partner": str(name), "result": str(result), "time": str(time)})
    return found


# A receipt's damage in custody verification: English (the report, --json); ``DAMAGE.shown`` shows it translated.
_RECEIPT = N_("{partner}'s receipt for bundle {id}")
_NOT_SIGNED = N_("{label} is no longer the partner's signed receipt: {error}")
_REMOVED = N_("{label} saw {saw} events; the log has only {n}: events the partner witnessed were removed.")
_ALTERED = N_("{label} saw a log of {saw} events that the current log does not begin with: events the partner "
              "witnessed were altered, inserted, deleted or reordered.")
LABELS = Phrasebook(_RECEIPT)
DAMAGE = Phrasebook(_NOT_SIGNED, _REMOVED, _ALTERED, fields={"label": LABELS})


def receipt_heads(conn: db.Connection, damages: list[Damage]) -> list[tuple[str, cp.Checkpoint, bytes]]:
    """(label, tree head, checkpoint body) that each stored receipt witnessed, read from the partner-signed receipt
    itself — not from columns anyone with the vault key could edit. A receipt that no longer verifies is a damage."""
    rows = conn.execute("SELECT certificate FROM partners").fetchall()
    certificates = [x509.load_der_x509_certificate(bytes(r[0])) for r in rows]
    heads: list[tuple[str, cp.Checkpoint, bytes]] = []
    for bundle_id, name, stored in conn.execute("SELECT bundle_id, partner_name, receipt FROM bundle_receipts"):
        label = _RECEIPT.format(partner=name, id=bundle_id)
        try:
            content, signature = _split(bytes(stored))
            cms.verify_detached_signed_at(signature, content, certificates)
            body = str(records.load_json(content, label)["sender_checkpoint"]["text"]).encode("utf-8")
            heads.append((label, cp.parse_body(body), body))
        except (RefusedInput, KeyError, TypeError) as exc:
            damages.append(Damage(DamageKind.RECEIPT, _NOT_SIGNED.format(label=label, error=english(exc))))
    return heads


def receipt_damage(label: str, head: cp.Checkpoint, size: int, matches: bool) -> Damage | None:
    """``matches``: the log's first ``head.size`` events have the receipt's root."""
    if head.size > size:
        return Damage(DamageKind.RECEIPT, _REMOVED.format(label=label, saw=head.size, n=size))
    if not matches:
        return Damage(DamageKind.RECEIPT, _ALTERED.format(label=label, saw=head.size))
    return None


def receipt_damages(conn: db.Connection, tree: merkle.MerkleTree) -> list[Damage]:
    """Every stored receipt witnessed a tree head of our log; the log must still extend it."""
    damages: list[Damage] = []
    for label, head, _body in receipt_heads(conn, damages):
        matches = head.size <= tree.size and tree.root(head.size) == head.root
        if (damage := receipt_damage(label, head, tree.size, matches)) is not None:
            damages.append(damage)
    return damages
