"""Chunked streaming AEAD: the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) with AES-256-GCM.

The nonce layout is age's (age-encryption.org/v1 payload): an 11-byte big-endian chunk counter followed by a
1-byte flag that is 0x01 on the final chunk only. Every chunk is sealed with the same per-blob random key, so
a reordered, duplicated or dropped chunk fails to authenticate (wrong counter), and a stream cut after a
non-final chunk, or extended after the final one, is detected because only the final chunk carries the flag.

Format (version 1)::

    header  = MAGIC (8) || version (1) || chunk_size (4, big-endian)
    chunk_i = AES-256-GCM(key, nonce = i (11 bytes BE) || last (1), plaintext_i, associated_data = header)

Every plaintext chunk is exactly ``chunk_size`` bytes except the final one, which holds 1..chunk_size bytes
(0 only when the whole plaintext is empty). The header is authenticated as associated data of every chunk,
so a changed version or chunk size is refused. This module works on buffers only: no files, no threads.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.i18n import N_

MAGIC = b"ICSPAst\x00"
VERSION_1 = 1
VERSION_LATEST = VERSION_1
VERSIONS_SUPPORTED = frozenset({VERSION_1})
HEADER_LEN = len(MAGIC) + 1 + 4
TAG_LEN = 16
KEY_LEN = 32
DEFAULT_CHUNK_SIZE = 1 << 20  # 1 MiB: large enough for hashlib and AES-GCM to release the GIL profitably
MIN_CHUNK_SIZE = 1 << 10
MAX_CHUNK_SIZE = 1 << 26
_COUNTER_LIMIT = 1 << 88  # 11-byte counter


class StreamError(Exception):
    """The stream is damaged, tampered with, truncated, or sealed with another key.

    The message is English: verification records it (a fixity problem's notes). ``DAMAGE.shown`` gives it in the
    reader's language where it is shown."""


_BAD_MAGIC = N_("not an encrypted evidence stream (bad magic)")
_BAD_VERSION = N_("unsupported stream version {version}")
_BAD_CHUNK_SIZE = N_("chunk size {size} in the stream header is out of range")
_AFTER_FINAL = N_("data follows the final chunk")
_IMPOSSIBLE_LENGTH = N_("a chunk has an impossible length (stream truncated or damaged)")
_SHORT_CHUNK = N_("a short chunk before the end (stream truncated or damaged)")
_EMPTY_FINAL = N_("an empty final chunk (stream truncated or damaged)")
_NOT_AUTHENTIC = N_("chunk {n} failed authentication (tampered, reordered, truncated or wrong key)")
_TRUNCATED = N_("the stream is truncated (shorter than a header and one chunk)")
DAMAGE = Phrasebook(_BAD_MAGIC, _BAD_VERSION, _BAD_CHUNK_SIZE, _AFTER_FINAL, _IMPOSSIBLE_LENGTH, _SHORT_CHUNK,
                    _EMPTY_FINAL, _NOT_AUTHENTIC, _TRUNCATED)


def encode_header(chunk_size: int, version: int = VERSION_LATEST) -> bytes:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size {chunk_size} is out of range")
    return MAGIC + struct.pack(">BI", version, chunk_size)


def parse_header(untrusted_header: bytes) -> int:
    """The chunk size of a version-1 header; StreamError for anything else (bounds checked before use)."""
    if len(untrusted_header) != HEADER_LEN or not untrusted_header.startswith(MAGIC):
        raise StreamError(_BAD_MAGIC)
    version, chunk_size = struct.unpack(">BI", untrusted_header[len(MAGIC):])
    if version not in VERSIONS_SUPPORTED:
        raise StreamError(_BAD_VERSION.format(version=version))
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise StreamError(_BAD_CHUNK_SIZE.format(size=chunk_size))
    return int(chunk_size)


def nonce(counter: int, last: bool) -> bytes:
    if not 0 <= counter < _COUNTER_LIMIT:
        raise StreamError("stream chunk counter overflow")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def ciphertext_size(plain_size: int, chunk_size: int) -> int:
    """Total bytes of header plus sealed chunks for a plaintext of ``plain_size`` bytes."""
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_LEN + plain_size + chunks * TAG_LEN


class StreamEncryptor:
    """Seals chunks in order into caller-owned buffers (``encrypt_into``: no allocation per chunk)."""

    def __init__(self, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if len(key) != KEY_LEN:
            raise ValueError("stream key must be 32 bytes")
        self.header = encode_header(chunk_size)
        self.chunk_size = chunk_size
        self._aead = AESGCM(key)
        self._aes = algorithms.AES(key)
        self._counter = 0
        self._finished = False

    def seal_into(self, plaintext: memoryview | bytes | bytearray, last: bool, out: memoryview | bytearray) -> int:
        """Seal the next chunk into ``out`` (at least len(plaintext) + 16 bytes); returns bytes written."""
        size = self._check_next(len(plaintext), last)
        target = memoryview(out)[: size + TAG_LEN]
        self._aead.encrypt_into(nonce(self._counter, last), plaintext, self.header, target)
        return self._sealed(size, last)

    def seal_parts_into(self, parts: Sequence[memoryview], last: bool, out: memoryview) -> int:
        """Seal the next chunk, given as consecutive parts (e.g. where it lies across two buffers), into ``out``,
        which must have room for the chunk + 31 bytes (OpenSSL's incremental GCM asks a block's slack per part).
        The same AES-GCM as ``seal_into``, fed part by part: the sealed bytes are identical, and no part is copied
        to make the chunk contiguous. Returns bytes written."""
        if len(parts) == 1:
            return self.seal_into(parts[0], last, out)
        size = self._check_next(sum(len(part) for part in parts), last)
        if len(out) < size + TAG_LEN + 15:
            raise ValueError("no room for the sealed chunk")
        sealing = Cipher(self._aes, modes.GCM(nonce(self._counter, last))).encryptor()
        sealing.authenticate_additional_data(self.header)
        written = 0
        for part in parts:
            written += sealing.update_into(part, out[written:])
        written += len(sealing.finalize())
        out[written:written + TAG_LEN] = sealing.tag
        assert written == size
        return self._sealed(size, last)

    def _check_next(self, size: int, last: bool) -> int:
        if self._finished:
            raise StreamError("the stream is already finished")
        if size > self.chunk_size or (not last and size != self.chunk_size):
            raise ValueError("only the final chunk may be shorter than the chunk size")
        if last and size == 0 and self._counter != 0:
            raise ValueError("an empty final chunk is only allowed for an empty stream")
        return size

    def _sealed(self, size: int, last: bool) -> int:
        self._counter += 1
        self._finished = last
        return size + TAG_LEN

    @property
    def finished(self) -> bool:
        return self._finished


class StreamDecryptor:
    """Opens chunks in order; the caller says which chunk is the final one (it found end of input)."""

    def __init__(self, key: bytes, untrusted_header: bytes) -> None:
        if len(key) != KEY_LEN:
            raise ValueError("stream key must be 32 bytes")
        self.chunk_size = parse_header(untrusted_header)
        self.header = bytes(untrusted_header)
        self._aead = AESGCM(key)
        self._counter = 0
        self._finished = False

    @property
    def sealed_chunk_size(self) -> int:
        return self.chunk_size + TAG_LEN

    def open_into(self, sealed: memoryview | bytes | bytearray, last: bool, out: memoryview | bytearray) -> int:
        """Authenticate and decrypt the next chunk into ``out``; returns plaintext bytes written."""
        if self._finished:
            raise StreamError(_AFTER_FINAL)
        size = len(sealed) - TAG_LEN
        if size < 0 or size > self.chunk_size:
            raise StreamError(_IMPOSSIBLE_LENGTH)
        if not last and size != self.chunk_size:
            raise StreamError(_SHORT_CHUNK)
        if last and size == 0 and self._counter != 0:
            raise StreamError(_EMPTY_FINAL)
        target = memoryview(out)[:size]
        try:
            self._aead.decrypt_into(nonce(self._counter, last), sealed, self.header, target)
        except InvalidTag:
            raise StreamError(_NOT_AUTHENTIC.format(n=self._counter)) from None
        self._counter += 1
        self._finished = last
        return size

    @property
    def finished(self) -> bool:
        return self._finished


def encrypt_bytes(key: bytes, plaintext: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> bytes:
    """The whole stream for a small plaintext in memory (tests, small records)."""
    enc = StreamEncryptor(key, chunk_size)
    parts = [enc.header]
    view = memoryview(plaintext)
    offset = 0
    while True:
        piece = view[offset : offset + chunk_size]
        offset += len(piece)
        last = offset >= len(view)
        out = bytearray(len(piece) + TAG_LEN)
        enc.seal_into(piece, last, out)
        parts.append(bytes(out))
        if last:
            return b"".join(parts)


def decrypt_bytes(key: bytes, untrusted_stream: bytes) -> bytes:
    """Open a whole stream held in memory; StreamError on any damage."""
    if len(untrusted_stream) < HEADER_LEN + TAG_LEN:
        raise StreamError(_TRUNCATED)
    dec = StreamDecryptor(key, untrusted_stream[:HEADER_LEN])
    body = memoryview(untrusted_stream)[HEADER_LEN:]
    sealed = dec.sealed_chunk_size
    parts: list[bytes] = []
    offset = 0
    while True:
        piece = body[offset : offset + sealed]
        offset += len(piece)
        last = offset >= len(body)
        out = bytearray(max(0, len(piece) - TAG_LEN))
        dec.open_into(piece, last, out)
        parts.append(bytes(out))
        if last:
            return b"".join(parts)
