"""Partner agencies: cards confirmed by fingerprint, manual entries, expiry, revocation, key rotation."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from icspa_desktop.crypto import age_keys
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.agency import Partner, PartnerStatus
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, NotFound, RefusedInput, UsageError, VaultError, _
from icspa_desktop.domain.ids import new_id
from icspa_desktop.i18n import N_
from icspa_desktop.services import partner_names as names
from icspa_desktop.services.agency import (
    CARD_FORMAT,
    CARD_VERSION,
    agency_identity,
    card_message,
    fingerprint,
    normalise_fingerprint,
)
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session
from icspa_desktop.vault import db

MAX_CARD_BYTES = 64 * 1024
_FIELDS = ("name", "country", "unit", "contact", "certificate", "age_recipient", "created", "expires")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock; services take a ``clock`` so tests can give them another one."""
    return datetime.now(UTC)


_COLUMNS = ("id, lineage, name, country, unit, contact, certificate, age_recipient, fingerprint, source, card_expires,"
            " status, status_reason, created_at, status_changed_at")


@dataclass(frozen=True, slots=True)
class VerifiedCard:
    """A card whose signature, certificate and fields have been checked (not yet trusted: no fingerprint)."""

    body: dict[str, str]
    certificate: x509.Certificate
    fingerprint: str
    expires: datetime
    predecessor: x509.Certificate | None


def _parse_time(text: str, what: str) -> datetime:
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise RefusedInput(_("The card's {what} date {text!r} is not a UTC time (YYYY-MM-DDTHH:MM:SSZ).",
                             what=_(what), text=text)) from None
    return moment


