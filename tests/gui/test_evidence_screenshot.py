"""Render the main window with a populated Evidence tab (set ICSPA_SCREENSHOT_DIR to keep the PNG)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.evidence import Acquisition, HashAlgorithm, ItemFields, Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.resources import stylesheet
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases, evidence, physical
from tests.conftest import VaultInfo
from tests.gui.conftest import unlock_as, wait_loaded

FILES = {
    "WhatsApp-export-2026-03.txt": b"[12/03/2026 22:14] K.: the container leaves on Friday\n" * 400,
    "IMG_4471.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 600,
    "invoice-0042.pdf": b"%PDF-1.7\n" + b"0" * 90_000,
    "wallet-backup.zip": b"PK\x03\x04" + bytes(range(256)) * 3000,
}


def test_render_evidence_tab(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, tmp_path: Path) -> None:
    source = tmp_path / "seized"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    with vault.session() as session:
        cases.create_case(session, CaseFields("2026/001", "Operation Nightjar — cross-border investment fraud ring",
                                              lead_investigator="Ivan Investigator", legal_authority="RC-2026-0042",
                                              handling_code=HandlingCode.H2, tlp=Tlp.AMBER))
        cases.create_case(session, CaseFields("2026/002", "Ransomware attack on municipal servers", tlp=Tlp.GREEN))
        evidence.add_files(session, "2026/001", [source / name for name in FILES], ItemFields(
            description="Logical copy of the suspect's laptop user folder", tags=("laptop", "K."),
            acquisition=Acquisition(method="logical copy", location="Rotterdam, Keizersgracht 12",
                                    tool="FTK Imager", tool_version="4.7", seal_number="S-118842")),
            algorithms=[HashAlgorithm.SHA256, HashAlgorithm.MD5, HashAlgorithm.SHA1])
        phone = physical.add_physical(session, "2026/001", "iPhone 12, black, cracked screen", ItemFields(
            storage_location="Evidence room 2, shelf B4", markings=Markings(HandlingCode.H2, "", Tlp.RED),
            acquisition=Acquisition(source_device="Apple iPhone 12", source_serial="IMEI 356938035643809",
                                    seal_number="S-118843")))
        physical.check_out(session, phone.id, "Dr. Lena Forensics", "chip-off examination at the lab")
        physical.add_physical(session, "2026/001", "Seagate 2 TB external disk",
                              ItemFields(storage_location="Evidence room 2, shelf B5"))
    out = Path(os.environ.get("ICSPA_SCREENSHOT_DIR") or tmp_path)
    previous = qapp.styleSheet()
    qapp.setStyleSheet(stylesheet())
    app = DesktopApp(qapp, vault.path, AppSettings(tmp_path / "desktop.ini"))
    qtbot.addWidget(app.window)
    try:
        app.start()
        unlock_as(qtbot, app)
        assert app.session is not None
        window = app.window
        window.resize(1440, 860)
        window.browser.select_case(cases.get_case(app.session, "2026/001").id)
        tab = window.evidence.current_tab()
        assert tab is not None
        wait_loaded(qtbot, tab, app)
        assert tab.model.rowCount() == 6
        window.browser.setSizes([470, 970])
        photo = next(i for i in tab.model.records() if i.original_name == "IMG_4471.jpg")
        tab.select_items([photo.id])
        window.show()
        qtbot.waitExposed(window)
        image = window.grab()
        assert image.width() >= 1400
        assert image.save(str(out / "evidence-tab.png"))
    finally:
        app.quit()
        qapp.setStyleSheet(previous)
