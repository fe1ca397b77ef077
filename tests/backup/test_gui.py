"""Vault → Back up… in the desktop app (offscreen, a real vault): folder dialog, progress, Cancel, a clear result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import backup
from tests.conftest import VaultInfo
from tests.gui.conftest import make_app, unlock_as


@pytest.fixture
def app(qtbot: QtBot, qapp: QApplication, stocked: VaultInfo, tmp_path: Path) -> Iterator[DesktopApp]:
    yield from make_app(qtbot, qapp, stocked.path, AppSettings(tmp_path / "config" / "desktop.ini"))


def vault_menu_actions(app: DesktopApp) -> list[str]:
    menu = next(a.menu() for a in app.window.menuBar().actions() if a.text() == "&Vault")
    menu.aboutToShow.emit()  # what opening the menu does
    return [a.text() for a in menu.actions() if a.isEnabled()]


def test_back_up_from_the_vault_menu(qtbot: QtBot, app: DesktopApp, out: Path) -> None:
    assert "&Back up…" not in vault_menu_actions(app)  # locked: nothing to back up
    unlock_as(qtbot, app)
    assert "&Back up…" in vault_menu_actions(app)
    action = app.window.backup
    dialog = action.choose_folder()
    assert isinstance(dialog, QFileDialog) and dialog.fileMode() == QFileDialog.FileMode.Directory
    dialog.fileSelected.emit(str(out))  # the user picked the medium's folder
    dialog.close()
    assert action.op is not None and action.busy
    assert "&Back up…" not in vault_menu_actions(app)  # one backup at a time
    with qtbot.waitSignal(action.op.finished, timeout=60_000):
        pass
    box = action.result_box
    assert isinstance(box, QMessageBox) and box.windowTitle() == "Backup complete"
    made = list(out.iterdir())
    assert len(made) == 1 and str(made[0]) in box.text()
    assert backup.check_backup(made[0]).manifest.blobs == 6
    assert "&Back up…" in vault_menu_actions(app)


def test_cancel_leaves_nothing_and_says_so(qtbot: QtBot, app: DesktopApp, out: Path) -> None:
    unlock_as(qtbot, app)
    action = app.window.backup
    op = action.back_up_to(out)
    assert op is not None
    op.cancel()  # the progress dialog's Cancel button
    with qtbot.waitSignal(op.finished, timeout=60_000):
        pass
    box = action.result_box
    assert isinstance(box, QMessageBox) and box.windowTitle() == "Backup cancelled"
    assert list(out.iterdir()) == []


def test_a_failure_is_shown_as_an_error(qtbot: QtBot, app: DesktopApp, tmp_path: Path) -> None:
    unlock_as(qtbot, app)
    action = app.window.backup
    op = action.back_up_to(tmp_path / "not-mounted")
    assert op is not None
    with qtbot.waitSignal(op.finished, timeout=60_000):
        pass
    errors = [w for w in QApplication.topLevelWidgets() + app.window.findChildren(QMessageBox)
              if isinstance(w, QMessageBox) and w.objectName() == "errorDialog"]
    assert errors and "does not exist" in errors[-1].text()
