"""Crash-safe file writes: restrictive mode first, temp file, fsync, os.replace, fsync directory."""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def make_private_dir(path: Path) -> None:
    """Create a directory readable by its owner only (parents as needed, with the same mode)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte of ``data``, resuming after short writes."""
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_full(fd: int, view: memoryview) -> int:
    """Read until ``view`` is full or the file ends; the number of bytes read."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            break
        got += n
    return got


def syncfs(fd: int) -> bool:
    """Linux syncfs(2): write back every dirty page of the file system holding ``fd`` (one call for thousands
    of files); False where the call is unavailable."""
    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    if call(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs failed")
    return True
