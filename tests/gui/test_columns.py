"""Columns an investigator can read (issue 11, from the screenshots of a real case): the case list's titles are not
cut by columns the narrow pane cannot hold (Updated starts hidden, the header's menu shows it), the evidence table's
exhibit numbers are never cut, and the verification result is one line per item under a coloured banner."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.evidence_dialogs import FixityResultDialog
from icspa_desktop.gui.evidence_model import ItemColumn
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.models import CaseColumn
from icspa_desktop.services import cases, evidence, fixity
from tests.gui.conftest import unlock_as, wait_loaded


def test_the_case_list_hides_updated_until_asked_and_keeps_number_and_title(qtbot: QtBot,
                                                                          desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    table = desktop.window.browser.table
    header = table.horizontalHeader()
    assert header.isSectionHidden(CaseColumn.UPDATED) and header.isSectionHidden(CaseColumn.HANDLING)
    assert not header.isSectionHidden(CaseColumn.TITLE)
    # What is left leaves the title at least a third of the list, in German too (the widest headers).
    assert table.columnWidth(CaseColumn.TITLE) >= table.viewport().width() // 3, table.columnWidth(CaseColumn.TITLE)
    shown: list[QMenu] = []

    def choose() -> None:
        menu = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible())
        shown.append(menu)
        actions = {a.text(): a for a in menu.actions()}
        assert not actions["Number"].isEnabled() and not actions["Title"].isEnabled()  # never hidden
        assert not actions["Updated"].isChecked()
        actions["Updated"].trigger()
        menu.close()

    from PySide6.QtCore import QPoint, QTimer

    QTimer.singleShot(100, choose)
    header.customContextMenuRequested.emit(QPoint(10, 5))
    assert shown and not header.isSectionHidden(CaseColumn.UPDATED)


def test_exhibit_numbers_fit_their_column_and_the_verification_reads_on_one_line(
        qtbot: QtBot, desktop: DesktopApp, tmp_path: Path) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    folder = tmp_path / "seized"
    folder.mkdir()
    for n in range(12):
        (folder / f"IMG_{n:04d}_with_a_rather_long_name_from_the_phone.jpg").write_bytes(bytes([n]) * 500)
    case = cases.get_case(session, "2026/001")
    evidence.add_files(session, case.id, [folder], ItemFields(description="photos"))
    browser = desktop.window.browser
    assert browser.select_case(case.id)
    tab = browser.case_tab(EvidenceTab)
    assert tab is not None
    wait_loaded(qtbot, tab, desktop)
    table = tab.table
    from PySide6.QtGui import QFont, QFontMetrics

    bold = QFont(table.font())
    bold.setBold(True)
    longest = max((tab.model.text_at(row, ItemColumn.EXHIBIT) for row in range(tab.model.rowCount())), key=len)
    assert table.columnWidth(ItemColumn.EXHIBIT) >= QFontMetrics(bold).horizontalAdvance(longest) + 8

    reports = fixity.verify_case(session, case.id)
    dialog = FixityResultDialog(reports, case_number=case.number)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.summary.objectName() == "fixitySummary" and dialog.summary.property("intact") == "true"
    assert not dialog.table.wordWrap()
    heights = {dialog.table.rowHeight(row) for row in range(dialog.table.rowCount())}
    assert len(heights) == 1, heights
    assert dialog.table.item(0, 2).toolTip().startswith("SHA-256 ")
