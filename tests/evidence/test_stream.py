"""The STREAM construction: round trips and every kind of tampering the issue names."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icspa_desktop.crypto import stream
from icspa_desktop.crypto.stream import HEADER_LEN, MIN_CHUNK_SIZE, TAG_LEN, StreamError, decrypt_bytes, encrypt_bytes

CHUNK = MIN_CHUNK_SIZE
SEALED = CHUNK + TAG_LEN
KEY = bytes(range(32))


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_LEN:]
    return blob[:HEADER_LEN], [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7])
def test_round_trip(size: int) -> None:
    data = os.urandom(size)
    blob = encrypt_bytes(KEY, data, CHUNK)
    assert len(blob) == stream.ciphertext_size(size, CHUNK)
    assert decrypt_bytes(KEY, blob) == data
    if size >= 32:
        assert data[:32] not in blob


def test_header_is_versioned_and_carries_chunk_size() -> None:
    blob = encrypt_bytes(KEY, b"x" * 10, CHUNK)
    assert blob.startswith(stream.MAGIC)
    assert stream.parse_header(blob[:HEADER_LEN]) == CHUNK


@pytest.fixture
def four_chunks() -> tuple[bytes, bytes]:
    data = os.urandom(3 * CHUNK + 100)
    return data, encrypt_bytes(KEY, data, CHUNK)


def test_reordered_chunks_are_detected(four_chunks: tuple[bytes, bytes]) -> None:
    _, blob = four_chunks
    header, chunks = _chunks(blob)
    swapped = header + chunks[1] + chunks[0] + chunks[2] + chunks[3]
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, swapped)


def test_duplicated_chunk_is_detected(four_chunks: tuple[bytes, bytes]) -> None:
    _, blob = four_chunks
    header, chunks = _chunks(blob)
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, header + chunks[0] + chunks[0] + chunks[1] + chunks[2] + chunks[3])
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, header + b"".join(chunks) + chunks[3])


@pytest.mark.parametrize("cut", ["final", "middle", "two-final", "inside-final", "inside-middle", "header-only"])
def test_truncation_is_detected(four_chunks: tuple[bytes, bytes], cut: str) -> None:
    _, blob = four_chunks
    header, chunks = _chunks(blob)
    damaged = {
        "final": header + b"".join(chunks[:3]),  # cut exactly at a chunk boundary
        "middle": header + chunks[0] + chunks[2] + chunks[3],
        "two-final": header + b"".join(chunks[:2]),
        "inside-final": blob[:-5],
        "inside-middle": header + chunks[0] + chunks[1][:100],
        "header-only": header,
    }[cut]
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, damaged)


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 16, b"y" * SEALED])
def test_extension_is_detected(four_chunks: tuple[bytes, bytes], extra: bytes) -> None:
    _, blob = four_chunks
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, blob + extra)


def test_stream_of_full_chunks_cannot_be_cut_at_a_boundary() -> None:
    blob = encrypt_bytes(KEY, os.urandom(2 * CHUNK), CHUNK)
    header, chunks = _chunks(blob)
    assert len(chunks) == 2  # no empty final chunk for an exact multiple
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, header + chunks[0])


def test_chunks_from_another_stream_with_the_same_key_do_not_splice() -> None:
    a = encrypt_bytes(KEY, os.urandom(2 * CHUNK + 1), CHUNK)
    b = encrypt_bytes(KEY, os.urandom(2 * CHUNK + 1), CHUNK)
    ha, ca = _chunks(a)
    _, cb = _chunks(b)
    # Same key and same positions: STREAM alone cannot tell two streams apart, which is why every
    # blob gets its own random key. With distinct keys (the real case) splicing fails:
    other = encrypt_bytes(os.urandom(32), os.urandom(2 * CHUNK + 1), CHUNK)
    _, co = _chunks(other)
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, ha + ca[0] + co[1] + ca[2])
    assert decrypt_bytes(KEY, ha + ca[0] + cb[1] + ca[2])  # documents the per-key assumption


def test_every_bit_flip_in_a_small_stream_is_detected() -> None:
    blob = encrypt_bytes(KEY, os.urandom(CHUNK + 50), CHUNK)
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            damaged = bytearray(blob)
            damaged[position] ^= bit
            with pytest.raises(StreamError):
                decrypt_bytes(KEY, bytes(damaged))


@settings(max_examples=50, deadline=None)
@given(data=st.binary(min_size=0, max_size=3 * CHUNK), position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_random_bit_flips_are_detected(data: bytes, position: int, bit: int) -> None:
    blob = bytearray(encrypt_bytes(KEY, data, CHUNK))
    blob[position % len(blob)] ^= 1 << bit
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, bytes(blob))


def test_header_changes_are_refused() -> None:
    blob = bytearray(encrypt_bytes(KEY, b"payload", CHUNK))
    version = bytearray(blob)
    version[len(stream.MAGIC)] = 2
    with pytest.raises(StreamError, match="version"):
        decrypt_bytes(KEY, bytes(version))
    other_size = stream.encode_header(2 * CHUNK) + bytes(blob[HEADER_LEN:])
    with pytest.raises(StreamError):
        decrypt_bytes(KEY, other_size)
    with pytest.raises(StreamError, match="range"):
        decrypt_bytes(KEY, stream.MAGIC + b"\x01\xff\xff\xff\xff" + bytes(blob[HEADER_LEN:]))


def test_wrong_key_is_refused() -> None:
    with pytest.raises(StreamError):
        decrypt_bytes(os.urandom(32), encrypt_bytes(KEY, b"secret", CHUNK))


def test_encryptor_refuses_misuse() -> None:
    enc = stream.StreamEncryptor(KEY, CHUNK)
    out = bytearray(SEALED)
    with pytest.raises(ValueError, match="final chunk"):
        enc.seal_into(b"short", False, out)
    enc.seal_into(b"x" * CHUNK, False, out)
    with pytest.raises(ValueError, match="empty final"):
        enc.seal_into(b"", True, out)
    enc.seal_into(b"end", True, out)
    with pytest.raises(StreamError):
        enc.seal_into(b"more", True, out)


def test_nonce_layout_is_age_style() -> None:
    assert stream.nonce(0, False) == bytes(12)
    assert stream.nonce(1, True) == bytes(10) + b"\x01\x01"
    with pytest.raises(StreamError):
        stream.nonce(1 << 88, False)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=3 * CHUNK + 50), cuts=st.lists(st.integers(1, 3 * CHUNK + 49), max_size=4))
def test_a_chunk_sealed_part_by_part_is_sealed_as_a_whole(data: bytes, cuts: list[int]) -> None:
    """The import seals a payload chunk where it lies, across two decrypted blocks: the same AES-GCM fed part by part
    must give the very bytes ``seal_into`` gives, whatever the parts."""
    whole, parts = stream.StreamEncryptor(KEY, CHUNK), stream.StreamEncryptor(KEY, CHUNK)
    parts.header = whole.header
    expected, got = bytearray(), bytearray()
    for start in range(0, len(data), CHUNK):
        chunk = data[start:start + CHUNK]
        last = start + CHUNK >= len(data)
        out = bytearray(SEALED)
        expected += out[:whole.seal_into(chunk, last, out)]
        edges = sorted({0, len(chunk), *(c for c in cuts if c < len(chunk))})
        views = [memoryview(chunk)[a:b] for a, b in itertools.pairwise(edges)]
        room = memoryview(bytearray(SEALED + 15))
        got += room[:parts.seal_parts_into(views, last, room)]
    assert bytes(got) == bytes(expected)
    assert decrypt_bytes(KEY, whole.header + bytes(got)) == data


def test_sealing_parts_needs_room_for_the_cipher_and_keeps_the_chunk_rules() -> None:
    enc = stream.StreamEncryptor(KEY, CHUNK)
    half = memoryview(b"x" * (CHUNK // 2))
    with pytest.raises(ValueError, match="no room"):
        enc.seal_parts_into([half, half], False, memoryview(bytearray(SEALED)))  # 15 bytes of slack are missing
    with pytest.raises(ValueError, match="final chunk"):
        enc.seal_parts_into([half, half[:10]], False, memoryview(bytearray(SEALED + 15)))
    assert enc.seal_parts_into([half, half], False, memoryview(bytearray(SEALED + 15))) == SEALED
