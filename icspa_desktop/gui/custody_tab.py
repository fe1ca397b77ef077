"""The chain-of-custody timeline: a case tab, and a dialog for one item's custody.

Both show the partners' events that came with imported bundles beside ours, in time order and marked as
theirs (``custody_model``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.custody_model import (
    EventColumn,
    EventFilterModel,
    EventTableModel,
    TimelineEvent,
    event_details_html,
)
from icspa_desktop.gui.ops import show_error
from icspa_desktop.services import custody, evidence, received
from icspa_desktop.services.received import PartnerEventView
from icspa_desktop.services.session import Session

_DETAILS_HINT = "<p style='color:#7c8692'>Select an event to see everything it records.</p>"


def exhibit_numbers(session: Session, case_id: str) -> dict[str, str]:
    """Item id → exhibit number for a case's items (empty when the vault has no evidence yet)."""
    try:
        return {item.id: item.exhibit_number for item in evidence.list_items(session, case_id)}
    except IcspaError:
        return {}


class TimelineView(QSplitter):
    """Filter box and event table above the selected event's full details."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("custodyTimeline")
        self.model = EventTableModel(self)  # owned by this view: see gui/models.py
        self.proxy = EventFilterModel(self.model, self)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("custodyFilter")
        self.filter_edit.setPlaceholderText("Filter events (actor, action, purpose, exhibit…)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.count_label = QLabel()
        self.count_label.setObjectName("hintLabel")

        self.table = QTableView()
        self.table.setObjectName("custodyTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(EventColumn.INDEX, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in ((EventColumn.INDEX, 40), (EventColumn.SOURCE, 90), (EventColumn.TIME_UTC, 132),
                              (EventColumn.LOCAL_TIME, 162), (EventColumn.ACTOR, 140), (EventColumn.ROLE, 88),
                              (EventColumn.ACTION, 100), (EventColumn.PURPOSE, 130), (EventColumn.AUTHORITY, 100),
                              (EventColumn.LOCATION, 80), (EventColumn.RESULT, 64)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

        self.details = QTextBrowser()
        self.details.setObjectName("eventDetails")
        self.details.setOpenLinks(False)
        self.details.setHtml(_DETAILS_HINT)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.count_label)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.table)
        self.addWidget(top)
        self.addWidget(self.details)
        self.setStretchFactor(0, 1)
        self.setStretchFactor(1, 1)
        self.setSizes([300, 300])
        self.setChildrenCollapsible(False)

    def set_events(self, events: list[StoredEvent], exhibits: dict[str, str],
                   partner_events: list[PartnerEventView] | None = None) -> None:
        """Our events (log order) and the partners' (time order), merged by time."""
        self.model.set_events(events, exhibits, partner_events or [])
        self.details.setHtml(_DETAILS_HINT)
        self._update_count()
        for column in (EventColumn.INDEX, EventColumn.SOURCE, EventColumn.TIME_UTC, EventColumn.LOCAL_TIME,
                       EventColumn.ACTOR, EventColumn.ROLE, EventColumn.ACTION):
            self.table.resizeColumnToContents(column)
            self.table.setColumnWidth(column, min(self.table.columnWidth(column) + 8, 200))

    def clear(self) -> None:
        self.filter_edit.clear()
        self.model.clear()
        self.details.clear()

    def visible_events(self) -> list[TimelineEvent]:
        """The events shown, in the table's current order (after filter and sort)."""
        return [self.model.event_at(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
                for row in range(self.proxy.rowCount())]

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def selected_event(self) -> TimelineEvent | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.event_at(self.proxy.mapToSource(rows[0]).row())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        event = self.selected_event()
        self.details.setHtml(_DETAILS_HINT if event is None else event_details_html(event, self.model.exhibits))

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        theirs = self.model.partner_count()
        self.count_label.setText((f"{total} events" if shown == total else f"{shown} of {total} events")
                                 + (f" ({theirs} recorded by partners)" if theirs else ""))


class CustodyTab(QWidget):
    """The "Custody" tab of a case: its timeline, reloaded by ``reload()``."""

    def __init__(self, session: Session, case: Case, verify: Callable[[], object] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("custodyTab")
        self._session: Session | None = session
        self.case = case
        self.heading = QLabel()
        self.heading.setObjectName("custodyHeading")
        self.timeline = TimelineView()
        self._loaded = False
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        self.verify_button = QPushButton("Verify custody…")
        self.verify_button.setObjectName("verifyButton")
        self.verify_button.setToolTip("Check every signature, the Merkle tree, the checkpoints and the witness "
                                      "(Ctrl+Shift+V)")
        if verify is not None:
            self.verify_button.clicked.connect(lambda: verify())
        else:
            self.verify_button.hide()
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.reload_button)
        top.addWidget(self.verify_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.timeline)
        self.reload()

    def showEvent(self, event: QShowEvent) -> None:
        # Other tabs (Evidence) record events too: the timeline is current whenever it is looked at.
        if self._loaded:
            self.reload()
        super().showEvent(event)

    def reload(self) -> None:
        session = self._session
        if session is None or not session.is_open:
            return
        try:
            _label, found = custody.timeline(session, self.case.id)
            theirs = received.partner_events(session, case_id=self.case.id)
        except IcspaError as exc:
            show_error(self, exc)
            return
        self.timeline.set_events(found, exhibit_numbers(session, self.case.id), theirs)
        self._loaded = True
        self.heading.setText(f"Chain of custody of case {self.case.number}")

    def case_changed(self, case: Case | None) -> None:
        """The browser's current case changed or was edited: reload when it is this tab's case."""
        if case is not None and case.id == self.case.id:
            self.case = case
            self.reload()

    def clear(self) -> None:
        self._session = None
        self.timeline.clear()
        self.heading.clear()


class ItemCustodyDialog(QDialog):
    """The custody timeline of one item (non-modal; closed when the vault locks)."""

    def __init__(self, session: Session, item_ref: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("itemCustodyDialog")
        item = evidence.get_item(session, item_ref)
        case_number = ""
        try:
            from icspa_desktop.services import cases

            case_number = cases.get_case(session, item.case_id).number
        except IcspaError:
            pass
        self.item = item
        self.setWindowTitle(f"Custody of exhibit {item.exhibit_number}")
        self.resize(1000, 620)
        heading = QLabel(f"Chain of custody of exhibit {item.exhibit_number} — {item.original_name}"
                         + (f" (case {case_number})" if case_number else ""))
        heading.setObjectName("custodyHeading")
        heading.setWordWrap(True)
        self.timeline = TimelineView()
        _label, found = custody.timeline(session, item.id)
        theirs = received.partner_events(session, item_id=item.id)
        self.timeline.set_events(found, exhibit_numbers(session, item.case_id), theirs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.timeline)
        layout.addWidget(buttons)
        self.rejected.connect(self.timeline.clear)


def show_item_timeline(parent: QWidget, session: Session, item_id: str) -> ItemCustodyDialog | None:
    """Open the custody dialog of one item (for the evidence tab's "Item custody…"); errors are shown."""
    try:
        dialog = ItemCustodyDialog(session, item_id, parent)
    except IcspaError as exc:
        show_error(parent, exc)
        return None
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
