"""Issue 13 item 5: Ctrl+L while an ingest runs in the desktop app.

A 3 GiB source (sparse: free to make, still read, hashed and sealed byte by byte — seconds of work) is being added
through the real ingest dialog; the lock is triggered as soon as the work reports its first bytes. The job is told
to stop, the session closes within a second (``locked``), nothing of the half-read file is stored (no item, no
blob, nothing left in staging for the next unlock to quarantine, the vault check and custody verification clean,
no custody event), and no result or error is shown afterwards. Tests wait on the op's and the app's signals.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QMessageBox, QProgressDialog
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.evidence_dialogs import IngestDialog
from icspa_desktop.services import cases, custody_verify, evidence, vault_service
from tests.conftest import VaultInfo
from tests.gui.conftest import unlock_as, wait_loaded

SOURCE_SIZE = 3 << 30


def files_under(*folders: Path) -> set[Path]:
    return {p for folder in folders if folder.is_dir() for p in folder.rglob("*") if p.is_file()}


def test_lock_during_an_ingest_stops_it_within_a_second_and_stores_nothing(
        qtbot: QtBot, desktop: DesktopApp, vault: VaultInfo, tmp_path: Path) -> None:
    source = tmp_path / "disk.img"
    with open(source, "wb") as handle:
        handle.write(b"\xeb\x3c\x90MSDOS5.0" + bytes(500))
        handle.truncate(SOURCE_SIZE)
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    case = cases.get_case(session, "2026/001")
    assert desktop.window.browser.select_case(case.id)
    actions = desktop.window.evidence
    tab = actions.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab, desktop)
    events_before = session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0]
    stored_before = files_under(vault.path / "blobs", vault.path / "staging")

    dialog = actions.ingest([source])
    assert isinstance(dialog, IngestDialog)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    op = actions.last_op
    assert op is not None and op.running
    qtbot.waitSignal(op.progressed, timeout=30_000,  # in the middle of the file
                     check_params_cb=lambda done, total, _message: 0 < done < total).wait()

    started = time.perf_counter()
    with qtbot.waitSignal(desktop.locked, timeout=10_000):
        desktop.window.lock_action.trigger()  # Ctrl+L
        assert desktop.session is None and op.abandoned and desktop.window.stack.currentIndex() == 0
    assert time.perf_counter() - started < 1.0  # the job stopped and the session closed within a second
    assert not session.is_open

    # No result shown afterwards, no progress left on screen, nothing said of items added.
    assert actions.last_outcome is None
    assert not [box for box in desktop.window.findChildren(QMessageBox) if box.isVisible()]
    assert not [d for d in desktop.window.findChildren(QProgressDialog) if d.isVisible()]
    assert "Added" not in desktop.window.statusBar().currentMessage()
    assert desktop.unlock_dialog is not None and desktop.unlock_dialog.isVisible()

    # Nothing half-stored: seen from a new session once the desktop has let go of the vault.
    assert files_under(vault.path / "blobs", vault.path / "staging") == stored_before
    desktop.quit()
    with vault.session() as after:
        assert evidence.list_items(after, case.id) == []
        assert after.conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0
        assert after.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0] == events_before
        assert after.vault.quarantined == ()  # this unlock found no leftover to set aside
        check = vault_service.check_vault(after)
        assert check.ok and check.quarantine == [], check.problems
        report = custody_verify.verify(after)
        assert report.ok, report.summary()
