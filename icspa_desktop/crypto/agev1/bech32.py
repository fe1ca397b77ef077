"""Bech32 (BIP 173, without its 90-character limit, as age specifies): the text form of age keys."""

from __future__ import annotations

from collections.abc import Sequence

from icspa_desktop.domain.errors import _

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Bech32Error(ValueError):
    """Malformed Bech32 text (case, characters, checksum or padding)."""


def _polymod(values: Sequence[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATOR):
            if (top >> i) & 1:
                check ^= generator
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Bit groups of ``from_bits`` into groups of ``to_bits``; strict about padding when decoding."""
    acc = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    keep = (1 << (from_bits + to_bits - 1)) - 1
    for value in data:
        acc = ((acc << from_bits) | value) & keep
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & mask)
    elif bits >= from_bits or (acc << (to_bits - bits)) & mask:
        raise Bech32Error(_("non-zero or excess padding bits"))
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Lower-case Bech32 of ``data`` under ``hrp`` (which must be printable ASCII)."""
    hrp = hrp.lower()
    if not hrp or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error(_("invalid human-readable part"))
    values = _regroup(data, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(human-readable part as written, data); refuses mixed case, bad characters, checksum or padding."""
    if not text.isascii():
        raise Bech32Error(_("non-ASCII characters"))
    lower = text.lower()
    if text != lower and text != text.upper():
        raise Bech32Error(_("mixed upper and lower case"))
    separator = text.rfind("1")
    if separator < 1 or len(text) - separator - 1 < 6:
        raise Bech32Error(_("no human-readable part or too short"))
    hrp = text[:separator]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error(_("invalid human-readable part"))
    try:
        values = [_CHARSET_INDEX[c] for c in lower[separator + 1:]]
    except KeyError:
        raise Bech32Error(_("character outside the Bech32 alphabet")) from None
    if _polymod(_hrp_expand(lower[:separator]) + values) != 1:
        raise Bech32Error(_("checksum mismatch (a typo?)"))
    return hrp, bytes(_regroup(values[:-6], 5, 8, pad=False))
