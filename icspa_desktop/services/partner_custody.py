"""A partner's custody as a bundle carries it: their signed checkpoint, their events with inclusion proofs,
and the consistency of their log with the tree heads we already hold from them (DESIGN §5, Import).

Every check here raises RefusedInput with what failed; nothing is written. What we store after an import
(``partner_events``, ``partner_checkpoints``) is re-checked by ``custody verify`` with ``recheck_stored``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from icspa_desktop import pipeline
from icspa_desktop.bundle.records import PartnerCustody, SignedCheckpoint
from icspa_desktop.crypto import cms, signing
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events, merkle
from icspa_desktop.domain.agency import Partner, PartnerStatus
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import RefusedInput, _, english
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.domain.recorded import Messages, Phrasebook
from icspa_desktop.i18n import N_
from icspa_desktop.services import partners
from icspa_desktop.vault import db


def partner_origins(partner: Partner) -> tuple[str, str]:
    """(prefix of the partner's log names, the placeholder prefix of logs signed before names were derived)."""
    fingerprint = partner.fingerprint.replace(" ", "").lower()
    return f"icspa/{partner.country.upper()}/{fingerprint}/", f"{cp.ORIGIN_PREFIX}/"


def check_checkpoint(signed: SignedCheckpoint, partner: Partner, what: str, earlier: Sequence[Partner] = ()) -> None:
    """The checkpoint is signed by the partner's certificate, or by one of its ``earlier`` keys that was still in
    force for us when it signed, and names one of the logs of the key that signed it."""
    at = signed.checkpoint.timestamp
    try:
        cms.verify_detached(signed.signature, signed.text, [partner.certificate], at=at)
        signer = partner
    except RefusedInput as exc:
        found = next((key for key in earlier if _signed_by(signed, key)), None)
        if found is None:
            raise RefusedInput(_("The partner's {what} is not validly signed by {name}: {error}",
                                 what=_(what), name=partner.name, error=exc)) from None
        signer = found
        _check_earlier_key(signer, at, what)
    own, placeholder = partner_origins(signer)
    origin = signed.checkpoint.origin
    rest = next((origin[len(prefix):] for prefix in (own, placeholder) if origin.startswith(prefix)), "")
    if not rest or "/" in rest:
        raise RefusedInput(_("The partner's {what} names the log {origin!r}, which is not a log of {name} ({own}…).",
                             what=_(what), origin=origin, name=partner.name, own=own))


def _signed_by(signed: SignedCheckpoint, key: Partner) -> bool:
    try:
        cms.verify_detached(signed.signature, signed.text, [key.certificate], at=signed.checkpoint.timestamp)
    except RefusedInput:
        return False
    return True


def _check_earlier_key(key: Partner, at: datetime, what: str) -> None:
    """An earlier key's signature counts if the key was never revoked, and, once replaced, only for what it signed
    before we took its successor (``partners.signed_after_replacement``)."""
    who = f"{key.name} ({key.country}, {key.fingerprint})"
    if key.status is PartnerStatus.REVOKED:
        raise RefusedInput(_("The partner's {what} is signed with an earlier key of {who}, which was revoked: "
                             "{reason}.", what=_(what), who=who, reason=key.status_reason))
    if partners.signed_after_replacement(key, at):
        raise RefusedInput(_("The partner's {what} is signed with an earlier key of {who}, dated "
                             "{at:%Y-%m-%d %H:%M} UTC, after we had taken the key that replaced it.",
                             what=_(what), who=who, at=at))


@dataclass(frozen=True, slots=True)
class CustodyVerdict:
    origin: str
    size: int
    root: bytes
    events: int
    linked_to: int | None  # size of the held tree head the new one was proven to extend (None: first contact)
    # Every name under which we hold this log from this agency, ``origin`` first: one per key it was signed
    # with (and the placeholder name of its first checkpoints). Its events are the same leaves under any of them.
    names: tuple[str, ...]


def verify(conn: db.Connection, custody: PartnerCustody, partner: Partner, case_id: str,
           item_ids: set[str], cancel: CancelToken | None = None) -> CustodyVerdict:
    """Check everything ``custody.json`` claims, against the partner's key and what we hold from them."""
    check_checkpoint(custody.checkpoint, partner, N_("checkpoint"))
    head = custody.checkpoint.checkpoint
    _check_log_is_theirs(conn, head.origin, partner)
    _check_case_stays_in_its_log(conn, head.origin, partner, case_id)
    signed = _events_signed([(e.public_key, e.signature, e.body_bytes) for e in custody.events])
    for number, (event, good) in enumerate(zip(custody.events, signed, strict=True)):
        if cancel is not None and number % 256 == 0:
            cancel.check()
        _check_event(event.body, event.body_bytes, event.signature, event.public_key, event.leaf_index, event.id,
                     event.inclusion_proof, head, case_id, item_ids, good)
    previous_size = None
    if custody.previous is not None:
        # The last checkpoint the partner sent us may be signed by the key this one replaced, under that key's
        # name of the same log: the log outlives the key.
        check_checkpoint(custody.previous, partner, N_("previous checkpoint"), partners.earlier_keys(conn, partner))
        prev = custody.previous.checkpoint
        if _log_id(prev.origin) != _log_id(head.origin):
            raise RefusedInput(_("The partner's previous checkpoint belongs to another log than the current one."))
        try:
            merkle.verify_consistency(prev.size, head.size, prev.root, head.root, custody.consistency_proof)
        except merkle.ProofError as exc:
            raise RefusedInput(_("The partner's log does not extend its own previous checkpoint (size {size}): "
                                 "{error}.", size=prev.size, error=exc)) from None
        previous_size = prev.size
    log = _log_id(head.origin)
    heads = [(origin, size, root) for origin, size, root in _held_heads(conn, partner) if _log_id(origin) == log]
    linked = _check_against_held(custody, previous_size, {size: root for _origin, size, root in heads})
    names = {origin for origin, _size, _root in heads} - {head.origin}
    return CustodyVerdict(head.origin, head.size, head.root, len(custody.events), linked, (head.origin, *sorted(names)))


def _event_signed(public_key: bytes, signature: bytes, body_bytes: bytes) -> bool:
    """Whether ``signature`` is a valid event signature over ``body_bytes`` under ``public_key`` (False for a
    malformed key). libsodium (``signing.verify_strict``, as ``custody verify`` checks our own log): 2.4x OpenSSL's
    rate here, and a bundle of 10,000 items carries 20,000 events."""
    return signing.verify_strict(bytes(public_key), bytes(signature), events.signed_message(body_bytes))


def _events_signed(signed: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """``_event_signed`` for each (public key, signature, body), the second half in a worker thread: an Ed25519
    check (~70 µs) runs outside the GIL, and a bundle carries thousands of events."""
    results = [False] * len(signed)

    def check(start: int, stop: int) -> None:
        for i in range(start, stop):
            results[i] = _event_signed(*signed[i])

    half = len(signed) // 2 if len(signed) >= _SPLIT_FROM else 0
    later = pipeline.Pending(lambda: check(half, len(signed)), "signature-check") if half else None
    check(0, half or len(signed))
    if later is not None:
        later.wait()
    return results


_SPLIT_FROM = 64  # events; below this a second thread costs more than it saves


# A partner event that fails its checks: refused at import (shown as it is made), recorded by its English in custody
# verify's recheck of what is stored; ``RECHECK.shown`` shows that in the reader's language.
_WHERE = N_("The partner's custody event #{index}")
_EVENT_SIGNATURE = N_("{where} has an invalid signature (changed after it was signed).")
_EVENT_ID = N_("{where} carries another id in its signed body than in the proof file.")
_EVENT_VERSION = N_("{where} has an unknown event format version {version}.")
_EVENT_INDEX = N_("{where} says in its signed body that it is event #{claimed}.")
_EVENT_CASE = N_("{where} belongs to another case than the bundle's.")
_EVENT_ITEMS = N_("{where} has a malformed item list.")
_EVENT_NO_ITEM = N_("{where} is about none of the bundle's items.")
_EVENT_NO_ACTION = N_("{where} has no action or time.")
_EVENT_NOT_INCLUDED = N_("{where} is not in the partner's signed checkpoint (size {size}): {error}.")
_STORED = N_("partner event {origin} #{index}: {refusal}")
_HEAD_GONE = N_("our event #{index} records receiving the partner's checkpoint of {size} events of {origin}, which "
                "the vault no longer holds (removed by direct access?): later bundles of that log cannot be checked "
                "against it")
_EVENTS_GONE = N_("our event #{index} records storing {recorded} of the partner's events from bundle {bundle_id}, but "
                  "the vault holds {held} of them (removed by direct access?)")
_HEAD_CHANGED = N_("our event #{index} records receiving the partner's checkpoint of {size} events of {origin} with "
                   "another root hash than the vault holds now (changed by direct access?)")


def _check_event(body: dict[str, Any], body_bytes: bytes, signature: bytes, public_key: bytes, leaf_index: int,
                 event_id: str, proof: list[bytes], head: cp.Checkpoint, case_id: str, item_ids: set[str],
                 signature_valid: bool) -> None:
    """The event's checks but its signature's, which the caller made (``_events_signed``): ``signature_valid``."""

    def refused(message: str, **fields: object) -> RefusedInput:  # worded only for the event that fails
        return RefusedInput(_(message, where=_(_WHERE, index=leaf_index), **fields))

    if not signature_valid:
        raise refused(_EVENT_SIGNATURE)
    if body.get("id") != event_id:
        raise refused(_EVENT_ID)
    if body.get("v") not in events.EVENT_VERSIONS_KNOWN:
        raise refused(_EVENT_VERSION, version=repr(body.get("v")))
    if body.get("v", 1) >= 2 and body.get("index") != leaf_index:
        raise refused(_EVENT_INDEX, claimed=repr(body.get("index")))
    if body.get("case_id") != case_id:
        raise refused(_EVENT_CASE)
    listed = body.get("item_ids")
    if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
        raise refused(_EVENT_ITEMS)
    if listed and not item_ids & set(listed):
        raise refused(_EVENT_NO_ITEM)
    if not isinstance(body.get("action"), str) or not isinstance(body.get("at"), str):
        raise refused(_EVENT_NO_ACTION)
    leaf = events.leaf_hash(events.leaf_bytes(body_bytes, signature, public_key))
    try:
        merkle.verify_inclusion(leaf_index, head.size, leaf, proof, head.root)
    except merkle.ProofError as exc:
        raise refused(_EVENT_NOT_INCLUDED, size=head.size, error=exc) from None


def _check_log_is_theirs(conn: db.Connection, origin: str, partner: Partner) -> None:
    """A log we hold from one partner agency takes no tree head from another: names under the shared placeholder
    prefix (``icspa.example/<vault id>``) are not bound to an agency, and another partner could otherwise add to
    (or block) a partner's log."""
    other = conn.execute(
        "SELECT p.name, p.country FROM partner_checkpoints pc JOIN bundles_received br ON br.id = pc.bundle_id"
        " JOIN partners p ON p.id = br.partner_id WHERE pc.origin = ? AND p.lineage != ? LIMIT 1",
        (origin, partner.lineage)).fetchone()
    if other is not None:
        raise RefusedInput(_("The partner's checkpoint names the log {origin!r}, which we hold from another agency, "
                             "{other} ({country}): a bundle of {name} cannot add to it. Ask both agencies.",
                             origin=origin, other=other[0], country=other[1], name=partner.name))


def _log_id(origin: str) -> str:
    """The log an origin names: its last part, the vault id (``icspa/<country>/<fingerprint>/<vault id>``, or the
    placeholder ``icspa.example/<vault id>``). One log has several names: the placeholder of its first checkpoints,
    and one per agency key (the name changes with the key)."""
    return origin.rsplit("/", 1)[-1]


def _check_case_stays_in_its_log(conn: db.Connection, origin: str, partner: Partner, case_id: str) -> None:
    """A partner's case keeps its custody in one log: a later bundle of the case under another log would escape
    the consistency check against the tree heads we hold (a rewritten log sent as a new one)."""
    held = sorted({str(row[0]) for row in conn.execute(
        "SELECT DISTINCT pe.origin FROM partner_cases pc JOIN partner_events pe ON pe.case_id = pc.case_id"
        " WHERE pc.partner_lineage = ? AND pc.partner_case_id = ?"
        " AND json_extract(CAST(pe.body AS TEXT), '$.case_id') = pc.partner_case_id",
        (partner.lineage, case_id))})
    if held and _log_id(origin) not in {_log_id(name) for name in held}:
        raise RefusedInput(_("The custody of this case came to us in the partner's log {held!r}; this bundle's "
                             "checkpoint names another log, {origin!r}. A case's custody stays in one log: their log "
                             "may have been rewritten and sent under a new name. Ask the partner.",
                             held=held[0], origin=origin))


def _check_against_held(custody: PartnerCustody, previous_size: int | None, held: dict[int, bytes]) -> int | None:
    """The new tree head must agree with every head of that log we hold from this partner agency (``held``: size →
    root, under any of the log's names: ``_log_id``; the placeholder name with the log's vault id named the same
    log and escaped the check), and extend the newest one."""
    head = custody.checkpoint.checkpoint
    if not held:
        return None
    prev = custody.previous.checkpoint if custody.previous is not None else None
    for size, root in ((head.size, head.root), *(((prev.size, prev.root),) if prev else ())):
        if size in held and held[size] != root:
            raise RefusedInput(_("The partner's log is inconsistent: we hold a checkpoint of {size} events with "
                                 "another root hash (their log was rewritten, or two logs share one name).",
                                 size=size))
    newest = max(held)
    if head.size <= newest:
        if head.size in held:
            return head.size
        raise RefusedInput(_("The partner's checkpoint ({size} events) is older than the one we hold ({newest}) and "
                             "is not one we hold: it cannot be shown to be part of their log.",
                             size=head.size, newest=newest))
    if previous_size == newest:
        return newest
    carried = "no previous checkpoint" if previous_size is None else f"a previous checkpoint of {previous_size} events"
    raise RefusedInput(_("The partner's checkpoint ({size} events) cannot be shown to extend the last one we hold "
                         "from them ({newest} events): the bundle carries {carried}. Their log may have been "
                         "rewritten; ask the partner (the bundle they sent before this one may be missing).",
                         size=head.size, newest=newest, carried=carried))


def _held_heads(conn: db.Connection, partner: Partner) -> list[tuple[str, int, bytes]]:
    """Every tree head we hold from the partner's agency (any of its keys): origin, size, root."""
    return [(str(origin), int(size), bytes(root)) for origin, size, root in conn.execute(
        "SELECT pc.origin, pc.size, pc.root FROM partner_checkpoints pc JOIN bundles_received br"
        " ON br.id = pc.bundle_id JOIN partners p ON p.id = br.partner_id WHERE p.lineage = ?", (partner.lineage,))]


def store(conn: db.Connection, custody: PartnerCustody, bundle_id: str, now: str) -> None:
    """Keep the tree heads this bundle proved: its checkpoint and the previous one it was shown to extend."""
    for signed in (custody.checkpoint, custody.previous):
        if signed is None:
            continue
        c = signed.checkpoint
        conn.execute("INSERT OR IGNORE INTO partner_checkpoints (origin, size, root, text, signature, bundle_id,"
                     " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (c.origin, c.size, c.root, signed.text.decode("utf-8"), signed.signature, bundle_id, now))


RECHECK = Phrasebook(_STORED, _HEAD_GONE, _HEAD_CHANGED, _EVENTS_GONE, fields={"refusal": Messages(
    _EVENT_SIGNATURE, _EVENT_ID, _EVENT_VERSION, _EVENT_INDEX, _EVENT_CASE, _EVENT_ITEMS, _EVENT_NO_ITEM,
    _EVENT_NO_ACTION, _EVENT_NOT_INCLUDED, fields={"where": Phrasebook(_WHERE)})})


def recheck_stored(conn: db.Connection) -> list[str]:
    """``custody verify``: every stored partner event still verifies against the checkpoint it came with."""
    damages: list[str] = []
    checkpoints = {str(bid): (bytes(str(text).encode("utf-8"))) for bid, text in conn.execute(
        "SELECT id, checkpoint_text FROM bundles_received").fetchall()}
    rows = conn.execute("SELECT origin, leaf_index, event_id, case_id, body, signature, public_key, inclusion_proof,"
                        " bundle_id FROM partner_events ORDER BY origin, leaf_index").fetchall()
    for origin, index, event_id, _case, body, signature, public_key, proof_json, bundle_id in rows:
        text = checkpoints.get(str(bundle_id))
        try:
            if text is None:
                raise RefusedInput(_("the bundle it came with is not recorded"))
            head = cp.parse_body(text)
            if head.origin != origin:
                raise RefusedInput(_("it is filed under another log"))
            body_bytes = bytes(body)
            parsed = json.loads(body_bytes)
            proof = [base64.b64decode(node) for node in json.loads(proof_json)]
            _check_event(parsed, body_bytes, bytes(signature), bytes(public_key), int(index), str(event_id),
                         proof, head, str(parsed.get("case_id")), set(parsed.get("item_ids") or []),
                         _event_signed(bytes(public_key), bytes(signature), body_bytes))
        except (RefusedInput, ValueError, TypeError) as exc:
            damages.append(_STORED.format(origin=origin, index=index, refusal=english(exc)))
    return damages + _held_heads_damages(conn) + _stored_events_damages(conn)


def _stored_events_damages(conn: db.Connection) -> list[str]:
    """Each bundle's partner events must all still be there: our signed "received" events name how many it stored
    (events recorded before they did are not counted). Deleting some went unseen: those left still verified."""
    held = {str(bundle): int(n) for bundle, n in conn.execute(
        "SELECT bundle_id, count(*) FROM partner_events GROUP BY bundle_id")}
    damages: list[str] = []
    for index, bundle_id, recorded in conn.execute(
            "SELECT MIN(idx), json_extract(CAST(body AS TEXT), '$.details.bundle_id') AS bundle,"
            " json_extract(CAST(body AS TEXT), '$.details.partner_events_added') AS added FROM custody_events"
            " WHERE action = ? GROUP BY bundle, added HAVING added IS NOT NULL", (str(CustodyAction.IMPORTED),)):
        if held.get(str(bundle_id), 0) != int(recorded):
            damages.append(_EVENTS_GONE.format(index=index, recorded=recorded, bundle_id=bundle_id,
                                               held=held.get(str(bundle_id), 0)))
    return damages


def _held_heads_damages(conn: db.Connection) -> list[str]:
    """The partners' tree heads our own signed "received" events name must still be in the vault, as received:
    the consistency of a partner's later bundles rests on them, and deleting them by direct SQL went unseen (the
    import would then take a rewritten log as a first bundle). One row per head, found in SQL."""
    held = {(str(origin), int(size)): bytes(root)
            for origin, size, root in conn.execute("SELECT origin, size, root FROM partner_checkpoints")}
    damages: list[str] = []
    for index, origin, size, root in conn.execute(
            "SELECT MIN(idx), json_extract(CAST(body AS TEXT), '$.details.checkpoint.origin') AS origin,"
            " json_extract(CAST(body AS TEXT), '$.details.checkpoint.size') AS size,"
            " json_extract(CAST(body AS TEXT), '$.details.checkpoint.root') AS root FROM custody_events"
            " WHERE action = ? GROUP BY origin, size, root HAVING origin IS NOT NULL", (str(CustodyAction.IMPORTED),)):
        key = (str(origin), int(size))
        if key not in held:
            damages.append(_HEAD_GONE.format(index=index, size=size, origin=origin))
        elif root is not None and base64.b64decode(str(root)) != held[key]:
            damages.append(_HEAD_CHANGED.format(index=index, size=size, origin=origin))
    return damages
