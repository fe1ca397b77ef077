"""The paged tables' filter finds what the cells show, and their sorts order by what the cells show (issue 11): an
investigator types what they see — the size as formatted ("1,5 KiB" in German), the acquisition or event time in
local time, "#" and a partner's event number, "this agency" — and sorts Kind, Status and Action by the words shown
in their language.

One exchange for the module: a case sent by a partner (NL) and imported here (DE), so the timeline holds the
partner's events beside ours; a few items of our own beside the imported ones: a 1,536-byte file and physical
items, one checked out. Real vaults, real bundle, offscreen Qt."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.evidence import Item, ItemFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.custody_model import event_texts
from icspa_desktop.gui.custody_pages import TimelinePages
from icspa_desktop.gui.custody_tab import CustodyTab
from icspa_desktop.gui.evidence_model import ItemColumn, ItemPages, item_texts
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import bundle_import, evidence, physical, timeline_pages
from icspa_desktop.services.item_pages import ItemQuery, ItemSort
from icspa_desktop.services.table_texts import EventColumn, event_extra
from icspa_desktop.services.timeline_pages import TimelineQuery, TimelineRow, TimelineSort
from icspa_desktop.vault.db import natural_key
from tests.bundle.exchange import PASS, Exchange, make_exchange
from tests.gui.conftest import make_app, wait_loaded

LANGUAGES = ("en", "de")


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Exchange, str]]:
    """The recipient's vault (DE) with the imported case, and the case's id there."""
    root = tmp_path_factory.mktemp("shown")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ICSPA_WITNESS_DIR", str(root / "witness"))
        ex = make_exchange(root)  # 15,000 and 3 MiB files: "14.6 KiB", "3.0 MiB"
        sent = ex.export()
        with ex.open_de() as de:
            result = bundle_import.commit_import(de, bundle_import.prepare_import(de, sent.path))
            case_id = str(result.added[0].case_id)
            small = root / "small"
            small.mkdir()
            (small / "notes (draft).txt").write_bytes(b"x" * 1536)  # "1.5 KiB"
            evidence.add_files(de, case_id, [small], ItemFields(description="our own"))
            for n, name in enumerate(("Samsung S21", "USB stick")):
                item = physical.add_physical(de, case_id, name, ItemFields(storage_location=f"Locker {n}"))
                if n:
                    physical.check_out(de, item.id, "Dr. Lena Forensics", "imaging")
        yield ex, case_id


def _item_haystack(item: Item) -> str:
    """Every text the evidence table's filter should find of an item: its cells and the extra texts."""
    extra = (*item.hashes.values(), item.description, item.notes, *item.tags, item.holder, item.storage_location,
             item.original_path)
    return "\n".join((*item_texts(item), *extra)).casefold()


def _row_haystack(row: TimelineRow) -> str:
    return "\n".join((*event_texts(row.event, row.exhibits), *event_extra(row.event.action, row.event.body))
                     ).casefold()


@pytest.mark.parametrize("code", LANGUAGES)
def test_each_evidence_cell_typed_into_the_filter_finds_its_row(exchange: tuple[Exchange, str], code: str,
                                                                use_language: Callable[[str], None]) -> None:
    ex, case_id = exchange
    use_language(code)
    with ex.open_de() as session:
        pages = ItemPages(session)
        items = evidence.list_items(session, case_id)
        shown = {item.id: item_texts(item) for item in items}
        sizes = {texts[ItemColumn.SIZE] for texts in shown.values()}
        assert {"1,5 KiB", "14,6 KiB", "3,0 MiB"} <= sizes if code == "de" else {"1.5 KiB", "14.6 KiB",
                                                                                  "3.0 MiB"} <= sizes
        for item in items:
            for column in ItemColumn:
                text = shown[item.id][column]
                if not text:
                    continue  # a physical item's size and hash
                query = ItemQuery(case_id, ItemSort.NAME, text=text)
                found = [found.id for found in pages.page(query, 0, 1000)]
                assert item.id in found, (code, column.name, text)
                # ... and nothing the table does not show holding it.
                assert sorted(found) == sorted(i.id for i in items if text.casefold() in _item_haystack(i)), text
                assert pages.count(query) == len(found)


