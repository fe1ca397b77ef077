"""A rough passphrase strength hint (a guide for the user, not a security check)."""

from __future__ import annotations

import math
import string

from icspa_desktop.i18n import _
from icspa_desktop.services.session import MIN_PASSPHRASE_LEN

_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


def estimate_bits(passphrase: str) -> float:
    """Length × log2(alphabet), discounted for repeated characters; generous to long word lists."""
    if not passphrase:
        return 0.0
    alphabet = sum(len(chars) for chars in _CLASSES if any(ch in chars for ch in passphrase))
    if any(not ch.isalnum() for ch in passphrase):
        alphabet += 33
    distinct = len(set(passphrase)) / len(passphrase)
    return len(passphrase) * math.log2(max(alphabet, 2)) * min(1.0, 0.35 + distinct)


def strength_hint(passphrase: str) -> tuple[int, str]:
    """(0–4, text) for the wizard and passphrase dialogs."""
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        return 0, _("Too short: use at least {n} characters.", n=MIN_PASSPHRASE_LEN)
    bits = estimate_bits(passphrase)
    if bits < 45:
        return 1, _("Weak: add more words or characters.")
    if bits < 65:
        return 2, _("Fair: a few more words would make it much harder to guess.")
    if bits < 90:
        return 3, _("Good.")
    return 4, _("Strong.")
