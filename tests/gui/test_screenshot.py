"""Render the styled main window with realistic cases (set ICSPA_SCREENSHOT_DIR to keep the PNGs)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import CaseStatus, HandlingCode, Tlp
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.resources import stylesheet
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases
from tests.conftest import VaultInfo
from tests.gui.conftest import unlock_as

CASES = [
    ("2026/001", "Operation Nightjar — cross-border investment fraud ring", HandlingCode.H2, Tlp.AMBER),
    ("2026/002", "Ransomware attack on municipal servers", HandlingCode.H0, Tlp.GREEN),
    ("2026/003", "Online exploitation material shared via a messenger group", HandlingCode.H3, Tlp.RED),
    ("2026/004", "Stolen vehicles exported through the port", HandlingCode.H1, Tlp.CLEAR),
    ("2026/005", "Phishing campaign against pensioners", HandlingCode.H2, Tlp.AMBER_STRICT),
]


def test_render_main_window(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, tmp_path: Path) -> None:
    with vault.session() as session:
        for number, title, handling, tlp in CASES:
            cases.create_case(session, CaseFields(
                number, title, description="Laptops and phones seized at three addresses; extraction pending.",
                lead_investigator="Ivan Investigator", jurisdiction="Rotterdam Police",
                legal_authority="RC-2026-0042", handling_code=handling, tlp=tlp,
                handling_text="Only for the joint investigation team" if handling is HandlingCode.H3 else ""))
        cases.set_status(session, "2026/004", CaseStatus.CLOSED)
    out = Path(os.environ.get("ICSPA_SCREENSHOT_DIR") or tmp_path)
    previous = qapp.styleSheet()
    qapp.setStyleSheet(stylesheet())
    app = DesktopApp(qapp, vault.path, AppSettings(tmp_path / "desktop.ini"))
    qtbot.addWidget(app.window)
    try:
        app.start()
        unlock_as(qtbot, app)
        window = app.window
        window.resize(1180, 720)
        window.browser.select_case(cases.get_case(app.session, "2026/003").id)  # type: ignore[arg-type]
        image = window.grab()
        assert image.width() >= 1000
        assert image.save(str(out / "main-window.png"))
        app.lock()
        assert app.window.grab().save(str(out / "main-window-locked.png"))
    finally:
        app.quit()
        qapp.setStyleSheet(previous)
