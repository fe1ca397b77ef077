"""The agency identity: created at vault init, sealed keys, roles, card content, import of CA-issued keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from icspa_desktop.crypto import cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import PermissionDenied, RefusedInput, VaultError
from icspa_desktop.services import agency, users
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import init_vault
from tests.conftest import VaultInfo, run_cli
from tests.tools import require_tool

FP_RE = r"^([0-9A-F]{4} ){7}[0-9A-F]{4}$"


def test_identity_created_at_init(session_a: Session) -> None:
    identity = agency.agency_identity(session_a)
    assert identity.name == "Politie Landelijke Eenheid"
    assert identity.country == "NL"
    assert identity.age_recipient.startswith("age1")
    key = identity.certificate.public_key()
    assert certs.key_description(key) == "ECDSA secp384r1"
    import re

    assert re.match(FP_RE, identity.fingerprint)
    assert any(e.action == CustodyAction.AGENCY_CHANGED for e in events.list_events(session_a.conn))


def test_no_private_key_in_plaintext_anywhere(agency_a: Path, session_a: Session) -> None:
    card = agency.make_card(session_a)
    assert b"PRIVATE KEY" not in card
    assert b"AGE-SECRET-KEY" not in card
    parsed = json.loads(card)
    assert set(parsed) == {"format", "version", "body", "signature"}
    x509.load_pem_x509_certificate(parsed["body"]["certificate"].encode())
    signer = agency.agency_signer(session_a)
    secret_der = certs.key_to_pkcs8(signer._key)  # the raw key, only to search the vault for it
    secret_age = str(agency.age_identity(session_a)).encode()
    for path in agency_a.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"PRIVATE KEY" not in data
            assert b"AGE-SECRET-KEY" not in data
            assert secret_der not in data
            assert secret_age not in data


def test_roles(vault: VaultInfo) -> None:
    with vault.session(Role.INVESTIGATOR) as inv:
        with pytest.raises(PermissionDenied):
            agency.agency_signer(inv)
        # Only roles that may use the agency key sign checkpoints with it (insider issue, guarantee 3).
        with pytest.raises(PermissionDenied):
            agency.checkpoint_signer(inv)
        agency.age_identity(inv)  # investigators import bundles
    with vault.session(Role.AUDITOR) as aud:
        with pytest.raises(PermissionDenied):
            agency.age_identity(aud)
        with pytest.raises(PermissionDenied):
            agency.create_identity(aud, "X", "NL")
    with vault.session(Role.SUPERVISOR) as sup:
        agency.agency_signer(sup)
        sig = agency.checkpoint_signer(sup).sign_detached(b"checkpoint")
        assert cms.verify_detached(sig, b"checkpoint", agency.agency_certificates(sup))
        with pytest.raises(PermissionDenied):
            agency.create_identity(sup, "X", "NL")


def test_vault_without_identity_says_what_to_do(tmp_path: Path) -> None:
    init_vault(tmp_path / "v", "admin", "admin-passphrase")
    with unlock(tmp_path / "v", "admin", "admin-passphrase") as s:
        with pytest.raises(VaultError, match="icspa agency init"):
            agency.agency_identity(s)
        identity = agency.create_identity(s, "Garda", "ie", "GNCCB")
        assert identity.country == "IE"


def test_replacing_keeps_old_certificate(session_a: Session) -> None:
    old = agency.agency_identity(session_a)
    old_sig = agency.agency_signer(session_a).sign_detached(b"old")
    new = agency.create_identity(session_a, "Politie", "NL")
    assert new.fingerprint != old.fingerprint
    trusted = agency.agency_certificates(session_a)
    assert trusted[0] == new.certificate
    assert old.certificate in trusted
    assert cms.verify_detached(old_sig, b"old", trusted) == old.certificate
    card = json.loads(agency.make_card(session_a))
    assert "predecessor" in card  # partners can accept the new key as a successor


def _ca_issued(tmp_path: Path, key_type: str = "ec") -> tuple[bytes, bytes]:
    ca_key = certs.generate_key()
    ca = certs.self_signed(ca_key, "Agency Root CA", "BE")
    leaf_key = certs.generate_key() if key_type == "ec" else rsa.generate_private_key(65537, 2048)
    now = datetime.now(UTC)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Federale Politie")]))
            .issuer_name(ca.subject).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=300))
            .sign(ca_key, hashes.SHA384()))
    p12 = pkcs12.serialize_key_and_certificates(b"leaf", leaf_key, leaf, [ca],
                                                serialization.BestAvailableEncryption(b"p12-pass"))
    return p12, leaf.public_bytes(serialization.Encoding.PEM)


def test_import_pkcs12_from_agency_ca(session_a: Session, tmp_path: Path) -> None:
    p12, leaf_pem = _ca_issued(tmp_path)
    with pytest.raises(RefusedInput, match="wrong password"):
        agency.import_identity(session_a, p12, b"nope")
    identity = agency.import_identity(session_a, p12, b"p12-pass")
    assert identity.name == "Federale Politie"
    assert certs.cert_pem(identity.certificate).encode() == leaf_pem
    assert cms.verify_detached(agency.agency_signer(session_a).sign_detached(b"x"), b"x",
                               [identity.certificate])


def test_import_rsa_refused(session_a: Session, tmp_path: Path) -> None:
    p12, _ = _ca_issued(tmp_path, "rsa")
    with pytest.raises(RefusedInput, match="ECDSA"):
        agency.import_identity(session_a, p12, b"p12-pass")


def test_cli_show_card_cert(agency_a: Path, tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(agency_a), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": "agency-admin-pass"}
    shown = run_cli("--json", "agency", "show", env=env)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["id"]
    assert data["key"] == "ECDSA secp384r1"
    fp = run_cli("agency", "fingerprint", env=env).stdout.strip()
    assert fp == data["fingerprint"]
    out = run_cli("agency", "card", "--out", str(tmp_path / "a.icspa-card"), "--pdf", str(tmp_path / "a.pdf"),
                  env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    assert run_cli("agency", "cert", "--out", str(tmp_path / "a.pem"), env=env).returncode == 0
    x509.load_pem_x509_certificate((tmp_path / "a.pem").read_bytes())


def test_card_pdf_text_has_fingerprint(session_a: Session, tmp_path: Path) -> None:
    import subprocess

    require_tool("pdftotext")  # fails, never skips, when missing
    from icspa_desktop.reports.agency_card_pdf import render_card_pdf

    identity = agency.agency_identity(session_a)
    (tmp_path / "c.pdf").write_bytes(render_card_pdf(identity, agency.make_card(session_a)))
    text = subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert identity.fingerprint in text
    assert identity.age_recipient in text


def test_card_pdf_shows_the_cards_own_expiry(session_a: Session, tmp_path: Path) -> None:
    """The printed card states when the card expires, not only when its certificate does."""
    import json
    import subprocess
    from datetime import UTC, datetime

    from icspa_desktop import i18n
    from icspa_desktop.reports.agency_card_pdf import render_card_pdf

    identity = agency.agency_identity(session_a)
    card = agency.make_card(session_a, days=30)
    expires = datetime.strptime(json.loads(card)["body"]["expires"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires.date() != identity.certificate.not_valid_after_utc.date()
    (tmp_path / "c.pdf").write_bytes(render_card_pdf(identity, card))
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    # Dates in the reader's conventions with UTC beside them (i18n.format_moment), as every report gives them.
    card_expiry = i18n.format_moment(expires.replace(tzinfo=UTC))
    flat = " ".join(text.split())
    assert f"This card expires on {card_expiry}." in flat, flat
    card_row = next(line for line in text.splitlines() if "Card valid" in line)
    assert f"{expires:%d/%m/%Y}" in card_row and f"{expires:%H:%M}" in card_row
    cert_row = next(line for line in text.splitlines() if "Certificate valid" in line)
    assert f"{identity.certificate.not_valid_after_utc:%d/%m/%Y}" in cert_row
    with pytest.raises(ValueError, match="not an agency card"):
        render_card_pdf(identity, b"{}")


def test_user_added_later_can_sign_checkpoints(session_a: Session, agency_a: Path) -> None:
    users.add_user(session_a, "sam", Role.SUPERVISOR, "sam-passphrase")
    users.add_user(session_a, "ivan", Role.INVESTIGATOR, "ivan-passphrase")
    session_a.lock()
    with unlock(agency_a, "sam", "sam-passphrase") as s:  # the key was encrypted to sam's box key at 'user add'
        assert agency.checkpoint_signer(s).certificate == agency.agency_certificates(s)[0]
    with unlock(agency_a, "ivan", "ivan-passphrase") as s, pytest.raises(PermissionDenied):
        agency.checkpoint_signer(s)
