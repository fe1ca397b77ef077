"""The case list (filterable, sortable) beside a tabbed detail pane for the selected case."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QByteArray, QItemSelection, QModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.ids import CaseId
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.gui.case_details import CaseDetailsWidget
from icspa_desktop.gui.markings import TlpDelegate
from icspa_desktop.gui.models import (
    CaseColumn,
    CaseFilterModel,
    CaseTableModel,
    PreparedRows,
    offer_column_choice,
    set_column_widths,
)
from icspa_desktop.gui.ops import BackgroundOp, load_in_background, show_error
from icspa_desktop.i18n import _
from icspa_desktop.services import cases as cases_service
from icspa_desktop.services.session import Session

# Builds one tab's widget for the selected case (evidence, custody, ...). Called again for each case, unless the
# widget it built has a ``show_case(session, case) -> bool`` method that shows the next case in place.
CaseTabFactory = Callable[[Session, Case], QWidget]
W = TypeVar("W", bound=QWidget)


class CaseTable(QTableView):
    """The case list: rows, not cells. Tab leaves the list (it walked cell by cell and then changed the case,
    issue 11), and the first Down selects the first case (Qt puts the cursor on it unselected when the list
    gets the focus, so Down skipped it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabKeyNavigation(False)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        model = self.model()
        if (event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and model is not None and model.rowCount()
                and not self.selectionModel().hasSelection()):
            current = self.currentIndex()
            self.selectRow(current.row() if current.isValid() else 0)
            event.accept()
            return
        super().keyPressEvent(event)


def _placeholder(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("placeholder")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def _cancel_reads(widget: QWidget) -> None:
    """Stop the reads under way for the case a tab no longer shows, and drop what they find."""
    for op in widget.findChildren(BackgroundOp):
        if not op.exclusive:
            op.cancel()


class CaseBrowser(QSplitter):
    """Emits ``current_case_changed(Case | None)``; ``clear()`` removes every case from view."""

    current_case_changed = Signal(object)
    activated = Signal()  # double-click or Enter on a case
    cases_loaded = Signal()  # the list read by ``load_cases`` is shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._session: Session | None = None
        self._factories: list[tuple[str, CaseTabFactory]] = []
        self._current: Case | None = None

        self.model = CaseTableModel(self)  # owned by this widget: see gui/models.py
        self.proxy = CaseFilterModel(self.model, self)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("caseFilter")
        self.filter_edit.setPlaceholderText(_("Filter cases ({shortcut})", shortcut="Ctrl+F"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)

        self.table = CaseTable()
        self.table.setObjectName("caseTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(CaseColumn.UPDATED, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self._tlp_delegate = TlpDelegate(self.table)
        self.table.setItemDelegateForColumn(CaseColumn.TLP, self._tlp_delegate)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(CaseColumn.TITLE, QHeaderView.ResizeMode.Stretch)
        set_column_widths(self.table, ((CaseColumn.NUMBER, 90), (CaseColumn.STATUS, 62), (CaseColumn.HANDLING, 72),
                                       (CaseColumn.TLP, 132), (CaseColumn.UPDATED, 128)))
        # The pane is narrow: "Updated" (the order the list is in) and "Handling" (a badge in the case's details)
        # start hidden so that titles can be read; a right-click on the header shows them again (issue 11: titles
        # were cut to 15 characters, and to 3 with the German headers).
        offer_column_choice(self.table, hidden=(CaseColumn.UPDATED, CaseColumn.HANDLING),
                            keep=(CaseColumn.NUMBER, CaseColumn.TITLE))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.activated.connect(lambda _index: self.activated.emit())

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 3, 6)
        left_layout.addWidget(self.filter_edit)
        left_layout.addWidget(self.table)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("caseTabs")
        self.details = CaseDetailsWidget()
        self.tabs.addTab(self.details, _("Details"))

        self.addWidget(left)
        self.addWidget(self.tabs)
        # The working pane gets the extra width of a bigger window, not the list (issue 11); its minimum
        # width does not follow the tab shown, so the handle stays where the user put it.
        self.tabs.setMinimumWidth(420)
        self.setStretchFactor(0, 0)
        self.setStretchFactor(1, 1)
        self.setSizes([440, 800])
        self.setChildrenCollapsible(False)
        self.setObjectName("caseBrowser")
        # Splitter states inside the case tabs (by object name), kept from one case's tab to the next.
        self.tab_layouts: dict[str, bytes] = {}
        self._case_load: BackgroundOp | None = None
        self.cases_are_loaded = False

    # ---- content -------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self._session = session

    def load_cases(self, session: Session) -> None:
        """Read the cases and their row texts in a worker, then show them (one model reset): a 10,000-case vault
        no longer holds the window for the read at unlock (issue 11). ``cases_loaded`` says when."""
        if self._case_load is not None:
            self._case_load.cancel()
        self.cases_are_loaded = False

        def work(cancel: CancelToken) -> PreparedRows[Case]:
            records = cases_service.list_cases(session)
            cancel.check()
            return self.model.prepare(records)

        self._case_load = load_in_background(self, work, self._show_loaded, self._load_failed)

    def _show_loaded(self, prepared: PreparedRows[Case]) -> None:
        self._case_load = None
        if self._session is None:
            return
        self._show_rows(prepared)
        self.cases_are_loaded = True
        self.cases_loaded.emit()

    def _load_failed(self, exc: BaseException) -> None:
        self._case_load = None
        self.cases_are_loaded = True  # nothing more will come: the window is usable, and says why it is empty
        show_error(self, exc)
        self.cases_loaded.emit()

    def set_cases(self, cases: list[Case], select: CaseId | None = None) -> None:
        self._show_rows(self.model.prepare(cases), select)

    def _show_rows(self, prepared: PreparedRows[Case], select: CaseId | None = None) -> None:
        """Show these cases, keeping ``select`` (or the case shown) selected if it is still there."""
        keep = select or (self._current.id if self._current else None)
        self.model.set_prepared(prepared)
        if keep is None or not self.select_case(keep):
            self._set_current(None)

    def update_case(self, case: Case) -> None:
        """Show a created or edited case and select it."""
        self.model.upsert(case)
        self.proxy.invalidate()
        self.select_case(case.id)
        if self._current is not None and self._current.id == case.id:
            self._set_current(case)

    def select_case(self, case_id: CaseId) -> bool:
        row = self.model.row_of(case_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():  # hidden by the filter
            self.filter_edit.clear()
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def current_case(self) -> Case | None:
        return self._current

    def clear(self) -> None:
        """Forget every case and every widget built from one (the vault is locking)."""
        if self._case_load is not None:
            self._case_load.abandon()
            self._case_load = None
        self._session = None
        self.filter_edit.clear()
        self.model.clear()
        self._set_current(None)
        self.details.clear()

    def focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    # ---- extra tabs ----------------------------------------------------------------
    def add_case_tab(self, title: str, factory: CaseTabFactory) -> None:
        """Add a tab after "Details" whose widget ``factory(session, case)`` builds for each selected case."""
        self._factories.append((title, factory))
        self.tabs.addTab(self._tab_widget(factory), title)

    def _tab_widget(self, factory: CaseTabFactory) -> QWidget:
        if self._session is None or self._current is None:
            return _placeholder(_("Select a case in the list."))
        return factory(self._session, self._current)

    def case_tab(self, kind: type[W]) -> W | None:
        """The current case's tab of this kind (None when no case is selected)."""
        for index in range(self.tabs.count()):
            widget = self.tabs.widget(index)
            if isinstance(widget, kind):
                return widget
        return None

    def _rebuild_tabs(self) -> None:
        """Show the current case in the case tabs: a tab that can show another case of the same session
        (``show_case(session, case) -> bool``) is kept, any other is made anew by its factory. Making the
        Evidence and Custody tabs anew for each selected case cost ~35 ms of the GUI thread on a 2-core machine
        (construction, the style's polish of every new widget, the old ones' deletion): a stall a user feels when
        stepping through the case list (``bench gui``)."""
        session, case = self._session, self._current
        replace: list[int] = []
        for offset in range(1, len(self._factories) + 1):
            widget = self.tabs.widget(offset)
            if widget is None or session is None or case is None or not self._reuse(widget, session, case):
                replace.append(offset)
        if not replace:
            return
        selected = self.tabs.currentIndex()
        # Removing the shown tab would show its neighbour for a moment, and a case tab reads its data when
        # shown: the Details tab stands in while the case tabs are replaced.
        self.tabs.setCurrentIndex(0)
        for offset in replace:
            title, factory = self._factories[offset - 1]
            old = self.tabs.widget(offset)
            self.tabs.removeTab(offset)
            if old is not None:
                self._keep_layout(old)
                forget = getattr(old, "clear", None)
                if callable(forget):
                    forget()  # its records go now, not whenever Qt deletes the widget
                _cancel_reads(old)
                old.deleteLater()
            new = self._tab_widget(factory)
            self._restore_layout(new)
            self.tabs.insertTab(offset, new, title)
        self.tabs.setCurrentIndex(selected)

    @staticmethod
    def _reuse(widget: QWidget, session: Session, case: Case) -> bool:
        """Let ``widget`` show ``case`` instead of its own; False when it cannot (then it is made anew)."""
        show_case = getattr(widget, "show_case", None)
        if not callable(show_case):
            return False
        _cancel_reads(widget)
        return bool(show_case(session, case))

    def _keep_layout(self, widget: QWidget) -> None:
        for splitter in widget.findChildren(QSplitter):
            if splitter.objectName():
                self.tab_layouts[splitter.objectName()] = bytes(splitter.saveState().data())

    def _restore_layout(self, widget: QWidget) -> None:
        for splitter in widget.findChildren(QSplitter):
            state = self.tab_layouts.get(splitter.objectName())
            if state:
                splitter.restoreState(QByteArray(state))

    def layout_states(self) -> dict[str, bytes]:
        """This splitter's state and the case tabs' (to save at exit)."""
        for index in range(1, self.tabs.count()):
            widget = self.tabs.widget(index)
            if widget is not None:
                self._keep_layout(widget)
        return {"caseBrowser": bytes(self.saveState().data()), **self.tab_layouts}

    def restore_layout_states(self, states: dict[str, bytes]) -> None:
        own = states.get("caseBrowser")
        if own:
            self.restoreState(QByteArray(own))
        self.tab_layouts.update({name: state for name, state in states.items() if name != "caseBrowser"})

    # ---- selection -----------------------------------------------------------------
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self._set_current(None)
            return
        source: QModelIndex = self.proxy.mapToSource(rows[0])
        self._set_current(self.model.record_at(source.row()))

    def _set_current(self, case: Case | None) -> None:
        changed = (case is None) != (self._current is None) or (
            case is not None and self._current is not None and case.id != self._current.id)
        self._current = case
        if case is None:
            self.details.clear_case()
        else:
            self.details.show_case(case)
        if changed:
            self._rebuild_tabs()
        self.current_case_changed.emit(case)
