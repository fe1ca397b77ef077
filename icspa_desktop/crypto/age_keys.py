"""age X25519 identities and recipients (via pyrage)."""

from __future__ import annotations

import pyrage

from icspa_desktop.domain.errors import RefusedInput


def generate_identity() -> tuple[str, str]:
    """A new identity as (secret ``AGE-SECRET-KEY-1…``, recipient ``age1…``)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def check_recipient(text: str) -> str:
    text = text.strip()
    try:
        pyrage.x25519.Recipient.from_str(text)
    except Exception:  # pyrage raises its own RecipientError and others
        raise RefusedInput(f"{text[:20]!r}… is not an age X25519 recipient (age1…).") from None
    return text


def identity_from_str(secret: str) -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.from_str(secret)
