"""The age v1 header: the file key wrapped to each X25519 recipient in a stanza, the header's MAC and the
payload nonce — written for new files, parsed strictly and opened with an identity when reading.

Both sides end with the payload cipher (ChaCha20-Poly1305 under a key derived from file key and nonce), which
is all the payload (``payload.py``) needs: the file key never leaves this module.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from icspa_desktop.crypto.agev1.errors import (
    HeaderError,
    HeaderMacMismatch,
    InvalidRecipient,
    NoMatchingIdentity,
    NotAgeFile,
    PassphraseEncrypted,
)
from icspa_desktop.crypto.agev1.keys import encode_recipient
from icspa_desktop.domain.errors import _
from icspa_desktop.i18n import N_

INTRO = b"age-encryption.org/"
VERSION_LINE = b"age-encryption.org/v1"
TAG_SIZE = 16  # ChaCha20-Poly1305's tag: on each stanza body and each payload chunk
FILE_KEY_SIZE = 16
NONCE_SIZE = 16
X25519_LABEL = b"age-encryption.org/v1/X25519"
MAX_HEADER_BYTES = 1 << 20  # a header with 4,096 X25519 stanzas is ~450 KiB
MAX_STANZAS = 4096  # each X25519 stanza costs one X25519 per identity: bounds the work an attacker can cause
MAX_SCRYPT_WORK_FACTOR = 22  # only to classify scrypt headers as the spec does; we never run scrypt
_ZERO_NONCE = bytes(12)
_STANZA_BODY_COLUMNS = 64

_VCHARS = re.compile(rb"[\x21-\x7e]+")
_BASE64_CHARS = re.compile(rb"[A-Za-z0-9+/]*")
_MAC_LINE = re.compile(rb"--- ([A-Za-z0-9+/]{43})")
_WORK_FACTOR = re.compile(rb"[1-9][0-9]*")


# ---- shared pieces --------------------------------------------------------------------------------------
def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes, what: str) -> bytes:
    """Unpadded canonical base64 only (RFC 4648 §3.5), as the spec requires of decoders."""
    if not _BASE64_CHARS.fullmatch(text) or len(text) % 4 == 1:
        raise HeaderError(_("The age header is malformed: {what} is not valid unpadded base64.", what=_(what)))
    data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    if _b64encode(data) != text:
        raise HeaderError(_("The age header is malformed: {what} is not canonical base64.", what=_(what)))
    return data


def _payload_cipher(file_key: bytes, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))


def _header_mac(file_key: bytes, header_to_dashes: bytes) -> hmac.HMAC:
    mac = hmac.HMAC(_hkdf(file_key, b"", b"header"), hashes.SHA256())
    mac.update(header_to_dashes)
    return mac


def _x25519_wrap_key(shared: bytes, share: bytes, recipient: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(shared, share + recipient, X25519_LABEL))


# ---- writing --------------------------------------------------------------------------------------------
def write_header(recipients: Sequence[X25519PublicKey]) -> tuple[bytes, ChaCha20Poly1305]:
    """(The header of a new file, its payload nonce included; the payload cipher) for a fresh random file key
    wrapped to each of ``recipients``."""
    file_key = os.urandom(FILE_KEY_SIZE)
    lines = [VERSION_LINE]
    for key in recipients:
        # A fresh ephemeral secret per stanza, as the spec requires (never one per file).
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        recipient = key.public_bytes_raw()
        try:
            shared = ephemeral.exchange(key)
        except ValueError:  # cryptography refuses the all-zero result of a low-order point
            raise InvalidRecipient(_("The recipient {start}… is a low-order point: nobody can decrypt for it.",
                                     start=encode_recipient(key)[:12])) from None
        body = _x25519_wrap_key(shared, share, recipient).encrypt(_ZERO_NONCE, file_key, None)
        lines.append(b"-> X25519 " + _b64encode(share))
        lines.extend(_wrap_body(_b64encode(body)))
    to_dashes = b"\n".join(lines) + b"\n---"
    mac = _header_mac(file_key, to_dashes).finalize()
    nonce = os.urandom(NONCE_SIZE)
    return to_dashes + b" " + _b64encode(mac) + b"\n" + nonce, _payload_cipher(file_key, nonce)


def _wrap_body(encoded: bytes) -> list[bytes]:
    """Stanza body lines: 64 columns, always ending with a shorter (possibly empty) line."""
    return [encoded[i:i + _STANZA_BODY_COLUMNS] for i in range(0, len(encoded) + 1, _STANZA_BODY_COLUMNS)]


# ---- parsing --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Stanza:
    args: tuple[bytes, ...]
    body: bytes


def _split_lines(text: bytes) -> list[bytes]:
    """``text`` ends with LF (checked by the caller); lines without their LF."""
    return text[:-1].split(b"\n")


def _parse_header(untrusted_header: bytes) -> tuple[list[_Stanza], bytes]:
    """(stanzas, MAC) of a header that ends with its MAC line's LF; HeaderError on any deviation from the ABNF."""
    lines = _split_lines(untrusted_header)
    version = lines[0]
    if version != VERSION_LINE:
        shown = version[len(INTRO):len(INTRO) + 20].decode("ascii", "replace")
        if _VCHARS.fullmatch(version):
            raise HeaderError(_("This age file has format version {version}; only v1 is supported.",
                                    version=repr(shown)))
        raise HeaderError(_("The age header's version line is malformed (a line break other than LF?)."))
    stanzas: list[_Stanza] = []
    i = 1
    while i < len(lines) - 1:
        line = lines[i]
        if not line.startswith(b"-> "):
            raise HeaderError(_("The age header is malformed: a line that starts neither a stanza nor the MAC."))
        args = tuple(line[3:].split(b" "))
        if not all(_VCHARS.fullmatch(arg) for arg in args):
            raise HeaderError(_("The age header is malformed: a stanza has an empty or invalid argument."))
        body_lines: list[bytes] = []
        while True:
            i += 1
            if i >= len(lines) - 1:
                raise HeaderError(_("The age header is malformed: a stanza's body does not end with a short "
                                    "line."))
            body_line = lines[i]
            if len(body_line) > _STANZA_BODY_COLUMNS or not _BASE64_CHARS.fullmatch(body_line):
                raise HeaderError(_("The age header is malformed: a stanza body line is too long or not "
                                    "base64."))
            body_lines.append(body_line)
            if len(body_line) < _STANZA_BODY_COLUMNS:
                break
        stanzas.append(_Stanza(args, _b64decode(b"".join(body_lines), N_("a stanza body"))))
        if len(stanzas) > MAX_STANZAS:
            raise HeaderError(_("The age header has more than {limit} stanzas; refused.", limit=MAX_STANZAS))
        i += 1
    if not stanzas:
        raise HeaderError(_("The age header has no recipient stanza."))
    match = _MAC_LINE.fullmatch(lines[-1])
    if match is None:
        raise HeaderError(_("The age header's MAC line is malformed."))
    return stanzas, _b64decode(match.group(1), N_("the header MAC"))


