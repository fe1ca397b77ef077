"""Hypothesis strategies for fuzzing: a valid sample changed the way fuzzers change inputs, or arbitrary bytes.

Changes (one to four, applied in turn): flip a byte, set one to a boundary value, cut the input short,
delete, duplicate or move a range, insert random bytes, insert a token from ``TOKENS`` (the kind of
dictionary AFL and libFuzzer take: the framing of our formats and values that break naive parsers), and
splice in a range of the sample itself. Inputs never exceed ``max_size``.
"""

from __future__ import annotations

from hypothesis import strategies as st

TOKENS = [
    b"\n", b"\r\n", b"\x00", b" ", b"\t", b"\"", b"\\", b"=", b"/", b"../", b"\xff", b"\xc3", b"\xed\xa0\x80",
    b"age-encryption.org/v1\n", b"-> X25519 ", b"-> scrypt ", b"--- ", b"\n---",
    b"-----BEGIN CMS-----\n", b"-----END CMS-----\n", b"\n\n", b"ustar\x0000", b"path=", b"size=",
    b'"\\ud800"', b'"\\udfff\\ud800"', b"\\u0000", b"NaN", b"-Infinity", b"1e999", b"-1", b"0" * 12,
    b"9" * 5000, b"[" * 5000, b"{\"a\":" * 200, b"\x30\x84\xff\xff\xff\xff", b"\x30\x80", b"\x02\x81\xff",
    b"Timestamp: ", b"9999-99-99T99:99:99Z", b"null", b"true", b"[]", b"{}", b"\"\"",
]
_BOUNDARY = [0x00, 0x01, 0x0A, 0x20, 0x22, 0x2F, 0x30, 0x39, 0x5C, 0x7F, 0x80, 0xC0, 0xFF]


@st.composite
def mutated(draw: st.DrawFn, sample: bytes, max_size: int) -> bytes:
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        end = draw(st.integers(at, min(len(data), at + 4096)))
        kind = draw(st.sampled_from(["flip", "boundary", "cut", "delete", "duplicate", "move", "insert", "token",
                                     "splice"]))
        if kind in ("flip", "boundary") and at < len(data):
            data[at] = data[at] ^ draw(st.integers(1, 255)) if kind == "flip" else draw(st.sampled_from(_BOUNDARY))
        elif kind == "cut":
            del data[at:]
        elif kind == "delete":
            del data[at:end]
        elif kind == "duplicate":
            data[end:end] = data[at:end]
        elif kind == "move":
            piece = data[at:end]
            del data[at:end]
            to = draw(st.integers(0, len(data)))
            data[to:to] = piece
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "token":
            token = draw(st.sampled_from(TOKENS))
            data[at:end if draw(st.booleans()) else at] = token  # replace the range, or insert
        elif kind == "splice":
            start = draw(st.integers(0, len(sample)))
            data[at:end] = sample[start:start + draw(st.integers(0, 4096))]
    return bytes(data[:max_size])


def inputs(sample: bytes, max_size: int) -> st.SearchStrategy[bytes]:
    """Mostly changed samples (they get past the first checks), sometimes arbitrary bytes."""
    return st.one_of(mutated(sample, max_size), mutated(sample, max_size), mutated(sample, max_size),
                     st.binary(max_size=min(max_size, 4096)))
