"""Background operations: results on the GUI thread, errors in dialogs, progress, cancel, dead owners."""

from __future__ import annotations

import threading

import pytest
import shiboken6
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.errors import Cancelled, Conflict
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.ops import load_in_background, run_in_background, run_with_progress, run_with_progress_dialog


@pytest.fixture
def owner(qtbot: QtBot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def test_success_is_delivered_on_the_gui_thread(qtbot: QtBot, owner: QWidget) -> None:
    seen: list[tuple[int, bool, bool]] = []

    def work() -> int:
        return 6 * 7 if threading.current_thread() is not threading.main_thread() else -1

    op = run_in_background(owner, work, lambda value: seen.append(
        (value, threading.current_thread() is threading.main_thread(), True)))
    with qtbot.waitSignal(op.finished, timeout=5_000):
        pass
    assert seen == [(42, True, True)]


def test_failure_goes_to_on_failure(qtbot: QtBot, owner: QWidget) -> None:
    failures: list[BaseException] = []
    op = run_in_background(owner, lambda: (_ for _ in ()).throw(Conflict("A case with number '1' already exists.")),
                           lambda _value: pytest.fail("no success expected"), failures.append)
    with qtbot.waitSignal(op.finished, timeout=5_000):
        pass
    assert len(failures) == 1
    assert isinstance(failures[0], Conflict)


def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize(("error", "title", "text"), [
    (Conflict("A case with number '1' already exists."), "Could not complete the action",
     "A case with number '1' already exists."),
    (ZeroDivisionError("division by zero"), "Unexpected error",
     "An unexpected error occurred (ZeroDivisionError: division by zero)."),
])
def test_default_error_dialog(qtbot: QtBot, owner: QWidget, error: BaseException, title: str, text: str) -> None:
    owner.show()
    op = run_in_background(owner, lambda: _raise(error), lambda _value: None)
    with qtbot.waitSignal(op.finished, timeout=5_000):
        pass
    boxes = [box for box in owner.findChildren(QMessageBox) if box.isVisible()]
    assert len(boxes) == 1
    assert boxes[0].windowTitle() == title
    assert boxes[0].text().startswith(text)
    boxes[0].accept()


def test_result_is_dropped_when_the_owner_is_gone(qtbot: QtBot, owner: QWidget) -> None:
    doomed = QWidget()
    release = threading.Event()
    delivered: list[object] = []
    run_in_background(doomed, lambda: release.wait(5) and "late", delivered.append, delivered.append)
    shiboken6.delete(doomed)  # the window closes while the work runs
    release.set()
    assert QThreadPool.globalInstance().waitForDone(5_000)
    # Deliveries arrive in order: once a later op has delivered, the first one's result was handled.
    later = run_in_background(owner, lambda: "later", lambda _value: None)
    with qtbot.waitSignal(later.finished, timeout=5_000):
        pass
    assert delivered == []


def test_a_cancelled_load_delivers_nothing_and_blocks_nothing(qtbot: QtBot, owner: QWidget) -> None:
    """A read that feeds a view: once cancelled (a newer read, another case, the lock), even a result it
    finished anyway is dropped; and it is not 'exclusive', so actions need not wait for it."""
    release = threading.Event()
    delivered: list[object] = []
    stale = load_in_background(owner, lambda _cancel: release.wait(5) and "stale", delivered.append,
                               delivered.append)
    assert stale.running and not stale.exclusive
    stale.cancel()  # the work does not look at the token: it finishes, and is still dropped
    release.set()
    with qtbot.waitSignal(stale.finished, timeout=5_000):
        pass
    fresh = load_in_background(owner, lambda cancel: "fresh" if not cancel.cancelled else "?", delivered.append)
    with qtbot.waitSignal(fresh.finished, timeout=5_000):
        pass
    assert delivered == ["fresh"]


def test_progress_and_cancel(qtbot: QtBot, owner: QWidget) -> None:
    progress: list[tuple[int, int, str]] = []
    failures: list[BaseException] = []
    started = threading.Event()
    proceed = threading.Event()

    def work(report: ProgressCallback, cancel: CancelToken) -> str:
        report(1, 2, "first half")
        started.set()
        proceed.wait(5)
        report(2, 2, "second half")
        cancel.check()
        return "done"

    op = run_with_progress(owner, work, lambda _v: pytest.fail("cancelled work must not succeed"),
                           lambda done, total, message: progress.append((done, total, message)), failures.append)
    assert started.wait(5)
    op.cancel()
    proceed.set()
    with qtbot.waitSignal(op.finished, timeout=5_000):
        pass
    assert progress[0] == (1, 2, "first half")
    assert len(failures) == 1
    assert isinstance(failures[0], Cancelled)


def test_progress_dialog_cancel_button_cancels(qtbot: QtBot, owner: QWidget) -> None:
    owner.show()
    failures: list[BaseException] = []
    started = threading.Event()

    def work(report: ProgressCallback, cancel: CancelToken) -> None:
        started.set()
        for step in range(500):
            report(step, 500, "copying")
            if cancel.cancelled:
                break
            threading.Event().wait(0.01)
        cancel.check()

    op = run_with_progress_dialog(owner, "Adding evidence", work, lambda _v: None, failures.append)
    assert started.wait(5)
    dialog = owner.findChild(QProgressDialog)
    assert dialog is not None
    cancel_button = dialog.findChild(QPushButton)
    assert cancel_button is not None
    assert cancel_button.text() == "Cancel"
    with qtbot.waitSignal(op.finished, timeout=10_000):
        cancel_button.click()
    assert len(failures) == 1
    assert isinstance(failures[0], Cancelled)
    # No error dialog for a cancellation the user asked for.
    assert not [box for box in owner.findChildren(QMessageBox) if box.isVisible()]