def _verify_raw(cert: x509.Certificate, signature: bytes, message: bytes) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            digest = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
            key.verify(signature, message, ec.ECDSA(digest))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def read_card(untrusted_data: bytes, now: datetime | None = None) -> VerifiedCard:
    """Parse and check an agency card (valid at ``now``, default the present); RefusedInput with the precise
    reason otherwise."""
    now = now or utc_now()
    if len(untrusted_data) > MAX_CARD_BYTES:
        raise RefusedInput(_("That file is too large to be an agency card ({count} bytes).",
                             count=len(untrusted_data)))
    try:
        untrusted = json.loads(untrusted_data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RefusedInput(_("That file is not an agency card (not JSON).")) from None
    if not isinstance(untrusted, dict) or untrusted.get("format") != CARD_FORMAT:
        raise RefusedInput(_("That file is not an ICSPA agency card."))
    if untrusted.get("version") != CARD_VERSION:
        raise RefusedInput(_("Agency card version {version!r} is not supported.", version=untrusted.get('version')))
    body = untrusted.get("body")
    if not isinstance(body, dict) or set(body) != set(_FIELDS) or not all(isinstance(body[f], str) for f in _FIELDS):
        raise RefusedInput(_("The agency card is malformed (missing or unexpected fields)."))
    cert = certs.load_certificate(body["certificate"].encode("ascii", "replace"))
    certs.check_key_type(cert)
    try:
        signature = base64.b64decode(str(untrusted.get("signature", "")), validate=True)
    except ValueError:
        raise RefusedInput(_("The agency card's signature is not valid base64.")) from None
    try:
        message = card_message(body)
    except UnicodeEncodeError:  # "\ud800" is valid JSON but no Unicode text: no card of ours holds it
        raise RefusedInput(_("The agency card holds text that is not valid Unicode (an unpaired surrogate); it was "
                             "not made by this program and is refused.")) from None
    if not _verify_raw(cert, signature, message):
        raise RefusedInput(_("The agency card's signature does not match its content or certificate; it was altered."))
    certs.check_validity(cert, now, "The agency card's certificate")
    expires = _parse_time(body["expires"], N_("expiry"))
    if expires < now:
        raise RefusedInput(_("The agency card expired on {expires:%Y-%m-%d}; ask the partner for a new card.",
                             expires=expires))
    recipient = age_keys.check_recipient(body["age_recipient"])
    _check_fields(body["name"], body["country"], body["unit"], body["contact"])
    predecessor = None
    if "predecessor" in untrusted:
        pred = untrusted["predecessor"]
        if not isinstance(pred, dict):
            raise RefusedInput(_("The agency card's predecessor section is malformed."))
        predecessor = certs.load_certificate(str(pred.get("certificate", "")).encode("ascii", "replace"))
        try:
            pred_sig = base64.b64decode(str(pred.get("signature", "")), validate=True)
        except ValueError:
            raise RefusedInput(_("The predecessor signature is not valid base64.")) from None
        if not _verify_raw(predecessor, pred_sig, message):
            raise RefusedInput(_("The card claims a previous key, but that key's signature does not match."))
    names.check_card_matches_certificate(body["name"], body["country"], cert)
    return VerifiedCard(body, cert, fingerprint(cert, recipient), expires, predecessor)


# ---- comparing fingerprints ------------------------------------------------------------------------
MISSING_GROUP = "····"


@dataclass(frozen=True, slots=True)
class FingerprintGroup:
    """One group of four characters as the user was told it and as the card shows it."""

    told: str
    card: str

    @property
    def differs(self) -> bool:
        return self.told != self.card


def told_fingerprint(text: str) -> str:
    """A fingerprint as someone typed it, in the form cards show (upper case, groups of four); "" if none."""
    return normalise_fingerprint(text)


def fingerprints_match(told: str, card_fingerprint: str) -> bool:
    """Whether a fingerprint told out of band (any case, any separators) is the card's; empty never matches."""
    typed = normalise_fingerprint(told)
    return bool(typed) and typed == normalise_fingerprint(card_fingerprint)


def compare_fingerprint_groups(told: str, card_fingerprint: str) -> list[FingerprintGroup]:
    """Both fingerprints group by group (missing groups shown as ····), to find where a typo is."""
    mine, theirs = normalise_fingerprint(told).split(), normalise_fingerprint(card_fingerprint).split()
    return [FingerprintGroup(mine[i] if i < len(mine) else MISSING_GROUP,
                             theirs[i] if i < len(theirs) else MISSING_GROUP)
            for i in range(max(len(mine), len(theirs)))]


def shown_status(partner: Partner, now: datetime | None = None) -> str:
    """The status people are shown: an active partner whose card or certificate has ended is "expired"."""
    if partner.status is PartnerStatus.ACTIVE and partner.expires < (now or utc_now()):
        return "expired"
    return str(partner.status)


def _check_fields(name: str, country: str, unit: str, contact: str) -> None:
    """RefusedInput for characters that could disguise a partner, a blank name or a malformed country."""
    for text, what in ((name, N_("The agency card's name")), (country, N_("The agency card's country")),
                       (unit, N_("The agency card's unit")), (contact, N_("The agency card's contact"))):
        names.check_text(text, what)
    if not name.strip():
        raise RefusedInput(_("The agency card's name is empty."))
    if not _is_country_code(country):
        raise RefusedInput(_("The agency card's country {country!r} is not an ISO 3166 two-letter code (e.g. DE, FR, "
                             "NL).", country=country))


def _is_country_code(text: str) -> bool:
    return len(text) == 2 and text.isascii() and text.isalpha()


def _row_to_partner(row: tuple[Any, ...]) -> Partner:
    (pid, lineage, name, country, unit, contact, der, recipient, fp, source, card_expires, status, reason,
     created, changed) = row
    return Partner(str(pid), str(lineage), str(name), str(country), str(unit), str(contact),
                   x509.load_der_x509_certificate(bytes(der)), str(recipient), str(fp), str(source),
                   datetime.fromisoformat(card_expires) if card_expires else None, PartnerStatus(status),
                   str(reason), datetime.fromisoformat(str(created)),
                   datetime.fromisoformat(str(changed)) if changed else None)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _insert(conn: db.Connection, session: Session, lineage: str | None, name: str, country: str, unit: str,
            contact: str, cert: x509.Certificate, recipient: str, fp: str, source: str,
            card_expires: datetime | None) -> str:
    pid = new_id()
    try:
        conn.execute(
            f"INSERT INTO partners ({_COLUMNS}, confirmed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, lineage or pid, name, country.upper(), unit, contact, certs.cert_der(cert), recipient, fp, source,
             card_expires.isoformat() if card_expires else None, str(PartnerStatus.ACTIVE), "", _now(), None,
             session.user.id),
        )
    except db.IntegrityError:
        raise Conflict(_("This partner key (fingerprint {fingerprint}) is already known.", fingerprint=fp)) from None
    return pid


def successor_of(session: Session, card: VerifiedCard) -> Partner | None:
    """The trusted, active partner whose key signed ``card`` as its successor (key rotation), if any."""
    session.require(Permission.READ)
    if card.predecessor is None:
        return None
    old = _by_certificate(session.conn, card.predecessor)
    return old if old is not None and old.status is PartnerStatus.ACTIVE else None


