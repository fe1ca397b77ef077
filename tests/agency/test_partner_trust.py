"""Partner trust: cards confirmed by fingerprint, refusals with precise reasons, manual partners, expiry,
revocation, key rotation — through the services and through the CLI (exit 4 for refused input)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from icspa_desktop.crypto import age_keys, cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import events
from icspa_desktop.domain.agency import PartnerStatus
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, ExitCode, PermissionDenied, RefusedInput
from icspa_desktop.services import agency, partners
from icspa_desktop.services.session import Session
from tests.agency.conftest import PASS
from tests.conftest import VaultInfo, run_cli
from tests.tools import needs

AGE_RECIPIENT = age_keys.generate_identity()[1]


def _state(session: Session) -> tuple[int, list[Any]]:
    """What a refused input must leave unchanged: the log length and the partners table."""
    rows = session.conn.execute("SELECT * FROM partners ORDER BY id").fetchall()
    return len(events.list_events(session.conn)), rows


def _forged_card(key: Any, cert: x509.Certificate, *, expires: datetime | None = None,
                 sign_with: Any = None, **fields: str) -> bytes:
    """A card built by hand, for shapes our own exporter never produces (expired, RSA, wrong signer)."""
    now = datetime.now(UTC)
    body = {"name": "Forged Agency", "country": "FR", "unit": "", "contact": "", "age_recipient": AGE_RECIPIENT,
            "certificate": certs.cert_pem(cert), "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires": (expires or now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    body.update(fields)
    signer = sign_with or key
    message = agency.card_message(body)
    if isinstance(signer, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = signer.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = signer.sign(message, ec.ECDSA(hashes.SHA384()))
    card = {"format": agency.CARD_FORMAT, "version": agency.CARD_VERSION, "body": body,
            "signature": base64.b64encode(signature).decode()}
    return json.dumps(card).encode()


def _rsa_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RSA Agency")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return key, cert


def _bad_cards() -> dict[str, tuple[bytes, str]]:
    """Each refusal the issue names, with the words its message must contain."""
    key = certs.generate_key()
    good_cert = certs.self_signed(key, "Forged Agency", "FR")
    expired_cert = certs.self_signed(key, "Old Agency", "FR", validity_days=10,
                                     now=datetime.now(UTC) - timedelta(days=40))
    altered = json.loads(_forged_card(key, good_cert))
    altered["body"]["name"] = "Someone Else"
    rsa_key, rsa_cert = _rsa_cert()
    return {
        "bad-signature": (json.dumps(altered).encode(), "signature does not match"),
        "expired-certificate": (_forged_card(key, expired_cert), "certificate expired on"),
        "expired-card": (_forged_card(key, good_cert, expires=datetime.now(UTC) - timedelta(days=1)),
                         "card expired on"),
        "rsa-key": (_forged_card(rsa_key, rsa_cert), "uses an RSA key; only ECDSA P-384, P-256 or Ed25519"),
        "garbage": (b"\x00\x01garbage\xff", "not an agency card (not JSON)"),
        "other-json": (b'{"hello": "world"}', "not an ICSPA agency card"),
        "signed-by-other-key": (_forged_card(key, good_cert, sign_with=certs.generate_key()),
                                "signature does not match"),
    }


BAD_CARDS = _bad_cards()


def test_import_with_matching_fingerprint(session_a: Session, session_b: Session) -> None:
    card = agency.make_card(session_a)
    fp_a = agency.agency_identity(session_a).fingerprint
    # As read over the phone: lower case, dashes instead of spaces.
    partner = partners.import_card(session_b, card, fp_a.lower().replace(" ", "-"))
    assert partner.name == "Politie Landelijke Eenheid"
    assert partner.country == "NL"
    assert partner.fingerprint == fp_a
    assert partner.certificate == agency.agency_identity(session_a).certificate
    assert partner.status is PartnerStatus.ACTIVE
    assert partner.expires <= datetime.now(UTC) + timedelta(days=agency.DEFAULT_CARD_DAYS)
    log = events.list_events(session_b.conn)
    assert log[-1].action == CustodyAction.PARTNER_ADDED
    assert log[-1].body["details"]["fingerprint"] == fp_a
    assert events.list_events(session_a.conn)[-1].action == CustodyAction.AGENCY_CARD_EXPORTED
    with pytest.raises(Conflict, match="already known"):
        partners.import_card(session_b, card, fp_a)


def test_wrong_or_missing_fingerprint_changes_nothing(session_a: Session, session_b: Session) -> None:
    card = agency.make_card(session_a)
    before = _state(session_b)
    with pytest.raises(RefusedInput, match="confirmed fingerprint does not match"):
        partners.import_card(session_b, card, "0000 0000 0000 0000 0000 0000 0000 0000")
    with pytest.raises(RefusedInput, match="must be confirmed"):
        partners.import_card(session_b, card, None)
    assert _state(session_b) == before


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_bad_card_refused_with_its_own_message(case: str, session_b: Session) -> None:
    data, message = BAD_CARDS[case]
    before = _state(session_b)
    with pytest.raises(RefusedInput, match=re.escape(message)):
        partners.read_card(data)
    with pytest.raises(RefusedInput, match=re.escape(message)):
        partners.import_card(session_b, data, "0000")
    assert _state(session_b) == before


def test_bad_cards_exit_4_in_cli(agency_b: Path, tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(agency_b), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    seen = set()
    for case, (data, message) in sorted(BAD_CARDS.items()):
        path = tmp_path / f"{case}.icspa-card"
        path.write_bytes(data)
        result = run_cli("partner", "import", str(path), "--confirm-fingerprint", "0000", env=env)
        assert result.returncode == ExitCode.REFUSED_INPUT == 4, (case, result.stderr)
        assert message in result.stderr, (case, result.stderr)
        seen.add(result.stderr)
    assert len(seen) == len(BAD_CARDS) - 1  # both "signature does not match" cases share one message
    assert json.loads(run_cli("--json", "partner", "list", env=env).stdout) == []


def test_cli_exchange_between_two_agencies(agency_a: Path, agency_b: Path, tmp_path: Path) -> None:
    env_a = {"ICSPA_VAULT": str(agency_a), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    env_b = {"ICSPA_VAULT": str(agency_b), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    card = tmp_path / "nl.icspa-card"
    assert run_cli("agency", "card", "--out", str(card), env=env_a).returncode == 0
    text = card.read_text()
    assert "PRIVATE KEY" not in text
    assert "AGE-SECRET-KEY" not in text
    fp = run_cli("agency", "fingerprint", env=env_a).stdout.strip()
    wrong = run_cli("partner", "import", str(card), "--confirm-fingerprint", fp[:-1] + "X", env=env_b)
    assert wrong.returncode == 4
    assert "does not match" in wrong.stderr
    ok = run_cli("--json", "partner", "import", str(card), "--confirm-fingerprint", fp.replace(" ", ""), env=env_b)
    assert ok.returncode == 0, ok.stderr
    pid = json.loads(ok.stdout)["id"]
    shown = json.loads(run_cli("--json", "partner", "show", pid, env=env_b).stdout)
    assert shown["fingerprint"] == fp
    assert shown["status"] == "active"
    revoked = run_cli("partner", "revoke", pid, "--reason", "key compromised, letter of 2026-11-20", env=env_b)
    assert revoked.returncode == 0, revoked.stderr
    listed = json.loads(run_cli("--json", "partner", "list", env=env_b).stdout)
    assert [(p["id"], p["status"]) for p in listed] == [(pid, "revoked")]
    assert json.loads(run_cli("--json", "partner", "list", "--active", env=env_b).stdout) == []


def test_partner_signature_verifies_and_maps_to_partner(session_a: Session, session_b: Session) -> None:
    """What bundle import does: verify a detached CMS against trusted partner certificates."""
    fp = agency.agency_identity(session_a).fingerprint
    partner = partners.import_card(session_b, agency.make_card(session_a), fp)
    signature = agency.agency_signer(session_a).sign_detached(b"manifest")
    trusted = [p.certificate for p in partners.list_partners(session_b, include_inactive=False)]
    signer_cert = cms.verify_detached(signature, b"manifest", trusted)
    assert partners.find_partner_by_certificate(session_b, signer_cert).id == partner.id
    assert partners.get_partner_for_sending(session_b, "politie landelijke eenheid").id == partner.id


def test_revoked_expired_unknown_each_say_which(session_a: Session, session_b: Session) -> None:
    identity_a = agency.agency_identity(session_a)
    partner = partners.import_card(session_b, agency.make_card(session_a, days=30), identity_a.fingerprint)
    later = datetime.now(UTC) + timedelta(days=31)
    with pytest.raises(RefusedInput, match=r"expired on .*import the partner's new card"):
        partners.get_partner_for_sending(session_b, partner.id, now=later)
    with pytest.raises(RefusedInput, match="expired on"):
        partners.find_partner_by_certificate(session_b, identity_a.certificate, now=later)
    with pytest.raises(RefusedInput, match="Unknown partner 'Interpol'"):
        partners.get_partner_for_sending(session_b, "Interpol")
    stranger = certs.self_signed(certs.generate_key(), "Stranger", "US")
    with pytest.raises(RefusedInput, match=r"CN=Stranger.*not a known partner"):
        partners.find_partner_by_certificate(session_b, stranger)
    partners.revoke_partner(session_b, partner.id, "certificate reported stolen")
    with pytest.raises(RefusedInput, match="was revoked: certificate reported stolen"):
        partners.get_partner_for_sending(session_b, partner.id)
    with pytest.raises(RefusedInput, match="was revoked"):
        partners.find_partner_by_certificate(session_b, identity_a.certificate)
    last = events.list_events(session_b.conn)[-1]
    assert last.action == CustodyAction.PARTNER_REVOKED
    assert last.body["details"]["partner_id"] == partner.id


def test_key_rotation_accepts_successor(session_a: Session, session_b: Session) -> None:
    old = agency.agency_identity(session_a)
    first = partners.import_card(session_b, agency.make_card(session_a), old.fingerprint)
    new = agency.create_identity(session_a, old.name, old.country, "Cyber Unit", "desk@example.org")
    successor_card = agency.make_card(session_a)
    card = partners.read_card(successor_card)
    assert card.predecessor == old.certificate
    assert partners.successor_of(session_b, card) == first
    # Signed by the trusted previous key: accepted without a new out-of-band comparison.
    second = partners.import_card(session_b, successor_card, None)
    assert second.fingerprint == new.fingerprint
    assert second.lineage == first.lineage
    superseded = partners.get_partner(session_b, first.id)
    assert superseded.status is PartnerStatus.SUPERSEDED
    assert superseded.certificate == old.certificate  # kept for history
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ROTATED
    assert partners.get_partner_for_sending(session_b, old.name).id == second.id
    with pytest.raises(RefusedInput, match="replaced by a newer one"):
        partners.find_partner_by_certificate(session_b, old.certificate)
    # Revoking only the old key (reported lost) leaves the new one usable.
    partners.revoke_partner(session_b, first.id, "old key lost")
    assert partners.get_partner(session_b, first.id).status is PartnerStatus.REVOKED
    assert partners.get_partner_for_sending(session_b, second.id).id == second.id
    # Revoking the partner by name revokes its current key.
    partners.revoke_partner(session_b, old.name, "agency dissolved")
    with pytest.raises(RefusedInput, match="revoked"):
        partners.get_partner_for_sending(session_b, second.id)


def test_forged_successor_refused(session_a: Session, session_b: Session) -> None:
    """A stranger cannot claim to succeed a trusted partner: the predecessor signature must verify."""
    trusted = agency.agency_identity(session_a)
    partners.import_card(session_b, agency.make_card(session_a), trusted.fingerprint)
    key = certs.generate_key()
    cert = certs.self_signed(key, "Impostor", "NL")
    card = json.loads(_forged_card(key, cert, name="Impostor", country="NL"))
    card["predecessor"] = {"certificate": certs.cert_pem(trusted.certificate),
                           "signature": base64.b64encode(key.sign(b"x", ec.ECDSA(hashes.SHA384()))).decode()}
    before = _state(session_b)
    with pytest.raises(RefusedInput, match="previous key, but that key's signature does not match"):
        partners.import_card(session_b, json.dumps(card).encode(), None)
    # Without a predecessor claim, a stranger's card still needs the fingerprint.
    with pytest.raises(RefusedInput, match="must be confirmed"):
        partners.import_card(session_b, _forged_card(key, cert, name="Impostor", country="NL"), None)
    assert _state(session_b) == before


def test_manual_partner(session_b: Session, tmp_path: Path) -> None:
    key = certs.generate_key()
    cert = certs.self_signed(key, "Policia Judiciaria", "PT")
    pem = certs.cert_pem(cert).encode()
    before = _state(session_b)
    with pytest.raises(RefusedInput, match="not an age X25519 recipient"):
        partners.add_partner(session_b, "PJ", "PT", "age1notarecipient", pem)
    with pytest.raises(RefusedInput, match=r"not an X\.509 certificate"):
        partners.add_partner(session_b, "PJ", "PT", AGE_RECIPIENT, b"garbage")
    with pytest.raises(RefusedInput, match="uses an RSA key"):
        partners.add_partner(session_b, "PJ", "PT", AGE_RECIPIENT, certs.cert_pem(_rsa_cert()[1]).encode())
    assert _state(session_b) == before
    partner = partners.add_partner(session_b, "Policia Judiciaria", "pt", AGE_RECIPIENT, pem, unit="UNC3T")
    assert partner.source == "manual"
    assert partner.country == "PT"
    assert partner.fingerprint == agency.fingerprint(cert, AGE_RECIPIENT)
    assert partner.expires == cert.not_valid_after_utc
    assert events.list_events(session_b.conn)[-1].action == CustodyAction.PARTNER_ADDED


def test_manual_partner_cli(agency_b: Path, tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(agency_b), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    (tmp_path / "pj.pem").write_text(certs.cert_pem(certs.self_signed(certs.generate_key(), "PJ", "PT")))
    bad = run_cli("partner", "add", "--name", "PJ", "--country", "PT", "--age-recipient", "age1xyz",
                  "--cert", str(tmp_path / "pj.pem"), env=env)
    assert bad.returncode == 4
    assert "not an age X25519 recipient" in bad.stderr
    ok = run_cli("--json", "partner", "add", "--name", "PJ", "--country", "PT", "--age-recipient", AGE_RECIPIENT,
                 "--cert", str(tmp_path / "pj.pem"), env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["source"] == "manual"


def test_investigator_cannot_manage_partners(vault: VaultInfo, session_a: Session) -> None:
    from icspa_desktop.domain.enums import Role

    card = agency.make_card(session_a)
    fp = agency.agency_identity(session_a).fingerprint
    with vault.session(Role.INVESTIGATOR) as inv:
        with pytest.raises(PermissionDenied):
            partners.import_card(inv, card, fp)
        assert partners.list_partners(inv) == []


@needs("openssl")  # fails, never skips, when missing
def test_openssl_verifies_agency_signature_with_exported_cert(agency_a: Path, session_a: Session,
                                                              tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(agency_a), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    session_a.lock()
    assert run_cli("agency", "cert", "--out", str(tmp_path / "agency.pem"), env=env).returncode == 0
    from icspa_desktop.services.session import unlock

    with unlock(agency_a, "admin", PASS) as s:
        (tmp_path / "s.p7s").write_bytes(agency.agency_signer(s).sign_detached(b"bundle manifest\n"))
    (tmp_path / "data").write_bytes(b"bundle manifest\n")
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "s.p7s", "-content",
                             "data", "-CAfile", "agency.pem", "-purpose", "any", "-out", "/dev/null"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_cli_rotation_inspect_and_renewal_keeps_details(agency_a: Path, agency_b: Path, tmp_path: Path) -> None:
    env_a = {"ICSPA_VAULT": str(agency_a), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    env_b = {"ICSPA_VAULT": str(agency_b), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS}
    first, second = tmp_path / "1.icspa-card", tmp_path / "2.icspa-card"
    assert run_cli("agency", "card", "--out", str(first), env=env_a).returncode == 0
    fp = run_cli("agency", "fingerprint", env=env_a).stdout.strip()
    inspected = json.loads(run_cli("--json", "partner", "inspect", str(first), env=env_b).stdout)
    assert (inspected["fingerprint"], inspected["successor_of"]) == (fp, None)
    assert json.loads(run_cli("--json", "partner", "list", env=env_b).stdout) == []  # inspecting trusts nothing
    assert run_cli("partner", "import", str(first), "--confirm-fingerprint", fp, env=env_b).returncode == 0
    # A new key with no option given keeps name, country, unit and contact.
    renewed = run_cli("--json", "agency", "init", env=env_a)
    assert renewed.returncode == 0, renewed.stderr
    shown = json.loads(renewed.stdout)
    assert (shown["name"], shown["country"], shown["unit"], shown["contact"]) == (
        "Politie Landelijke Eenheid", "NL", "Cyber Unit", "desk@example.org")
    assert shown["fingerprint"] != fp
    assert run_cli("agency", "card", "--out", str(second), "--days", "0", env=env_a).returncode == ExitCode.USAGE
    assert run_cli("agency", "card", "--out", str(second), env=env_a).returncode == 0
    assert json.loads(run_cli("--json", "partner", "inspect", str(second), env=env_b).stdout)["successor_of"]
    rotated = run_cli("partner", "import", str(second), env=env_b)
    assert rotated.returncode == 0, rotated.stderr
    assert "successor" in rotated.stdout
    statuses = sorted(p["status"] for p in json.loads(run_cli("--json", "partner", "list", env=env_b).stdout))
    assert statuses == ["active", "superseded"]
