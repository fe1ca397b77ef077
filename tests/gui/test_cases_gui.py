"""Cases through the GUI: create, edit, close/reopen, role-based actions, extra case tabs."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QWidget
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import CaseStatus, HandlingCode, Role, Tlp
from icspa_desktop.domain.errors import UsageError
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.case_dialog import CaseDialog
from icspa_desktop.gui.models import CaseColumn
from icspa_desktop.services import cases, custody
from icspa_desktop.services.cases import validate
from icspa_desktop.services.session import Session
from tests.gui.conftest import unlock_as


def save(dialog: CaseDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()


def custody_actions(session: Session, case: Case) -> list[str]:
    rows = session.conn.execute("SELECT action FROM custody_events WHERE case_id = ? ORDER BY idx", (case.id,))
    return [str(row[0]) for row in rows]


def test_create_case_through_the_dialog(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window, session = desktop.window, desktop.session
    assert session is not None
    dialog = window.new_case()
    assert dialog is not None
    assert dialog.isVisible()
    dialog.number.setText("2026/077")
    dialog.title.setText("Operation Kestrel")
    dialog.description.setPlainText("Seized phones from two addresses.")
    dialog.lead_investigator.setText("Ivan")
    dialog.jurisdiction.setText("Rotterdam")
    dialog.legal_authority.setText("RC-2026-0042")
    dialog.handling.setCurrentIndex(dialog.handling.findData(HandlingCode.H3))
    dialog.tlp.setCurrentIndex(dialog.tlp.findData(Tlp.AMBER_STRICT))

    # H3 without its text: the service's own message, inline; the dialog stays open; nothing stored.
    save(dialog)
    with pytest.raises(UsageError) as refused:
        validate(dialog.fields())
    expected = str(refused.value)
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text() == expected
    assert [c.number for c in cases.list_cases(session)] == ["2026/002", "2026/001"]

    dialog.handling_text.setText("Only for the joint investigation team")
    with qtbot.waitSignal(dialog.saved):
        save(dialog)
    assert not dialog.isVisible()

    stored = cases.get_case(session, "2026/077")
    assert stored.fields == CaseFields(
        number="2026/077", title="Operation Kestrel", description="Seized phones from two addresses.",
        lead_investigator="Ivan", jurisdiction="Rotterdam", legal_authority="RC-2026-0042",
        handling_code=HandlingCode.H3, handling_text="Only for the joint investigation team", tlp=Tlp.AMBER_STRICT)
    assert stored.created_by == session.user.id
    assert custody_actions(session, stored) == ["case_created"]
    # The new case is listed and selected, its details shown with the TLP badge.
    browser = window.browser
    assert browser.model.rowCount() == 3
    current = browser.current_case()
    assert current is not None
    assert current.id == stored.id
    assert browser.details.heading.text() == "2026/077 — Operation Kestrel"
    assert browser.details.tlp_badge.text() == "TLP:AMBER+STRICT"
    assert browser.details.tlp_badge.property("tlp") == "AMBER+STRICT"
    assert browser.details.values["handling_text"].text() == "Only for the joint investigation team"
    assert browser.details.values["created_by"].text() == "Alice Admin"


def test_duplicate_number_is_refused_inline(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    dialog = desktop.window.new_case()
    assert dialog is not None
    dialog.number.setText("2026/001")
    dialog.title.setText("Another")
    save(dialog)
    assert dialog.isVisible()
    assert "already exists" in dialog.error_label.text()


def test_edit_case_through_the_dialog(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window, session = desktop.window, desktop.session
    assert session is not None
    assert window.browser.select_case(cases.get_case(session, "2026/001").id)
    assert window.edit_case_action.isEnabled()
    dialog = window.edit_case()
    assert dialog is not None
    assert dialog.number.text() == "2026/001"
    assert dialog.title.text() == "Operation Nightjar"
    assert dialog.tlp.currentData() == Tlp.RED
    dialog.title.setText("Operation Nightjar II")
    dialog.tlp.setCurrentIndex(dialog.tlp.findData(Tlp.GREEN))
    dialog.reason.setText("renamed by the prosecutor")
    with qtbot.waitSignal(dialog.saved):
        save(dialog)

    stored = cases.get_case(session, "2026/001")
    assert stored.title == "Operation Nightjar II"
    assert stored.fields.tlp is Tlp.GREEN
    assert custody_actions(session, stored) == ["case_created", "case_edited"]
    row = window.browser.model.row_of(stored.id)
    assert row is not None
    index = window.browser.model.index(row, CaseColumn.TITLE)
    assert window.browser.model.data(index) == "Operation Nightjar II"
    assert window.browser.details.heading.text() == "2026/001 — Operation Nightjar II"


def test_close_and_reopen_with_a_reason(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window, session = desktop.window, desktop.session
    assert session is not None
    window.browser.select_case(cases.get_case(session, "2026/002").id)
    assert window.close_case_action.text() == "&Close case…"
    prompt = window.toggle_case_status()
    assert prompt is not None and prompt.isVisible()
    # It says what closing means, the reason is required, and Enter on an empty reason closes nothing.
    assert "No evidence can be added" in prompt.meaning.text()
    prompt.activateWindow()
    qtbot.waitUntil(prompt.reason.hasFocus)  # the reason field, not a button, has the focus
    assert prompt.ok.isDefault() and not prompt.ok.isEnabled()
    qtbot.keyClick(prompt.reason, Qt.Key.Key_Return)
    assert prompt.isVisible() and cases.get_case(session, "2026/002").status is CaseStatus.OPEN
    qtbot.keyClicks(prompt.reason, "investigation finished")
    qtbot.keyClick(prompt.reason, Qt.Key.Key_Return)
    stored = cases.get_case(session, "2026/002")
    assert stored.status is CaseStatus.CLOSED
    assert custody.timeline(session, stored.id)[1][-1].body["purpose"] == "investigation finished"
    assert window.close_case_action.text() == "&Reopen case…"
    assert window.browser.details.values["status"].text() == "Closed"
    prompt = window.toggle_case_status()
    assert prompt is not None
    prompt.reason.setText("new lead")
    prompt.ok.click()
    assert cases.get_case(session, "2026/002").status is CaseStatus.OPEN


def test_filter_and_sort(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    window = desktop.window
    browser = window.browser
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(browser.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert browser.filter_edit.hasFocus()
    QTest.keyClicks(browser.filter_edit, "harbour")
    assert browser.proxy.rowCount() == 1
    assert browser.proxy.index(0, CaseColumn.NUMBER).data() == "2026/002"
    browser.filter_edit.clear()
    browser.table.sortByColumn(CaseColumn.NUMBER, Qt.SortOrder.AscendingOrder)
    assert [browser.proxy.index(r, CaseColumn.NUMBER).data() for r in range(2)] == ["2026/001", "2026/002"]
    browser.table.sortByColumn(CaseColumn.NUMBER, Qt.SortOrder.DescendingOrder)
    assert [browser.proxy.index(r, CaseColumn.NUMBER).data() for r in range(2)] == ["2026/002", "2026/001"]


def test_auditor_cannot_create_edit_or_close(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop, Role.AUDITOR)
    window = desktop.window
    assert not window.new_case_action.isEnabled()
    window.browser.table.selectRow(0)
    assert window.browser.current_case() is not None
    assert not window.edit_case_action.isEnabled()
    assert not window.close_case_action.isEnabled()
    assert window.lock_action.isEnabled()
    assert "auditor" in window.user_label.text()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window.browser.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.findChild(CaseDialog) is None
    assert window.new_case() is None


def test_investigator_may_create_but_not_close(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop, Role.INVESTIGATOR)
    window = desktop.window
    window.browser.table.selectRow(0)
    assert window.new_case_action.isEnabled()
    assert window.edit_case_action.isEnabled()
    assert not window.close_case_action.isEnabled()


def test_extra_case_tab_follows_the_selection_and_the_lock(qtbot: QtBot, desktop: DesktopApp) -> None:
    built: list[str] = []

    def evidence_tab(session: Session, case: Case) -> QWidget:
        built.append(case.number)
        label = QLabel(f"evidence of {case.number} for {session.user.name}")
        label.setObjectName("evidenceTab")
        return label

    window = desktop.window
    tabs = window.browser.tabs
    window.add_case_tab("Probe", evidence_tab)
    probe = tabs.count() - 1  # after "Details" and the tabs the window registers itself
    assert tabs.tabText(0) == "Details" and tabs.tabText(probe) == "Probe"
    unlock_as(qtbot, desktop)
    assert desktop.session is not None
    window.browser.select_case(cases.get_case(desktop.session, "2026/002").id)
    tab = tabs.widget(probe)
    assert isinstance(tab, QLabel)
    assert tab.text() == "evidence of 2026/002 for alice"
    window.browser.select_case(cases.get_case(desktop.session, "2026/001").id)
    tab = tabs.widget(probe)
    assert isinstance(tab, QLabel)
    assert tab.text() == "evidence of 2026/001 for alice"
    assert built == ["2026/002", "2026/001"]
    desktop.lock()
    tab = tabs.widget(probe)
    assert isinstance(tab, QLabel)
    assert "2026" not in tab.text()
    assert tabs.tabText(probe) == "Probe"