@pytest.mark.parametrize("code", LANGUAGES)
def test_each_timeline_cell_typed_into_the_filter_finds_its_row(exchange: tuple[Exchange, str], code: str,
                                                                use_language: Callable[[str], None]) -> None:
    ex, case_id = exchange
    use_language(code)
    with ex.open_de() as session:
        pages = TimelinePages(session)
        rows = pages.page(TimelineQuery(case_id), 0, 10_000)
        theirs = [row for row in rows if row.key.startswith("partner:")]
        assert theirs and len(theirs) < len(rows)  # both agencies' events
        sources = {event_texts(row.event, row.exhibits)[EventColumn.SOURCE] for row in rows}
        assert ("diese Behörde" if code == "de" else "this agency") in sources
        assert any("#" in source for source in sources)  # the partner's name and their event's number
        texts = {(column, event_texts(row.event, row.exhibits)[column]) for row in rows for column in EventColumn}
        texts |= {(None, text) for row in rows for text in event_extra(row.event.action, row.event.body)}
        for column, text in sorted(texts, key=str):
            if not text.strip():
                continue
            query = TimelineQuery(case_id, text=text)
            found = [row.key for row in pages.page(query, 0, 10_000)]
            expected = [row.key for row in rows if text.strip().casefold() in _row_haystack(row)]
            assert found == expected and expected, (code, column, text)
            assert pages.count(query) == len(expected)
        # Words the reader sees that are stored otherwise: the action, and the time in this workstation's zone.
        one = rows[0]
        for column in (EventColumn.ACTION, EventColumn.TIME, EventColumn.ROLE):
            text = event_texts(one.event, one.exhibits)[column]
            assert one.key in [row.key for row in pages.page(TimelineQuery(case_id, text=text.upper()), 0, 10_000)]


def test_kind_and_status_sort_by_the_german_words(exchange: tuple[Exchange, str],
                                                  use_language: Callable[[str], None]) -> None:
    ex, case_id = exchange
    use_language("de")
    with ex.open_de() as session:
        pages = ItemPages(session)
        for sort, column in ((ItemSort.KIND, ItemColumn.KIND), (ItemSort.STATUS, ItemColumn.STATUS),
                             (ItemSort.TLP, ItemColumn.TLP)):
            for descending in (False, True):
                query = ItemQuery(case_id, sort, descending)
                words = [item_texts(item)[column] for item in pages.page(query, 0, 1000)]
                assert words == sorted(words, key=natural_key, reverse=descending), (sort, words)
        kinds = [item_texts(item)[ItemColumn.KIND] for item in pages.page(ItemQuery(case_id, ItemSort.KIND), 0, 1000)]
        # German: "Datei" before "physisch", as English "file" before "physical" (the codes: digital, physical).
        statuses = [item_texts(item)[ItemColumn.STATUS]
                    for item in pages.page(ItemQuery(case_id, ItemSort.STATUS), 0, 1000)]
        assert kinds[0] != kinds[-1] and len(set(statuses)) == 3
        # "ausgegeben an …" (checked out) first, "gespeichert" (stored, digital) last: not the codes' order.
        assert statuses[0].startswith("ausgegeben an") and statuses[-1] == "gespeichert", statuses


