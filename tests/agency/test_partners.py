"""Partner trust: fingerprint-confirmed cards, each bad card refused for its own reason, revoke, rotate."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from icspa_desktop.crypto import age_keys
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import events
from icspa_desktop.domain.agency import PartnerStatus
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, RefusedInput
from icspa_desktop.services import agency, partners
from icspa_desktop.services.session import Session
from tests.agency.conftest import PASS
from tests.conftest import run_cli


def _card_of(session: Session) -> tuple[bytes, str]:
    return agency.make_card(session), agency.agency_identity(session).fingerprint


def _forge(key: object, cert: x509.Certificate, expires: datetime | None = None, **changes: str) -> bytes:
    """A card built by hand (for keys and certificates our own code would never produce)."""
    now = datetime.now(UTC)
    body = {"name": "Forged", "country": "XX", "unit": "", "contact": "", "certificate": certs.cert_pem(cert),
            "age_recipient": age_keys.generate_identity()[1], "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires": (expires or now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")} | changes
    message = agency.card_message(body)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(message, ec.ECDSA(hashes.SHA384()))
    else:
        from cryptography.hazmat.primitives.asymmetric import padding

        sig = key.sign(message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
    return json.dumps({"format": "icspa-agency-card", "version": 1, "body": body,
                       "signature": base64.b64encode(sig).decode()}).encode()


def test_import_with_confirmed_fingerprint(session_a: Session, session_b: Session) -> None:
    card, fp = _card_of(session_a)
    partner = partners.import_card(session_b, card, fp.lower().replace(" ", "-"))
    assert partner.name == "Politie Landelijke Eenheid"
    assert partner.fingerprint == fp
    assert partners.get_partner_for_sending(session_b, "politie landelijke eenheid").id == partner.id
    identity_a = agency.agency_identity(session_a)
    assert partners.find_partner_by_certificate(session_b, identity_a.certificate).id == partner.id
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ADDED
    with pytest.raises(Conflict):
        partners.import_card(session_b, card, fp)


def test_wrong_fingerprint_refused_nothing_stored(session_a: Session, session_b: Session) -> None:
    card, fp = _card_of(session_a)
    wrong = ("0000 " + fp[5:])
    with pytest.raises(RefusedInput, match="does not match"):
        partners.import_card(session_b, card, wrong)
    assert partners.list_partners(session_b) == []


def test_altered_card_refused(session_a: Session, session_b: Session) -> None:
    card, fp = _card_of(session_a)
    doc = json.loads(card)
    doc["body"]["contact"] = "attacker@example.org"
    with pytest.raises(RefusedInput, match="signature does not match"):
        partners.import_card(session_b, json.dumps(doc).encode(), fp)


def test_expired_certificate_refused(session_b: Session) -> None:
    key = certs.generate_key()
    old = certs.self_signed(key, "Old Agency", "FR", validity_days=2, now=datetime.now(UTC) - timedelta(days=30))
    card = _forge(key, old, country="FR")
    with pytest.raises(RefusedInput, match="certificate expired"):
        partners.read_card(card)


def test_expired_card_refused(session_b: Session) -> None:
    key = certs.generate_key()
    cert = certs.self_signed(key, "Agency", "FR")
    card = _forge(key, cert, expires=datetime.now(UTC) - timedelta(days=1), country="FR")
    with pytest.raises(RefusedInput, match="card expired"):
        partners.read_card(card)


def test_rsa_certificate_refused() -> None:
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RSA Agency")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .sign(key, hashes.SHA256()))
    with pytest.raises(RefusedInput, match=r"RSA key; only ECDSA P-384, P-256 or Ed25519"):
        partners.read_card(_forge(key, cert, country="FR"))


@pytest.mark.parametrize(("data", "message"), [
    (b"\x00\x01garbage", "not an agency card"),
    (b"[1, 2]", "not an ICSPA agency card"),
    (b'{"format": "icspa-agency-card", "version": 9}', "version 9"),
    (b'{"format": "icspa-agency-card", "version": 1, "body": {"name": "x"}}', "malformed"),
    (b"x" * 70_000, "too large"),
])
def test_garbage_refused(data: bytes, message: str) -> None:
    with pytest.raises(RefusedInput, match=message):
        partners.read_card(data)


def test_manual_partner_and_bad_recipient(session_a: Session, session_b: Session) -> None:
    identity_a = agency.agency_identity(session_a)
    pem = certs.cert_pem(identity_a.certificate).encode()
    with pytest.raises(RefusedInput, match="not an age X25519 recipient"):
        partners.add_partner(session_b, "Politie", "NL", "age1notvalid", pem)
    partner = partners.add_partner(session_b, "Politie", "NL", identity_a.age_recipient, pem)
    assert partner.source == "manual"
    assert partner.fingerprint == identity_a.fingerprint


def test_revoked_partner_refused_with_reason(session_a: Session, session_b: Session) -> None:
    card, fp = _card_of(session_a)
    partner = partners.import_card(session_b, card, fp)
    partners.revoke_partner(session_b, partner.id, "key compromised (letter 2026-11-20)")
    with pytest.raises(RefusedInput, match="was revoked: key compromised"):
        partners.get_partner_for_sending(session_b, partner.id)
    with pytest.raises(RefusedInput, match="was revoked"):
        partners.find_partner_by_certificate(session_b, partner.certificate)
    with pytest.raises(RefusedInput, match="Unknown partner"):
        partners.get_partner_for_sending(session_b, "Interpol")


def test_expired_partner_refused(session_a: Session, session_b: Session) -> None:
    card, fp = _card_of(session_a)
    partner = partners.import_card(session_b, card, fp)
    later = partner.expires + timedelta(days=1)
    with pytest.raises(RefusedInput, match="expired on"):
        partners.get_partner_for_sending(session_b, partner.id, now=later)


def test_rotation_accepted_as_successor(session_a: Session, session_b: Session) -> None:
    card, fp = _card_of(session_a)
    first = partners.import_card(session_b, card, fp)
    agency.create_identity(session_a, "Politie Landelijke Eenheid", "NL", "Team High Tech Crime")
    new_card, new_fp = _card_of(session_a)
    assert new_fp != fp
    second = partners.import_card(session_b, new_card, new_fp)
    assert second.lineage == first.lineage
    assert partners.get_partner(session_b, first.id).status is PartnerStatus.SUPERSEDED
    with pytest.raises(RefusedInput, match="replaced by a newer one"):
        partners.find_partner_by_certificate(session_b, first.certificate)
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ROTATED


def test_cli_import_exit_codes(agency_a: Path, agency_b: Path, tmp_path: Path) -> None:
    env_a = {"ICSPA_VAULT": str(agency_a), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    env_b = {"ICSPA_VAULT": str(agency_b), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    card = tmp_path / "a.icspa-card"
    assert run_cli("agency", "card", "--out", str(card), env=env_a).returncode == 0
    fp = run_cli("agency", "fingerprint", env=env_a).stdout.strip()
    wrong = run_cli("partner", "import", str(card), "--confirm-fingerprint", "1111 2222", env=env_b)
    assert wrong.returncode == 4
    assert len(wrong.stderr.strip().splitlines()) == 1
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\xfe not a card")
    assert run_cli("partner", "import", str(garbage), "--confirm-fingerprint", fp, env=env_b).returncode == 4
    ok = run_cli("--json", "partner", "import", str(card), "--confirm-fingerprint", fp, env=env_b)
    assert ok.returncode == 0, ok.stderr
    partner = json.loads(ok.stdout)
    listed = json.loads(run_cli("--json", "partner", "list", env=env_b).stdout)
    assert [p["id"] for p in listed] == [partner["id"]]
    assert run_cli("partner", "revoke", partner["id"], "--reason", "test", env=env_b).returncode == 0
    shown = json.loads(run_cli("--json", "partner", "show", partner["id"], env=env_b).stdout)
    assert shown["status"] == "revoked"
