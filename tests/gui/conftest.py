"""GUI fixtures: the real app controller over a real vault, offscreen, with isolated settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role, Tlp
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases
from tests.conftest import NAMES, PASSPHRASES, VaultInfo


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(tmp_path / "config" / "desktop.ini")


def make_app(qtbot: QtBot, qapp: QApplication, path: Path, settings: AppSettings) -> Iterator[DesktopApp]:
    app = DesktopApp(qapp, path, settings)
    qtbot.addWidget(app.window)
    app.start()
    yield app
    app.quit()
    QThreadPool.globalInstance().waitForDone(10_000)


@pytest.fixture
def desktop(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, settings: AppSettings) -> Iterator[DesktopApp]:
    """The app on a vault with one user per role, showing its unlock dialog."""
    with vault.session() as session:
        cases.create_case(session, CaseFields("2026/001", "Operation Nightjar", tlp=Tlp.RED))
        cases.create_case(session, CaseFields("2026/002", "Ransomware at the harbour"))
    yield from make_app(qtbot, qapp, vault.path, settings)


def unlock_as(qtbot: QtBot, app: DesktopApp, role: Role = Role.ADMINISTRATOR) -> None:
    """Type the role's credentials into the unlock dialog and wait for the background unlock."""
    dialog = app.unlock_dialog
    assert dialog is not None
    assert dialog.isVisible()
    dialog.user.setText(NAMES[role])
    dialog.passphrase.setText(PASSPHRASES[role])
    with qtbot.waitSignal(app.unlocked, timeout=20_000):
        dialog.unlock_button.click()
    assert app.session is not None


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests() -> Iterator[None]:
    """Collect one test's garbage before the next starts its background threads.

    The GUI suite crashed now and then (about 1 run in 6, always while a later test's worker thread used
    SQLCipher and the main thread ran Python's garbage collector over earlier tests' leftovers). Collecting
    here, with no worker running, removes that overlap; the root cause is not yet found (see the issue note).
    """
    yield
    gc.collect()
