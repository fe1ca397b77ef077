"""This installation's agency identity: signing certificate, age identity, agency card.

The agency *signing* key is age-encrypted to the personal box key of each user whose role may sign
with it (table agency_key_wraps), never under the master key alone: every user holds the master key,
so a key sealed under it could be used by anyone with direct access to the database (insider issue).
Who gets a wrap is decided from the signed log (custody/userstate.py), not from the editable users
table. The agency age identity (it decrypts incoming bundles) stays sealed under a subkey of the
master key: every user who may import bundles may use it, and it signs nothing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from icspa_desktop.crypto import aead, age_keys, cms, keys
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody import userstate
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import UsageError, VaultError, _
from icspa_desktop.domain.ids import new_id
from icspa_desktop.files import atomic_write
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session, set_setting, setting
from icspa_desktop.vault import db

CARD_FORMAT = "icspa-agency-card"
CARD_VERSION = 1
DEFAULT_CARD_DAYS = 365
NO_IDENTITY = "This vault has no agency identity yet; an administrator runs 'icspa agency init'."


def fingerprint(cert: x509.Certificate, age_recipient: str) -> str:
    """Short, human-comparable: SHA-256 over the DER certificate and the age recipient, 128 bits shown."""
    digest = hashlib.sha256(certs.cert_der(cert) + b"\n" + age_recipient.encode("ascii")).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def normalise_fingerprint(text: str) -> str:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    return " ".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ad(key_id: str, purpose: str) -> bytes:
    return f"icspa/v1/agency-key\0{key_id}\0{purpose}".encode()


def _seal(wrap_key: bytes, key_id: str, purpose: str, secret: bytes) -> bytes:
    return aead.seal(wrap_key, secret, _ad(key_id, purpose))


def _wrap_key(master_key: bytes) -> bytes:
    return keys.derive_subkey(master_key, keys.PURPOSE_AGENCY_KEYS)


# ---- creating and replacing the identity -------------------------------------------------------------
def store_identity(conn: db.Connection, master_key: bytes, signing_key: certs.SigningKey,
                   certificate: x509.Certificate, origin: str, signers: dict[str, str]) -> str:
    """Insert a new current identity (retiring the previous one) inside the caller's transaction.

    ``signers``: user id → box recipient of every user who may sign with it; the signing key is
    encrypted to each of them and to nobody else."""
    certs.check_key_type(certificate)
    if not signers:
        raise VaultError(_("No user may sign with the agency key, so it would be unusable."))
    secret, recipient = age_keys.generate_identity()
    key_id = new_id()
    wrap = _wrap_key(master_key)
    now = _now()
    conn.execute("UPDATE agency_keys SET retired_at = ? WHERE retired_at IS NULL", (now,))
    conn.execute(
        "INSERT INTO agency_keys (id, certificate, age_recipient, sealed_signing_key, sealed_age_identity, origin,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key_id, certs.cert_der(certificate), recipient, b"", _seal(wrap, key_id, "age", secret.encode("ascii")),
         origin, now),
    )
    pkcs8 = certs.key_to_pkcs8(signing_key)
    for user_id, box in signers.items():
        _insert_wrap(conn, key_id, user_id, box, pkcs8)
    return key_id


def _insert_wrap(conn: db.Connection, key_id: str, user_id: str, box_recipient: str, pkcs8: bytes) -> None:
    wrapped = age_keys.seal_to(box_recipient, pkcs8)
    conn.execute("INSERT OR REPLACE INTO agency_key_wraps (key_id, user_id, wrapped, created_at) VALUES (?, ?, ?, ?)",
                 (key_id, user_id, wrapped, _now()))


def authorised_signers(conn: db.Connection) -> dict[str, str]:
    """User id → box recipient of every active user whose role, by the signed log, may use the agency key."""
    return {u.user_id: u.box_recipient for u in _authorised_users(conn) if u.box_recipient}


def _authorised_users(conn: db.Connection) -> list[userstate.UserState]:
    return [u for u in userstate.replay(conn).users.values()
            if u.active and allowed(u.role, Permission.SIGN_AS_AGENCY)]


def grant_agency_key(session: Session, user_id: str, role: Role, box_recipient: str) -> None:
    """Encrypt every agency signing key (current and retired) to a user whose role may use it; remove the
    user's copies when it may not. Inside the caller's transaction; the caller must hold the key."""
    if not allowed(role, Permission.SIGN_AS_AGENCY):
        revoke_agency_key(session, user_id)
        return
    conn = session.conn
    for (key_id,) in conn.execute("SELECT id FROM agency_keys").fetchall():
        if conn.execute("SELECT 1 FROM agency_key_wraps WHERE key_id = ? AND user_id = ?",
                        (key_id, user_id)).fetchone() is None:
            _insert_wrap(conn, str(key_id), user_id, box_recipient, _unwrap_pkcs8(session, str(key_id)))


def revoke_agency_key(session: Session, user_id: str) -> None:
    """Drop a user's copies of the agency key. A copy they kept still opens the key: replace the agency
    identity when the change matters (docs/SECURITY.md)."""
    session.conn.execute("DELETE FROM agency_key_wraps WHERE user_id = ?", (user_id,))


def _unwrap_pkcs8(session: Session, key_id: str) -> bytes:
    """The signing key of agency identity ``key_id``, opened with this user's own box key."""
    conn = session.conn
    row = conn.execute("SELECT wrapped FROM agency_key_wraps WHERE key_id = ? AND user_id = ?",
                       (key_id, session.user.id)).fetchone()
    if row is not None:
        opened = age_keys.open_with(session.box_secret(), bytes(row[0]))
        if opened is None:
            raise VaultError(_("Your copy of the agency signing key cannot be opened; the vault is damaged."))
        pkcs8 = opened
        _share(session, key_id, pkcs8)
        return pkcs8
    sealed = conn.execute("SELECT sealed_signing_key FROM agency_keys WHERE id = ?", (key_id,)).fetchone()
    if sealed is None or not bytes(sealed[0]):
        raise VaultError(_("The agency signing key is not available to {name!r}: it is given to the administrators "
                           "and supervisors recorded in the signed log. Ask one of them.", name=session.user.name))
    # A vault from before per-user wraps: the key is still sealed under the master key. Move it.
    try:
        pkcs8 = aead.open_sealed(_wrap_key(session.vault.master_key), bytes(sealed[0]), _ad(key_id, "signing"))
    except aead.SealError:
        raise VaultError(_("The agency signing key cannot be unsealed; the vault is damaged.")) from None
    _share(session, key_id, pkcs8)
    return pkcs8


