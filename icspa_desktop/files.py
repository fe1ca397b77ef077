"""Reading a file the user named, safely: regular files only, and never more than a bound.

A card, certificate or key file is small; a FIFO or a device put in its place (``/dev/zero``, a named
pipe) would block or never end, and a 512 MiB "card" would be read into memory whole before being refused
(issue 13). Both front ends read user-named input through here."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from icspa_desktop.domain.errors import RefusedInput, UsageError

MAX_INPUT_BYTES = 4 << 20  # cards, certificates and key files are a few KiB


def read_bounded(path: str | Path, what: str = "file", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path``; UsageError if it cannot be opened, RefusedInput if it is not a
    regular file or larger than ``limit`` (checked before reading, and again while reading)."""
    try:
        return read_regular(path, what, limit)
    except OSError as exc:
        raise UsageError(f"Cannot read the {what} {path}: {exc.strerror}.") from None


def read_regular(path: str | Path, what: str, limit: int) -> bytes:
    """Like ``read_bounded``, for callers that handle ``OSError`` themselves (FileNotFoundError: there is none)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # NONBLOCK: a FIFO must not hang us
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedInput(f"The {what} {path} is not a regular file (a device, pipe or folder); refused.")
        if info.st_size > limit:
            raise RefusedInput(f"The {what} {path} has {info.st_size:,} bytes; a {what} is at most {limit:,}.")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise RefusedInput(f"The {what} {path} grew beyond {limit:,} bytes while it was read; refused.")
        return b"".join(chunks)
    finally:
        os.close(fd)
