"""A case's custody timeline as a paged table (``gui/paged_model.py`` over ``services.timeline_pages``): the
case tab's view of tens of thousands of events. One item's timeline (a few events) keeps the in-memory model
of ``custody_model``; both show the same cells, colours and tooltips."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QItemSelection, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.gui.custody_model import (
    HEADERS,
    TIMELINE_WIDTHS,
    TimelineEvent,
    event_details_html,
    event_role_data,
    event_texts,
)
from icspa_desktop.gui.models import (
    fit_columns,
    selected_rows,
    set_column_widths,
    set_up_record_table,
    show_from_top,
)
from icspa_desktop.gui.ops import BackgroundOp, show_error
from icspa_desktop.gui.paged_model import PagedTableModel
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import item_pages, timeline_pages
from icspa_desktop.services.session import Session
from icspa_desktop.services.table_texts import EventColumn
from icspa_desktop.services.timeline_pages import RowRef, TimelineQuery, TimelineRow, TimelineSort

_FILTER_DELAY_MS = 150

TIMELINE_SORTS = {
    EventColumn.INDEX: TimelineSort.ORDER, EventColumn.TIME: TimelineSort.ORDER,
    EventColumn.ACTION: TimelineSort.ACTION, EventColumn.ITEMS: TimelineSort.ITEMS,
    EventColumn.PURPOSE: TimelineSort.PURPOSE, EventColumn.ACTOR: TimelineSort.ACTOR,
    EventColumn.SOURCE: TimelineSort.SOURCE, EventColumn.ROLE: TimelineSort.ROLE,
    EventColumn.AUTHORITY: TimelineSort.AUTHORITY, EventColumn.LOCATION: TimelineSort.LOCATION,
    EventColumn.RESULT: TimelineSort.RESULT,
}


def row_texts(row: TimelineRow) -> tuple[str, ...]:
    """The cells of a timeline row (pure: runs in the worker that read the page)."""
    return event_texts(row.event, row.exhibits)


class TimelinePages:
    """The timeline's page source over one session (no Qt; runs in workers). In the log's order its pages come
    from an index; any other sort or a filter orders every row once (``event_refs``, ~1 s for 200,000 events)
    and keeps that order, so each page while scrolling costs a lookup, not another sort."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._refs: tuple[TimelineQuery, list[RowRef]] | None = None

    def _order(self, query: TimelineQuery) -> list[RowRef]:
        held = self._refs  # one assignment: workers may overlap (a page still read while the next query starts)
        if held is not None and held[0] == query:
            return held[1]
        refs = timeline_pages.event_refs(self._session, query)
        self._refs = (query, refs)
        return refs

    def count(self, query: TimelineQuery) -> int:
        if timeline_pages.simple_order(query):
            return timeline_pages.count_events(self._session, query)
        return len(self._order(query))

    def page(self, query: TimelineQuery, offset: int, limit: int) -> list[TimelineRow]:
        if timeline_pages.simple_order(query):
            return timeline_pages.event_page(self._session, query, offset, limit)
        return timeline_pages.rows_at(self._session, self._order(query)[offset : offset + limit])

    def positions(self, query: TimelineQuery, ids: Sequence[str]) -> dict[str, int]:
        if timeline_pages.simple_order(query):
            return timeline_pages.event_positions(self._session, query, ids)
        wanted = set(ids)
        return {ref.key: n for n, ref in enumerate(self._order(query)) if ref.key in wanted}


class TimelinePageModel(PagedTableModel[TimelineRow, TimelineQuery]):
    """One row per event, ours and the partners' (tinted, their source in bold)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_(HEADERS[c]) for c in EventColumn], lambda row: row.key, row_texts, parent)
        self._bold = QFont()
        self._bold.setBold(True)
        self.partners = 0

    def other_data(self, record: TimelineRow, texts: tuple[str, ...], column: int, role: int) -> object:
        return event_role_data(record.event, texts[column], column, role, self._bold)


def _widest(session: Session, case_id: str) -> dict[int, str]:
    """The "#" and "Exhibit(s)" columns' longest texts over the whole case (the rows read are not all)."""
    return {EventColumn.INDEX: timeline_pages.last_index(session, case_id),
            EventColumn.ITEMS: item_pages.longest_exhibit(session, case_id)}


def details_hint() -> str:
    return "<p style='color:#7c8692'>" + _("Select an event to see everything it records.") + "</p>"


def lay_out_timeline(view: QSplitter, filter_edit: QWidget, count_label: QWidget, table: QWidget) -> QTextBrowser:
    """The filter box and count above the table, the details below: both timelines (a case's, paged, and an
    item's, in memory) look the same. Returns the details browser."""
    details = QTextBrowser()
    details.setObjectName("eventDetails")
    details.setOpenLinks(False)
    details.setHtml(details_hint())
    top = QWidget()
    top_layout = QVBoxLayout(top)
    top_layout.setContentsMargins(0, 0, 0, 0)
    bar = QHBoxLayout()
    bar.addWidget(filter_edit, 1)
    bar.addWidget(count_label)
    top_layout.addLayout(bar)
    top_layout.addWidget(table)
    view.addWidget(top)
    view.addWidget(details)
    view.setStretchFactor(0, 1)
    view.setStretchFactor(1, 1)
    view.setSizes([300, 300])
    view.setChildrenCollapsible(False)
    return details


