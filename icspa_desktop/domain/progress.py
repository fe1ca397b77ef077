"""The progress/cancel interface every long operation of the core takes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from icspa_desktop.domain.errors import Cancelled

# (done, total, message): total is 0 when unknown.
ProgressCallback = Callable[[int, int, str], None]


class Steps(str):
    """A progress message whose (done, total) count steps of the work, not bytes: shown as a share, never as a
    size (an export reports its custody report's steps, then the bytes it writes)."""

    __slots__ = ()


def no_progress(done: int, total: int, message: str) -> None:
    """A progress callback that ignores everything."""


class CancelToken:
    """Set from any thread; long operations call ``check()`` between chunks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()
