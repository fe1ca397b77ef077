"""Work done in a process of its own, with the caller's progress and cancel (issue 11).

A big custody report is seconds of pure-Python layout (reportlab). In a worker *thread* it holds the GIL, and
the GUI thread gets it back only between the layout's steps: every click waited 35–66 ms while a report of
2,000 events was drawn. In a separate process the layout runs on a core of its own and the calling thread only
waits on a pipe.

``run(function, argument, progress=…, cancel=…)`` (or ``start`` now and ``result`` later, the caller working
meanwhile) starts a *spawned* process (never forked: the GUI process has threads, and a forked SQLCipher handle
or Qt state is unsafe), hands it ``argument``, and calls ``function(argument, progress=…, cancel=…)`` there, in
the caller's language. The child's progress comes back as the caller's progress (at most every
``PROGRESS_EVERY`` seconds); the caller's cancel ends the child within ``POLL`` seconds (``Cancelled``); the
child's exception is raised in the caller (as itself when it crosses processes, as ``SeparateProcessFailed``
otherwise, also when the child dies). Nothing is written to disk: the argument and the result travel through the
pipe. ``function`` must be a module-level function (sent by name), and a program that calls this from its main
script guards its work with ``if __name__ == "__main__"`` (a spawned child imports that script again).

A frozen app (PyInstaller) runs its children through ``multiprocessing.freeze_support()``, which both entry
scripts call first (packaging/pyinstaller/).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any, Generic, Protocol, TypeVar

from icspa_desktop import i18n
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, Steps, no_progress
from icspa_desktop.i18n import _

A = TypeVar("A")
R = TypeVar("R")
A_contra = TypeVar("A_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

POLL = 0.05  # seconds between the caller's looks at its cancel token while the child works
PROGRESS_EVERY = 0.03  # seconds: the child's progress is passed on at most this often (and its last step always)


class SeparateProcessFailed(IcspaError):
    """The separate process ended without a result: it died, or raised what cannot cross processes."""


class Work(Protocol[A_contra, R_co]):
    """A module-level function of the core's long-work shape: ``f(argument, progress=…, cancel=…)``."""

    def __call__(self, argument: A_contra, /, *, progress: ProgressCallback, cancel: CancelToken) -> R_co: ...


class Running(Generic[R]):
    """Work started in its own process (``start``): ``result`` waits for it; leaving the ``with`` block (or
    ``close``) ends the process if it still runs — whatever the caller did meanwhile failed or was cancelled."""

    def __init__(self, function: Work[A, R], argument: A) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._child = context.Process(target=_child, args=(theirs, function, i18n.current_language()), daemon=True,
                                      name="icspa-separate")
        self._child.start()
        theirs.close()
        # The argument goes over from a thread of its own: a big one fills the pipe until the child, still
        # starting, reads it, and the caller goes on with its own work meanwhile.
        self._sender = threading.Thread(target=_send, args=(self._pipe, argument), name="icspa-separate-send",
                                        daemon=True)
        self._sender.start()

    def __enter__(self) -> Running[R]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def result(self, *, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> R:
        """The work's result, once the child sends it; its progress meanwhile. ``Cancelled`` (the child ended)
        within ``POLL`` seconds of ``cancel``; the child's exception is raised here."""
        cancel = cancel or CancelToken()
        try:
            while True:
                message = self._receive(cancel)
                kind = message[0]
                if kind == "progress":
                    done, total, text, steps = message[1:]
                    progress(done, total, Steps(text) if steps else text)
                elif kind == "result":
                    result: R = message[1]
                    return result
                else:  # "error"
                    raise _error(message[1], message[2])
        finally:
            self.close()

    def close(self) -> None:
        """End the child (if it still runs) and free the pipe; the work's result, if any, is dropped."""
        child = self._child
        if child.is_alive():
            child.terminate()
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
        self._sender.join()  # ends once the child read the argument or is gone (a broken pipe)
        self._pipe.close()

    def _receive(self, cancel: CancelToken) -> tuple[Any, ...]:
        """The child's next message; ``Cancelled`` as soon as the caller cancels, a failure if the child ends."""
        pipe, child = self._pipe, self._child
        while not pipe.poll(POLL):
            cancel.check()
            if not child.is_alive() and not pipe.poll(0):
                raise self._ended()
        cancel.check()
        try:
            message: tuple[Any, ...] = pipe.recv()
        except (EOFError, OSError):
            child.join(1)
            raise self._ended() from None
        return message


    def _ended(self) -> SeparateProcessFailed:
        return SeparateProcessFailed(_("The separate process for this work ended unexpectedly (exit code {code}).",
                                       code=self._child.exitcode))


def start(function: Work[A, R], argument: A) -> Running[R]:
    """``function(argument, progress=…, cancel=…)`` started in a spawned process; the caller goes on."""
    return Running(function, argument)


def run(function: Work[A, R], argument: A, *,
        progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> R:
    """``function(argument, progress=progress, cancel=…)`` in a spawned process, waited for."""
    cancel = cancel or CancelToken()
    cancel.check()
    with start(function, argument) as running:
        return running.result(progress=progress, cancel=cancel)


def _send(pipe: Connection, argument: object) -> None:
    with contextlib.suppress(OSError):  # the child is gone (failed, or ended by close): nothing to send to
        pipe.send(argument)


def _error(pickled: object, text: object) -> BaseException:
    if isinstance(pickled, bytes):
        try:
            error = pickle.loads(pickled)  # noqa: S301 - made by our own child, as is all the pipe carries
        except Exception:  # an exception whose class cannot be rebuilt here: its text instead
            error = None
        if isinstance(error, BaseException):
            return error
    return SeparateProcessFailed(_("The work failed in its separate process: {error}", error=text))


def _child(pipe: Connection, function: Work[A, R], language: str) -> None:
    """The child's whole life: take the argument, work, send the result or the error, end."""
    i18n.activate(language)
    try:
        argument = pipe.recv()
    except EOFError:
        return  # the caller gave up before sending anything
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY or (total and done >= total):
            last[0] = now
            pipe.send(("progress", done, total, str(message), isinstance(message, Steps)))

    try:
        # The caller cancels by ending this process; every failure goes back to the caller, which raises it.
        result = function(argument, progress=progress, cancel=CancelToken())
    except BaseException as exc:
        try:
            pickled: bytes | None = pickle.dumps(exc)
        except Exception:  # an exception that cannot be pickled: its text is sent instead
            pickled = None
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        pipe.send(("error", pickled, text))
        return
    pipe.send(("result", result))
