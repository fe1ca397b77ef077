"""Agency certificates: ECDSA P-384 self-signed by default, or imported (PEM, PKCS#12)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from icspa_desktop.domain.errors import RefusedInput, _
from icspa_desktop.i18n import N_

SigningKey = ec.EllipticCurvePrivateKey
ACCEPTED_CURVES = ("secp384r1", "secp256r1")
DEFAULT_VALIDITY_DAYS = 3 * 365


def generate_key() -> SigningKey:
    return ec.generate_private_key(ec.SECP384R1())


def self_signed(key: SigningKey, name: str, country: str, unit: str = "",
                validity_days: int = DEFAULT_VALIDITY_DAYS, now: datetime | None = None) -> x509.Certificate:
    """A self-signed certificate that ``openssl cms -verify -CAfile cert.pem -purpose any`` accepts."""
    now = now or datetime.now(UTC)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name), x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if country:
        attrs.insert(0, x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    subject = x509.Name(attrs)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA384())
    )


def key_description(public_key: object) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA {public_key.curve.name}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(public_key).__name__.removeprefix("_").replace("PublicKey", "")


def check_key_type(cert: x509.Certificate) -> None:
    """Partners' and our certificates must use P-384, P-256 or Ed25519."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise RefusedInput(_("The certificate's public key is of an unknown or damaged type; only ECDSA P-384, "
                             "P-256 or Ed25519 keys are accepted.")) from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ACCEPTED_CURVES:
        return
    kind = key_description(key)
    if kind[:1] in ("A", "E", "I", "O", "R"):  # "an RSA", "an ECDSA", "a DSA"
        raise RefusedInput(_("The certificate uses an {kind} key; only ECDSA P-384, P-256 or Ed25519 keys are "
                             "accepted.", kind=kind))
    raise RefusedInput(_("The certificate uses a {kind} key; only ECDSA P-384, P-256 or Ed25519 keys are accepted.",
                         kind=kind))


# What callers name the certificate they check (``check_validity``'s ``what``), translated when shown.
CERTIFICATE_KINDS = (N_("The certificate"), N_("The agency card's certificate"))


def check_validity(cert: x509.Certificate, at: datetime | None = None, what: str = N_("The certificate")) -> None:
    """RefusedInput unless ``at`` (default now) lies in the certificate's validity period (``what``: marked with
    ``N_``, translated here)."""
    at = at or datetime.now(UTC)
    if at < cert.not_valid_before_utc:
        raise RefusedInput(_("{what} is not valid before {moment:%Y-%m-%d %H:%M} UTC.", what=_(what),
                             moment=cert.not_valid_before_utc))
    if at > cert.not_valid_after_utc:
        raise RefusedInput(_("{what} expired on {moment:%Y-%m-%d} UTC.", what=_(what), moment=cert.not_valid_after_utc))


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes; RefusedInput for anything else."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):  # a damaged version field raises InvalidVersion, not ValueError
        raise RefusedInput(_("That is not an X.509 certificate (expected PEM or DER).")) from None


def load_key_and_certificate(data: bytes, password: bytes | None = None,
                             cert_data: bytes | None = None) -> tuple[SigningKey, x509.Certificate]:
    """An agency's existing key and certificate: PKCS#12, or a PEM key plus a PEM certificate."""
    key: object
    cert: x509.Certificate | None
    if b"-----BEGIN" not in data:
        try:
            key, cert, _extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            raise RefusedInput(_("The PKCS#12 file cannot be read (wrong password or damaged file).")) from None
    else:
        try:
            key = serialization.load_pem_private_key(data, password)
        except (ValueError, TypeError):
            raise RefusedInput(_("The PEM private key cannot be read (wrong password or not a key).")) from None
        cert = load_certificate(cert_data if cert_data is not None else data)
    if cert is None:
        raise RefusedInput(_("The PKCS#12 file holds no certificate."))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in ACCEPTED_CURVES:
        raise RefusedInput(_("The agency signing key must be ECDSA P-384 or P-256 (CMS signatures need ECDSA)."))
    cert_key = cert.public_key()
    own = key.public_key().public_numbers()
    same = isinstance(cert_key, ec.EllipticCurvePublicKey) and cert_key.public_numbers() == own
    if not same:
        raise RefusedInput(_("The private key does not belong to the certificate."))
    check_validity(cert)
    return key, cert


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def sha256_fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert_der(cert)).hexdigest()


def key_to_pkcs8(key: SigningKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def key_from_pkcs8(data: bytes) -> SigningKey:
    key = serialization.load_der_private_key(data, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("stored agency key is not an EC key")
    return key


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()
