"""age X25519 identities and recipients, and small age-encrypted values (keys wrapped for a user's box key).

Our own age v1 (``crypto/agev1/``) does the work; the files are standard age, which ``age`` and pyrage
read too (tests check both directions)."""

from __future__ import annotations

from icspa_desktop.crypto import agev1
from icspa_desktop.domain.errors import RefusedInput, _


def generate_identity() -> tuple[str, str]:
    """A new identity as (secret ``AGE-SECRET-KEY-1…``, recipient ``age1…``)."""
    return agev1.generate_identity()


def check_recipient(text: str) -> str:
    text = text.strip()
    try:
        agev1.parse_recipient(text)
    except agev1.KeyFormatError:
        raise RefusedInput(_("{start}… is not an age X25519 recipient (age1…).", start=repr(text[:20]))) from None
    return text


def check_identity(secret: str) -> str:
    """``secret`` if it is an age X25519 secret key (ValueError otherwise; the message never quotes it)."""
    agev1.parse_identity(secret.strip())
    return secret.strip()


def seal_to(recipient: str, plaintext: bytes) -> bytes:
    """``plaintext`` as an age file for ``recipient`` (small values: keys)."""
    return agev1.encrypt(plaintext, [recipient])


def open_with(secret: str, sealed: bytes) -> bytes | None:
    """The plaintext of an age file for ``secret``; None when it is not for this identity or damaged."""
    try:
        return agev1.decrypt(sealed, [secret])
    except agev1.AgeError:
        return None