def test_action_sorts_by_the_german_words(exchange: tuple[Exchange, str], use_language: Callable[[str], None]) -> None:
    ex, case_id = exchange
    use_language("de")
    with ex.open_de() as session:
        pages = TimelinePages(session)
        every = pages.page(TimelineQuery(case_id), 0, 10_000)
        for sort, column in ((TimelineSort.ACTION, EventColumn.ACTION), (TimelineSort.ROLE, EventColumn.ROLE)):
            for descending in (False, True):
                query = TimelineQuery(case_id, sort, descending)
                rows = pages.page(query, 0, 10_000)
                assert sorted(row.key for row in rows) == sorted(row.key for row in every)  # every row once
                words = [event_texts(row.event, row.exhibits)[column] for row in rows]
                assert words == sorted(words, key=natural_key, reverse=descending), (sort, words)
                # The selection's place in the new order (kept across a re-sort).
                some = [rows[0].key, rows[len(rows) // 2].key, rows[-1].key]
                assert timeline_pages.event_positions(session, query, some) == {
                    some[0]: 0, some[1]: len(rows) // 2, some[2]: len(rows) - 1}
        words = [event_texts(row.event, row.exhibits)[EventColumn.ACTION]
                 for row in pages.page(TimelineQuery(case_id, TimelineSort.ACTION), 0, 10_000)]
        codes = [row.event.action for row in pages.page(TimelineQuery(case_id, TimelineSort.ACTION), 0, 10_000)]
        assert codes != sorted(codes) and words  # the German words' order is not the codes'


# ---- the tables, in German -------------------------------------------------------------------------------------
@pytest.fixture
def app_de(qtbot: QtBot, qapp: QApplication, exchange: tuple[Exchange, str], tmp_path: Path,
           use_language: Callable[[str], None]) -> Iterator[DesktopApp]:
    use_language("de")
    vault = tmp_path / "vault"
    shutil.copytree(exchange[0].de, vault)
    for desktop in make_app(qtbot, qapp, vault, AppSettings(tmp_path / "desktop.ini")):
        dialog = desktop.unlock_dialog
        assert dialog is not None
        dialog.user.setText("admin")
        dialog.passphrase.setText(PASS)
        with qtbot.waitSignal(desktop.unlocked, timeout=20_000):
            dialog.unlock_button.click()
        desktop.window.resize(1366, 768)
        yield desktop


T = TypeVar("T", EvidenceTab, CustodyTab)


def _loaded_tab(qtbot: QtBot, app: DesktopApp, case_id: str, kind: type[T]) -> T:
    """The imported case's tab of ``kind``, selected and loaded."""
    browser = app.window.browser
    assert browser.select_case(case_id)  # type: ignore[arg-type]
    tab = browser.case_tab(kind)
    assert tab is not None
    wait_loaded(qtbot, tab, app)
    return tab


def test_the_german_evidence_table_finds_what_it_shows_and_sorts_by_its_words(
        qtbot: QtBot, app_de: DesktopApp, exchange: tuple[Exchange, str]) -> None:
    tab = _loaded_tab(qtbot, app_de, exchange[1], EvidenceTab)
    model = tab.model
    row = next(r for r in range(model.rowCount()) if model.index(r, ItemColumn.SIZE).data() == "1,5 KiB")
    acquired = model.index(row, ItemColumn.ACQUIRED).data()
    name = model.index(row, ItemColumn.NAME).data()
    for text in ("1,5 KiB", acquired):
        with qtbot.waitSignal(tab.loaded):
            tab.filter_edit.setText(text)
        shown = [model.index(r, ItemColumn.NAME).data() for r in range(model.rowCount())]
        assert name in shown, text
    with qtbot.waitSignal(tab.loaded):
        tab.filter_edit.clear()
    with qtbot.waitSignal(tab.loaded):
        tab.table.sortByColumn(ItemColumn.STATUS, Qt.SortOrder.AscendingOrder)
    statuses = [model.index(r, ItemColumn.STATUS).data() for r in range(model.rowCount())]
    assert statuses == sorted(statuses, key=natural_key) and statuses[-1] == "gespeichert"


def test_the_german_timeline_finds_what_it_shows_and_sorts_by_its_words(
        qtbot: QtBot, app_de: DesktopApp, exchange: tuple[Exchange, str]) -> None:
    tab = _loaded_tab(qtbot, app_de, exchange[1], CustodyTab)
    timeline = tab.timeline
    model = timeline.model
    total = model.rowCount()
    partner_row = next(r for r in range(total) if "#" in model.index(r, EventColumn.SOURCE).data())
    source = model.index(partner_row, EventColumn.SOURCE).data()  # "Politie … #3"
    number = "#" + source.rsplit("#", 1)[1]
    when = model.index(0, EventColumn.TIME).data()
    for text, cell in ((number, source), (when, when), ("diese Behörde", "diese Behörde")):
        with qtbot.waitSignal(timeline.loaded, timeout=20_000):
            timeline.filter_edit.setText(text)
        assert model.rowCount() > 0 and (model.rowCount() < total or text == when), text  # one second, all
        shown = [[model.index(r, column).data() for column in EventColumn] for r in range(model.rowCount())]
        assert any(cell in cells for cells in shown), text
        assert all(any(text.casefold() in c.casefold() for c in cells) for cells in shown), text
    with qtbot.waitSignal(timeline.loaded, timeout=20_000):
        timeline.filter_edit.clear()
    with qtbot.waitSignal(timeline.loaded, timeout=20_000):
        timeline.table.sortByColumn(EventColumn.ACTION, Qt.SortOrder.AscendingOrder)
    actions = [model.index(r, EventColumn.ACTION).data() for r in range(model.rowCount())]
    assert actions == sorted(actions, key=natural_key)
