"""Small-secret sealing with AES-256-GCM: key wrapping of the master and signing keys.

Envelope: ``version (1 byte) || nonce (12) || ciphertext+tag``. The associated data binds the
envelope to where it is used (slot id, purpose), so a wrapped key cannot be moved to another slot.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE_V1 = 1
SUPPORTED_ENVELOPES = frozenset({ENVELOPE_V1})
NONCE_LEN = 12


class SealError(Exception):
    """Wrong key or damaged envelope (the two cannot be told apart by design)."""


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_LEN)
    return bytes([ENVELOPE_V1]) + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, envelope: bytes, associated_data: bytes) -> bytes:
    if len(envelope) < 1 + NONCE_LEN + 16 or envelope[0] not in SUPPORTED_ENVELOPES:
        raise SealError("unknown or truncated envelope")
    nonce = envelope[1 : 1 + NONCE_LEN]
    try:
        return AESGCM(key).decrypt(nonce, envelope[1 + NONCE_LEN :], associated_data)
    except InvalidTag as exc:
        raise SealError("authentication failed") from exc
