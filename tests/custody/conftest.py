"""Custody fixtures: an agency checkpoint signer and verifier, populated vaults, raw SQL access."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from icspa_desktop.custody.checkpoints import SignatureVerifier
from icspa_desktop.domain.errors import RefusedInput
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import Session


@dataclass
class TestSigner:
    """A P-384 agency certificate signing detached CMS, as services.agency does."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def sign_detached(self, content: bytes) -> bytes:
        return (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(self.certificate, self.key, hashes.SHA384())
                .sign(serialization.Encoding.DER,
                      [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))


def make_test_signer(name: str = "Test Police") -> TestSigner:
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA384()))
    return TestSigner(cert, key)


def openssl_verifier(cert: x509.Certificate) -> SignatureVerifier:
    """Verify with `openssl cms -verify` (the command partners use)."""

    def check(signature: bytes, content: bytes, at: dt.datetime) -> x509.Certificate:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "sig").write_bytes(signature)
            (d / "content").write_bytes(content)
            (d / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(d / "sig"),
                                   "-content", str(d / "content"), "-CAfile", str(d / "ca.pem"), "-purpose", "any",
                                   "-out", "/dev/null"], capture_output=True, check=False)
        if done.returncode != 0:
            raise RefusedInput("the CMS signature does not verify")
        return cert

    return check


@dataclass
class Agency:
    signer: Any
    verifier: SignatureVerifier
    witness_dir: Path


def _real_agency(session: Session) -> tuple[Any, SignatureVerifier] | None:
    try:
        from icspa_desktop.services import agency  # noqa: F401
    except ImportError:
        return None
    return custody_service.agency_signer(session), custody_service.agency_verifier(session)


@pytest.fixture
def agency(admin: Session, tmp_path: Path) -> Agency:
    real = _real_agency(admin)
    if real is not None:
        return Agency(real[0], real[1], tmp_path / "witness")
    signer = make_test_signer()
    return Agency(signer, openssl_verifier(signer.certificate), tmp_path / "witness")


def add_cases(session: Session, count: int, prefix: str = "C") -> list[str]:
    numbers = []
    for i in range(count):
        number = f"{prefix}-{i:03d}"
        cases.create_case(session, CaseFields(number=number, title=f"Case {i}", legal_authority=f"W-{i}"))
        numbers.append(number)
    return numbers


Verify = Callable[..., custody_service.VerifyReport]


@pytest.fixture
def verify(admin: Session, agency: Agency) -> Iterator[Verify]:
    def run(session: Session | None = None, **kwargs: Any) -> custody_service.VerifyReport:
        return custody_service.verify(session or admin, verifier=agency.verifier, witness_dir=agency.witness_dir,
                                      **kwargs)

    return run


@pytest.fixture
def checkpoint(admin: Session, agency: Agency) -> Callable[..., custody_service.StoredCheckpoint]:
    def make(session: Session | None = None, **kwargs: Any) -> custody_service.StoredCheckpoint:
        return custody_service.make_checkpoint(session or admin, signer=agency.signer, witness_dir=agency.witness_dir,
                                               **kwargs)

    return make
