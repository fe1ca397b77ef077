"""Issue 11's freezes: a big case is read off the GUI thread, only by the tab that is shown, its result dropped
when the selection moved on, and showing it costs per visible row, not per row of the case.

The figures (stalls in ms against the service calls) come from ``python -m bench gui``; these tests pin
down the causes without timing anything: which thread reads, how often ``data()`` runs, what is cancelled.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from bench import gui_vault
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.custody_model import EventColumn
from icspa_desktop.gui.custody_pages import TimelinePageModel
from icspa_desktop.gui.custody_tab import CustodyTab
from icspa_desktop.gui.evidence_model import ItemColumn, ItemTableModel
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.models import natural_key
from icspa_desktop.gui.ops import BackgroundOp
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import custody, evidence, item_pages, timeline_pages
from tests.gui.conftest import make_app, unlock_as, wait_loaded

ITEMS = 240


@pytest.fixture(scope="module")
def big_vault(tmp_path_factory: pytest.TempPathFactory) -> gui_vault.BuiltVault:
    """Three cases, the first with ITEMS items and two custody events per item (built once for the module)."""
    return gui_vault.build(tmp_path_factory.mktemp("big") / "vault", items=ITEMS, case_count=3)


@pytest.fixture
def app(qtbot: QtBot, qapp: QApplication, big_vault: gui_vault.BuiltVault, tmp_path: Path) -> Iterator[DesktopApp]:
    """The app unlocked on a copy of the module's vault (a test may add events)."""
    vault = tmp_path / "vault"
    shutil.copytree(big_vault.path, vault)
    for desktop in make_app(qtbot, qapp, vault, AppSettings(tmp_path / "desktop.ini")):
        unlock_as(qtbot, desktop)
        desktop.window.resize(1366, 768)
        yield desktop


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every read of a case's items or timeline: (what, whether on the GUI thread)."""
    seen: list[tuple[str, bool]] = []
    list_items, item_page, timeline = evidence.list_items, item_pages.item_page, custody.timeline
    event_page = timeline_pages.event_page

    def on_gui() -> bool:
        return threading.current_thread() is threading.main_thread()

    def counting_items(*args: object, **kwargs: object) -> object:
        seen.append(("items", on_gui()))
        return list_items(*args, **kwargs)  # type: ignore[arg-type]

    def counting_pages(*args: object, **kwargs: object) -> object:
        seen.append(("items", on_gui()))
        return item_page(*args, **kwargs)  # type: ignore[arg-type]

    def counting_events(*args: object, **kwargs: object) -> object:
        seen.append(("timeline", on_gui()))
        return event_page(*args, **kwargs)  # type: ignore[arg-type]

    def counting_timeline(*args: object, **kwargs: object) -> object:
        seen.append(("timeline", on_gui()))
        return timeline(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(evidence, "list_items", counting_items)
    monkeypatch.setattr(item_pages, "item_page", counting_pages)
    monkeypatch.setattr(timeline_pages, "event_page", counting_events)
    monkeypatch.setattr(custody, "timeline", counting_timeline)
    return seen


def tab_of(app: DesktopApp, kind: type[EvidenceTab] | type[CustodyTab]) -> EvidenceTab | CustodyTab:
    tabs = app.window.browser.tabs
    return next(w for w in (tabs.widget(i) for i in range(tabs.count())) if isinstance(w, kind))


def test_selecting_a_big_case_reads_nothing_until_a_tab_shows_it(qtbot: QtBot, app: DesktopApp,
                                                                 big_vault: gui_vault.BuiltVault,
                                                                 reads: list[tuple[str, bool]]) -> None:
    browser = app.window.browser
    assert browser.tabs.currentIndex() == 0  # Details
    assert browser.select_case(big_vault.big_case_id)  # type: ignore[arg-type]
    assert reads == []  # the Details tab needs no item and no event
    evidence_tab = tab_of(app, EvidenceTab)
    assert not evidence_tab.is_loaded and evidence_tab.count_label.text() == "Loading…"

    wait_loaded(qtbot, evidence_tab, app)
    assert evidence_tab.model.rowCount() == ITEMS
    custody_tab = tab_of(app, CustodyTab)
    wait_loaded(qtbot, custody_tab, app)
    assert custody_tab.timeline.model.rowCount() == big_vault.events
    assert reads and all(not gui for _what, gui in reads), reads  # every read in a worker


def test_custody_tab_shown_again_reads_only_when_the_log_grew(qtbot: QtBot, app: DesktopApp,
                                                               big_vault: gui_vault.BuiltVault,
                                                               reads: list[tuple[str, bool]]) -> None:
    browser = app.window.browser
    browser.select_case(big_vault.big_case_id)  # type: ignore[arg-type]
    tab = tab_of(app, CustodyTab)
    assert isinstance(tab, CustodyTab)
    wait_loaded(qtbot, tab, app)
    tab.timeline.select_row(3)
    chosen = tab.timeline.selected_event()
    reads.clear()
    with qtbot.waitSignal(tab.loaded):
        browser.tabs.setCurrentIndex(0)
        browser.tabs.setCurrentWidget(tab)
    assert reads == [] and tab.timeline.selected_event() == chosen  # no read, no reset, selection kept
    session = app.session
    assert session is not None
    item_id = next(r.event.body["item_ids"][0] for r in tab.timeline.model.records() if r.event.body.get("item_ids"))
    evidence.annotate(session, item_id, notes="second look", reason="review")
    with qtbot.waitSignal(tab.loaded):
        browser.tabs.setCurrentIndex(0)
        browser.tabs.setCurrentWidget(tab)
    assert [what for what, _gui in reads] == ["timeline"]
    assert tab.timeline.model.rowCount() == big_vault.events + 1
    assert tab.timeline.selected_event() == chosen  # the same event, found again after the reset


def test_a_read_for_a_case_no_longer_selected_is_cancelled_and_dropped(qtbot: QtBot, app: DesktopApp,
                                                                       big_vault: gui_vault.BuiltVault) -> None:
    browser = app.window.browser
    browser.select_case(big_vault.big_case_id)  # type: ignore[arg-type]
    big_tab = tab_of(app, EvidenceTab)
    browser.tabs.setCurrentWidget(big_tab)  # starts the big case's read
    (op,) = [o for o in big_tab.findChildren(BackgroundOp) if o.running]
    other = next(case for case in browser.model.records() if case.id != big_vault.big_case_id)
    browser.select_case(other.id)  # before the read came back
    assert op.cancel_token.cancelled  # told to stop; whatever it read is dropped
    small_tab = tab_of(app, EvidenceTab)
    assert small_tab is big_tab and small_tab.case is not None and small_tab.case.id == other.id  # kept
    wait_loaded(qtbot, small_tab)
    assert small_tab.model.rowCount() == 3
    assert {item.case_id for item in small_tab.model.records()} == {other.id}


def test_showing_thousands_of_rows_asks_data_of_visible_rows_only(qtbot: QtBot, app: DesktopApp,
                                                                  big_vault: gui_vault.BuiltVault,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The causes of the old freezes: a proxy sorting through Python ``data()`` (n·log n calls) and
    ``resizeColumnToContents`` over every row. Now the model sorts with keys made once and columns are
    sized from the longest text found while preparing the rows."""
    calls = [0]
    for model in (ItemTableModel, TimelinePageModel):
        original = model.data

        def counted(self: object, *args: object, _original: object = original) -> object:
            calls[0] += 1
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(model, "data", counted)
    browser = app.window.browser
    browser.select_case(big_vault.big_case_id)  # type: ignore[arg-type]
    custody_tab = tab_of(app, CustodyTab)
    assert isinstance(custody_tab, CustodyTab)
    wait_loaded(qtbot, custody_tab, app)
    qtbot.waitExposed(app.window)
    rows = custody_tab.timeline.model.rowCount()
    assert rows > 400
    # Painting asks for ~20 roles of each visible cell; per row of the case would be rows x columns x roles.
    visible = custody_tab.timeline.table.height() // 20 + 1
    assert calls[0] < visible * len(EventColumn) * 25, calls[0]
    calls[0] = 0
    with qtbot.waitSignal(custody_tab.loaded):
        custody_tab.timeline.table.sortByColumn(EventColumn.ACTION, Qt.SortOrder.DescendingOrder)
    with qtbot.waitSignal(custody_tab.loaded):
        custody_tab.timeline.filter_edit.setText("annotated")
    assert custody_tab.timeline.model.rowCount() == ITEMS
    assert calls[0] < rows + visible * len(EventColumn) * 25  # the filter reads one prepared text per row
    assert custody_tab.timeline.table.columnWidth(EventColumn.ACTION) >= 60  # sized from the longest text


def test_sorting_is_natural_and_keeps_the_selection(qtbot: QtBot, app: DesktopApp,
                                                    big_vault: gui_vault.BuiltVault) -> None:
    assert sorted(["f10", "f1", "F2", "f100"], key=natural_key) == ["f1", "F2", "f10", "f100"]
    app.window.browser.select_case(big_vault.big_case_id)  # type: ignore[arg-type]
    tab = tab_of(app, EvidenceTab)
    assert isinstance(tab, EvidenceTab)
    wait_loaded(qtbot, tab, app)
    chosen = tab.visible_items()[5]
    tab.select_items([chosen.id])
    with qtbot.waitSignal(tab.loaded):  # read again in the background, in the new order
        tab.table.sortByColumn(ItemColumn.NAME, Qt.SortOrder.DescendingOrder)
    names = [item.original_name for item in tab.visible_items()]
    assert names == sorted(names, key=natural_key, reverse=True)
    assert tab.current_item() == chosen
    with qtbot.waitSignal(tab.loaded):
        tab.table.sortByColumn(ItemColumn.EXHIBIT, Qt.SortOrder.AscendingOrder)
    exhibits = [item.exhibit_number for item in tab.visible_items()]
    assert exhibits == sorted(exhibits, key=natural_key) and tab.current_item() == chosen
