"""Issue 11's smaller items, each as the investigator meets it: keys in the lists, the timeline's columns and
details, where the window and its splitters stay, where file dialogs start, why an action is off, and which
fields a form requires."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QLabel, QSplitter
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.custody_model import EventColumn, field_label
from icspa_desktop.gui.custody_tab import CustodyTab
from icspa_desktop.gui.evidence_dialogs import PhysicalItemDialog
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.folders import start_folder
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases
from tests.conftest import VaultInfo
from tests.gui.conftest import make_app, unlock_as, wait_loaded


def active(qtbot: QtBot, app: DesktopApp) -> None:
    app.window.activateWindow()
    qtbot.waitUntil(app.window.isActiveWindow)


def case_tab(app: DesktopApp, kind: type[EvidenceTab] | type[CustodyTab]) -> EvidenceTab | CustodyTab:
    tab = app.window.browser.case_tab(kind)
    assert tab is not None
    return tab


def test_down_selects_the_first_case_and_tab_leaves_every_list(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    active(qtbot, desktop)
    browser = desktop.window.browser
    browser.table.setFocus()
    assert browser.current_case() is None
    first = browser.model.record_at(browser.proxy.mapToSource(browser.proxy.index(0, 0)).row())
    qtbot.keyClick(browser.table, Qt.Key.Key_Down)
    assert browser.current_case() == first  # before, the first Down skipped the first case
    qtbot.keyClick(browser.table, Qt.Key.Key_Down)
    second = browser.current_case()
    assert second is not None and second != first
    qtbot.keyClick(browser.table, Qt.Key.Key_Tab)
    assert not browser.table.hasFocus() and browser.current_case() == second  # Tab left; the case stayed
    for kind in (EvidenceTab, CustodyTab):
        tab = case_tab(desktop, kind)
        table = tab.table if isinstance(tab, EvidenceTab) else tab.timeline.table
        assert not table.tabKeyNavigation()


def test_one_time_column_and_action_exhibit_purpose_in_view_at_1024(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    window.resize(1024, 700)
    assert desktop.session is not None
    window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    tab = case_tab(desktop, CustodyTab)
    wait_loaded(qtbot, tab, desktop)
    qtbot.waitExposed(window)
    table = tab.timeline.table
    headers = [str(table.model().headerData(c, Qt.Orientation.Horizontal)) for c in range(len(EventColumn))]
    assert sum("time" in h.lower() for h in headers) == 1 and not any("UTC" in h for h in headers)
    header = table.horizontalHeader()
    for column in (EventColumn.TIME, EventColumn.ACTION, EventColumn.ITEMS, EventColumn.PURPOSE):
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert right <= table.viewport().width(), headers[column]
    assert "UTC" in str(table.model().index(0, EventColumn.TIME).data(Qt.ItemDataRole.ToolTipRole))


def test_event_details_use_words_and_whole_seconds(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    case = cases.get_case(session, "2026/002")
    cases.edit_case(session, case.id, CaseFields(case.number, "Ransomware at the harbour (II)"), "title corrected")
    desktop.window.browser.select_case(case.id)
    tab = case_tab(desktop, CustodyTab)
    assert isinstance(tab, CustodyTab)
    wait_loaded(qtbot, tab, desktop)
    for row in range(tab.timeline.model.rowCount()):
        tab.timeline.select_row(row)
        text = tab.timeline.details.toPlainText()
        assert not re.search(r"\d\d:\d\d:\d\d\.\d", text), text  # no microseconds
        assert "fields." not in text and "handling_code" not in text, text
    assert "Handling code" in text or "Title" in text
    assert field_label("markings.handling_code") == "Markings › handling code"
    assert field_label("acquisition.source_serial") == "Acquisition › source serial"


@pytest.fixture
def settings_file(tmp_path: Path) -> AppSettings:
    return AppSettings(tmp_path / "layout.ini")


def test_splitter_stays_across_cases_and_the_layout_is_remembered(qtbot: QtBot, qapp: QApplication,
                                                                  vault: VaultInfo, settings_file: AppSettings) -> None:
    with vault.session() as session:
        for number in ("2026/001", "2026/002"):
            cases.create_case(session, CaseFields(number, f"Case {number}"))
    apps: Iterator[DesktopApp] = make_app(qtbot, qapp, vault.path, settings_file)
    app = next(apps)
    unlock_as(qtbot, app)
    window, browser = app.window, app.window.browser
    window.resize(1300, 760)
    qtbot.waitExposed(window)
    browser.setSizes([380, 920])
    assert app.session is not None
    first, second = (cases.get_case(app.session, n) for n in ("2026/001", "2026/002"))
    for case in (first, second, first):
        browser.select_case(case.id)
        for kind in (EvidenceTab, CustodyTab):
            wait_loaded(qtbot, case_tab(app, kind), app)
        assert abs(browser.sizes()[0] - 380) <= 2, browser.sizes()  # no jump with the tab shown
    window.resize(1500, 800)
    assert abs(browser.sizes()[0] - 380) <= 2  # the extra width went to the working pane
    evidence_splitter = case_tab(app, EvidenceTab).findChild(QSplitter, "evidenceSplitter")
    assert evidence_splitter is not None
    evidence_splitter.setSizes([500, 200])
    browser.select_case(second.id)  # the tab kept for another case keeps the split
    wait_loaded(qtbot, case_tab(app, EvidenceTab), app)
    kept = case_tab(app, EvidenceTab).findChild(QSplitter, "evidenceSplitter")
    assert kept is evidence_splitter and abs(kept.sizes()[0] - 500) <= 15
    with qtbot.waitSignal(app.locked, timeout=20_000):  # the session closes once no read of a tab uses it
        app.lock()  # the next session's tabs are new ones: they take the split the last ones had
    unlock_as(qtbot, app)
    browser.select_case(first.id)
    wait_loaded(qtbot, case_tab(app, EvidenceTab), app)
    anew = case_tab(app, EvidenceTab).findChild(QSplitter, "evidenceSplitter")
    assert anew is not None and anew is not evidence_splitter and abs(anew.sizes()[0] - 500) <= 15
    window.resize(780, 560)  # within the offscreen screen (800 x 600), where a restored geometry must fit
    left = browser.sizes()[0]
    app.quit()
    for _rest in apps:
        pass
    assert settings_file.layout_state("mainWindow") and settings_file.layout_state("caseBrowser")

    again = next(make_app(qtbot, qapp, vault.path, settings_file))
    unlock_as(qtbot, again)
    qtbot.waitExposed(again.window)
    assert (again.window.width(), again.window.height()) == (780, 560)
    assert abs(again.window.browser.sizes()[0] - left) <= 2


def test_file_dialogs_start_where_the_last_one_ended_until_the_lock(qtbot: QtBot, desktop: DesktopApp,
                                                                    tmp_path: Path) -> None:
    desktop.window.custody.witness_dir = tmp_path / "witness"
    unlock_as(qtbot, desktop)
    window = desktop.window
    assert start_folder(window) == Path.home()
    assert desktop.session is not None
    window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    out = tmp_path / "exports"
    out.mkdir()
    dialog = window.custody.export_case_uco()
    assert isinstance(dialog, QFileDialog) and Path(dialog.directory().absolutePath()) == Path.home()
    with qtbot.waitSignal(window.custody.log_changed, timeout=30_000):
        dialog.selectFile(str(out / "case.jsonld"))
        dialog.accept()
    assert start_folder(window) == out
    again = window.custody.export_case_pdf()
    assert isinstance(again, QFileDialog) and Path(again.directory().absolutePath()) == out
    again.reject()
    with qtbot.waitSignal(desktop.locked):
        desktop.lock()
    assert start_folder(window) == Path.home()  # a folder name can name a case: forgotten at lock


def test_an_auditor_is_told_why_an_action_is_off(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop, Role.AUDITOR)
    window = desktop.window
    assert desktop.session is not None
    window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    for action in (window.new_case_action, window.close_case_action, window.custody.export_pdf_action,
                   window.evidence.add_files_action, window.send_bundle.action):
        assert not action.isEnabled()
        assert "Not for your role (auditor)" in action.toolTip(), action.text()
        assert "Not for your role (auditor)" in action.statusTip()
    assert "only administrators and supervisors may sign with the agency key" in \
        window.custody.export_pdf_action.toolTip()
    assert window.custody.export_uco_action.isEnabled()  # unsigned: auditors may
    assert all(entry.menu().toolTipsVisible() for entry in window.menuBar().actions() if entry.menu())
    dialog = window.agency.open_identity()
    assert dialog is not None
    assert not dialog.export_button.isEnabled() and not dialog.print_button.isEnabled()
    assert dialog.sign_note.isVisibleTo(dialog) and "Not for your role (auditor)" in dialog.sign_note.text()
    dialog.reject()


def test_a_form_marks_its_required_fields_and_enter_never_cancels(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    assert desktop.session is not None
    window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    dialog = window.evidence.add_physical()
    assert isinstance(dialog, PhysicalItemDialog)
    labels = [label.text() for label in dialog.findChildren(QLabel)]
    assert "&Name*" in labels and "Fields marked * are required." in labels
    assert not any(text.endswith(":") for text in labels if text)  # one style: no colons
    dialog.activateWindow()
    qtbot.waitUntil(dialog.name.hasFocus)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    assert ok.isDefault() and not cancel.autoDefault()
    qtbot.keyClick(dialog.name, Qt.Key.Key_Return)  # nothing typed yet: Enter neither adds nor discards
    assert dialog.isVisible()
    dialog.reject()


def test_the_window_title_names_the_vault_and_the_user_while_unlocked(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    session = desktop.session
    assert session is not None
    vault = session.vault_path.name
    assert window.windowTitle() == f"{vault} — {session.user.name} — ICSPA Evidence Desktop"
    desktop.lock()
    assert window.windowTitle() == f"{vault} (locked) — ICSPA Evidence Desktop"


def test_settings_write_only_what_changed_with_one_sync(settings_file: AppSettings) -> None:
    """A settings sync fsyncs the file on the GUI thread (250 ms each while the disk writes back a big copy): an
    unchanged value writes nothing, and a lock's layout keys are written together."""
    settings_file.set_layout_states({"mainWindow": b"geometry", "caseBrowser": b"splitter"})
    settings_file.last_user = "alice"
    path = settings_file.file
    written = path.read_bytes()
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))  # an older time: any later write would change it
    settings_file.set_layout_states({"mainWindow": b"geometry", "caseBrowser": b"splitter"})
    settings_file.last_user = "alice"
    assert path.stat().st_mtime_ns == stamp - 10**9 and path.read_bytes() == written  # nothing written
    settings_file.set_layout_states({"mainWindow": b"geometry", "caseBrowser": b"moved"})
    assert path.stat().st_mtime_ns != stamp - 10**9
    assert settings_file.layout_state("caseBrowser") == b"moved"
    assert AppSettings(path).layout_state("mainWindow") == b"geometry"  # a fresh reader sees both
