"""The chain-of-custody timeline: a case tab, and a dialog for one item's custody.

Both show the partners' events that came with imported bundles beside ours, in time order and marked as
theirs (``custody_model``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.gui.custody_model import (
    TIMELINE_WIDTHS,
    EventFilterModel,
    EventTableModel,
    PreparedTimeline,
    TimelineEvent,
    event_details_html,
    event_key,
    prepare_timeline,
)
from icspa_desktop.gui.custody_pages import PagedTimelineView, details_hint, lay_out_timeline
from icspa_desktop.gui.models import fit_columns, set_column_widths, set_up_record_table
from icspa_desktop.gui.ops import BackgroundOp, load_in_background, show_error
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import custody, evidence, gui_queries, received
from icspa_desktop.services.received import PartnerEventView
from icspa_desktop.services.session import Session
from icspa_desktop.services.table_texts import EventColumn


class TimelineView(QSplitter):
    """Filter box and event table above the selected event's full details."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setObjectName("custodyTimeline")
        self.model = EventTableModel(self)  # owned by this view: see gui/models.py
        self.proxy = EventFilterModel(self.model, self)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("custodyFilter")
        self.filter_edit.setPlaceholderText(_("Filter events (actor, action, purpose, exhibit…)"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.count_label = QLabel()
        self.count_label.setObjectName("hintLabel")

        self.table = QTableView()
        set_up_record_table(self.table, self.proxy, "custodyTable", several=False)
        self.table.sortByColumn(EventColumn.INDEX, Qt.SortOrder.AscendingOrder)
        set_column_widths(self.table, TIMELINE_WIDTHS)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

        self.details = lay_out_timeline(self, self.filter_edit, self.count_label, self.table)

    def set_events(self, events: list[StoredEvent], exhibits: dict[str, str],
                   partner_events: list[PartnerEventView] | None = None) -> None:
        """Our events (log order) and the partners' (time order), merged by time."""
        self.set_timeline(prepare_timeline(events, exhibits, partner_events or []))

    def set_timeline(self, timeline: PreparedTimeline) -> None:
        """Show a timeline prepared off the GUI thread; the selected event stays selected if still there."""
        chosen = self.selected_event()
        self.model.set_timeline(timeline)
        row = self.model.row_of(event_key(chosen)) if chosen is not None else None
        index = self.proxy.mapFromSource(self.model.index(row, 0)) if row is not None else None
        if index is not None and index.isValid():
            self.table.selectRow(index.row())
        else:
            self.details.setHtml(details_hint())
        self._update_count()
        fit_columns(self.table, self.model, (EventColumn.INDEX, EventColumn.TIME, EventColumn.ACTION,
                                             EventColumn.ITEMS, EventColumn.ACTOR, EventColumn.SOURCE,
                                             EventColumn.ROLE), bold=(EventColumn.SOURCE,))

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
        self.details.setHtml(details_hint() if event is None else event_details_html(event, self.model.exhibits))

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        theirs = self.model.partner_count()
        count = (ngettext("{n} event", "{n} events", total) if shown == total
                 else ngettext("{shown} of {n} event", "{shown} of {n} events", total, shown=shown))
        if theirs:
            count = ngettext("{count} ({n} recorded by partners)", "{count} ({n} recorded by partners)", theirs,
                             count=count)
        self.count_label.setText(count)


class CustodyTab(QWidget):
    """The "Custody" tab of a case: its timeline, read a page at a time when shown and by ``reload()``.

    A read first asks how long the custody log is; when the log has not grown since the timeline was read
    (every change appends to it), nothing more is read. ``loaded`` is emitted after each read, and after each
    new sort or filter of the timeline.
    """

    loaded = Signal()

    def __init__(self, session: Session, case: Case, verify: Callable[[], object] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("custodyTab")
        self._session: Session | None = session
        self.case = case
        self.heading = QLabel(_("Chain of custody of case {number}", number=case.number))
        self.heading.setObjectName("custodyHeading")
        self.timeline = PagedTimelineView()
        self.timeline.loaded.connect(self._timeline_loaded)
        self._log_size: int | None = None  # the log's size when the timeline was read; None: not read yet
        self._reading_size: int | None = None
        self._load: BackgroundOp | None = None
        self.reload_button = QPushButton(_("Reload"))
        self.reload_button.clicked.connect(self.reload)
        self.verify_button = QPushButton(_("Verify custody…"))
        self.verify_button.setObjectName("verifyButton")
        self.verify_button.setToolTip(_("Check every signature, the Merkle tree, the checkpoints and the witness "
                                        "({shortcut})", shortcut="Ctrl+Shift+V"))
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
        self.timeline.count_label.setText(_("Loading…"))

    @property
    def is_loaded(self) -> bool:
        return self._log_size is not None

    @property
    def loading(self) -> bool:
        """A read is under way (``loaded`` follows it)."""
        return (self._load is not None and self._load.running) or self.timeline.loading

    def showEvent(self, event: QShowEvent) -> None:
        # Other tabs (Evidence) record events too: the timeline is checked whenever it is looked at.
        super().showEvent(event)
        self.reload()

    def reload(self) -> BackgroundOp | None:
        """Read the timeline again in the background if the custody log changed; returns the read."""
        session = self._session
        if session is None or not session.is_open:
            return None
        if self._load is not None and self._load.running:
            self._load.cancel()  # its result is dropped; this read sees at least as much
        known = self._log_size

        def work(_cancel: CancelToken) -> int:
            return gui_queries.custody_log_size(session)

        def sized(size: int) -> None:
            if self._session is None:
                return
            if size == known:
                self.loaded.emit()
                return
            self._reading_size = size
            self.timeline.load(session, self.case.id)

        self._load = load_in_background(self, work, sized, self._failed)
        return self._load

    def _timeline_loaded(self) -> None:
        if self._session is None:
            return
        if self._reading_size is not None:
            self._log_size, self._reading_size = self._reading_size, None
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.timeline.count_label.setText(_("Could not read the chain of custody."))
        show_error(self, exc)

    def case_changed(self, case: Case | None) -> None:
        """The browser's current case changed or was edited: follow an edit of this tab's case."""
        if case is not None and case.id == self.case.id and case != self.case:
            self.case = case
            self.heading.setText(_("Chain of custody of case {number}", number=case.number))
            self.reload()

    def show_case(self, session: Session, case: Case) -> bool:
        """Show another case of the same session in this tab (``case_browser``: kept instead of made anew): its
        timeline is read when the tab is shown, in log order and unfiltered, as in a new tab. False when the
        session is another one."""
        if session is not self._session:
            return False
        self.clear()
        self._session, self.case = session, case
        self.timeline.reset_order()
        self.heading.setText(_("Chain of custody of case {number}", number=case.number))
        self.timeline.count_label.setText(_("Loading…"))
        if self.isVisible():
            self.reload()
        return True

    def clear(self) -> None:
        if self._load is not None:
            self._load.cancel()
        self._session = None
        self._log_size = None
        self._reading_size = None
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
        self.setWindowTitle(_("Custody of exhibit {exhibit}", exhibit=item.exhibit_number))
        self.resize(1000, 620)
        heading = QLabel(_("Chain of custody of exhibit {exhibit} — {name} (case {case})", exhibit=item.exhibit_number,
                           name=item.original_name, case=case_number) if case_number else
                         _("Chain of custody of exhibit {exhibit} — {name}", exhibit=item.exhibit_number,
                           name=item.original_name))
        heading.setObjectName("custodyHeading")
        heading.setWordWrap(True)
        self.timeline = TimelineView()
        _label, found = custody.timeline(session, item.id)
        theirs = received.partner_events(session, item_id=item.id)
        self.timeline.set_events(found, gui_queries.exhibit_numbers(session, item.case_id), theirs)
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
