"""Detached CMS SignedData (RFC 5652): sign with `cryptography`, verify with asn1crypto parsing.

`cryptography` signs CMS but has no verification API, so verification is done here step by step:
parse the SignedData, find the signer among the *trusted* certificates (trust comes from confirmed
partner cards or our own identity, never from certificates inside the signature), compare the
messageDigest attribute with the content's digest, verify the signature over the DER SET OF signed
attributes with the certificate's key, and check the certificate's validity period.

The signed attributes follow RFC 5652 §5.3 and §11: exactly one content-type and one message-digest
attribute, each with exactly one value, and the content-type equal to the eContentType. OpenSSL 3
enforces the same, except the last rule (``tests/foundation/test_cms_attributes.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs7

from icspa_desktop.crypto.x509 import SigningKey, check_validity
from icspa_desktop.domain.errors import RefusedInput, _
from icspa_desktop.i18n import N_

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
# signatureAlgorithm of a SignerInfo -> the digest it names (None: given by digestAlgorithm).
_ECDSA_ALGORITHMS: dict[str, str | None] = {
    "ecdsa": None, "sha256_ecdsa": "sha256", "sha384_ecdsa": "sha384", "sha512_ecdsa": "sha512",
}
MAX_SIGNATURE_BYTES = 1 << 20
CLOCK_SKEW = timedelta(days=1)


def sign_detached(content: bytes, certificate: x509.Certificate, private_key: SigningKey) -> bytes:
    """DER detached SignedData over ``content`` (binary mode), the certificate included."""
    digest = hashes.SHA384() if private_key.curve.key_size >= 384 else hashes.SHA256()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, private_key, digest)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


@dataclass(frozen=True, slots=True)
class _SignerFields:
    """Everything verification needs from the SignerInfo, parsed up front into plain values."""

    issuer_der: bytes | None
    serial: int | None
    subject_key_id: bytes | None
    digest_name: str
    signature_algorithm: str
    message_digest: bytes
    content_type: str  # equal to the eContentType (checked in _parse)
    signed_attrs_der: bytes
    signature: bytes
    signing_time: datetime | None  # the signed signingTime attribute, when present


def _matches(cert: x509.Certificate, fields: _SignerFields) -> bool:
    if fields.issuer_der is not None:
        return cert.issuer.public_bytes() == fields.issuer_der and cert.serial_number == fields.serial
    if fields.subject_key_id is not None:
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return bool(ski == fields.subject_key_id)
    return False


def _parse(untrusted: bytes) -> _SignerFields:
    """The one SignerInfo of a detached SignedData; RefusedInput for anything else or anything damaged.

    asn1crypto parses lazily, so every field is read here, inside one guard, never later.
    """
    try:
        info = acms.ContentInfo.load(untrusted)
        if info["content_type"].native != "signed_data":
            raise RefusedInput(_("That CMS structure is not a signature (not SignedData)."))
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        if signed["encap_content_info"]["content"].native is not None:
            raise RefusedInput(_("The CMS signature is not detached (it embeds content)."))
        if len(signer_infos) != 1:
            raise RefusedInput(_("The CMS signature has {n} signers; exactly one is expected.", n=len(signer_infos)))
        signer = signer_infos[0]
        sid = signer["sid"]
        issuer_der = serial = ski = None
        expected_version = "v1" if sid.name == "issuer_and_serial_number" else "v3"  # RFC 5652 §5.3
        if signer["version"].native != expected_version:
            raise RefusedInput(_("The CMS SignerInfo has the wrong version for its signer identifier."))
        if sid.name == "issuer_and_serial_number":
            issuer_der = sid.chosen["issuer"].dump()
            serial = int(sid.chosen["serial_number"].native)
        elif sid.name == "subject_key_identifier":
            ski = bytes(sid.chosen.native)
        for algorithm in (signer["digest_algorithm"], signer["signature_algorithm"]):
            # Parameters are absent or NULL for SHA-2, ECDSA and Ed25519; anything else is damage.
            if algorithm["parameters"].dump() not in (b"", b"\x05\x00"):
                raise RefusedInput(_("The CMS signature has unexpected algorithm parameters."))
        signed_attrs = signer["signed_attrs"]
        if not signed_attrs:
            raise RefusedInput(_("The CMS signature has no signed attributes; it is refused."))
        econtent_type = str(signed["encap_content_info"]["content_type"].native)
        message_digest: bytes | None = None
        content_type: str | None = None
        signing_time: datetime | None = None
        for attr in signed_attrs:
            kind = attr["type"].native
            if kind == "message_digest":
                if message_digest is not None:
                    raise RefusedInput(_("The CMS signature carries two message-digest attributes."))
                if len(attr["values"]) != 1:
                    raise RefusedInput(_("The CMS signature's message-digest attribute has {n} values; exactly one "
                                         "is allowed.", n=len(attr["values"])))
                message_digest = bytes(attr["values"][0].native)
            elif kind == "content_type":
                # RFC 5652 §5.3: at most one content-type attribute; §11.1: with exactly one value.
                if content_type is not None:
                    raise RefusedInput(_("The CMS signature carries two content-type attributes."))
                if len(attr["values"]) != 1:
                    raise RefusedInput(_("The CMS signature's content-type attribute has {n} values; exactly one is "
                                         "allowed.", n=len(attr["values"])))
                content_type = str(attr["values"][0].native)
            elif kind == "signing_time":
                if signing_time is not None or len(attr["values"]) != 1:
                    raise RefusedInput(_("The CMS signature carries more than one signing time."))
                moment = attr["values"][0].native
                if not isinstance(moment, datetime):
                    raise RefusedInput(_("The CMS signature has an unreadable signing time."))
                signing_time = moment.astimezone(UTC)
        if message_digest is None:
            raise RefusedInput(_("The CMS signature has no message-digest attribute; it is refused."))
        if content_type is None:
            raise RefusedInput(_("The CMS signature has no content-type attribute; it is refused."))
        if content_type != econtent_type:  # RFC 5652 §11.1: the attribute must name the signed content's type
            raise RefusedInput(_("The CMS signature's content-type attribute ({content_type}) differs from the "
                                 "type of the signed content ({signed_type}).", content_type=content_type,
                                 signed_type=econtent_type))
        return _SignerFields(
            issuer_der=issuer_der, serial=serial, subject_key_id=ski,
            digest_name=str(signer["digest_algorithm"]["algorithm"].native),
            signature_algorithm=str(signer["signature_algorithm"]["algorithm"].native), message_digest=message_digest,
            content_type=content_type,
            # The signature covers the attributes' DER as a SET OF (tag 0x31), not as [0] IMPLICIT.
            signed_attrs_der=b"\x31" + signed_attrs.dump()[1:], signature=bytes(signer["signature"].native),
            signing_time=signing_time,
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        raise RefusedInput(_("That is not a CMS signature (cannot parse the SignedData).")) from None


def verify_detached(signature_der: bytes, content: bytes, trusted: Sequence[x509.Certificate],
                    at: datetime | None = None) -> x509.Certificate:
    """The trusted certificate that made ``signature_der`` over ``content``; RefusedInput otherwise.

    Trust is exact pinning: the signer must be one of ``trusted`` (our own certificates, or partners'
    confirmed by fingerprint); certificates carried inside the signature are ignored.
    ``at`` (default now) is the time at which the certificate must have been valid.
    """
    cert, _fields = _verify(signature_der, content, trusted)
    check_validity(cert, at or datetime.now(UTC), N_("The signing certificate"))
    return cert


def verify_detached_signed_at(signature_der: bytes, content: bytes, trusted: Sequence[x509.Certificate],
                              now: datetime | None = None) -> tuple[x509.Certificate, datetime]:
    """Like ``verify_detached``, with the certificate checked at the signed signingTime, which is returned.

    For what arrives later than it was signed (a bundle sent before the sender's certificate expired is
    still theirs). A signature without a signing time, or one dated in the future (beyond a day of clock
    skew), is refused. Revocation is not a matter of time: the caller refuses revoked keys whatever the date.
    """
    cert, fields = _verify(signature_der, content, trusted)
    if fields.signing_time is None:
        raise RefusedInput(_("The CMS signature has no signing time, so the signer's key cannot be checked at it."))
    now = now or datetime.now(UTC)
    if fields.signing_time > now + CLOCK_SKEW:
        raise RefusedInput(_("The CMS signature claims to be made in the future ({moment:%Y-%m-%d %H:%M} UTC); "
                             "the sender's clock or the signature is wrong.", moment=fields.signing_time))
    check_validity(cert, fields.signing_time, N_("The signing certificate (at the time it signed)"))
    return cert, fields.signing_time


def _verify(signature_der: bytes, content: bytes,
            trusted: Sequence[x509.Certificate]) -> tuple[x509.Certificate, _SignerFields]:
    """The signature checks shared by both entry points, everything but the certificate's validity period."""
    if len(signature_der) > MAX_SIGNATURE_BYTES:
        raise RefusedInput(_("The signature file is too large to be a CMS signature."))
    fields = _parse(signature_der)
    cert = next((c for c in trusted if _matches(c, fields)), None)
    if cert is None:
        raise RefusedInput(_("The signature was made by an unknown certificate (not a trusted agency key)."))
    if fields.digest_name not in _HASHES:
        raise RefusedInput(_("The signature uses an unsupported digest algorithm {algorithm}.",
                             algorithm=repr(fields.digest_name)))
    if fields.content_type != "data":
        raise RefusedInput(_("The CMS signature does not cover plain data content."))
    if fields.message_digest != hashlib.new(fields.digest_name, content).digest():
        raise RefusedInput(_("The signed content does not match: it was changed after signing."))
    public = cert.public_key()
    algorithm = fields.signature_algorithm
    if isinstance(public, ec.EllipticCurvePublicKey):
        if algorithm not in _ECDSA_ALGORITHMS or _ECDSA_ALGORITHMS[algorithm] not in (None, fields.digest_name):
            raise RefusedInput(_("The signature algorithm {algorithm} does not fit the signer's ECDSA key.",
                                 algorithm=repr(algorithm)))
    elif isinstance(public, ed25519.Ed25519PublicKey) and algorithm != "ed25519":
        raise RefusedInput(_("The signature algorithm {algorithm} does not fit the signer's Ed25519 key.",
                             algorithm=repr(algorithm)))
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(fields.signature, fields.signed_attrs_der, ec.ECDSA(_HASHES[fields.digest_name]()))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(fields.signature, fields.signed_attrs_der)
        else:
            raise RefusedInput(_("The signing certificate's key type is not accepted."))
    except InvalidSignature:
        raise RefusedInput(_("The CMS signature is not valid (bad signature).")) from None
    return cert, fields
