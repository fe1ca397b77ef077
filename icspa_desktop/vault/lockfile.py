"""One process at a time per vault: an exclusive, non-blocking flock on ``vault.lock``.

The kernel drops the lock when the process dies, so a crash never leaves the vault locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from icspa_desktop.domain.errors import VaultBusy
from icspa_desktop.vault.atomic import FILE_MODE


class VaultLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (process {holder})" if holder.isdigit() else ""
            raise VaultBusy(
                f"The vault {self._path.parent} is open in another ICSPA process{who}; "
                "close it there first."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