def _check_stanzas(stanzas: list[_Stanza]) -> list[tuple[bytes, bytes]]:
    """The X25519 stanzas as (share, body), each checked as the spec requires; scrypt refused."""
    x25519: list[tuple[bytes, bytes]] = []
    for stanza in stanzas:
        kind, args = stanza.args[0], stanza.args[1:]
        if kind == b"X25519":
            if len(args) != 1:
                raise HeaderError(_("The age header is malformed: an X25519 stanza has other than one "
                                    "argument."))
            share = _b64decode(args[0], N_("an X25519 share"))
            if len(share) != 32 or len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
                raise HeaderError(_("The age header is malformed: an X25519 stanza has a share or body of the "
                                    "wrong length."))
            x25519.append((share, stanza.body))
        elif kind == b"scrypt":
            if len(stanzas) != 1:
                raise HeaderError(_("The age header is malformed: a passphrase (scrypt) stanza must be alone."))
            if (len(args) != 2 or len(_b64decode(args[0], N_("an scrypt salt"))) != 16
                    or not _WORK_FACTOR.fullmatch(args[1]) or len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE):
                raise HeaderError(_("The age header is malformed: its scrypt stanza is invalid."))
            # Compared as digits first: int() of thousands of digits is refused by Python (ValueError).
            if len(args[1]) > len(str(MAX_SCRYPT_WORK_FACTOR)) or int(args[1]) > MAX_SCRYPT_WORK_FACTOR:
                shown = args[1].decode() if len(args[1]) <= 8 else f"{args[1][:8].decode()}… ({len(args[1])} digits)"
                raise HeaderError(_("The passphrase's scrypt work factor 2^{factor} is beyond the limit 2^{limit}.",
                                    factor=shown, limit=MAX_SCRYPT_WORK_FACTOR))
            raise PassphraseEncrypted(_("This age file is encrypted with a passphrase, which is not supported "
                                        "here: it needs an age X25519 identity."))
        # Any other type (plugins, post-quantum, grease) is not ours: skipped, as the spec requires.
    return x25519


