"""Run slow service calls off the GUI thread; results come back on the GUI thread.

Call sites stay one line::

    run_in_background(self, lambda: unlock(path, name, passphrase), self._on_unlocked, self._on_unlock_failed)

The work runs in Qt's global thread pool. Its outcome travels as a queued signal to a small
``BackgroundOp`` QObject that is a child of ``owner``: if the owner is destroyed first, Qt deletes the
op with it and the result is silently dropped (no callback into a dead widget). Without
``on_failure``, an error is shown in a dialog: an ``IcspaError`` with its message as it is, anything
else as an unexpected error (the traceback goes to the log). A session's database connection may be
used from a worker thread, but only by one thread at a time: the GUI must not touch the session
while an op that uses it is running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from icspa_desktop.domain.errors import Cancelled, IcspaError
from icspa_desktop.domain.progress import CancelToken, ProgressCallback

log = logging.getLogger(__name__)

T = TypeVar("T")

# Progress reports are throttled in the worker so a tight ingest loop cannot flood the event queue.
_PROGRESS_INTERVAL_S = 0.05


class _WorkerSignals(QObject):
    # object, not int: byte counts of multi-GB evidence overflow Qt's 32-bit int.
    succeeded = Signal(object)
    failed = Signal(object)
    progressed = Signal(object, object, str)


class BackgroundOp(QObject):
    """One background call; lives in the GUI thread as a child of its owner."""

    finished = Signal()

    def __init__(
        self,
        owner: QObject,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None] | None,
        on_progress: Callable[[int, int, str], None] | None,
    ) -> None:
        super().__init__(owner)
        self.cancel_token = CancelToken()
        self._owner = owner
        self._on_success = on_success
        self._on_failure = on_failure
        self._on_progress = on_progress
        self._signals = _WorkerSignals()
        self._signals.succeeded.connect(self._deliver_success)
        self._signals.failed.connect(self._deliver_failure)
        self._signals.progressed.connect(self._deliver_progress)
        self.running = False

    def cancel(self) -> None:
        """Ask the work to stop at its next ``cancel.check()``; it then fails with ``Cancelled``."""
        self.cancel_token.cancel()

    def start(self, work: Callable[[], object]) -> None:
        signals = self._signals  # the closure keeps the emitter alive even if this op is deleted

        def run() -> None:
            try:
                result = work()
            except BaseException as exc:  # every failure must reach the GUI, never die in the pool
                signals.failed.emit(exc)
            else:
                signals.succeeded.emit(result)

        self.running = True
        QThreadPool.globalInstance().start(run)

    def progress_callback(self) -> ProgressCallback:
        """A thread-safe ``(done, total, message)`` callback for the core, throttled."""
        signals = self._signals
        last = [0.0]

        def report(done: int, total: int, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_INTERVAL_S or (total and done >= total):
                last[0] = now
                signals.progressed.emit(done, total, message)

        return report

    # ---- GUI thread ----------------------------------------------------------------
    def _owner_alive(self) -> bool:
        return shiboken6.isValid(self._owner)

    @Slot(object)
    def _deliver_success(self, result: object) -> None:
        self._finish()
        if self._owner_alive():
            self._on_success(result)

    @Slot(object)
    def _deliver_failure(self, exc: BaseException) -> None:
        self._finish()
        if not self._owner_alive():
            return
        if self._on_failure is not None:
            self._on_failure(exc)
        else:
            parent = self._owner if isinstance(self._owner, QWidget) else None
            show_error(parent, exc)

    @Slot(object, object, str)
    def _deliver_progress(self, done: int, total: int, message: str) -> None:
        if self.running and self._on_progress is not None and self._owner_alive():
            self._on_progress(done, total, message)

    def _finish(self) -> None:
        self.running = False
        self.finished.emit()
        self.deleteLater()


def run_in_background(
    owner: QObject,
    work: Callable[[], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[BaseException], None] | None = None,
) -> BackgroundOp:
    """Run ``work()`` in the thread pool; ``on_success(result)`` or ``on_failure(exc)`` on the GUI thread."""
    op = BackgroundOp(owner, on_success, on_failure, None)
    op.start(work)
    return op


def run_with_progress(
    owner: QObject,
    work: Callable[[ProgressCallback, CancelToken], T],
    on_success: Callable[[T], None],
    on_progress: Callable[[int, int, str], None],
    on_failure: Callable[[BaseException], None] | None = None,
) -> BackgroundOp:
    """Like ``run_in_background``; ``work`` gets a progress callback and a cancel token (core style)."""
    op = BackgroundOp(owner, on_success, on_failure, on_progress)
    report, token = op.progress_callback(), op.cancel_token
    op.start(lambda: work(report, token))
    return op


def run_with_progress_dialog(
    owner: QWidget,
    title: str,
    work: Callable[[ProgressCallback, CancelToken], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[BaseException], None] | None = None,
) -> BackgroundOp:
    """``run_with_progress`` behind a window-modal progress dialog whose Cancel button cancels the work."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, owner)
    dialog.setWindowTitle(title)
    dialog.setMinimumDuration(400)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)

    def progress(done: int, total: int, message: str) -> None:
        if message:
            dialog.setLabelText(message)
        if total > 0:
            dialog.setRange(0, 1000)
            dialog.setValue(min(1000, done * 1000 // total))
        else:
            dialog.setRange(0, 0)  # unknown total: a busy indicator

    def close_then(callback: Callable[[Any], None]) -> Callable[[Any], None]:
        def wrapped(value: Any) -> None:
            dialog.close()
            dialog.deleteLater()
            callback(value)

        return wrapped

    def default_failure(exc: BaseException) -> None:
        show_error(owner, exc)

    failure = on_failure or default_failure
    op = run_with_progress(owner, work, close_then(on_success), progress, close_then(failure))
    dialog.canceled.connect(op.cancel)
    return op


def error_text(exc: BaseException) -> str:
    """What the user reads: our own errors as they are; anything else as an unexpected error."""
    if isinstance(exc, IcspaError):
        return str(exc)
    return f"An unexpected error occurred ({type(exc).__name__}: {exc}). The details were written to the log."


def show_error(parent: QWidget | None, exc: BaseException) -> QMessageBox | None:
    """The default error dialog (window-modal, non-blocking); user cancellation shows nothing."""
    if isinstance(exc, Cancelled):
        return None
    if isinstance(exc, IcspaError):
        icon, title = QMessageBox.Icon.Warning, "Could not complete the action"
    else:
        log.error("Unexpected error in a background operation", exc_info=exc)
        icon, title = QMessageBox.Icon.Critical, "Unexpected error"
    box = QMessageBox(icon, title, error_text(exc), QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