def _share(session: Session, key_id: str, pkcs8: bytes) -> None:
    """After opening the key: encrypt it to every authorised user who has no copy yet (a user's first
    unlock after the upgrade, a recovered user's new box key), and drop a master-key-sealed copy once no
    authorised user is left without a box key."""
    conn = session.conn
    have = {str(r[0]) for r in conn.execute("SELECT user_id FROM agency_key_wraps WHERE key_id = ?", (key_id,))}
    sealed = conn.execute("SELECT length(sealed_signing_key) FROM agency_keys WHERE id = ?", (key_id,)).fetchone()
    roles = [str(role) for role in Role if allowed(role, Permission.SIGN_AS_AGENCY)]
    marks = ",".join("?" * len(roles))
    candidates = {str(r[0]) for r in conn.execute(
        f"SELECT id FROM users WHERE active = 1 AND box_recipient IS NOT NULL AND role IN ({marks})", roles)}
    if not (sealed and sealed[0]) and candidates <= have:
        # Nothing to do by the users table; only a possible grant needs the signed log (a full replay with
        # every signature, ~0.1 s at 1,000 users), which decides who is really authorised.
        return
    authorised = _authorised_users(conn)
    missing = {u.user_id: u.box_recipient for u in authorised if u.box_recipient and u.user_id not in have}
    waiting = any(u.box_recipient is None for u in authorised)
    drop_sealed = bool(sealed and sealed[0]) and not waiting
    if not missing and not drop_sealed:
        return
    with db.transaction(conn) if not conn.in_transaction else contextlib.nullcontext(conn):
        for user_id, box in missing.items():
            _insert_wrap(conn, key_id, user_id, box, pkcs8)
        if drop_sealed:
            conn.execute("UPDATE agency_keys SET sealed_signing_key = x'' WHERE id = ?", (key_id,))


def reseal_for_new_master(conn: db.Connection, old_master: bytes, new_master: bytes) -> None:
    """Master-key rotation: what is sealed under the master key (the age identity; a signing key still
    waiting for its move to per-user wraps) is sealed under the new one. Inside the caller's transaction."""
    old_wrap, new_wrap = _wrap_key(old_master), _wrap_key(new_master)
    for key_id, sealed_signing, sealed_age in conn.execute(
            "SELECT id, sealed_signing_key, sealed_age_identity FROM agency_keys").fetchall():
        resealed = []
        for purpose, sealed in (("signing", bytes(sealed_signing)), ("age", bytes(sealed_age))):
            ad = _ad(str(key_id), purpose)
            resealed.append(aead.seal(new_wrap, aead.open_sealed(old_wrap, sealed, ad), ad) if sealed else b"")
        conn.execute("UPDATE agency_keys SET sealed_signing_key = ?, sealed_age_identity = ? WHERE id = ?",
                     (*resealed, key_id))


