"""Subkeys of the vault master key, derived with HKDF-SHA256 (RFC 5869) and a purpose label each."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_LEN = 32


def new_master_key() -> bytes:
    return os.urandom(MASTER_KEY_LEN)


def derive_subkey(master_key: bytes, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose; purposes are fixed strings like ``icspa/v1/sqlcipher``."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(master_key)


PURPOSE_SQLCIPHER = "icspa/v1/sqlcipher"
PURPOSE_BLOB_KEYS = "icspa/v1/blob-key-wrap"
PURPOSE_AGENCY_KEYS = "icspa/v1/agency-key-wrap"
# A check value of the master key the database content belongs to (settings 'vault.key_check'), so a
# master-key rotation interrupted between its commit and the SQLCipher rekey is finished at unlock.
PURPOSE_KEY_CHECK = "icspa/v1/key-check"


def check_value(master_key: bytes) -> str:
    """A one-way check value of a master key (SHA-256 of an HKDF subkey): tells which key is current."""
    return hashlib.sha256(derive_subkey(master_key, PURPOSE_KEY_CHECK)).hexdigest()
