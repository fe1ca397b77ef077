"""age v1 (age-encryption.org/v1, c2sp.org/age) with X25519 recipients, streaming both ways.

Our own implementation of the file format over the primitives of ``cryptography`` (X25519, HKDF-SHA-256,
HMAC-SHA-256, ChaCha20-Poly1305); only Bech32, an encoding, is written here. Why not pyrage: it encrypts
at ~0.3 GB/s holding the GIL, while ``cryptography``'s ChaCha20-Poly1305 runs at several GB/s per core and
releases the GIL, so the bundle writer's hashing and disk writes overlap with encryption on another core.
The output is byte-for-byte what any age v1 implementation reads (``age -d``, rage, pyrage); tests check
both directions against the ``age`` CLI and pyrage, and every applicable C2SP CCTV vector.

Not supported, refused with a clear error: passphrase (scrypt) files, ASCII armor, plugin and post-quantum
recipient types (their stanzas are skipped, as the spec requires, so a file for several types still opens).

Layout of a file: a text header (version line, one stanza per recipient wrapping a random 16-byte file
key, an HMAC over the header under a key derived from the file key), then a 16-byte nonce and the payload
in 64 KiB chunks, each sealed with ChaCha20-Poly1305 under a payload key derived from file key and nonce;
the chunk nonce is an 11-byte big-endian counter and a last-chunk flag byte, so truncation, reordering and
appending are all detected. Memory is bounded whatever the size: one batch of chunks on each side.

The modules follow that layout: ``header`` (stanzas, MAC and nonce, written and parsed; it hands the payload
only its cipher), ``payload`` (the chunk stream: ``Encryptor``, ``Decryptor``), ``keys`` and ``bech32``
(the ``age1…`` and ``AGE-SECRET-KEY-1…`` strings), ``errors``. Callers use this package's names.
"""

from __future__ import annotations

from icspa_desktop.crypto.agev1.bech32 import Bech32Error, bech32_decode, bech32_encode
from icspa_desktop.crypto.agev1.errors import (
    AgeError,
    HeaderError,
    HeaderMacMismatch,
    InvalidIdentity,
    InvalidRecipient,
    KeyFormatError,
    NoMatchingIdentity,
    NotAgeFile,
    PassphraseEncrypted,
    PayloadError,
    Truncated,
    message,
)
from icspa_desktop.crypto.agev1.header import MAX_STANZAS
from icspa_desktop.crypto.agev1.keys import (
    encode_identity,
    encode_recipient,
    generate_identity,
    parse_identity,
    parse_recipient,
    recipient_of,
)
from icspa_desktop.crypto.agev1.payload import (
    BATCH_CHUNKS,
    CHUNK_SIZE,
    Decryptor,
    Encryptor,
    decrypt,
    decrypt_io,
    encrypt,
)

__all__ = [
    "BATCH_CHUNKS",
    "CHUNK_SIZE",
    "MAX_STANZAS",
    "AgeError",
    "Bech32Error",
    "Decryptor",
    "Encryptor",
    "HeaderError",
    "HeaderMacMismatch",
    "InvalidIdentity",
    "InvalidRecipient",
    "KeyFormatError",
    "NoMatchingIdentity",
    "NotAgeFile",
    "PassphraseEncrypted",
    "PayloadError",
    "Truncated",
    "bech32_decode",
    "bech32_encode",
    "decrypt",
    "decrypt_io",
    "encode_identity",
    "encode_recipient",
    "encrypt",
    "generate_identity",
    "message",
    "parse_identity",
    "parse_recipient",
    "recipient_of",
]