def _check_identity_fields(name: str, country: str) -> tuple[str, str]:
    name, country = name.strip(), country.strip().upper()
    if not name:
        raise UsageError(_("The agency identity needs the agency's name."))
    if len(country) != 2 or not country.isalpha():
        raise UsageError(_("Country {country!r} is not an ISO 3166 two-letter code (e.g. DE, FR, NL).",
                           country=country))
    return name, country


def new_self_signed(name: str, country: str, unit: str = "",
                    validity_days: int = certs.DEFAULT_VALIDITY_DAYS) -> tuple[certs.SigningKey, x509.Certificate]:
    name, country = _check_identity_fields(name, country)
    if not 1 <= validity_days <= 20 * 366:
        raise UsageError(_("A certificate validity of {days} days is out of range (1 to 7320).",
                           days=validity_days))
    signing_key = certs.generate_key()
    return signing_key, certs.self_signed(signing_key, name, country, unit, validity_days)


def create_identity(session: Session, name: str = "", country: str = "", unit: str | None = None,
                    contact: str | None = None,
                    validity_days: int = certs.DEFAULT_VALIDITY_DAYS) -> AgencyIdentity:
    """Generate a P-384 key, a self-signed certificate and an age identity; replaces any current one.

    An empty ``name``/``country`` and a ``None`` ``unit``/``contact`` keep the current agency settings.
    """
    session.require(Permission.MANAGE_AGENCY, attempted="create the agency identity")
    name = name or setting(session.conn, "agency.name")
    country = country or setting(session.conn, "agency.country")
    unit = setting(session.conn, "agency.unit") if unit is None else unit
    contact = setting(session.conn, "agency.contact") if contact is None else contact
    signing_key, certificate = new_self_signed(name, country, unit, validity_days)
    return _install(session, signing_key, certificate, "generated", name, country, unit, contact)


def import_identity(session: Session, key_data: bytes, password: bytes | None = None,
                    cert_data: bytes | None = None, contact: str = "") -> AgencyIdentity:
    """Use an existing key and certificate issued by the agency's CA (PKCS#12, or PEM key + PEM cert)."""
    session.require(Permission.MANAGE_AGENCY, attempted="import an agency certificate")
    signing_key, certificate = certs.load_key_and_certificate(key_data, password, cert_data)

    def attr(oid: x509.ObjectIdentifier) -> str:
        values = certificate.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    name = attr(x509.NameOID.ORGANIZATION_NAME) or attr(x509.NameOID.COMMON_NAME) or setting(session.conn,
                                                                                                  "agency.name")
    country = attr(x509.NameOID.COUNTRY_NAME) or setting(session.conn, "agency.country")
    unit = attr(x509.NameOID.ORGANIZATIONAL_UNIT_NAME) or setting(session.conn, "agency.unit")
    return _install(session, signing_key, certificate, "imported", name, country, unit,
                    contact or setting(session.conn, "agency.contact"))


def _install(session: Session, signing_key: certs.SigningKey, certificate: x509.Certificate, origin: str,
             name: str, country: str, unit: str, contact: str) -> AgencyIdentity:
    previous = _current_row(session.conn)
    with session.transaction() as conn:
        key_id = store_identity(conn, session.vault.master_key, signing_key, certificate, origin,
                                authorised_signers(conn))
        for key, value in (("agency.name", name), ("agency.country", country.upper()), ("agency.unit", unit),
                           ("agency.contact", contact)):
            set_setting(conn, key, value)
        identity = _identity_from_row(conn, _current_row(conn))
        session.record(EventDraft(
            CustodyAction.AGENCY_CHANGED,
            details={"what": f"agency identity {origin}", "key_id": key_id, "fingerprint": identity.fingerprint,
                     "certificate_sha256": certs.sha256_fingerprint(certificate),
                     "replaces": previous[0] if previous else None},
        ))
    return identity


# ---- reading -------------------------------------------------------------------------------------------
_KEY_COLUMNS = "id, certificate, age_recipient, sealed_signing_key, sealed_age_identity, created_at"


def _current_row(conn: db.Connection) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM agency_keys WHERE retired_at IS NULL").fetchone()
    return row


