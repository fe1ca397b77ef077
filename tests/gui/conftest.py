"""GUI fixtures: the real app controller over a real vault, offscreen, with isolated settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role, Tlp
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.custody_tab import CustodyTab
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases
from tests.conftest import NAMES, PASSPHRASES, VaultInfo


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(tmp_path / "config" / "desktop.ini")


def make_app(qtbot: QtBot, qapp: QApplication, path: Path, settings: AppSettings) -> Iterator[DesktopApp]:
    app = DesktopApp(qapp, path, settings)
    qtbot.addWidget(app.window)  # pytest-qt closes and deletes the window
    app.start()
    yield app
    app.quit()
    QThreadPool.globalInstance().waitForDone(10_000)
    # The controller has no Qt parent: delete it here, on the GUI thread. Left to Python, a test's
    # traceback could keep it until a collection in some later test's worker thread (test_object_lifetime).
    shiboken6.delete(app)


@pytest.fixture
def desktop(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, settings: AppSettings) -> Iterator[DesktopApp]:
    """The app on a vault with one user per role, showing its unlock dialog."""
    with vault.session() as session:
        cases.create_case(session, CaseFields("2026/001", "Operation Nightjar", tlp=Tlp.RED))
        cases.create_case(session, CaseFields("2026/002", "Ransomware at the harbour"))
    yield from make_app(qtbot, qapp, vault.path, settings)


def wait_loaded(qtbot: QtBot, tab: EvidenceTab | CustodyTab, app: DesktopApp | None = None) -> None:
    """Wait until a case tab has read its data (tabs read in the background, issue 11): the read under way,
    or a new one. With ``app``, the tab is brought forward first, as a user would."""
    with qtbot.waitSignal(tab.loaded, timeout=20_000):
        if app is not None:
            app.window.browser.tabs.setCurrentWidget(tab)
        if not tab.loading:
            tab.reload()


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