def successor_changes(predecessor: Partner, card: VerifiedCard) -> list[str]:
    """What a successor card changes that the user must confirm by fingerprint (name, country), as text."""
    changes: list[str] = []
    if card.body["name"] != predecessor.name:
        changes.append(_('name "{old}" to "{new}"', old=names.shown(predecessor.name), new=card.body["name"]))
    if card.body["country"].upper() != predecessor.country.upper():
        changes.append(_("country {old} to {new}", old=predecessor.country, new=card.body["country"].upper()))
    return changes


def _check_not_ours(session: Session, fp: str, cert: x509.Certificate, recipient: str) -> None:
    """Refuse this agency's own card or keys as a partner: bundles "to" it would go to ourselves, and our own
    bundles would import as a partner's."""
    try:
        ours = agency_identity(session)
    except VaultError:
        return  # no agency identity yet: nothing to mistake
    same_key = certs.cert_der(cert) == certs.cert_der(ours.certificate) or recipient == ours.age_recipient
    if fp == ours.fingerprint or same_key:
        raise RefusedInput(_("This is this vault's own agency card ({name}, fingerprint {fingerprint}), not a "
                             "partner's; nothing was imported. Import the card the partner agency sent you.",
                             name=ours.name, fingerprint=ours.fingerprint))


def _check_key_new(conn: db.Connection, fp: str) -> None:
    # Before the name check, so that importing the same card twice says what really happened.
    if conn.execute("SELECT 1 FROM partners WHERE fingerprint = ?", (fp,)).fetchone() is not None:
        raise Conflict(_("This partner key (fingerprint {fingerprint}) is already known.", fingerprint=fp))


def _check_name_free(conn: db.Connection, untrusted_name: str, replacing: str | None = None) -> None:
    """Conflict if an active partner (other than ``replacing``) has a name a reader could take for this one."""
    keys = names.lookalike_keys(untrusted_name)
    rows = conn.execute("SELECT id, name, country, fingerprint FROM partners WHERE status = ? ORDER BY created_at",
                        (str(PartnerStatus.ACTIVE),)).fetchall()
    for pid, name, country, fp in rows:
        if pid != replacing and keys & names.lookalike_keys(str(name)):
            raise Conflict(
                _("The name \"{shown}\" is the same as, or looks like, the name of active partner \"{other}\" "
                  "({country}, fingerprint {fingerprint}); active partners must have names that cannot be confused. "
                  "If it is the same agency with a new key, revoke the old entry first.",
                  shown=names.shown(untrusted_name), other=names.shown(str(name)), country=country, fingerprint=fp))


def import_card(session: Session, untrusted_data: bytes, confirm_fingerprint: str | None, *,
                clock: Clock = utc_now) -> Partner:
    """Trust a partner's card after the user compared its fingerprint out of band.

    Without ``confirm_fingerprint`` only a successor card is accepted: one signed by the key of a partner
    already trusted and active (key rotation) that keeps that partner's name and country; that older entry
    is then marked superseded but kept. The card must be valid at ``clock()``.
    """
    session.require(Permission.MANAGE_PARTNERS, attempted="import a partner card")
    card = read_card(untrusted_data, clock())
    predecessor = successor_of(session, card)
    changes = successor_changes(predecessor, card) if predecessor is not None else []
    if confirm_fingerprint is None:
        if predecessor is None:
            raise RefusedInput(_("A new partner card must be confirmed: give the fingerprint the partner told you "
                                 "out of band (this card shows {fingerprint}).", fingerprint=card.fingerprint))
        if changes:
            raise RefusedInput(
                _("This card is signed by the trusted key of {shown} but changes its {names}: confirm its "
                  "fingerprint with the partner out of band (this card shows {fingerprint}).",
                  shown=names.shown(predecessor.name), names=_("{first} and {second}", first=changes[0],
                                                                  second=changes[1]) if len(changes) == 2
                  else changes[0], fingerprint=card.fingerprint))
    elif not fingerprints_match(confirm_fingerprint, card.fingerprint):
        raise RefusedInput(
            _("The confirmed fingerprint does not match this card ({fingerprint}); nothing was imported. Compare it "
              "with the partner again, by phone or letter.", fingerprint=card.fingerprint))
    body = card.body
    _check_not_ours(session, card.fingerprint, card.certificate, body["age_recipient"])
    with session.transaction() as conn:
        _check_key_new(conn, card.fingerprint)
        _check_name_free(conn, body["name"], predecessor.id if predecessor is not None else None)
        lineage = None
        action = CustodyAction.PARTNER_ADDED
        if predecessor is not None:
            lineage = predecessor.lineage
            action = CustodyAction.PARTNER_ROTATED
            conn.execute("UPDATE partners SET status = ?, status_reason = ?, status_changed_at = ? WHERE id = ?",
                         (str(PartnerStatus.SUPERSEDED), "replaced by a new key signed by this one", _now(),
                          predecessor.id))
        pid = _insert(conn, session, lineage, body["name"], body["country"], body["unit"], body["contact"],
                      card.certificate, body["age_recipient"], card.fingerprint, "card", card.expires)
        details: dict[str, Any] = {
            "partner_id": pid, "fingerprint": card.fingerprint,
            "certificate_sha256": certs.sha256_fingerprint(card.certificate),
            "confirmed": "fingerprint" if confirm_fingerprint is not None else "signed by the previous key",
        }
        if predecessor is not None:
            details["supersedes"] = predecessor.id
            if changes:
                details["previous_name"], details["previous_country"] = predecessor.name, predecessor.country
        session.record(EventDraft(action, counterparty=f"{body['name']} ({body['country']})", details=details))
    return get_partner(session, pid)


