"""Damaged signatures and cards from strangers: only ever RefusedInput, never a crash or an acceptance;
importing an existing agency key as PEM."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from icspa_desktop.crypto import cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.errors import RefusedInput
from icspa_desktop.services import agency, partners
from icspa_desktop.services.session import Session
from tests.agency.conftest import PASS
from tests.conftest import run_cli

# The committed signature of tests/data/cards/cms/ (made by tests/data/cards/make_cards.py), damaged here.
_CMS = Path(__file__).resolve().parent.parent / "data" / "cards" / "cms"
CERT = certs.load_certificate((_CMS / "signer.pem").read_bytes())
CONTENT = (_CMS / "content.txt").read_bytes()
SIGNATURE = (_CMS / "good.p7s").read_bytes()

damage = st.lists(st.tuples(st.integers(0, len(SIGNATURE) - 1), st.integers(1, 255)), min_size=1, max_size=4)


# Where the SignerInfo (sid, algorithms, signed attributes, signature) starts; it ends the DER.
SIGNER_INFO_AT = SIGNATURE.rindex(acms.ContentInfo.load(SIGNATURE)["content"]["signer_infos"][0].dump())


@settings(max_examples=400, deadline=None)
@given(damage, st.integers(0, len(SIGNATURE) - 1))
def test_damaged_cms_is_refused(changes: list[tuple[int, int]], keep: int) -> None:
    """Damage in the SignerInfo is always refused. Elsewhere (the embedded certificate, which pinning
    ignores) it may pass, but only ever as the trusted certificate over the same content."""
    data = bytearray(SIGNATURE)
    for pos, xor in changes:
        data[pos] ^= xor
    try:
        assert cms.verify_detached(bytes(data), CONTENT, [CERT]) == CERT
    except RefusedInput:
        pass
    else:
        changed = [i for i, (a, b) in enumerate(zip(data, SIGNATURE, strict=True)) if a != b]
        assert all(pos < SIGNER_INFO_AT for pos in changed)
    with pytest.raises(RefusedInput):
        cms.verify_detached(bytes(data[:keep]), CONTENT, [CERT])


def test_every_byte_of_signer_info_matters() -> None:
    for pos in range(SIGNER_INFO_AT, len(SIGNATURE)):
        for xor in (0x01, 0x80):
            data = bytearray(SIGNATURE)
            data[pos] ^= xor
            with pytest.raises(RefusedInput):
                cms.verify_detached(bytes(data), CONTENT, [CERT])


VALID_CARD = (_CMS.parent / "valid.icspa-card").read_bytes()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_card_is_refused_or_unchanged(data: st.DataObject) -> None:
    """Any one byte of the committed valid card changed: refused, or read with the same signed body."""
    card = VALID_CARD
    original = json.loads(card)["body"]
    pos = data.draw(st.integers(0, len(card) - 1))
    value = data.draw(st.integers(0, 255))
    damaged = card[:pos] + bytes([value]) + card[pos + 1 :]
    try:
        read = partners.read_card(damaged, datetime(2026, 2, 1, tzinfo=UTC))
    except RefusedInput:
        return
    assert read.body == original  # only changes outside the signed body (e.g. white space) are harmless


@pytest.mark.parametrize("data", [b"", b"[" * 60000, b"{}", b'{"format": "icspa-agency-card", "version": 2}',
                                  b"\xef\xbb\xbf{", "\u00e9".encode("latin-1"), b"{" + b" " * 70000 + b"}"])
def test_junk_cards(data: bytes) -> None:
    with pytest.raises(RefusedInput):
        partners.read_card(data)


def _ca_issued_pem() -> tuple[bytes, bytes, bytes]:
    ca_key = certs.generate_key()
    ca = certs.self_signed(ca_key, "Agency Root CA", "SE")
    leaf_key = certs.generate_key()
    now = datetime.now(UTC)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Polisen NOA"),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IT-brott")]))
            .issuer_name(ca.subject).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=700))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(ca_key, hashes.SHA384()))
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"pem-pass"))
    return key_pem, leaf.public_bytes(serialization.Encoding.PEM), ca.public_bytes(serialization.Encoding.PEM)


def test_import_pem_key_and_cert_via_cli(agency_a: Path, tmp_path: Path) -> None:
    key_pem, leaf_pem, _ca = _ca_issued_pem()
    other_pem = certs.cert_pem(certs.self_signed(certs.generate_key(), "Other", "SE")).encode()
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf_pem)
    (tmp_path / "other.pem").write_bytes(other_pem)
    env = {"ICSPA_VAULT": str(agency_a), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS, "KEYPASS": "pem-pass"}
    before = run_cli("--json", "agency", "show", env=env).stdout
    mismatch = run_cli("agency", "import-cert", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "other.pem"),
                       "--password-env", "KEYPASS", env=env)
    assert mismatch.returncode == 4
    assert "does not belong to the certificate" in mismatch.stderr
    wrong = run_cli("agency", "import-cert", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "leaf.pem"),
                    env={**env, "KEYPASS": "nope"}, input_text="")
    wrong_env = run_cli("agency", "import-cert", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "leaf.pem"),
                        "--password-env", "KEYPASS", env={**env, "KEYPASS": "nope"})
    assert wrong.returncode == wrong_env.returncode == 4
    assert "wrong password" in wrong_env.stderr
    assert run_cli("--json", "agency", "show", env=env).stdout == before  # nothing changed
    ok = run_cli("--json", "agency", "import-cert", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "leaf.pem"),
                 "--password-env", "KEYPASS", env=env)
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(ok.stdout)
    assert (shown["name"], shown["country"], shown["unit"]) == ("Polisen NOA", "SE", "IT-brott")
    assert shown["certificate_subject"].startswith("OU=IT-brott")
    assert not any(p.is_file() and b"BEGIN ENCRYPTED PRIVATE KEY" in p.read_bytes() for p in agency_a.rglob("*"))


def test_imported_ca_issued_key_verifies_against_the_ca(session_a: Session, tmp_path: Path) -> None:
    """A bundle signed with a CA-issued key: a partner trusting the leaf (pinning) accepts it."""
    key_pem, leaf_pem, _ca = _ca_issued_pem()
    identity = agency.import_identity(session_a, key_pem, b"pem-pass", leaf_pem)
    sig = agency.agency_signer(session_a).sign_detached(CONTENT)
    assert cms.verify_detached(sig, CONTENT, [identity.certificate]) == identity.certificate
    with pytest.raises(RefusedInput, match="unknown certificate"):
        cms.verify_detached(sig, CONTENT, [x509.load_pem_x509_certificate(_ca)])
