"""The Custody tab, Verify custody, the report exports and the item timeline, offscreen on a real vault."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QInputDialog, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from icspa_desktop.crypto.signing import key_fingerprint
from icspa_desktop.domain.enums import Role, Tlp
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.case_dialog import CaseDialog
from icspa_desktop.gui.custody_model import EventColumn
from icspa_desktop.gui.custody_tab import CustodyTab, ItemCustodyDialog
from icspa_desktop.gui.report_actions import CustodyActions
from icspa_desktop.gui.resources import stylesheet
from icspa_desktop.gui.verify_dialog import VerifyResultDialog
from icspa_desktop.services import cases, physical
from icspa_desktop.services.session import Session
from tests.gui.conftest import unlock_as, wait_loaded
from tests.tools import needs

needs_poppler = needs("pdftotext")  # fails, never skips, when missing (tests/tools.py)


@pytest.fixture
def custody_app(qtbot: QtBot, desktop: DesktopApp, tmp_path: Path) -> DesktopApp:
    """The desktop unlocked as administrator; checkpoints signed by the vault's own agency key (made at init),
    the witness file in a per-test directory."""
    # Before the unlock: its daily checkpoint writes the witness, and a missing one is damage.
    desktop.window.custody.witness_dir = tmp_path / "witness"
    unlock_as(qtbot, desktop)
    return desktop


def parts(app: DesktopApp) -> tuple[Session, CustodyActions]:
    assert app.session is not None
    return app.session, app.window.custody


def select(app: DesktopApp, number: str) -> Case:
    session, _actions = parts(app)
    case = cases.get_case(session, number)
    assert app.window.browser.select_case(case.id)
    return case


def custody_tab(qtbot: QtBot, app: DesktopApp) -> CustodyTab:
    """The Custody tab, brought forward, once it has read the timeline."""
    tab = app.window.custody.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab, app)
    return tab


def shown_actions(tab: CustodyTab) -> list[str]:
    return [event.action for event in tab.timeline.visible_events()]


def wait_verify_dialog(qtbot: QtBot, actions: CustodyActions) -> VerifyResultDialog:
    actions.last_verify_dialog = None
    actions.verify_action.trigger()
    qtbot.waitUntil(lambda: actions.last_verify_dialog is not None and actions.last_verify_dialog.isVisible(),
                    timeout=30_000)
    dialog = actions.last_verify_dialog
    assert dialog is not None
    return dialog


def test_timeline_follows_case_creation_and_edits(qtbot: QtBot, custody_app: DesktopApp) -> None:
    window = custody_app.window
    dialog = window.new_case()
    assert dialog is not None
    dialog.number.setText("2026/077")
    dialog.title.setText("Operation Kestrel")
    with qtbot.waitSignal(dialog.saved):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    tab = custody_tab(qtbot, custody_app)
    assert tab.case.number == "2026/077"
    assert shown_actions(tab) == ["case_created"]
    assert tab.timeline.model.index(0, EventColumn.ACTOR).data() == "Alice Admin (alice)"

    edit = window.edit_case()
    assert isinstance(edit, CaseDialog)
    edit.title.setText("Operation Kestrel II")
    edit.reason.setText("title corrected")
    with qtbot.waitSignal(edit.saved), qtbot.waitSignal(tab.loaded):  # the edit is read in the background
        edit.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert custody_tab(qtbot, custody_app) is tab
    assert shown_actions(tab) == ["case_created", "case_edited"]

    # Selecting the edit shows every field, the old → new change and the signing key.
    tab.timeline.select_row(1)
    details = tab.timeline.details.toPlainText()
    assert "Operation Kestrel" in details and "Operation Kestrel II" in details
    assert "Changed fields" in details
    assert "Signing key fingerprint" in details
    session, _ = parts(custody_app)
    assert key_fingerprint(session.user.signing_public_key) in details

    # Filter and sort (each read again in the background: ``loaded`` follows).
    with qtbot.waitSignal(tab.loaded):
        tab.timeline.filter_edit.setText("EDITED")
    assert shown_actions(tab) == ["case_edited"]
    assert tab.timeline.count_label.text() == "1 of 2 events"
    with qtbot.waitSignal(tab.loaded):
        tab.timeline.filter_edit.clear()
    with qtbot.waitSignal(tab.loaded):
        tab.timeline.table.sortByColumn(EventColumn.INDEX, Qt.SortOrder.DescendingOrder)
    assert shown_actions(tab) == ["case_edited", "case_created"]


def test_verify_intact_then_names_the_tampered_event(qtbot: QtBot, custody_app: DesktopApp) -> None:
    session, actions = parts(custody_app)
    dialog = wait_verify_dialog(qtbot, actions)
    assert dialog.report.ok
    assert dialog.summary.property("intact") == "true"
    count = int(session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0])
    assert f"all {count} events verified" in dialog.summary.text()
    dialog.reject()

    case = cases.get_case(session, "2026/001")
    idx, event_id = session.conn.execute(
        "SELECT idx, id FROM custody_events WHERE case_id = ? AND action = 'case_created'", (case.id,)).fetchone()
    session.conn.execute("UPDATE custody_events SET body = CAST(replace(CAST(body AS TEXT), 'Operation Nightjar', "
                         "'Operation Nightjaw') AS BLOB) WHERE idx = ?", (idx,))

    dialog = wait_verify_dialog(qtbot, actions)
    assert not dialog.report.ok
    assert dialog.summary.property("intact") == "false"
    text = dialog.text()
    assert f"Event #{idx} (id {event_id})" in text
    assert "edited after it was recorded" in text  # the plain-language explanation of a bad signature
    assert "damaged" in dialog.summary.text()


def test_make_checkpoint_appears_in_the_timeline(qtbot: QtBot, custody_app: DesktopApp) -> None:
    select(custody_app, "2026/001")
    _session, actions = parts(custody_app)
    tab = custody_tab(qtbot, custody_app)
    actions.checkpoint_action.trigger()
    qtbot.waitUntil(lambda: "checkpoint_signed" in shown_actions(tab), timeout=20_000)
    box = custody_app.window.findChild(QMessageBox, "reportDoneDialog")
    assert box is not None
    assert "Checkpoint" in box.text()


def test_investigator_checkpoint_is_signed_with_their_own_key(qtbot: QtBot, desktop: DesktopApp,
                                                              tmp_path: Path) -> None:
    desktop.window.custody.witness_dir = tmp_path / "witness"
    unlock_as(qtbot, desktop, Role.INVESTIGATOR)
    select(desktop, "2026/001")
    _session, actions = parts(desktop)
    tab = custody_tab(qtbot, desktop)
    actions.checkpoint_action.trigger()
    qtbot.waitUntil(lambda: bool(visible(desktop, QMessageBox, "reportDoneDialog")), timeout=20_000)
    (box,) = visible(desktop, QMessageBox, "reportDoneDialog")
    assert "your own key" in box.text()
    qtbot.waitUntil(lambda: "checkpoint_signed" in shown_actions(tab), timeout=20_000)
    assert not [w for w in desktop.window.findChildren(QMessageBox, "errorDialog") if w.isVisible()]


def visible(app: DesktopApp, kind: type[QMessageBox] | type[QFileDialog], name: str) -> list[QMessageBox | QFileDialog]:
    return [w for w in app.window.findChildren(kind, name) if w.isVisible()]


def run_file_dialog(qtbot: QtBot, app: DesktopApp, dialog: QFileDialog | None, out: Path) -> QMessageBox:
    assert dialog is not None
    dialog.selectFile(str(out))
    dialog.accept()
    qtbot.waitUntil(lambda: bool(visible(app, QMessageBox, "reportDoneDialog")), timeout=30_000)
    (box,) = visible(app, QMessageBox, "reportDoneDialog")
    assert isinstance(box, QMessageBox)
    text = box.text()
    box.done(0)
    assert str(out) in text
    assert out.exists()
    return box


@needs_poppler
def test_export_pdf_of_case_and_item_and_case_uco(qtbot: QtBot, custody_app: DesktopApp, tmp_path: Path) -> None:
    session, actions = parts(custody_app)
    phone = physical.add_physical(session, "2026/001", "Seized phone")
    select(custody_app, "2026/001")

    out = tmp_path / "case.pdf"
    run_file_dialog(qtbot, custody_app, actions.export_case_pdf(), out)
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "2026/001" in text
    assert phone.exhibit_number in text

    prompt = actions.export_item_pdf()
    assert isinstance(prompt, QInputDialog)
    prompt.setTextValue(f"{phone.exhibit_number} — Seized phone")
    prompt.accept()
    item_out = tmp_path / "item.pdf"
    (file_dialog,) = visible(custody_app, QFileDialog, "reportFileDialog")
    assert isinstance(file_dialog, QFileDialog)
    run_file_dialog(qtbot, custody_app, file_dialog, item_out)
    item_text = subprocess.run(["pdftotext", str(item_out), "-"], capture_output=True, text=True, check=True).stdout
    assert f"Exhibit {phone.exhibit_number}" in item_text.replace("\n", " ")

    uco = tmp_path / "case.jsonld"
    run_file_dialog(qtbot, custody_app, actions.export_case_uco(), uco)
    doc = json.loads(uco.read_text(encoding="utf-8"))
    assert doc["@graph"]
    assert "2026/001" in uco.read_text(encoding="utf-8")


def test_export_errors_use_the_error_dialog(qtbot: QtBot, custody_app: DesktopApp, tmp_path: Path) -> None:
    _session, actions = parts(custody_app)
    select(custody_app, "2026/002")
    existing = tmp_path / "taken.jsonld"
    existing.write_text("keep me")
    dialog = actions.export_case_uco()
    assert dialog is not None
    dialog.selectFile(str(existing))
    dialog.accept()
    qtbot.waitUntil(lambda: custody_app.window.findChild(QMessageBox, "errorDialog") is not None, timeout=20_000)
    error = custody_app.window.findChild(QMessageBox, "errorDialog")
    assert error is not None
    assert "already exists" in error.text()
    assert existing.read_text() == "keep me"


def test_item_custody_dialog_and_lock_closes_dialogs(qtbot: QtBot, custody_app: DesktopApp) -> None:
    session, actions = parts(custody_app)
    phone = physical.add_physical(session, "2026/002", "Hard disk")
    physical.check_out(session, phone.id, "KOK Schmidt", "examination")
    select(custody_app, "2026/002")
    prompt = actions.item_custody()
    assert isinstance(prompt, QInputDialog)
    prompt.setTextValue(f"{phone.exhibit_number} — Hard disk")
    prompt.accept()
    dialog = custody_app.window.findChild(ItemCustodyDialog)
    assert dialog is not None
    assert dialog.isVisible()
    shown = [event.action for event in dialog.timeline.visible_events()]
    assert len(shown) == 2
    assert all(phone.id in event.body["item_ids"] for event in dialog.timeline.visible_events())
    assert phone.exhibit_number in dialog.windowTitle()

    verify = wait_verify_dialog(qtbot, actions)
    custody_app.lock()
    assert not dialog.isVisible()
    assert not verify.isVisible()
    assert dialog.timeline.model.rowCount() == 0  # cleared, not just hidden
    assert not actions.verify_action.isEnabled()
    assert actions.current_tab() is None


def test_render_custody_screens(qtbot: QtBot, qapp: QApplication, custody_app: DesktopApp, tmp_path: Path) -> None:
    """The Custody tab and both verify results as PNGs (set ICSPA_SCREENSHOT_DIR to keep them)."""
    out = Path(os.environ.get("ICSPA_SCREENSHOT_DIR") or tmp_path)
    previous = qapp.styleSheet()
    qapp.setStyleSheet(stylesheet())
    try:
        session, actions = parts(custody_app)
        window = custody_app.window
        cases.edit_case(session, "2026/001", CaseFields(
            "2026/001", "Operation Nightjar — cross-border investment fraud ring", lead_investigator="Ivan",
            legal_authority="RC-2026-0042", tlp=Tlp.RED), "title and warrant added")
        phone = physical.add_physical(session, "2026/001", "Samsung phone", ItemFields(storage_location="Room B"))
        physical.check_out(session, phone.id, "KOK Schmidt", "examination")
        physical.check_in(session, phone.id, "KOK Schmidt")
        select(custody_app, "2026/001")
        window.resize(1280, 760)
        window.show()
        tab = custody_tab(qtbot, custody_app)
        window.browser.setSizes([330, 950])
        tab.timeline.select_row(1)
        actions.checkpoint_action.trigger()
        qtbot.waitUntil(lambda: "checkpoint_signed" in shown_actions(tab), timeout=20_000)
        for box in visible(custody_app, QMessageBox, "reportDoneDialog"):
            box.done(0)
        tab.timeline.select_row(1)
        assert window.grab().save(str(out / "custody-tab.png"))

        dialog = wait_verify_dialog(qtbot, actions)
        assert dialog.grab().save(str(out / "verify-intact.png"))
        dialog.reject()
        session.conn.execute("UPDATE custody_events SET body = CAST(replace(CAST(body AS TEXT), 'KOK Schmidt', "
                             "'KOK Schmitt') AS BLOB) WHERE action = 'checked_out'")
        dialog = wait_verify_dialog(qtbot, actions)
        assert not dialog.report.ok
        assert dialog.grab().save(str(out / "verify-damaged.png"))
    finally:
        qapp.setStyleSheet(previous)


class _SelectingTab(QWidget):
    """A case tab offering ``current_item()``, the protocol the Evidence tab implements."""

    def __init__(self, item_id: str) -> None:
        super().__init__()
        self.item_id = item_id

    def current_item(self) -> str:
        return self.item_id


def test_item_custody_uses_the_item_selected_in_a_case_tab(qtbot: QtBot, custody_app: DesktopApp) -> None:
    session, actions = parts(custody_app)
    disk = physical.add_physical(session, "2026/001", "External disk")
    physical.add_physical(session, "2026/001", "Notebook")
    custody_app.window.add_case_tab("Selecting", lambda _session, _case: _SelectingTab(disk.id))
    select(custody_app, "2026/001")
    assert actions.selected_item_id() == disk.id
    assert actions.item_custody() is None  # no chooser: the selected item is shown at once
    dialogs = [d for d in custody_app.window.findChildren(ItemCustodyDialog) if d.isVisible()]
    assert len(dialogs) == 1
    assert dialogs[0].item.id == disk.id
    assert [e.action for e in dialogs[0].timeline.visible_events()] == ["acquired"]


def test_timeline_is_current_when_shown(qtbot: QtBot, custody_app: DesktopApp) -> None:
    """Events recorded elsewhere (e.g. the Evidence tab) appear when the Custody tab is shown again."""
    session, _actions = parts(custody_app)
    select(custody_app, "2026/002")
    tabs = custody_app.window.browser.tabs
    tab = custody_tab(qtbot, custody_app)
    assert shown_actions(tab) == ["case_created"]
    tabs.setCurrentIndex(0)
    physical.add_physical(session, "2026/002", "USB stick")
    assert shown_actions(tab) == ["case_created"]
    with qtbot.waitSignal(tab.loaded):  # shown again: read in the background, as the log grew
        tabs.setCurrentWidget(tab)
    assert shown_actions(tab) == ["case_created", "acquired"]
    with qtbot.waitSignal(tab.loaded):  # and again: the log did not grow, so nothing is read or reset
        tabs.setCurrentIndex(0)
        tab.timeline.select_row(1)
        tabs.setCurrentWidget(tab)
    assert tab.timeline.selected_event() is not None and tab.timeline.selected_event().action == "acquired"