def add_partner(session: Session, name: str, country: str, age_recipient: str, cert_data: bytes,
                unit: str = "", contact: str = "") -> Partner:
    """A partner without this application: its certificate and age recipient, confirmed by the user.

    The name is the user's own label for the agency (checked for refused characters and look-alikes among
    active partners), not taken from the certificate.
    """
    session.require(Permission.MANAGE_PARTNERS, attempted=f"add partner {names.shown(name)}")
    for text, what in ((name, N_("The partner's name")), (country, N_("The partner's country")),
                       (unit, N_("The partner's unit")), (contact, N_("The partner's contact"))):
        names.check_text(text, what)
    name, country = name.strip(), country.strip()
    if not name:
        raise UsageError(_("A partner needs a name."))
    if not _is_country_code(country):
        raise UsageError(_("Country {country!r} is not an ISO 3166 two-letter code.", country=country))
    cert = certs.load_certificate(cert_data)
    certs.check_key_type(cert)
    certs.check_validity(cert)
    recipient = age_keys.check_recipient(age_recipient)
    fp = fingerprint(cert, recipient)
    _check_not_ours(session, fp, cert, recipient)
    with session.transaction() as conn:
        _check_key_new(conn, fp)
        _check_name_free(conn, name)
        pid = _insert(conn, session, None, name, country, unit, contact, cert, recipient, fp, "manual", None)
        session.record(EventDraft(CustodyAction.PARTNER_ADDED, counterparty=f"{name} ({country.upper()})",
                                  details={"partner_id": pid, "fingerprint": fp, "source": "manual"}))
    return get_partner(session, pid)


def _by_certificate(conn: db.Connection, cert: x509.Certificate) -> Partner | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM partners WHERE certificate = ?", (certs.cert_der(cert),)).fetchone()
    return None if row is None else _row_to_partner(row)


