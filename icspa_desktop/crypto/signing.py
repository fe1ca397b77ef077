"""Personal Ed25519 signing keys of users (RFC 8032)."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def generate() -> tuple[bytes, bytes]:
    """A new key pair as (raw private 32 bytes, raw public 32 bytes)."""
    key = Ed25519PrivateKey.generate()
    return private_bytes(key), public_bytes(key.public_key())


def private_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(private_raw: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).sign(message)


def verify(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_from_private(private_raw: bytes) -> bytes:
    return public_bytes(Ed25519PrivateKey.from_private_bytes(private_raw).public_key())


def key_fingerprint(public_raw: bytes) -> str:
    """Short id of a public key: first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]
