"""Detached CMS SignedData (RFC 5652): sign with `cryptography`, verify with asn1crypto parsing.

`cryptography` signs CMS but has no verification API, so verification is done here step by step:
parse the SignedData, find the signer among the *trusted* certificates (trust comes from confirmed
partner cards or our own identity, never from certificates inside the signature), compare the
messageDigest attribute with the content's digest, verify the signature over the DER SET OF signed
attributes with the certificate's key, and check the certificate's validity period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs7

from icspa_desktop.crypto.x509 import SigningKey, check_validity
from icspa_desktop.domain.errors import RefusedInput

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
MAX_SIGNATURE_BYTES = 1 << 20


def sign_detached(content: bytes, certificate: x509.Certificate, private_key: SigningKey) -> bytes:
    """DER detached SignedData over ``content`` (binary mode), the certificate included."""
    digest = hashes.SHA384() if private_key.curve.key_size >= 384 else hashes.SHA256()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, private_key, digest)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def _matches(cert: x509.Certificate, sid: acms.SignerIdentifier) -> bool:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"].dump()
        serial = int(sid.chosen["serial_number"].native)
        return cert.issuer.public_bytes() == issuer and cert.serial_number == serial
    if sid.name == "subject_key_identifier":
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return bool(ski == sid.chosen.native)
    return False


def verify_detached(signature_der: bytes, content: bytes, trusted: Sequence[x509.Certificate],
                    at: datetime | None = None) -> x509.Certificate:
    """The trusted certificate that made ``signature_der`` over ``content``; RefusedInput otherwise."""
    untrusted = signature_der
    if len(untrusted) > MAX_SIGNATURE_BYTES:
        raise RefusedInput("The signature file is too large to be a CMS signature.")
    try:
        info = acms.ContentInfo.load(untrusted)
        if info["content_type"].native != "signed_data":
            raise ValueError("not signed data")
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        encapsulated = signed["encap_content_info"]["content"].native
    except (ValueError, TypeError, KeyError):
        raise RefusedInput("That is not a CMS signature (cannot parse the SignedData).") from None
    if encapsulated is not None:
        raise RefusedInput("The CMS signature is not detached (it embeds content).")
    if len(signer_infos) != 1:
        raise RefusedInput(f"The CMS signature has {len(signer_infos)} signers; exactly one is expected.")
    signer = signer_infos[0]
    cert = next((c for c in trusted if _matches(c, signer["sid"])), None)
    if cert is None:
        raise RefusedInput("The signature was made by an unknown certificate (not a trusted agency key).")
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise RefusedInput(f"The signature uses an unsupported digest algorithm {digest_name!r}.")
    signed_attrs = signer["signed_attrs"]
    if not signed_attrs:
        raise RefusedInput("The CMS signature has no signed attributes; it is refused.")
    message_digest = None
    content_type = None
    for attr in signed_attrs:
        if attr["type"].native == "message_digest":
            message_digest = attr["values"][0].native
        elif attr["type"].native == "content_type":
            content_type = attr["values"][0].native
    if content_type != "data":
        raise RefusedInput("The CMS signature does not cover plain data content.")
    if message_digest != hashlib.new(digest_name, content).digest():
        raise RefusedInput("The signed content does not match: it was changed after signing.")
    # The signature covers the DER encoding of the attributes as a SET OF (tag 0x31), not [0] IMPLICIT.
    to_verify = b"\x31" + signed_attrs.dump()[1:]
    signature = signer["signature"].native
    public = cert.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, to_verify, ec.ECDSA(_HASHES[digest_name]()))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, to_verify)
        else:
            raise RefusedInput("The signing certificate's key type is not accepted.")
    except InvalidSignature:
        raise RefusedInput("The CMS signature is not valid (bad signature).") from None
    check_validity(cert, at or datetime.now(UTC), "The signing certificate")
    return cert
