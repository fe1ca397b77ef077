"""Run slow service calls off the GUI thread; results come back on the GUI thread.

Call sites stay one line::

    run_in_background(self, lambda: unlock(path, name, passphrase), self._on_unlocked, self._on_unlock_failed)

The work runs in Qt's global thread pool. Its outcome travels as a queued signal to the GUI thread
and is handed to a small ``BackgroundOp`` QObject that is a child of ``owner``: if the owner is
destroyed first, Qt deletes the op with it and the result is silently dropped (no callback into a
dead widget). Without
``on_failure``, an error is shown in a dialog: an ``IcspaError`` with its message as it is, anything
else as an unexpected error (the traceback goes to the log). A session's database connection may be
used from a worker thread, but only by one thread at a time: the GUI must not touch the session
while an op that uses it is running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThreadPool, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QPushButton, QWidget

from icspa_desktop.domain.errors import Cancelled, IcspaError
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.i18n import _
from icspa_desktop.services.session import cancellable_reads

log = logging.getLogger(__name__)

T = TypeVar("T")

# Progress reports are throttled in the worker so a tight ingest loop cannot flood the event queue.
_PROGRESS_INTERVAL_S = 0.05


class _Dispatcher(QObject):
    """Runs closures posted from worker threads on the GUI thread; one per application, never deleted early."""

    post = Signal(object)

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.setObjectName(_DISPATCHER_NAME)
        # Emitted from a worker thread, received by an object of the GUI thread: a queued connection.
        self.post.connect(self._run)

    @Slot(object)
    def _run(self, call: Callable[[], None]) -> None:
        call()


_DISPATCHER_NAME = "icspaOpsDispatcher"


def _dispatcher() -> _Dispatcher:
    """The application's dispatcher, created on first use in the GUI thread (a child of the QApplication)."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("background operations need a running QApplication")
    found = app.findChild(_Dispatcher, _DISPATCHER_NAME)
    return found if isinstance(found, _Dispatcher) else _Dispatcher(app)


