"""The "Evidence" tab of a case: a filterable, sortable item table (files can be dropped on it) above the
selected item's full record. Actions live in ``gui/evidence_actions.py``; this module is layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.evidence_model import ITEM_SORTS, ItemColumn, ItemPages, ItemTableModel
from icspa_desktop.gui.item_details import ItemDetailsPane
from icspa_desktop.gui.markings import TlpDelegate
from icspa_desktop.gui.models import (
    fit_columns,
    selected_rows,
    set_column_widths,
    set_up_record_table,
    show_from_top,
)
from icspa_desktop.gui.ops import BackgroundOp, show_error
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import evidence, item_pages
from icspa_desktop.services.item_pages import ItemQuery
from icspa_desktop.services.session import Session

_FILTER_DELAY_MS = 150  # typing: one query once the typing pauses, not one per key
_KEEP_AT_MOST = 1000  # selected rows found again after a reload or a new sort (each is one position query)


def local_paths(urls: list[QUrl]) -> list[Path]:
    """The local files and folders among dropped URLs (remote URLs are ignored)."""
    return [Path(url.toLocalFile()) for url in urls if url.isLocalFile() and url.toLocalFile()]


class EvidenceTable(QTableView):
    """The item table; emits ``files_dropped(list[Path])`` when files or folders are dropped on it."""

    files_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drops_enabled = False  # set by the actions controller (role may add evidence, case open)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setDropIndicatorShown(False)

    def _wanted(self, event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> bool:
        return self.drops_enabled and event.mimeData().hasUrls() and bool(local_paths(event.mimeData().urls()))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._wanted(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._wanted(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        if not self._wanted(event):
            event.ignore()
            return
        event.acceptProposedAction()
        self.files_dropped.emit(local_paths(event.mimeData().urls()))


class EvidenceTab(QWidget):
    """One case's items, read a page at a time in the background (``gui/paged_model.py``): when the tab is
    first shown, by ``reload()``, and when the sort or the filter changes (``loaded`` follows each of these
    reads, once the rows are in place and the selection restored); ``clear()`` forgets everything (locking)."""

    selection_changed = Signal()
    files_dropped = Signal(list)
    loaded = Signal()

    def __init__(self, session: Session, case: Case, actions: list[QAction | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evidenceTab")
        self._session: Session | None = session
        self.case: Case | None = case
        self.model = ItemTableModel(self)  # owned by this tab: see gui/models.py
        self.is_loaded = False
        self._load: BackgroundOp | None = None
        self._pending: list[str] = []  # items to select once the items are read
        self._reveal = True  # an item in ``_pending`` hidden by the filter clears the filter (not on a re-sort)
        self._sort = (int(ItemColumn.EXHIBIT), False)  # (column, descending)
        self._filter_text = ""
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(_FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._apply_filter)
        self.model.queried.connect(self._queried)
        self.model.query_failed.connect(self._failed)
        self.model.sort_requested.connect(self._sort_requested)

        # A tool bar, not a row of buttons: narrower than its buttons, it shows the rest behind "»" instead of
        # widening the pane (the case list's splitter jumped with each tab's width, issue 11).
        bar = QToolBar()
        bar.setObjectName("evidenceBar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.buttons: list[QToolButton] = []
        for action in actions:
            if action is None:
                bar.addSeparator()
                continue
            bar.addAction(action)
            button = bar.widgetForAction(action)
            if isinstance(button, QToolButton):
                self.buttons.append(button)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("evidenceFilter")
        self.filter_edit.setPlaceholderText(_("Filter items (exhibit, name, hash, MIME, tag…)"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.count_label = QLabel()
        self.count_label.setObjectName("hintLabel")
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.count_label)

        self.table = EvidenceTable()
        set_up_record_table(self.table, self.model, "evidenceTable", several=True)
        self.table.horizontalHeader().setSortIndicator(ItemColumn.EXHIBIT, Qt.SortOrder.AscendingOrder)
        self._tlp_delegate = TlpDelegate(self.table)
        self.table.setItemDelegateForColumn(ItemColumn.TLP, self._tlp_delegate)
        set_column_widths(self.table, ((ItemColumn.EXHIBIT, 104), (ItemColumn.NAME, 170), (ItemColumn.KIND, 62),
                                       (ItemColumn.SIZE, 76), (ItemColumn.SHA256, 136), (ItemColumn.MIME, 120),
                                       (ItemColumn.TLP, 112), (ItemColumn.HANDLING, 74), (ItemColumn.STATUS, 150)))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.files_dropped.connect(self.files_dropped.emit)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.addActions([action for action in actions if action is not None])

        self.details = ItemDetailsPane()
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(bar)
        top_layout.addLayout(filter_row)
        top_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("evidenceSplitter")  # its sizes follow from case to case (case_browser.py)
        splitter.addWidget(top)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([330, 370])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self.count_label.setText(_("Loading…"))

    # ---- content -------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        return self._session

    @property
    def loading(self) -> bool:
        """A read is under way (``loaded`` follows it)."""
        return self._load is not None and self._load.running

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.is_loaded and (self._load is None or not self._load.running):
            self.reload()

    def reload(self, select: list[str] | None = None) -> BackgroundOp | None:
        """Read the case's items again in the background, then select ``select`` (default: the selection)."""
        if select is not None:
            self._pending = list(select)
        elif self.is_loaded:
            self._pending = self._selected_ids()
        self._reveal = True
        return self._query()

    def _selected_ids(self) -> list[str]:
        """The selected items' ids, the current row's first (what a reload or a new sort selects again). A
        selection of more than ``_KEEP_AT_MOST`` rows (Ctrl+A over a big case) keeps the current row only."""
        selection = self.table.selectionModel()
        rows = selected_rows(self.table)
        current = selection.currentIndex()
        if len(rows) > _KEEP_AT_MOST:
            rows = [current.row()] if current.isValid() and current.row() in set(rows) else rows[:1]
        try:
            chosen = self.model.records_at(rows)
        except (IcspaError, IndexError):
            return []
        held: list[str] = [item.id for item in chosen]
        if current.isValid() and current.row() in rows:
            first = held[rows.index(current.row())]
            held = [first, *(item_id for item_id in held if item_id != first)]  # the current row leads
        return held

    def _query(self) -> BackgroundOp | None:
        """Read the count and the first page under the sort and filter (the rows kept: ``_pending``)."""
        session, case = self._session, self.case
        if session is None or case is None or not session.is_open:
            return None
        column, descending = self._sort
        query = ItemQuery(case.id, ITEM_SORTS[ItemColumn(column)], descending, self._filter_text)
        whole = ItemQuery(case.id) if self._filter_text.strip() else None
        case_id = case.id
        self._load = self.model.run_query(
            ItemPages(session), query, keep=list(self._pending), total_query=whole,
            longest=lambda: {ItemColumn.EXHIBIT: item_pages.longest_exhibit(session, case_id)})
        return self._load

    def _sort_requested(self, column: int, descending: bool) -> None:
        if (column, descending) == self._sort:
            return
        self._sort = (column, descending)
        self._requery()

    def _apply_filter(self) -> None:
        text = self.filter_edit.text()
        if text.strip().casefold() == self._filter_text.strip().casefold():
            return
        self._filter_text = text
        self._requery()

    def _requery(self) -> None:
        if self.is_loaded:
            self._pending = self._selected_ids()
            self._reveal = False  # what the new filter hides is no longer selected
            if self._query() is not None:
                self.count_label.setText(_("Loading…"))  # the rows shown are the old order's until it comes

    def _queried(self, positions: dict[str, int]) -> None:
        if self._session is None:
            return
        # Exhibit numbers are never cut ("2026/0117-0…" was, issue 11): the longest of the case, read by the query.
        fit_columns(self.table, self.model, (ItemColumn.EXHIBIT,), limit=260, bold=(ItemColumn.EXHIBIT,))
        self.is_loaded = True
        keep, self._pending = self._pending, []
        hidden = [item_id for item_id in keep if item_id not in positions]
        if keep and hidden and self._reveal and self._filter_text.strip():
            # An item asked for but hidden by the filter: the filter goes, as it always did (select_items).
            self._pending = keep
            self._filter_text = ""
            self.filter_edit.clear()  # not with its signals blocked: its clear button would stay
            self._filter_timer.stop()
            self._query()
            return
        if not self._select_rows([positions[item_id] for item_id in keep if item_id in positions]):
            if not self._reveal:
                self.table.scrollToTop()  # a new sort or filter with nothing selected starts at its first row
            self._show_current()
        self._update_count()
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.count_label.setText(_("Could not read the items."))
        show_error(self, exc)

    def update_item(self, item: Item) -> None:
        """An item was edited: shown at once where it is, then put in its place by a new read."""
        self.model.replace(item)
        self._show_current()
        self.reload([item.id])

    def clear(self) -> None:
        """Forget the session, every record and everything shown (the vault is locking)."""
        self._pending = []
        self._session = None
        self.case = None
        self.filter_edit.clear()  # not with its signals blocked: its clear button would stay
        self._filter_timer.stop()  # started by the clearing: the filter is already forgotten
        self._filter_text = ""
        self.model.clear()
        self.details.clear()
        self.count_label.clear()

    def show_case(self, session: Session, case: Case) -> bool:
        """Show another case of the same session in this tab (``case_browser``: kept instead of made anew): its
        items are read when the tab is shown, under the default order and no filter, as in a new tab. False when
        the session is another one."""
        if session is not self._session or self.case is None:
            return False
        self.clear()
        self._session, self.case = session, case
        self.is_loaded = False
        self._reveal = True
        self._sort = (int(ItemColumn.EXHIBIT), False)
        show_from_top(self.table, ItemColumn.EXHIBIT)
        self.count_label.setText(_("Loading…"))
        if self.isVisible():
            self.reload()
        return True

    # ---- selection -----------------------------------------------------------------
    def selected_items(self) -> list[Item]:
        """The selected items in table order (rows never shown are read now: a selection made with Shift or
        Ctrl+A over a big case; an action that may run over many calls ``selected_items_reader`` instead)."""
        return self.selected_items_reader()()

    def selected_items_reader(self) -> Callable[[], list[Item]]:
        """What reads the selected items, for a worker: the selection is taken now, the rows never shown are read
        when it is called (Ctrl+A over 100,000 items took ~2 s on the GUI thread)."""
        rows = selected_rows(self.table)
        read = self.model.records_reader(rows)

        def selected() -> list[Item]:
            try:
                return read()
            except (IcspaError, IndexError):  # locked or changed meanwhile: nothing reliable is selected
                return []

        return selected

    def chosen_item_ids(self) -> list[str]:
        """The ids of the items the user selected, for an action on a part of the case (the export wizard checks
        them); none when nothing is selected or every row of the unfiltered case is (the whole case)."""
        rows = selected_rows(self.table)
        if not rows or (len(rows) == self.model.rowCount() and not self._filter_text.strip()):
            return []
        return [item.id for item in self.selected_items()]

    def current_item(self) -> Item | None:
        """The single selected item (None when none or several are selected); read by the custody actions."""
        if len(selected_rows(self.table)) != 1:
            return None
        chosen = self.selected_items()
        return chosen[0] if len(chosen) == 1 else None

    def select_items(self, item_ids: list[str]) -> bool:
        """Select these items: at once when their rows are read (returns True); otherwise once the background
        read has found them (returns False; ``loaded`` follows)."""
        if not self.is_loaded or self.model.querying:
            self._pending = list(item_ids)
            self._reveal = True
            if self.model.querying:
                self._query()  # the read under way looks for other rows: a new one finds these
            return False
        rows = [self.model.row_of(item_id) for item_id in item_ids]
        if item_ids and all(row is not None for row in rows):
            return self._select_rows([row for row in rows if row is not None])
        self._pending = list(item_ids)
        self._reveal = True
        self._query()
        return False

    def _select_rows(self, rows: list[int]) -> bool:
        selection = self.table.selectionModel()
        selection.clearSelection()
        for n, row in enumerate(rows):
            index = self.model.index(row, 0)
            selection.select(index, selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
            if n == 0:
                # Not QTableView.setCurrentIndex: its selection command follows the keyboard modifiers held.
                selection.setCurrentIndex(index, selection.SelectionFlag.NoUpdate)
                self.table.scrollTo(index)
        return bool(rows)

    def visible_items(self) -> list[Item]:
        """Every item the table shows, in its order (read now where not read yet)."""
        return self.model.records_at(range(self.model.rowCount()))

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_current()
        self.selection_changed.emit()

    def _show_current(self) -> None:
        item = self.current_item()
        if item is None:
            count = len(selected_rows(self.table))
            self.details.clear()
            if count > 1:
                self.details.heading.setText(ngettext("{n} item selected.", "{n} items selected.", count))
            return
        parent_label = ""
        if item.parent_id is not None:
            row = self.model.row_of(item.parent_id)
            parent = self.model.record_at(row) if row is not None else self._read_parent(item.parent_id)
            parent_label = f"{parent.exhibit_number} — {parent.original_name}" if parent else item.parent_id
        self.details.show_item(item, parent_label)

    def _read_parent(self, item_id: str) -> Item | None:
        session = self._session
        if session is None or not session.is_open:
            return None
        try:
            return evidence.get_item(session, item_id)  # one row by its key
        except IcspaError:
            return None

    def set_drops_enabled(self, enabled: bool) -> None:
        """Whether files may be dropped here (the role may add evidence and the case is open)."""
        self.table.drops_enabled = enabled
        self._update_count()

    def case_changed(self, case: Case | None) -> None:
        """The browser's current case was edited, closed or reopened: follow it when it is this tab's."""
        if case is not None and self.case is not None and case.id == self.case.id:
            self.case = case
            self._update_count()

    def _empty_text(self) -> str:
        if self.table.drops_enabled:
            return _("No items yet: drop files here or use Add files…")
        if self.case is not None and self.case.status is CaseStatus.CLOSED:
            return _("No items. The case is closed: it must be reopened before evidence is added.")
        return _("No items yet.")

    def _update_count(self, *_args: QModelIndex | int) -> None:
        shown, total = self.model.rowCount(), self.model.total
        if self.case is None:
            self.count_label.clear()
        elif not self.is_loaded:
            self.count_label.setText(_("Loading…"))
        elif total == 0:
            self.count_label.setText(self._empty_text())
        else:
            self.count_label.setText(ngettext("{n} item", "{n} items", total) if shown == total
                                     else ngettext("{shown} of {n} item", "{shown} of {n} items", total, shown=shown))
