"""No live Qt object of the GUI is ever left for Python's cyclic garbage collector to destroy.

The collector runs in whichever thread happens to allocate, often a worker of gui/ops.py busy with the
vault. A QObject kept alive only by a Python reference cycle is destroyed there, racing the GUI thread:
the case list's source model, destroyed in a worker, posted its destroyed() call to the proxy model, which
the same collection then destroyed while the GUI thread delivered that call (the GUI suite's occasional
segfault in QApplication::notify). Every QObject must therefore be owned by a Qt parent (or by a caller
that deletes it on the GUI thread), so that dropping the Python wrappers never destroys a live object.
"""

from __future__ import annotations

import gc

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThreadPool
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.main_window import MainWindow
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases
from tests.conftest import VaultInfo


def live_qt_objects_in_garbage() -> list[str]:
    """The live QObjects that the next collection would destroy, in whatever thread it ran."""
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it finds in gc.garbage instead of freeing it
    try:
        gc.collect()
        return sorted(type(obj).__name__ for obj in gc.garbage
                      if isinstance(obj, QObject) and shiboken6.isValid(obj))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()  # now free it, here on the GUI thread


def test_the_main_window_and_its_case_tabs_leave_no_live_qt_object_to_the_collector(
        qtbot: QtBot, vault: VaultInfo) -> None:
    with vault.session() as session:
        for number in ("2026/001", "2026/002"):
            cases.create_case(session, CaseFields(number, f"Case {number}"))
    gc.collect()  # what earlier tests left
    gc.disable()  # from here on only the explicit collection below runs
    try:
        session = vault.session()
        window = MainWindow(vault.path)
        with qtbot.waitSignal(window.browser.cases_loaded, timeout=20_000):  # the list is read in a worker
            window.show_session(session)
        for number in ("2026/001", "2026/002", "2026/001"):  # the first makes the case tabs, the others reuse them
            assert window.browser.select_case(cases.get_case(session, number).id)
        assert QThreadPool.globalInstance().waitForDone(20_000)  # the daily checkpoint
        QCoreApplication.processEvents()
        window.show_locked()
        session.lock()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the replaced tabs
        shiboken6.delete(window)  # the GUI thread deletes the window and everything Qt owns under it
        del window
        left = live_qt_objects_in_garbage()
    finally:
        gc.enable()
    assert left == []


def test_settings_hold_no_qt_object(tmp_path) -> None:
    settings = AppSettings(tmp_path / "desktop.ini")
    settings.last_user = "alice"
    assert not [value for value in vars(settings).values() if isinstance(value, QObject)]
    assert AppSettings(settings.file).last_user == "alice"
