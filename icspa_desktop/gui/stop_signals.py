"""SIGTERM, SIGHUP and SIGINT end the desktop as Quit does: running work is told to stop and cleans up after
itself (an import's or an add's staged files), the vault is locked and its keys dropped, the layout is saved.

Before, SIGTERM (a logout, a shutdown, ``kill``) killed the process where it stood: work under way was left for
the next unlock to quarantine. Ctrl+C in the terminal that started the program raised KeyboardInterrupt in
whatever slot ran next, and did not stop it.

Python runs a signal handler only when the main thread next runs Python code, and Qt's event loop runs none while
nothing happens. ``signal.set_wakeup_fd`` makes the C-level handler write a byte to a socket that a
``QSocketNotifier`` watches: the loop wakes, Python runs the handler, and the quit is queued on the loop.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

_Handler = Callable[[int, FrameType | None], object] | int | None


class QuitOnSignals(QObject):
    """Calls ``quit`` on the event loop once, at the first of ``SIGNALS``; ``close`` puts back what was there."""

    def __init__(self, quit: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._quit = quit
        self.received: int | None = None  # the signal that asked to quit
        self._previous: dict[int, _Handler] = {}
        self._previous_fd = -1
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        if threading.current_thread() is not threading.main_thread():
            return  # handlers belong to the main thread (main() is called elsewhere only by tests)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._previous = {number: signal.signal(number, self._on_signal) for number in SIGNALS}

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already quitting; a second signal does not cut the clean-up short
        self.received = number
        QTimer.singleShot(0, self._quit)

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._reader.recv(64):
                pass

    def close(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._reader.close()
        self._writer.close()