def _required_row(conn: db.Connection) -> tuple[Any, ...]:
    row = _current_row(conn)
    if row is None:
        raise VaultError(NO_IDENTITY)
    return row


def _identity_from_row(conn: db.Connection, row: tuple[Any, ...] | None) -> AgencyIdentity:
    if row is None:
        raise VaultError(NO_IDENTITY)
    key_id, der, recipient, _s, _a, created = row
    certificate = x509.load_der_x509_certificate(bytes(der))
    return AgencyIdentity(
        key_id=str(key_id), name=setting(conn, "agency.name"), country=setting(conn, "agency.country"),
        unit=setting(conn, "agency.unit"), contact=setting(conn, "agency.contact"), certificate=certificate,
        age_recipient=str(recipient), fingerprint=fingerprint(certificate, str(recipient)),
        created_at=datetime.fromisoformat(str(created)),
    )


def stated_details(session: Session) -> tuple[str, str, str, str]:
    """(name, country, unit, contact) as stated at vault creation, before an identity exists (to prefill)."""
    session.require(Permission.READ)
    return (setting(session.conn, "agency.name"), setting(session.conn, "agency.country"),
            setting(session.conn, "agency.unit"), setting(session.conn, "agency.contact"))


def has_identity(session: Session) -> bool:
    return _current_row(session.conn) is not None


def agency_identity(session: Session) -> AgencyIdentity:
    session.require(Permission.READ)
    return _identity_from_row(session.conn, _current_row(session.conn))


def agency_certificates(session: Session) -> list[x509.Certificate]:
    """Every certificate this agency has used, current first (to verify older signatures too)."""
    rows = session.conn.execute(
        "SELECT certificate FROM agency_keys ORDER BY retired_at IS NOT NULL, created_at DESC").fetchall()
    return [x509.load_der_x509_certificate(bytes(row[0])) for row in rows]


@dataclass(frozen=True)
class AgencySigner:
    """The agency's signing key, unsealed for one use; holds no reference to the session."""

    certificate: x509.Certificate
    _key: certs.SigningKey

    def sign_detached(self, content: bytes) -> bytes:
        return cms.sign_detached(content, self.certificate, self._key)

    def sign_raw(self, content: bytes) -> bytes:
        """A plain ECDSA signature (DER) over ``content`` (agency cards)."""
        digest = hashes.SHA384() if self._key.curve.key_size >= 384 else hashes.SHA256()
        return self._key.sign(content, ec.ECDSA(digest))


def _signer(session: Session) -> AgencySigner:
    key_id, der, _r, _sealed, _a, _c = _required_row(session.conn)
    return AgencySigner(x509.load_der_x509_certificate(bytes(der)),
                        certs.key_from_pkcs8(_unwrap_pkcs8(session, str(key_id))))


def agency_signer(session: Session) -> AgencySigner:
    """For signing bundles and cards: administrators and supervisors only."""
    session.require(Permission.SIGN_AS_AGENCY, attempted="sign with the agency key")
    signer = _signer(session)
    ends = signer.certificate.not_valid_after_utc
    if ends < datetime.now(UTC):
        raise VaultError(_("The agency certificate expired on {ends:%Y-%m-%d}; an administrator creates a new "
                           "identity ('icspa agency init') or imports a renewed certificate ('icspa agency "
                           "import-cert').", ends=ends))
    return signer


def checkpoint_signer(session: Session) -> AgencySigner:
    """For custody checkpoints: the roles that may sign with the agency key (others sign their own tree
    heads with their personal key: services.custody).

    Unlike ``agency_signer`` this does not refuse an expired certificate: the log must stay checkpointable,
    and a verifier judges a checkpoint's signature at the checkpoint's own time.
    """
    session.require(Permission.SIGN_AS_AGENCY, attempted="sign a custody checkpoint with the agency key")
    return _signer(session)


def age_identity(session: Session) -> str:
    """The identity that decrypts bundles sent to this agency (signers and importers only)."""
    _require_decryption(session)
    key_id, _d, _r, _s, sealed_age, _c = _required_row(session.conn)
    return _unseal_age(session, str(key_id), bytes(sealed_age))


def age_identities(session: Session) -> list[str]:
    """Every identity this agency has had, current first: a bundle sent to our key before we replaced it was in
    transit then, and must still open."""
    _require_decryption(session)
    _required_row(session.conn)
    rows = session.conn.execute("SELECT id, sealed_age_identity FROM agency_keys"
                                " ORDER BY retired_at IS NOT NULL, created_at DESC").fetchall()
    return [_unseal_age(session, str(key_id), bytes(sealed)) for key_id, sealed in rows]


