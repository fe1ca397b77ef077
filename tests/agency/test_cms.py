"""Detached CMS: our signatures pass `openssl cms -verify`; openssl's pass ours; every tampering fails.

Fresh keys only where a test signs; the tampered and foreign signatures are committed files."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from icspa_desktop.crypto import cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.errors import RefusedInput
from tests.tools import needs

CONTENT = b"tagmanifest line 1\nline 2 \xe2\x82\xac\n"
needs_openssl = needs("openssl")  # fails, never skips, when missing (tests/tools.py)


@pytest.fixture(scope="module")
def pair() -> tuple[certs.SigningKey, object]:
    key = certs.generate_key()
    return key, certs.self_signed(key, "Test Police", "NL", "Cyber")


def test_round_trip(pair) -> None:
    key, cert = pair
    sig = cms.sign_detached(CONTENT, cert, key)
    assert cms.verify_detached(sig, CONTENT, [cert]) == cert


@needs_openssl
def test_openssl_accepts_ours(pair, tmp_path: Path) -> None:
    key, cert = pair
    (tmp_path / "c.pem").write_text(certs.cert_pem(cert))
    (tmp_path / "data").write_bytes(CONTENT)
    (tmp_path / "s.p7s").write_bytes(cms.sign_detached(CONTENT, cert, key))
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "s.p7s", "-content",
                             "data", "-CAfile", "c.pem", "-purpose", "any", "-out", "/dev/null"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    (tmp_path / "data").write_bytes(CONTENT + b"x")
    tampered = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "s.p7s", "-content",
                               "data", "-CAfile", "c.pem", "-purpose", "any", "-out", "/dev/null"],
                              cwd=tmp_path, capture_output=True, text=True, check=False)
    assert tampered.returncode != 0


@needs_openssl
def test_ours_accepts_openssl(pair, tmp_path: Path) -> None:
    key, cert = pair
    (tmp_path / "c.pem").write_text(certs.cert_pem(cert))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "data").write_bytes(CONTENT)
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", "data", "-signer", "c.pem", "-inkey", "k.pem",
                    "-outform", "DER", "-out", "o.p7s"], cwd=tmp_path, check=True, capture_output=True)
    assert cms.verify_detached((tmp_path / "o.p7s").read_bytes(), CONTENT, [cert]) == cert


# ---- the committed signatures of tests/data/cards/cms/ (made by tests/data/cards/make_cards.py) ------------
FIXTURES = Path(__file__).resolve().parent.parent / "data" / "cards" / "cms"


def _pem(name: str) -> x509.Certificate:
    return certs.load_certificate((FIXTURES / f"{name}.pem").read_bytes())


def _p7s(name: str) -> bytes:
    return (FIXTURES / f"{name}.p7s").read_bytes()


def test_committed_signature_verifies() -> None:
    content = (FIXTURES / "content.txt").read_bytes()
    assert content == CONTENT
    signer = _pem("signer")
    assert cms.verify_detached(_p7s("good"), content, [signer]) == signer
    cert, signed_at = cms.verify_detached_signed_at(_p7s("good"), content, [signer])
    assert cert == signer and datetime(2026, 1, 1, tzinfo=UTC) <= signed_at <= datetime.now(UTC)


def test_changed_content() -> None:
    with pytest.raises(RefusedInput, match="changed after signing"):
        cms.verify_detached(_p7s("good"), CONTENT[:-1], [_pem("signer")])
    with pytest.raises(RefusedInput, match="changed after signing"):
        cms.verify_detached(_p7s("good"), CONTENT + b"\n", [_pem("signer")])


def test_unknown_signer() -> None:
    with pytest.raises(RefusedInput, match="unknown certificate"):
        cms.verify_detached(_p7s("other-signer"), CONTENT, [_pem("signer")])
    with pytest.raises(RefusedInput, match="unknown certificate"):
        cms.verify_detached(_p7s("good"), CONTENT, [_pem("other-signer")])
    assert cms.verify_detached(_p7s("other-signer"), CONTENT, [_pem("signer"), _pem("other-signer")]) == \
        _pem("other-signer")


@pytest.mark.parametrize("name", ["flipped-signature", "flipped-attribute", "truncated"])
def test_tampered_files_are_refused(name: str) -> None:
    with pytest.raises(RefusedInput):
        cms.verify_detached(_p7s(name), CONTENT, [_pem("signer")])


def test_every_flip_in_signer_info_is_refused() -> None:
    """The SignerInfo (signed attributes and the ECDSA signature) ends the DER: every bit there matters."""
    sig = _p7s("good")
    for pos in range(len(sig) - 90, len(sig)):
        damaged = bytearray(sig)
        damaged[pos] ^= 0x01
        with pytest.raises(RefusedInput):
            cms.verify_detached(bytes(damaged), CONTENT, [_pem("signer")])


def test_garbage_and_expired() -> None:
    with pytest.raises(RefusedInput, match="not a CMS signature"):
        cms.verify_detached(b"\x30\x03garbage", CONTENT, [_pem("signer")])
    old = _pem("expired-signer")
    with pytest.raises(RefusedInput, match="expired on 2025-01-02"):
        cms.verify_detached(_p7s("expired-signer"), CONTENT, [old])
    # Checked at a time the certificate was valid, the signature itself is sound.
    assert cms.verify_detached(_p7s("expired-signer"), CONTENT, [old], at=datetime(2025, 1, 1, 12, tzinfo=UTC)) == old