def earlier_keys(conn: db.Connection, partner: Partner) -> list[Partner]:
    """The agency's other keys, newest first: the ones ``partner``'s key replaced (and a later one if ``partner``
    is itself superseded). A partner's custody log outlives its keys, so its older checkpoints are signed by them."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM partners WHERE lineage = ? AND id != ? ORDER BY created_at DESC",
                        (partner.lineage, partner.id)).fetchall()
    return [_row_to_partner(r) for r in rows]


def signed_after_replacement(key: Partner, at: datetime) -> bool:
    """``key`` had been replaced when it signed at ``at``: we took its successor before then. Both times are whole
    seconds, so a signature of the very second we took the successor still counts. (A bundle's own signer is held
    to the stricter rule of bundle_import ``_signer``: that second too, and an unknown replacement time.)"""
    return key.status is PartnerStatus.SUPERSEDED and key.status_changed is not None and at > key.status_changed


def recipient_agencies(conn: db.Connection) -> Callable[[str], set[str]]:
    """What reads the recipients a sent bundle records (``bundles_sent.recipients``, JSON) as the partner agencies
    (lineages) they are: a partner agency is one, whichever of its keys a bundle was addressed to. A fingerprint
    we no longer hold stands for itself."""
    agency_of = {str(fp): str(lineage) for fp, lineage in conn.execute("SELECT fingerprint, lineage FROM partners")}

    def agencies(recipients_json: str) -> set[str]:
        return {agency_of.get(r["fingerprint"], r["fingerprint"]) for r in json.loads(recipients_json)}

    return agencies


def list_partners(session: Session, include_inactive: bool = True) -> list[Partner]:
    session.require(Permission.READ)
    rows = session.conn.execute(f"SELECT {_COLUMNS} FROM partners ORDER BY name, created_at").fetchall()
    found = [_row_to_partner(r) for r in rows]
    return found if include_inactive else [p for p in found if p.status is PartnerStatus.ACTIVE]


def get_partner(session: Session, ref: str) -> Partner:
    """By id, or by name (the active entry), or by fingerprint."""
    session.require(Permission.READ)
    conn = session.conn
    row = conn.execute(f"SELECT {_COLUMNS} FROM partners WHERE id = ?", (ref,)).fetchone()
    if row is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM partners WHERE (lower(name) = lower(?) OR fingerprint = ?)"
            " ORDER BY status = 'active' DESC, created_at DESC", (ref, normalise_fingerprint(ref))).fetchall()
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(_("No partner {ref!r} ('icspa partner list' shows them).", ref=ref))
    return _row_to_partner(row)


def revoke_partner(session: Session, ref: str, reason: str) -> Partner:
    """Stop trusting a partner: its current key and any other non-superseded key of the same agency.

    Naming a superseded (older) key revokes only that key, e.g. when a partner reports an old key lost.
    """
    session.require(Permission.MANAGE_PARTNERS, attempted=f"revoke partner {ref}")
    if not reason.strip():
        raise UsageError(_("Revoking a partner needs a reason."))
    partner = get_partner(session, ref)
    if partner.status is PartnerStatus.REVOKED:
        raise UsageError(_("Partner {name} is already revoked.", name=partner.name))
    lineage = "" if partner.status is PartnerStatus.SUPERSEDED else partner.lineage
    with session.transaction() as conn:
        revoked = [str(r[0]) for r in conn.execute(
            "SELECT id FROM partners WHERE (lineage = ? AND status = 'active') OR id = ? ORDER BY created_at",
            (lineage, partner.id)).fetchall()]
        conn.executemany("UPDATE partners SET status = ?, status_reason = ?, status_changed_at = ? WHERE id = ?",
                         [(str(PartnerStatus.REVOKED), reason.strip(), _now(), pid) for pid in revoked])
        session.record(EventDraft(CustodyAction.PARTNER_REVOKED, purpose=reason.strip(),
                                  counterparty=f"{partner.name} ({partner.country})",
                                  details={"partner_id": partner.id, "fingerprint": partner.fingerprint,
                                           "revoked_ids": revoked}))
    return get_partner(session, partner.id)


def _usable(partner: Partner, now: datetime) -> None:
    who = {"name": partner.name, "country": partner.country, "fingerprint": partner.fingerprint}
    if partner.status is PartnerStatus.REVOKED:
        raise RefusedInput(_("Partner {name} ({country}, {fingerprint}) was revoked: {reason}",
                             reason=partner.status_reason, **who))
    if partner.status is PartnerStatus.SUPERSEDED:
        raise RefusedInput(_("Partner {name} ({country}, {fingerprint}) uses a key that was replaced by a newer one; "
                             "use the partner's current card.", **who))
    if partner.expires < now:
        raise RefusedInput(_("Partner {name} ({country}, {fingerprint}) expired on {expires:%Y-%m-%d}; import the "
                             "partner's new card.", expires=partner.expires, **who))


def get_partner_for_sending(session: Session, ref: str, now: datetime | None = None) -> Partner:
    """A partner that may receive a bundle now; RefusedInput saying why not (revoked, expired, unknown)."""
    try:
        partner = get_partner(session, ref)
    except NotFound:
        raise RefusedInput(_("Unknown partner {ref!r}: import its card first ('icspa partner import').",
                             ref=ref)) from None
    _usable(partner, now or utc_now())
    return partner


def find_partner_by_certificate(session: Session, cert: x509.Certificate, now: datetime | None = None) -> Partner:
    """The trusted partner that owns ``cert`` (for bundle import); RefusedInput if unknown/revoked/expired."""
    session.require(Permission.READ)
    partner = _by_certificate(session.conn, cert)
    if partner is None:
        raise RefusedInput(_("The signer {shown} is not a known partner agency.",
                             shown=names.shown(certs.subject_text(cert))))
    _usable(partner, now or utc_now())
    return partner


def partner_to_json(p: Partner) -> dict[str, Any]:
    return {"id": p.id, "lineage": p.lineage, "name": p.name, "country": p.country, "unit": p.unit,
            "contact": p.contact, "age_recipient": p.age_recipient, "fingerprint": p.fingerprint, "source": p.source,
            "status": str(p.status), "status_reason": p.status_reason, "expires": p.expires.isoformat(),
            "certificate_subject": certs.subject_text(p.certificate),
            "certificate_sha256": certs.sha256_fingerprint(p.certificate), "created_at": p.created_at.isoformat()}
