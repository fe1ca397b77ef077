"""Detached CMS: our signatures pass `openssl cms -verify`; openssl's pass ours; every tampering fails."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
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


def test_changed_content(pair) -> None:
    key, cert = pair
    with pytest.raises(RefusedInput, match="changed after signing"):
        cms.verify_detached(cms.sign_detached(CONTENT, cert, key), CONTENT[:-1], [cert])


def test_unknown_signer(pair) -> None:
    key, cert = pair
    other_key = certs.generate_key()
    other = certs.self_signed(other_key, "Other", "FR")
    with pytest.raises(RefusedInput, match="unknown certificate"):
        cms.verify_detached(cms.sign_detached(CONTENT, cert, key), CONTENT, [other])


def test_every_flip_in_signer_info_is_refused(pair) -> None:
    """The SignerInfo (signed attributes and the ECDSA signature) ends the DER: every bit there matters."""
    key, cert = pair
    sig = cms.sign_detached(CONTENT, cert, key)
    for pos in range(len(sig) - 90, len(sig)):
        damaged = bytearray(sig)
        damaged[pos] ^= 0x01
        with pytest.raises(RefusedInput):
            cms.verify_detached(bytes(damaged), CONTENT, [cert])


def test_garbage_and_expired(pair) -> None:
    key, cert = pair
    with pytest.raises(RefusedInput, match="not a CMS signature"):
        cms.verify_detached(b"\x30\x03garbage", CONTENT, [cert])
    old = certs.self_signed(key, "Old", "NL", validity_days=1, now=datetime.now(UTC) - timedelta(days=10))
    with pytest.raises(RefusedInput, match="expired"):
        cms.verify_detached(cms.sign_detached(CONTENT, old, key), CONTENT, [old])
    # A signature made while the certificate was valid checks out at that time.
    assert cms.verify_detached(cms.sign_detached(CONTENT, old, key), CONTENT, [old],
                               at=datetime.now(UTC) - timedelta(days=9, hours=12)) == old
