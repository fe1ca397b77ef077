"""One process at a time per vault: an exclusive, non-blocking flock on ``vault.lock``.

The kernel drops the lock when the process dies, so a crash never leaves the vault locked. On a read-only vault
(write-protected medium, read-only mount, a copy without write permission) the existing ``vault.lock`` is locked
through a read-only descriptor: flock needs no write access, so checks that only read still exclude a writer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from icspa_desktop.domain.errors import VaultBusy, VaultError, _
from icspa_desktop.files import FILE_MODE


class VaultLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd, writable = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            if holder.isdigit():
                raise VaultBusy(_("The vault {folder} is open in another ICSPA process (process {process}); close "
                                  "it there first.", folder=self._path.parent, process=holder)) from None
            raise VaultBusy(_("The vault {folder} is open in another ICSPA process; close it there first.",
                              folder=self._path.parent)) from None
        if writable:  # who holds it, for the message another process shows
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def _open(self) -> tuple[int, bool]:
        try:
            return os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE), True
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            denied = exc
        try:
            return os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW), False
        except FileNotFoundError:
            raise VaultError(_("The vault {folder} is read-only ({cause}) and has no {name} to lock it with; "
                               "nothing was changed.",
                               folder=self._path.parent, cause=denied.strerror, name=self._path.name)) from denied

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
