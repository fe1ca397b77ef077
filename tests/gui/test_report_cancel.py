"""Issue 11: the PDF and CASE/UCO exports show real progress, Cancel stops them, and Ctrl+L during one locks
within a second and never shows its result.

Real services on a real vault: a case of 2,000 items (2,000 custody events) built once for the module, so a
report runs long enough to be cancelled in the middle (its layout drawn in a separate process, icspa_desktop/
separate.py); the small case of the ``desktop``
fixture for the runs that must reach the end. Tests wait on the op's ``progressed`` / ``finished`` signals
and the app's ``locked``.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QPushButton
from pytestqt.qtbot import QtBot

from icspa_desktop.custody import events
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.ops import BackgroundOp
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases, evidence
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from tests.conftest import ADMIN, ADMIN_PASS
from tests.gui.conftest import make_app, unlock_as

BIG = "BIG/001"
BIG_ITEMS = 2000


@pytest.fixture(scope="module")
def big_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault whose case BIG/001 has 2,000 items and as many custody events, made through the services."""
    root = tmp_path_factory.mktemp("bigvault")
    with pytest.MonkeyPatch.context() as patch:  # the module fixture runs before the per-test isolated home
        patch.setenv("HOME", str(root / "home"))
        patch.setenv("XDG_DATA_HOME", str(root / "home" / ".local/share"))
        patch.setenv("XDG_CONFIG_HOME", str(root / "home" / ".config"))
        path = root / "vault"
        init_vault(path, ADMIN, ADMIN_PASS, display_name="Alice Admin",
                   agency=AgencyInfo("Test Police", "NL", "Digital Forensics", "lab@example.org"))
        source = root / "card"
        source.mkdir()
        for i in range(BIG_ITEMS):
            (source / f"IMG_{i:05d}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + i.to_bytes(4, "big") * 16)
        with unlock(path, ADMIN, ADMIN_PASS) as session:
            big = cases.create_case(session, CaseFields(BIG, "Operation Kingfisher"))
            evidence.add_files(session, big.id, [source], ItemFields(description="Photo from the seized card"))
            assert len(events.list_events(session.conn, case_id=big.id)) > BIG_ITEMS
    return path


@pytest.fixture
def big_app(qtbot: QtBot, qapp: QApplication, big_vault: Path, settings: AppSettings,
            tmp_path: Path) -> Iterator[DesktopApp]:
    for app in make_app(qtbot, qapp, big_vault, settings):
        app.window.custody.witness_dir = tmp_path / "witness"
        unlock_as(qtbot, app)
        assert app.session is not None
        app.window.browser.select_case(cases.get_case(app.session, BIG).id)
        yield app


@pytest.fixture
def small_app(qtbot: QtBot, desktop: DesktopApp, tmp_path: Path) -> DesktopApp:
    desktop.window.custody.witness_dir = tmp_path / "witness"
    unlock_as(qtbot, desktop)
    assert desktop.session is not None
    desktop.window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    return desktop


def start_export(app: DesktopApp, export: Callable[[], object], out: Path) -> BackgroundOp:
    """Choose ``out`` in the export's file dialog, as the user does; the op that then runs."""
    dialog = export()
    assert dialog is not None
    dialog.selectFile(str(out))  # type: ignore[attr-defined]
    dialog.accept()  # type: ignore[attr-defined]
    (op,) = [op for op in app.window.findChildren(BackgroundOp) if op.running]
    return op


def wait_for_stage(qtbot: QtBot, op: BackgroundOp, stage: str) -> None:
    """Wait until the work reports a message starting with ``stage`` (it is then in the middle of it)."""
    qtbot.waitSignal(op.progressed, timeout=120_000,
                     check_params_cb=lambda _done, _total, message: message.startswith(stage)).wait()


def progress_dialog(qtbot: QtBot, app: DesktopApp) -> QProgressDialog:
    """The progress dialog, once it shows: QProgressDialog appears at a progress report after its minimum duration
    (400 ms), which a stage's first report may precede."""
    def shown() -> list[QProgressDialog]:
        return [d for d in app.window.findChildren(QProgressDialog) if d.isVisible()]

    qtbot.waitUntil(lambda: bool(shown()), timeout=10_000)
    (dialog,) = shown()
    return dialog


def shown_boxes(app: DesktopApp, name: str) -> list[QMessageBox]:
    return [box for box in app.window.findChildren(QMessageBox, name) if box.isVisible()]


def workspace(tmp_path: Path) -> set[Path]:
    return set(tmp_path.iterdir())


@pytest.mark.parametrize(("export", "stage"), [("export_case_pdf", "Laying out the report"),
                                               ("export_case_uco", "Describing the items")])
def test_cancel_in_the_middle_stops_the_work_and_writes_nothing(qtbot: QtBot, big_app: DesktopApp, tmp_path: Path,
                                                                export: str, stage: str) -> None:
    out = tmp_path / "big.out"
    before = workspace(tmp_path)
    op = start_export(big_app, getattr(big_app.window.custody, export), out)
    wait_for_stage(qtbot, op, stage)
    dialog = progress_dialog(qtbot, big_app)  # shown once the work has run past its minimum duration
    button = dialog.findChild(QPushButton)
    assert button is not None and dialog.maximum() == 1000  # a determinate bar: the total is known here
    started = time.perf_counter()
    with qtbot.waitSignal(op.finished, timeout=10_000):
        button.click()  # Cancel
        assert dialog.isVisible() and "Stopping" in dialog.labelText() and not button.isEnabled()
    assert time.perf_counter() - started < 1.0
    assert not multiprocessing.active_children()  # the report's drawing process (separate.py) was ended
    assert not out.exists() and workspace(tmp_path) - before <= {tmp_path / "witness"}  # no partial file
    assert not dialog.isVisible()
    assert not shown_boxes(big_app, "reportDoneDialog") and not shown_boxes(big_app, "errorDialog")
    message = big_app.window.statusBar().currentMessage()
    assert "cancelled" in message and out.name in message


def test_lock_during_a_big_report_closes_within_a_second_and_shows_nothing(qtbot: QtBot, big_app: DesktopApp,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "big.pdf"
    session = big_app.session
    assert session is not None
    op = start_export(big_app, big_app.window.custody.export_case_pdf, out)
    wait_for_stage(qtbot, op, "Laying out the report")
    started = time.perf_counter()
    with qtbot.waitSignal(big_app.locked, timeout=10_000):
        big_app.window.lock_action.trigger()  # Ctrl+L
        assert time.perf_counter() - started < 0.2  # the lock screen at once, not after the work
        assert big_app.session is None and op.abandoned and big_app.window.stack.currentIndex() == 0
        assert not [d for d in big_app.window.findChildren(QProgressDialog) if d.isVisible()]
    assert time.perf_counter() - started < 1.0  # the report stopped; the session is closed
    assert not session.is_open and not out.exists()
    assert not multiprocessing.active_children()  # its drawing process too
    assert not shown_boxes(big_app, "reportDoneDialog") and not shown_boxes(big_app, "errorDialog")
    assert big_app.unlock_dialog is not None and big_app.unlock_dialog.isVisible()


def test_ctrl_l_in_the_modal_progress_dialog_locks(qtbot: QtBot, big_app: DesktopApp, tmp_path: Path) -> None:
    """The main window's shortcuts do not work while a window-modal dialog blocks it; Ctrl+L still locks."""
    op = start_export(big_app, big_app.window.custody.export_case_uco, tmp_path / "big.jsonld")
    wait_for_stage(qtbot, op, "Describing the items")
    dialog = progress_dialog(qtbot, big_app)
    assert dialog.windowModality() == Qt.WindowModality.WindowModal  # the main window's shortcuts are blocked
    with qtbot.waitSignal(big_app.locked, timeout=10_000):
        qtbot.keyClick(dialog, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
        assert big_app.session is None and op.abandoned and big_app.window.stack.currentIndex() == 0
    assert not (tmp_path / "big.jsonld").exists()
    qtbot.keyClick(big_app.unlock_dialog, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # locked: nothing
    assert big_app.unlock_dialog is not None and big_app.unlock_dialog.isVisible()


@pytest.mark.parametrize(("export", "suffix", "title"), [("export_case_pdf", "pdf", "Report written"),
                                                          ("export_case_uco", "jsonld", "Export written")])
def test_a_normal_run_reports_progress_to_the_end_then_the_result(qtbot: QtBot, small_app: DesktopApp,
                                                                  tmp_path: Path, export: str, suffix: str,
                                                                  title: str) -> None:
    out = tmp_path / f"case.{suffix}"
    op = start_export(small_app, getattr(small_app.window.custody, export), out)
    reports: list[tuple[int, int, str]] = []
    op.progressed.connect(lambda done, total, message: reports.append((done, total, message)))
    with qtbot.waitSignal(op.finished, timeout=60_000):
        pass
    done, total, message = reports[-1]
    assert done == total > 0 and out.name in message  # the last report: all done, the file written
    assert out.stat().st_size > 0
    (box,) = shown_boxes(small_app, "reportDoneDialog")
    assert box.windowTitle() == title and str(out) in box.text() and "could not be stopped" not in box.text()
    assert not [d for d in small_app.window.findChildren(QProgressDialog) if d.isVisible()]
