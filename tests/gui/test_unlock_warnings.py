"""What the unlock found (a witness the log no longer fits) is shown to the user, not only printed by the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases, evidence
from icspa_desktop.vault import store
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo
from tests.gui.conftest import make_app, unlock_as

KILLER = Path(__file__).resolve().parents[1] / "evidence" / "killer.py"


def test_cut_tail_is_reported_in_a_dialog_at_unlock(qtbot: QtBot, qapp: QApplication, vault: VaultInfo,
                                                    settings: AppSettings) -> None:
    with vault.session() as alice:  # her lock writes her witness of the newest event
        cases.create_case(alice, CaseFields("2026/009", "Kept"))
        cases.create_case(alice, CaseFields("2026/010", "Cut off later"))
    opened, _ = store.open_and_unlock(vault.path, lambda slots: slots.unlock(ADMIN, ADMIN_PASS))
    try:  # an insider with direct SQL removes the newest event
        last = opened.conn.execute("SELECT MAX(idx) FROM custody_events").fetchone()[0]
        opened.conn.execute("DELETE FROM custody_event_items WHERE event_idx = ?", (last,))
        opened.conn.execute("DELETE FROM custody_events WHERE idx = ?", (last,))
    finally:
        opened.close()
    running = make_app(qtbot, qapp, vault.path, settings)
    app = next(running)
    try:
        unlock_as(qtbot, app)
        box = app.window.findChild(QMessageBox, "unlockWarnings")
        assert box is not None and box.isVisible()
        assert "no longer contains event" in box.text()
        # No daily checkpoint signs over a log in doubt.
        assert app.session is not None
        assert app.session.conn.execute("SELECT COUNT(*) FROM custody_checkpoints").fetchone()[0] == 0
        box.accept()
    finally:
        next(running, None)  # quit, and wait for background work


def test_interrupted_extraction_is_cleaned_up_and_reported_at_unlock(qtbot: QtBot, qapp: QApplication,
                                                                    vault: VaultInfo, settings: AppSettings,
                                                                    tmp_path: Path) -> None:
    source = tmp_path / "image.bin"
    source.write_bytes(os.urandom(3 << 20))  # several chunks: the kill lands mid-write
    with vault.session() as alice:
        case = cases.create_case(alice, CaseFields("2026/011", "Extraction"))
        item = evidence.add_files(alice, case.id, [source]).items[0]
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}
    killed = subprocess.run([sys.executable, str(KILLER), "write", "2", "evidence", "extract", item.exhibit_number,
                             "--out", str(out / "copy.bin"), "--reason", "court copy"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [p.name for p in out.iterdir()], "the kill left no partial file to clean up"
    running = make_app(qtbot, qapp, vault.path, settings)
    app = next(running)
    try:
        unlock_as(qtbot, app)
        box = app.window.findChild(QMessageBox, "unlockWarnings")
        assert box is not None and "was interrupted" in box.text() and "was removed" in box.text()
        assert list(out.iterdir()) == []
        box.accept()
    finally:
        next(running, None)
