"""age X25519 recipients (``age1…``) and identities (``AGE-SECRET-KEY-1…``): parsed, encoded, generated."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from icspa_desktop.crypto.agev1.bech32 import Bech32Error, bech32_decode, bech32_encode
from icspa_desktop.crypto.agev1.errors import InvalidIdentity, InvalidRecipient, message
from icspa_desktop.domain.errors import _

RECIPIENT_HRP = "age"
_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(32)))  # a fixed scalar, only to test points
IDENTITY_HRP = "AGE-SECRET-KEY-"


def _other_type(hrp: str) -> str:
    kind = hrp.lower()
    if kind in {"age1pq", "age-secret-key-pq-"}:
        return _(" (a post-quantum ML-KEM key: not supported here)")
    if kind in {"age1tag", "age1tagpq"}:
        return _(" (a hardware-key tag recipient: not supported here)")
    if kind.startswith(("age1", "age-plugin-")):
        return _(" (an age plugin key: not supported here)")
    return ""


def parse_recipient(text: str) -> X25519PublicKey:
    """An ``age1…`` X25519 recipient (lower case, as age requires) as a public key; InvalidRecipient if not."""
    try:
        hrp, data = bech32_decode(text)
    except Bech32Error as exc:
        raise InvalidRecipient(_("{start}… is not an age X25519 recipient (age1…): {reason}.", start=repr(text[:12]),
                                 reason=message(exc))) from None
    if hrp != RECIPIENT_HRP:
        raise InvalidRecipient(_("{start}… is not an age X25519 recipient (age1…, lower case){other}.",
                                 start=repr(text[:12]), other=_other_type(hrp)))
    if len(data) != 32:
        raise InvalidRecipient(_("{start}… holds {size} bytes, not the 32 of an X25519 recipient.",
                                 start=repr(text[:12]), size=len(data)))
    key = X25519PublicKey.from_public_bytes(data)
    try:
        # Any clamped scalar gives the all-zero result exactly for the low-order points, which no one can
        # decrypt for (and every encryption to them fails): refuse them here, where the key is named.
        _PROBE.exchange(key)
    except ValueError:
        raise InvalidRecipient(_("{start}… is a low-order X25519 point, not a usable age recipient.",
                                 start=repr(text[:12]))) from None
    return key


def parse_identity(text: str) -> X25519PrivateKey:
    """An ``AGE-SECRET-KEY-1…`` X25519 identity (upper case, as age requires); InvalidIdentity if not.

    The messages never quote the text: it may be a secret key with a typo.
    """
    try:
        hrp, data = bech32_decode(text)
    except Bech32Error as exc:
        raise InvalidIdentity(_("The identity is not an age X25519 secret key (AGE-SECRET-KEY-1…): {reason}.",
                                reason=message(exc))) from None
    if hrp != IDENTITY_HRP:
        raise InvalidIdentity(_("The identity is not an age X25519 secret key (AGE-SECRET-KEY-1…, upper "
                                "case){other}.", other=_other_type(hrp)))
    if len(data) != 32:
        raise InvalidIdentity(_("The identity holds {size} bytes, not the 32 of an X25519 secret key.", size=len(data)))
    return X25519PrivateKey.from_private_bytes(data)


def encode_recipient(key: X25519PublicKey) -> str:
    return bech32_encode(RECIPIENT_HRP, key.public_bytes_raw())


def encode_identity(key: X25519PrivateKey) -> str:
    return bech32_encode(IDENTITY_HRP, key.private_bytes_raw()).upper()


def generate_identity() -> tuple[str, str]:
    """A new identity as (``AGE-SECRET-KEY-1…``, its recipient ``age1…``)."""
    key = X25519PrivateKey.generate()
    return encode_identity(key), encode_recipient(key.public_key())


def recipient_of(identity: str) -> str:
    return encode_recipient(parse_identity(identity).public_key())


def identity_keys(identities: Sequence[str | X25519PrivateKey]) -> list[tuple[X25519PrivateKey, bytes]]:
    """Each identity (a key, or its text parsed) with its public key's bytes, as stanzas are opened with them."""
    keys = [parse_identity(i) if isinstance(i, str) else i for i in identities]
    return [(key, key.public_key().public_bytes_raw()) for key in keys]
