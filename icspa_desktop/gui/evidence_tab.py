"""The "Evidence" tab of a case: a filterable, sortable item table (files can be dropped on it) above the
selected item's full record. Actions live in ``gui/evidence_actions.py``; this module is layout."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
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
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.gui.evidence_model import ItemColumn, ItemFilterModel, ItemTableModel, prepare_items
from icspa_desktop.gui.item_details import ItemDetailsPane
from icspa_desktop.gui.markings import TlpDelegate
from icspa_desktop.gui.models import PreparedRows, fit_columns, set_column_widths
from icspa_desktop.gui.ops import BackgroundOp, load_in_background, show_error
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import evidence
from icspa_desktop.services.session import Session


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
    """One case's items, read in the background when the tab is first shown and by ``reload()`` (``loaded``
    follows each read); ``clear()`` forgets everything (locking)."""

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
        self.proxy = ItemFilterModel(self.model, self)
        self.is_loaded = False
        self._load: BackgroundOp | None = None
        self._pending: list[str] = []  # items to select once the items are read

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
        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.filter_edit.textChanged.connect(lambda _t: self._update_count())
        self.count_label = QLabel()
        self.count_label.setObjectName("hintLabel")
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.count_label)

        self.table = EvidenceTable()
        self.table.setObjectName("evidenceTable")
        self.table.setTabKeyNavigation(False)  # Tab leaves the table (issue 11); arrows move within it
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(ItemColumn.EXHIBIT, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self._tlp_delegate = TlpDelegate(self.table)
        self.table.setItemDelegateForColumn(ItemColumn.TLP, self._tlp_delegate)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        set_column_widths(self.table, ((ItemColumn.EXHIBIT, 104), (ItemColumn.NAME, 170), (ItemColumn.KIND, 62),
                                       (ItemColumn.SIZE, 76), (ItemColumn.SHA256, 136), (ItemColumn.MIME, 120),
                                       (ItemColumn.TLP, 112), (ItemColumn.HANDLING, 74), (ItemColumn.STATUS, 150)))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.files_dropped.connect(self.files_dropped.emit)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.addActions([action for action in actions if action is not None])
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.rowsInserted.connect(self._update_count)

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
        session, case = self._session, self.case
        if session is None or case is None or not session.is_open:
            return None
        if select is not None:
            self._pending = list(select)
        elif self.is_loaded:
            self._pending = [str(item.id) for item in self.selected_items()]
        if self._load is not None and self._load.running:
            self._load.cancel()  # its result is dropped; this read sees at least as much
        case_id = case.id

        def work(cancel: CancelToken) -> PreparedRows[Item]:
            items = evidence.list_items(session, case_id)
            cancel.check()
            return prepare_items(items)

        self._load = load_in_background(self, work, self._show, self._failed)
        return self._load

    def _show(self, prepared: PreparedRows[Item]) -> None:
        if self._session is None:
            return
        self.model.set_prepared(prepared)
        # Exhibit numbers are never cut ("2026/0117-0…" was, issue 11): the longest, measured in the worker.
        fit_columns(self.table, self.model, (ItemColumn.EXHIBIT,), limit=260, bold=(ItemColumn.EXHIBIT,))
        self.is_loaded = True
        keep, self._pending = self._pending, []
        if not self.select_items(keep):
            self._show_current()
        self._update_count()
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.count_label.setText(_("Could not read the items."))
        show_error(self, exc)

    def update_item(self, item: Item) -> None:
        self.model.upsert(item)
        self.proxy.invalidate()
        self.select_items([item.id])
        self._show_current()

    def clear(self) -> None:
        """Forget the session, every record and everything shown (the vault is locking)."""
        if self._load is not None:
            self._load.cancel()
        self._pending = []
        self._session = None
        self.case = None
        self.filter_edit.clear()
        self.model.clear()
        self.details.clear()
        self.count_label.clear()

    # ---- selection -----------------------------------------------------------------
    def selected_items(self) -> list[Item]:
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda index: index.row())
        return [self.model.record_at(self.proxy.mapToSource(index).row()) for index in rows]

    def current_item(self) -> Item | None:
        """The single selected item (None when none or several are selected); read by the custody actions."""
        chosen = self.selected_items()
        return chosen[0] if len(chosen) == 1 else None

    def select_items(self, item_ids: list[str]) -> bool:
        """Select these items; before the items are read, they are selected when they are (returns False)."""
        if not self.is_loaded:
            self._pending = list(item_ids)
            return False
        selection = self.table.selectionModel()
        selection.clearSelection()
        found = False
        for item_id in item_ids:
            row = self.model.row_of(item_id)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():  # hidden by the filter
                self.filter_edit.clear()
                index = self.proxy.mapFromSource(self.model.index(row, 0))
            selection.select(index, selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
            if not found:
                # Not QTableView.setCurrentIndex: its selection command follows the keyboard modifiers held.
                selection.setCurrentIndex(index, selection.SelectionFlag.NoUpdate)
                self.table.scrollTo(index)
            found = True
        return found

    def visible_items(self) -> list[Item]:
        return [self.model.record_at(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
                for row in range(self.proxy.rowCount())]

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_current()
        self.selection_changed.emit()

    def _show_current(self) -> None:
        item = self.current_item()
        if item is None:
            count = len(self.selected_items())
            self.details.clear()
            if count > 1:
                self.details.heading.setText(ngettext("{n} item selected.", "{n} items selected.", count))
            return
        parent_label = ""
        if item.parent_id is not None:
            row = self.model.row_of(item.parent_id)
            parent = self.model.record_at(row) if row is not None else None
            parent_label = f"{parent.exhibit_number} — {parent.original_name}" if parent else item.parent_id
        self.details.show_item(item, parent_label)

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
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        if self.case is None:
            self.count_label.clear()
        elif not self.is_loaded:
            self.count_label.setText(_("Loading…"))
        elif total == 0:
            self.count_label.setText(self._empty_text())
        else:
            self.count_label.setText(ngettext("{n} item", "{n} items", total) if shown == total
                                     else ngettext("{shown} of {n} item", "{shown} of {n} items", total, shown=shown))