class PagedTimelineView(QSplitter):
    """Filter box and event table (read a page at a time) above the selected event's full details.
    ``loaded`` follows each read of the count and first rows (a case, a reload, a new sort or filter)."""

    loaded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("custodyTimeline")
        self.model = TimelinePageModel(self)  # owned by this view: see gui/models.py
        self._session: Session | None = None
        self._case_id = ""
        self._sort = (int(EventColumn.INDEX), False)
        self._filter_text = ""
        self._pending: list[str] = []
        self._load: BackgroundOp | None = None
        self.model.queried.connect(self._queried)
        self.model.query_failed.connect(self._failed)
        self.model.sort_requested.connect(self._sort_requested)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(_FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._apply_filter)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("custodyFilter")
        self.filter_edit.setPlaceholderText(_("Filter events (actor, action, purpose, exhibit…)"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.count_label = QLabel()
        self.count_label.setObjectName("hintLabel")

        self.table = QTableView()
        set_up_record_table(self.table, self.model, "custodyTable", several=False)
        self.table.horizontalHeader().setSortIndicator(EventColumn.INDEX, Qt.SortOrder.AscendingOrder)
        set_column_widths(self.table, TIMELINE_WIDTHS)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.details = lay_out_timeline(self, self.filter_edit, self.count_label, self.table)

    # ---- reading -----------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self._load is not None and self._load.running

    def load(self, session: Session, case_id: str) -> BackgroundOp | None:
        """Read the case's timeline (again): the count and the first rows; the selected event stays selected."""
        self._session, self._case_id = session, case_id
        chosen = self.selected_row()
        self._pending = [chosen.key] if chosen is not None else []
        return self._query()

    def _query(self) -> BackgroundOp | None:
        session, case_id = self._session, self._case_id
        if session is None or not session.is_open or not case_id:
            return None
        column, descending = self._sort
        query = TimelineQuery(case_id, TIMELINE_SORTS[EventColumn(column)], descending, self._filter_text)
        whole = TimelineQuery(case_id) if self._filter_text.strip() else None
        self._load = self.model.run_query(TimelinePages(session), query, keep=list(self._pending), total_query=whole,
                                          longest=lambda: _widest(session, case_id),
                                          extra=lambda: timeline_pages.partner_count(session, case_id))
        return self._load

    def _sort_requested(self, column: int, descending: bool) -> None:
        ordered = {int(EventColumn.INDEX), int(EventColumn.TIME)}
        if (column, descending) == self._sort or ({column, self._sort[0]} <= ordered and descending == self._sort[1]):
            self._sort = (column, descending)
            return  # "#" and "Time" are the same order
        self._sort = (column, descending)
        self._requery()

    def _apply_filter(self) -> None:
        text = self.filter_edit.text()
        if text.strip().casefold() == self._filter_text.strip().casefold():
            return
        self._filter_text = text
        self._requery()

    def _requery(self) -> None:
        chosen = self.selected_row()
        self._pending = [chosen.key] if chosen is not None else []
        if self._query() is not None:
            self.count_label.setText(_("Loading…"))  # the rows shown are the old order's until it comes

    def _queried(self, positions: dict[str, int]) -> None:
        self.model.partners = self.model.extra if isinstance(self.model.extra, int) else 0
        keep, self._pending = self._pending, []
        rows = [positions[key] for key in keep if key in positions]
        if rows:
            self.table.selectRow(rows[0])
            self.table.scrollTo(self.model.index(rows[0], 0))
        else:
            self.table.clearSelection()
            self.table.scrollToTop()
            self.details.setHtml(details_hint())
        self._update_count()
        fit_columns(self.table, self.model, (EventColumn.INDEX, EventColumn.TIME, EventColumn.ACTION,
                                             EventColumn.ITEMS, EventColumn.ACTOR, EventColumn.SOURCE,
                                             EventColumn.ROLE), bold=(EventColumn.SOURCE,))
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.count_label.setText(_("Could not read the chain of custody."))
        show_error(self, exc)

    def clear(self) -> None:
        self._session = None
        self._pending = []
        self.filter_edit.clear()  # not with its signals blocked: its clear button would stay
        self._filter_timer.stop()  # started by the clearing: the filter is already forgotten
        self._filter_text = ""
        self.model.clear()
        self.details.clear()

    def reset_order(self) -> None:
        """Back to log order (a timeline shown for another case starts as a new one does)."""
        self._sort = (int(EventColumn.INDEX), False)
        show_from_top(self.table, EventColumn.INDEX)

    # ---- rows --------------------------------------------------------------------------------------
    def visible_events(self) -> list[TimelineEvent]:
        """The events shown, in the table's current order (after filter and sort; rows not read yet are read)."""
        return [row.event for row in self.model.records_at(range(self.model.rowCount()))]

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def selected_row(self) -> TimelineRow | None:
        rows = selected_rows(self.table)
        if not rows:
            return None
        try:
            return self.model.record_at(rows[0])
        except (IcspaError, IndexError):
            return None

    def selected_event(self) -> TimelineEvent | None:
        row = self.selected_row()
        return row.event if row is not None else None

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        row = self.selected_row()
        self.details.setHtml(details_hint() if row is None else event_details_html(row.event, row.exhibits))

    def _update_count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total
        theirs = self.model.partners
        count = (ngettext("{n} event", "{n} events", total) if shown == total
                 else ngettext("{shown} of {n} event", "{shown} of {n} events", total, shown=shown))
        if theirs:
            count = ngettext("{count} ({n} recorded by partners)", "{count} ({n} recorded by partners)", theirs,
                             count=count)
        self.count_label.setText(count)