class BackgroundOp(QObject):
    """One background call; lives in the GUI thread as a child of its owner and dies with it.

    The worker never touches this object: it posts closures to the long-lived dispatcher, and those
    closures check on the GUI thread that the op (and so its owner) still exists before calling back.
    The result type is checked at the typed entry points (``run_in_background`` and friends, generic in
    ``T``); inside, the op carries it as ``Any`` so that call sites can name a plain ``BackgroundOp``.
    """

    finished = Signal()  # after the callbacks ran
    # (done, total, message) as delivered to on_progress; total 0 = unknown. Objects: byte counts pass 2**31.
    progressed = Signal(object, object, str)

    def __init__(
        self,
        owner: QObject,
        on_success: Callable[[Any], None],
        on_failure: Callable[[BaseException], None] | None,
        on_progress: Callable[[int, int, str], None] | None,
        *,
        exclusive: bool = True,
    ) -> None:
        super().__init__(owner)
        self.cancel_token = CancelToken()
        # False for a read that only feeds a view (``load_in_background``): actions need not wait for it, and
        # once cancelled (a newer load replaced it, the case changed, the vault locks) its result is dropped.
        self.exclusive = exclusive
        self.abandoned = False
        # No Python reference to the owner: a reference cycle between the owner's wrapper and its
        # C++-owned child would let Python's collector free them in the wrong order.
        self._on_success = on_success
        self._on_failure = on_failure
        self._on_progress = on_progress
        self._dispatcher = _dispatcher()
        self.running = False

    def cancel(self) -> None:
        """Ask the work to stop at its next ``cancel.check()``; it then fails with ``Cancelled``."""
        self.cancel_token.cancel()

    def abandon(self) -> None:
        """Cancel, and call nothing back whatever the work returns: the vault is locking, and no result or
        error of the work may show over the lock screen (issue 11)."""
        self.abandoned = True
        self.cancel_token.cancel()

    def start(self, work: Callable[[], object]) -> None:
        post = self._dispatcher.post
        deliver = self._guarded(self._deliver)

        def run() -> None:
            try:
                outcome: tuple[bool, object] = (True, work())
            except BaseException as exc:  # every failure must reach the GUI, never die in the pool
                outcome = (False, exc)
            post.emit(partial(deliver, outcome))
            # A failure's traceback holds this frame: were the frame still to hold the outcome, exception,
            # traceback and the work's frames (sessions, readers, widgets) would form a cycle that only
            # Python's collector frees, at a random moment and in a random thread. Freed by reference
            # count instead, on the GUI thread, once the outcome has been delivered.
            del outcome

        self.running = True
        QThreadPool.globalInstance().start(run)

    def progress_callback(self) -> ProgressCallback:
        """A thread-safe ``(done, total, message)`` callback for the core, throttled."""
        post = self._dispatcher.post
        deliver = self._guarded(self._deliver_progress)
        last = [0.0]

        def report(done: int, total: int, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_INTERVAL_S or (total and done >= total):
                last[0] = now
                post.emit(lambda: deliver((done, total, message)))

        return report

    # ---- GUI thread ----------------------------------------------------------------
    def _guarded(self, method: Callable[[Any], None]) -> Callable[[Any], None]:
        """``method`` if this op still exists when the call arrives; otherwise nothing."""
        op = self

        def call(arg: Any) -> None:
            if shiboken6.isValid(op) and op.parent() is not None:
                method(arg)
            else:
                op._release()

        return call

    def _release(self) -> None:
        """Drop the callbacks: they usually hold the owner (bound methods, closures), which may hold this op, a
        cycle only Python's collector would free — a long stop-the-world pause, in whichever thread (issue 11)."""
        self._on_success = _ignore
        self._on_failure = None
        self._on_progress = None

    def _deliver(self, outcome: tuple[bool, object]) -> None:
        ok, value = outcome
        self.running = False
        self.deleteLater()
        try:
            if self.abandoned or (not self.exclusive and self.cancel_token.cancelled):
                return  # locked meanwhile, or a stale read: what it found is no longer wanted
            if ok:
                self._on_success(value)
            elif self._on_failure is not None:
                assert isinstance(value, BaseException)
                self._on_failure(value)
            else:
                assert isinstance(value, BaseException)
                owner = self.parent()
                show_error(owner if isinstance(owner, QWidget) else None, value)
        finally:
            self._release()
            self.finished.emit()

    def _deliver_progress(self, report: tuple[int, int, str]) -> None:
        if self.running and not self.abandoned:
            if self._on_progress is not None:
                self._on_progress(*report)
            self.progressed.emit(*report)


def _ignore(_value: object) -> None:
    """What a released op calls back: nothing."""


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


def load_in_background(
    owner: QObject,
    work: Callable[[CancelToken], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[BaseException], None] | None = None,
) -> BackgroundOp:
    """A read that feeds a view: ``work(cancel)`` in the pool, ``on_success`` on the GUI thread unless the op
    was cancelled meanwhile or ``owner`` is gone. It does not make other actions wait (``exclusive`` False).
    ``work`` must only read: a statement it runs is interrupted once the op is cancelled."""
    op = BackgroundOp(owner, on_success, on_failure, None, exclusive=False)
    token = op.cancel_token

    def read() -> T:
        with cancellable_reads(token):  # a lock stops even a long sort at once, not when it ends
            return work(token)

    op.start(read)
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
    *,
    stopping: str | None = None,
) -> BackgroundOp:
    """``run_with_progress`` behind a window-modal progress dialog whose Cancel button cancels the work.

    After Cancel the dialog stays, saying ``stopping``, until the work has really ended: the user sees when
    it stopped (or that it could not stop before it ended), and the dialog never vanishes on a job that
    still runs (issue 11: Cancel on a report "did nothing"). ``stopping`` defaults to "Stopping…"."""
    dialog = QProgressDialog(title, _("Cancel"), 0, 0, owner)
    dialog.setWindowTitle(title)
    dialog.setMinimumWidth(440)  # the title and a message such as "Laying out the report: page 230…" in full
    dialog.setWindowModality(Qt.WindowModality.WindowModal)  # Ctrl+L still locks: gui/idle.py
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

    def cancel() -> None:
        if not op.running:
            return  # the work has ended: closing the dialog (which emits ``canceled``) cancels nothing
        op.cancel()
        if shiboken6.isValid(dialog) and not op.abandoned:
            dialog.setLabelText(stopping or _("Stopping…"))
            dialog.setRange(0, 0)
            button = dialog.findChild(QPushButton)
            if button is not None:
                button.setEnabled(False)
            dialog.show()  # QProgressDialog hides itself on Cancel; it stays until the work has ended

    dialog.canceled.connect(cancel)
    return op


def error_text(exc: BaseException) -> str:
    """What the user reads: our own errors as they are; anything else as an unexpected error."""
    if isinstance(exc, IcspaError):
        return str(exc)
    return _("An unexpected error occurred ({kind}: {error}). The details were written to the log.",
             kind=type(exc).__name__, error=exc)


def show_notice(parent: QWidget | None, title: str, lines: Sequence[str], name: str = "noticeDialog") -> QMessageBox:
    """A warning the user must see (window-modal, non-blocking), e.g. what the unlock found."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, "\n\n".join(lines), QMessageBox.StandardButton.Ok, parent)
    box.setObjectName(name)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    return box


def show_error(parent: QWidget | None, exc: BaseException) -> QMessageBox | None:
    """The default error dialog (window-modal, non-blocking); user cancellation shows nothing."""
    if isinstance(exc, Cancelled):
        return None
    if isinstance(exc, IcspaError):
        icon, title = QMessageBox.Icon.Warning, _("Could not complete the action")
    else:
        log.error("Unexpected error in a background operation", exc_info=exc)
        icon, title = QMessageBox.Icon.Critical, _("Unexpected error")
    box = QMessageBox(icon, title, error_text(exc), QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