def _unwrap(x25519: list[tuple[bytes, bytes]], identities: Sequence[tuple[X25519PrivateKey, bytes]]) -> bytes:
    for share, body in x25519:
        try:
            peer = X25519PublicKey.from_public_bytes(share)
        except ValueError:
            raise HeaderError(_("The age header is malformed: an X25519 share is not a valid point.")) from None
        for key, public in identities:
            try:
                shared = key.exchange(peer)
            except ValueError:  # all-zero shared secret: a low-order share; the spec says abort
                raise HeaderError(_("The age header is malformed: an X25519 share is a low-order point.")) from None
            try:
                return _x25519_wrap_key(shared, share, public).decrypt(_ZERO_NONCE, body, None)
            except InvalidTag:
                continue
    raise NoMatchingIdentity(_("The file is not encrypted to any of the identities given (no stanza opens "
                               "with them)."))


# ---- reading --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OpenedHeader:
    """A header that parsed strictly, opened with one of the identities and passed its MAC."""

    payload: ChaCha20Poly1305  # the payload cipher (file key and nonce)
    rest: bytes  # what came after the nonce in the bytes fed so far: the payload's start


class HeaderReader:
    """Collects the header and payload nonce from the file's first bytes (at most ``MAX_HEADER_BYTES``) and
    opens it with ``identities`` (each with its public key's bytes, ``keys.identity_keys``)."""

    def __init__(self, identities: Sequence[tuple[X25519PrivateKey, bytes]]) -> None:
        self._identities = identities
        self._head = bytearray()
        self._scan = 0  # where to look for the MAC line next

    def feed(self, view: memoryview) -> tuple[OpenedHeader | None, memoryview]:
        """Take the header's bytes from ``view``: (the opened header once it is complete, else None; the part
        of ``view`` not taken, which is the payload's)."""
        head = self._head
        take = min(MAX_HEADER_BYTES + NONCE_SIZE - len(head), len(view))
        head += view[:take]
        view = view[take:]
        opened = self._try_header(eof=False)
        if opened is None and view:
            raise HeaderError(_("The age header is larger than {limit} MiB (or this is not an age file); "
                                "refused.", limit=MAX_HEADER_BYTES >> 20))
        return opened, view

    def finish(self) -> OpenedHeader:
        """The input ended: the header is complete, or this raises."""
        opened = self._try_header(eof=True)
        assert opened is not None  # eof=True: complete, or it raised
        return opened

    def _try_header(self, eof: bool) -> OpenedHeader | None:
        """The opened header, once the header and nonce are complete and check out."""
        head = self._head
        if not head.startswith(INTRO[:len(head)]) or (eof and len(head) < len(INTRO)):
            raise self._not_age(head)
        found = head.find(b"\n---", self._scan)
        if found < 0:
            self._scan = max(0, len(head) - 3)
            if eof:
                raise (self._not_age(head) if not head.startswith(INTRO) else
                       HeaderError(_("The file ends inside the age header: it is cut short or damaged.")))
            return None
        end = head.find(b"\n", found + 1)
        if end < 0 or len(head) < end + 1 + NONCE_SIZE:
            if eof:
                raise HeaderError(_("The file ends inside the age header or its payload nonce: it is cut short."))
            return None
        untrusted_header = bytes(head[:end + 1])
        if not untrusted_header.startswith(INTRO):
            raise self._not_age(head)
        stanzas, mac = _parse_header(untrusted_header)
        file_key = _unwrap(_check_stanzas(stanzas), self._identities)
        try:
            _header_mac(file_key, untrusted_header[:found + 4]).verify(mac)
        except InvalidSignature:
            raise HeaderMacMismatch(_("The age header failed its authentication (HMAC): it was altered or damaged "
                                      "after encryption.")) from None
        return OpenedHeader(_payload_cipher(file_key, bytes(head[end + 1:end + 1 + NONCE_SIZE])),
                            bytes(head[end + 1 + NONCE_SIZE:]))

    @staticmethod
    def _not_age(head: bytearray) -> NotAgeFile:
        if not head:
            return NotAgeFile(_("The file is empty: it is not an age file."))
        if b"-----BEGIN AGE ENCRYPTED FILE-----" in head[:256]:
            return NotAgeFile(_("This is an ASCII-armored age file, which is not supported here: decode it with "
                                "'age -d' or convert it to the binary format first."))
        return NotAgeFile(_("This is not an age file (it does not start with 'age-encryption.org/v1')."))