def own_fingerprints(session: Session) -> list[str]:
    """The fingerprints of every key this agency has had, current first (a bundle names its recipients by them)."""
    rows = session.conn.execute("SELECT certificate, age_recipient FROM agency_keys"
                                " ORDER BY retired_at IS NOT NULL, created_at DESC").fetchall()
    return [fingerprint(x509.load_der_x509_certificate(bytes(der)), str(recipient)) for der, recipient in rows]


def _require_decryption(session: Session) -> None:
    if not allowed(session.user.role, Permission.SIGN_AS_AGENCY):
        session.require(Permission.IMPORT_BUNDLE, attempted="use the agency decryption key")


def _unseal_age(session: Session, key_id: str, sealed_age: bytes) -> str:
    try:
        secret = aead.open_sealed(_wrap_key(session.vault.master_key), sealed_age, _ad(key_id, "age"))
    except aead.SealError:
        raise VaultError(_("The agency age identity cannot be unsealed; the vault is damaged.")) from None
    return age_keys.check_identity(secret.decode("ascii"))


# ---- the agency card -----------------------------------------------------------------------------------
def card_body(identity: AgencyIdentity, created: datetime, expires: datetime) -> dict[str, Any]:
    return {
        "name": identity.name, "country": identity.country, "unit": identity.unit, "contact": identity.contact,
        "certificate": certs.cert_pem(identity.certificate), "age_recipient": identity.age_recipient,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def make_card(session: Session, days: int = DEFAULT_CARD_DAYS, previous_signer: AgencySigner | None = None) -> bytes:
    """The agency card (JSON, public material only), signed by the current agency key."""
    if not 1 <= days <= 5 * 366:
        raise UsageError(_("A card validity of {days} days is out of range (1 to 1830).", days=days))
    signer = agency_signer(session)
    identity = agency_identity(session)
    now = datetime.now(UTC).replace(microsecond=0)
    expires = min(now + timedelta(days=days), identity.certificate.not_valid_after_utc)
    body = card_body(identity, now, expires)
    message = card_message(body)
    card: dict[str, Any] = {
        "format": CARD_FORMAT, "version": CARD_VERSION, "body": body,
        "signature": base64.b64encode(signer.sign_raw(message)).decode("ascii"),
    }
    predecessor = previous_signer or _previous_signer(session)
    if predecessor is not None:
        card["predecessor"] = {
            "certificate": certs.cert_pem(predecessor.certificate),
            "signature": base64.b64encode(predecessor.sign_raw(message)).decode("ascii"),
        }
    with session.transaction():
        session.record(EventDraft(CustodyAction.AGENCY_CARD_EXPORTED,
                                  details={"fingerprint": identity.fingerprint, "expires": body["expires"]}))
    return json.dumps(card, indent=1, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class CardExport:
    identity: AgencyIdentity
    card: bytes
    path: Path
    pdf: Path | None


def export_card(session: Session, out: Path, pdf: Path | None = None, days: int = DEFAULT_CARD_DAYS) -> CardExport:
    """Sign a card and write it to ``out`` and, with ``pdf``, its printable form beside it — the one place both
    front ends write cards (the caller has checked the targets: ``--out``/``--force`` rules, save dialogs).
    The PDF prints the SHA-256 of exactly this card file, so paper and file belong together."""
    from icspa_desktop.reports.agency_card_pdf import render_card_pdf

    card = make_card(session, days)
    identity = agency_identity(session)
    rendered = render_card_pdf(identity, card) if pdf is not None else None
    atomic_write(out, card)
    if pdf is not None and rendered is not None:
        atomic_write(pdf, rendered)
    return CardExport(identity, card, out, pdf)


def card_message(body: dict[str, Any]) -> bytes:
    return b"icspa-agency-card/v1\n" + canonical_json(body)


def _previous_signer(session: Session) -> AgencySigner | None:
    """The most recently retired identity, so partners can accept the new card as its successor."""
    row = session.conn.execute(
        "SELECT id, certificate, sealed_signing_key FROM agency_keys WHERE retired_at IS NOT NULL"
        " ORDER BY retired_at DESC LIMIT 1").fetchone()
    if row is None:
        return None
    key_id, der, _sealed = row
    return AgencySigner(x509.load_der_x509_certificate(bytes(der)),
                        certs.key_from_pkcs8(_unwrap_pkcs8(session, str(key_id))))
