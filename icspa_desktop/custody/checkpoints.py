"""Signed checkpoints of the custody log: C2SP tlog-checkpoint text, detached CMS by the agency key.

Body (docs/custody-format.md §4), every line ending in one LF::

    icspa/<country>/<agency fingerprint, 32 hex>/<vault id>   (icspa.example/<vault id> before 2026-11)
    <tree size, decimal>
    <root hash, standard base64>
    Timestamp: <UTC, YYYY-MM-DDTHH:MM:SSZ>

The agency certificate signs exactly these bytes as detached CMS SignedData (DER). A copy of the
latest checkpoint is kept in a *witness file* outside the vault, because restoring an older copy of
the vault directory also restores the checkpoints stored inside it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import platformdirs
from cryptography import x509

from icspa_desktop.custody.merkle import HASH_SIZE
from icspa_desktop.domain.errors import RefusedInput, _
from icspa_desktop.files import atomic_write, make_private_dir, read_regular

ORIGIN_PREFIX = "icspa.example"
TIMESTAMP_KEY = "Timestamp: "
WITNESS_ENV = "ICSPA_WITNESS_DIR"
_PEM_BEGIN = b"-----BEGIN CMS-----\n"
_PEM_END = b"-----END CMS-----\n"
_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MAX_CHECKPOINT_BYTES = 4096
MAX_WITNESS_BYTES = 64 * 1024  # the body and a CMS signature as PEM


class CheckpointSigner(Protocol):
    """The agency key as the custody log needs it (implemented by services.agency)."""

    @property
    def certificate(self) -> x509.Certificate: ...

    def sign_detached(self, content: bytes) -> bytes: ...


# (signature DER, content, validation time) → the signer's certificate; raises on any failure.
SignatureVerifier = Callable[[bytes, bytes, datetime], x509.Certificate]


def origin_for(vault_id: str) -> str:
    """The placeholder origin of checkpoints signed before origins named the agency (still accepted)."""
    return f"{ORIGIN_PREFIX}/{vault_id}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    timestamp: datetime

    def body(self) -> bytes:
        return format_body(self.origin, self.size, self.root, self.timestamp)

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode("ascii")

    @property
    def timestamp_text(self) -> str:
        return format_time(self.timestamp)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_body(origin: str, size: int, root: bytes, timestamp: datetime) -> bytes:
    if not origin or any(ch in origin for ch in "\n\r") or origin != origin.strip():
        raise ValueError("a checkpoint origin is one non-empty line without surrounding blanks")
    if size < 0 or len(root) != HASH_SIZE:
        raise ValueError("a checkpoint needs a size >= 0 and a 32-byte root hash")
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n{TIMESTAMP_KEY}{format_time(timestamp)}\n"
    return text.encode("utf-8")


def parse_body(untrusted_body: bytes) -> Checkpoint:
    """Parse a checkpoint body strictly; RefusedInput says what is wrong. Unknown extension lines are kept out."""
    if len(untrusted_body) > MAX_CHECKPOINT_BYTES:
        raise RefusedInput(_("The checkpoint is too large to be a custody checkpoint."))
    try:
        text = untrusted_body.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedInput(_("The checkpoint is not UTF-8 text.")) from None
    if not text.endswith("\n"):
        raise RefusedInput(_("The checkpoint does not end with a newline."))
    lines = text[:-1].split("\n")
    if len(lines) < 4 or any(line == "" for line in lines):
        raise RefusedInput(_("The checkpoint needs origin, tree size, root hash and timestamp lines, none empty."))
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not _SIZE_RE.fullmatch(size_text):
        raise RefusedInput(_("The checkpoint tree size {size!r} is not a decimal number.", size=size_text))
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:  # binascii.Error, or a str with other than ASCII characters (a plain ValueError)
        raise RefusedInput(_("The checkpoint root hash is not valid base64.")) from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != root_text:
        raise RefusedInput(_("The checkpoint root hash is not a 32-byte hash in standard base64."))
    stamps = [line[len(TIMESTAMP_KEY):] for line in lines[3:] if line.startswith(TIMESTAMP_KEY)]
    if len(stamps) != 1 or not _TIME_RE.fullmatch(stamps[0]):
        raise RefusedInput(_("The checkpoint needs exactly one 'Timestamp: YYYY-MM-DDTHH:MM:SSZ' line."))
    try:
        timestamp = datetime.strptime(stamps[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise RefusedInput(_("The checkpoint timestamp {time!r} is not a valid time.", time=stamps[0])) from None
    return Checkpoint(origin, int(size_text), root, timestamp)


# ---- witness file ---------------------------------------------------------------------------------
def witness_dir(override: Path | None = None) -> Path:
    """``override``, else env ICSPA_WITNESS_DIR, else ``<user config dir>/icspa/witness`` (XDG_CONFIG_HOME)."""
    if override is not None:
        return override
    env = os.environ.get(WITNESS_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("icspa", appauthor=False)) / "witness"


def witness_path(vault_id: str, directory: Path | None = None) -> Path:
    return witness_dir(directory) / f"{vault_id}.checkpoint"


def pending_path(witness: Path) -> Path:
    """Where a witness is written before its checkpoint commits (services.custody.make_checkpoint)."""
    return witness.with_name(witness.name + ".pending")


def encode_signed(body: bytes, signature_der: bytes) -> bytes:
    """Checkpoint body, one empty line, then the CMS signature as PEM (``openssl cms -inform PEM``)."""
    b64 = base64.encodebytes(signature_der)  # 76-character lines, each ending in LF
    return body + b"\n" + _PEM_BEGIN + b64 + _PEM_END


def decode_signed(untrusted: bytes) -> tuple[bytes, bytes]:
    """(body, signature DER) from the witness-file form; RefusedInput if it is malformed."""
    marker = b"\n\n" + _PEM_BEGIN
    at = untrusted.find(marker)
    if at < 0 or not untrusted.endswith(_PEM_END):
        raise RefusedInput(_("The witness file is not a checkpoint followed by a CMS signature."))
    body = untrusted[: at + 1]
    pem = untrusted[at + len(marker): -len(_PEM_END)]
    try:
        der = base64.b64decode(pem.replace(b"\n", b""), validate=True)
    except binascii.Error:
        raise RefusedInput(_("The witness file's signature is not valid base64.")) from None
    return body, der


def write_witness(path: Path, body: bytes, signature_der: bytes) -> None:
    make_private_dir(path.parent)
    atomic_write(path, encode_signed(body, signature_der))


def read_witness(path: Path) -> tuple[bytes, bytes] | None:
    """The witness file's (body, signature), or None if there is none."""
    try:
        # Bounded before it is read: a witness folder is writable by the user, and a FIFO, /dev/zero or a huge
        # file put in a witness's place must be refused, not read until memory runs out (issue 13).
        data = read_regular(path, "witness file", MAX_WITNESS_BYTES)
    except FileNotFoundError:
        return None
    return decode_signed(data)
