"""Issue 11: Cancel on the PDF and CASE/UCO exports, and Ctrl+L while one runs.

The report services take no cancel token yet, so the slow part is simulated by a service that waits for the
test: what is checked is what the desktop does around it — the dialog stays until the work ended, no file
after a cancelled PDF, an honest message when the export could not stop, and a lock that never waits on
the GUI thread and never shows a result over the lock screen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QPushButton
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.ops import BackgroundOp
from icspa_desktop.services import cases, custody_reports
from tests.gui.conftest import unlock_as


class Gate:
    """Wraps a service: it starts, then waits until the test opens the gate."""

    def __init__(self, service: Callable[..., object]) -> None:
        self.service = service
        self.started = threading.Event()
        self.open = threading.Event()

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.started.set()
        assert self.open.wait(20)
        return self.service(*args, **kwargs)


@pytest.fixture
def pdf_gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(custody_reports.custody_report_bytes)
    monkeypatch.setattr(custody_reports, "custody_report_bytes", gate)
    yield gate
    gate.open.set()


@pytest.fixture
def app(qtbot: QtBot, desktop: DesktopApp, tmp_path: Path) -> DesktopApp:
    desktop.window.custody.witness_dir = tmp_path / "witness"
    unlock_as(qtbot, desktop)
    assert desktop.session is not None
    desktop.window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    return desktop


def start_export(app: DesktopApp, export: Callable[[], object], out: Path) -> BackgroundOp:
    dialog = export()
    assert dialog is not None
    dialog.selectFile(str(out))  # type: ignore[attr-defined]
    dialog.accept()  # type: ignore[attr-defined]
    (op,) = [op for op in app.window.findChildren(BackgroundOp) if op.running]
    return op


def progress_dialog(app: DesktopApp) -> QProgressDialog:
    (dialog,) = [d for d in app.window.findChildren(QProgressDialog) if d.isVisible() or not d.wasCanceled()]
    return dialog


def shown_boxes(app: DesktopApp, name: str) -> list[QMessageBox]:
    return [box for box in app.window.findChildren(QMessageBox, name) if box.isVisible()]


def test_cancel_pdf_stays_until_stopped_and_writes_nothing(qtbot: QtBot, app: DesktopApp, pdf_gate: Gate,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "case.pdf"
    op = start_export(app, app.window.custody.export_case_pdf, out)
    assert pdf_gate.started.wait(10)
    dialog = progress_dialog(app)
    dialog.show()
    button = dialog.findChild(QPushButton)
    assert button is not None
    button.click()  # Cancel
    assert op.cancel_token.cancelled and op.running
    assert dialog.isVisible() and "Stopping" in dialog.labelText()  # not gone while the work still runs
    assert not button.isEnabled()
    with qtbot.waitSignal(op.finished, timeout=60_000):
        pdf_gate.open.set()
    assert not out.exists()  # finished in memory, discarded
    assert not shown_boxes(app, "reportDoneDialog") and not shown_boxes(app, "errorDialog")
    message = app.window.statusBar().currentMessage()
    assert "cancelled" in message and out.name in message


def test_lock_during_a_pdf_export_never_waits_and_shows_nothing_after(qtbot: QtBot, app: DesktopApp,
                                                                       pdf_gate: Gate, tmp_path: Path) -> None:
    out = tmp_path / "case.pdf"
    session = app.session
    assert session is not None
    op = start_export(app, app.window.custody.export_case_pdf, out)
    assert pdf_gate.started.wait(10)
    app.window.lock_action.trigger()  # Ctrl+L: returns at once though the report cannot stop yet
    assert app.session is None and app.locking and op.abandoned
    assert app.window.stack.currentIndex() == 0  # the lock screen, now
    assert session.is_open  # closed only once no worker uses it
    assert not [d for d in app.window.findChildren(QProgressDialog) if d.isVisible()]
    with qtbot.waitSignal(app.locked, timeout=60_000):
        pdf_gate.open.set()
    assert not session.is_open and not app.locking
    assert not out.exists()
    assert not shown_boxes(app, "reportDoneDialog") and not shown_boxes(app, "errorDialog")
    assert app.unlock_dialog is not None and app.unlock_dialog.isVisible()


@pytest.fixture
def uco_gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(custody_reports.case_uco_export)
    monkeypatch.setattr(custody_reports, "case_uco_export", gate)
    yield gate
    gate.open.set()


def test_cancel_of_a_case_uco_export_that_cannot_stop_says_so(qtbot: QtBot, app: DesktopApp, tmp_path: Path,
                                                              uco_gate: Gate) -> None:
    gate = uco_gate
    out = tmp_path / "case.jsonld"
    op = start_export(app, app.window.custody.export_case_uco, out)
    assert gate.started.wait(10)
    dialog = progress_dialog(app)
    dialog.show()
    button = dialog.findChild(QPushButton)
    assert button is not None
    button.click()  # Cancel
    assert dialog.isVisible() and "cannot be interrupted" in dialog.labelText()
    with qtbot.waitSignal(op.finished, timeout=60_000):
        gate.open.set()
    (box,) = shown_boxes(app, "reportDoneDialog")
    assert box.text().startswith("It could not be stopped in time.") and str(out) in box.text()
    assert out.exists()


def test_ctrl_l_in_the_modal_progress_dialog_locks(qtbot: QtBot, app: DesktopApp, pdf_gate: Gate,
                                                   tmp_path: Path) -> None:
    """The main window's shortcuts do not work while a window-modal dialog blocks it; Ctrl+L still locks."""
    op = start_export(app, app.window.custody.export_case_pdf, tmp_path / "case.pdf")
    assert pdf_gate.started.wait(10)
    dialog = progress_dialog(app)
    dialog.show()
    assert dialog.windowModality() == Qt.WindowModality.WindowModal  # the main window's shortcuts are blocked
    qtbot.keyClick(dialog, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert app.session is None and op.abandoned and app.window.stack.currentIndex() == 0
    with qtbot.waitSignal(app.locked, timeout=60_000):
        pdf_gate.open.set()
    qtbot.keyClick(app.unlock_dialog, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # locked: nothing
    assert app.unlock_dialog is not None and app.unlock_dialog.isVisible()
