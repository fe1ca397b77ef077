"""Qt item models over service results (plain lists of domain records).

Every model takes the widget that shows it as its Qt parent, so C++ owns it and deletes it with that
widget, on the GUI thread. A model owned only by its Python wrapper would be destroyed whenever Python's
cyclic garbage collector frees the wrapper, and that collection runs in whichever thread happens to
allocate, often a worker of ``gui/ops.py``: a source model destroyed there posts its ``destroyed()`` call
to the proxy's GUI thread while the same collection destroys the proxy, a use-after-free in the GUI
thread's event loop (the GUI suite's occasional segfault).

Tables of thousands of rows stay fast (issue 11: selecting a case of 2,000 items took 1.5 s) because
nothing per row runs in Python on the GUI thread: every cell's text, each row's filter text and each
column's longest text are computed once, by ``prepare_rows`` — in the worker that loaded the records
(``PreparedRows``) — and the model sorts itself in Python with keys computed once per sort. The proxy
filters in C++ on the prepared text (``HAYSTACK_ROLE``), and never sorts: QSortFilterProxyModel's own
sort would call ``data()`` in Python ~n·log n times (0.6 s for 4,000 events).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QStyle,
    QStyleOptionHeader,
    QTableView,
    QWidget,
)

from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.markings import full_time, local_time, tlp_colour, tlp_label
from icspa_desktop.i18n import N_, _

CASE_ID_ROLE = Qt.ItemDataRole.UserRole + 2
HAYSTACK_ROLE = Qt.ItemDataRole.UserRole + 3  # a row's case-folded text, all columns and extras: the filter's

_Index = QModelIndex | QPersistentModelIndex
R = TypeVar("R")
_DIGITS = re.compile(r"(\d+)")


class CaseColumn(IntEnum):
    NUMBER = 0
    TITLE = 1
    STATUS = 2
    HANDLING = 3
    TLP = 4
    UPDATED = 5


_HEADERS = {
    CaseColumn.NUMBER: N_("Number"),
    CaseColumn.TITLE: N_("Title"),
    CaseColumn.STATUS: N_("Status"),
    CaseColumn.HANDLING: N_("Handling"),
    CaseColumn.TLP: "TLP",
    CaseColumn.UPDATED: N_("Updated"),
}
# A case's status in words (the stored value is the enum's).
STATUS_NAMES = {CaseStatus.OPEN: N_("Open"), CaseStatus.CLOSED: N_("Closed")}


def status_text(status: CaseStatus) -> str:
    return _(STATUS_NAMES[status]) if status in STATUS_NAMES else status.value.capitalize()

_TLP_BACKGROUND = QBrush(QColor("#000000"))
_CLOSED_FOREGROUND = QBrush(QColor("#7c8692"))


def natural_key(text: str) -> tuple[str | int, ...]:
    """``f10`` after ``f9``: digit runs compare as numbers (they sit at the odd positions of the split)."""
    return tuple(int(part) if n % 2 else part.casefold() for n, part in enumerate(_DIGITS.split(text)))


@dataclass(frozen=True, slots=True)
class PreparedRows(Generic[R]):
    """Records with every text a table shows of them, computed once (in any thread; no Qt)."""

    records: list[R]
    texts: list[tuple[str, ...]]
    haystacks: list[str]
    longest: tuple[str, ...]  # per column, the longest text (to size the column without asking every row)


def prepare_rows(records: Sequence[R], texts: Callable[[R], tuple[str, ...]],
                 extra: Callable[[R], Iterable[str]] | None = None) -> PreparedRows[R]:
    """Each record's cell texts, its filter text (cells + ``extra``), and each column's longest text."""
    rows = [texts(record) for record in records]
    hay = ["\n".join(row if extra is None else (*row, *extra(record))).casefold()
           for record, row in zip(records, rows, strict=True)]
    longest = tuple(max(column, key=len) for column in zip(*rows, strict=True)) if rows else ()
    return PreparedRows(list(records), rows, hay, longest)


class RecordTableModel(QAbstractTableModel, Generic[R]):
    """A table of frozen records with stable ids: replace all, upsert one, find a row, sort itself.
    ``clear()`` drops every record (used when the vault locks). Subclasses give the headers, the id, the
    cell texts (``row_texts``, pure: it may run in a worker) and any other ``data`` role."""

    def __init__(self, headers: Sequence[str], record_id: Callable[[R], str], parent: QObject) -> None:
        super().__init__(parent)
        self._headers = list(headers)
        self._record_id = record_id
        self._records: list[R] = []
        self._texts: list[tuple[str, ...]] = []
        self._hay: list[str] = []
        self._seq: list[int] = []  # each row's place in the order the records were given
        self._longest: tuple[str, ...] = ()
        self._rows_by_id: dict[str, int] | None = None
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # ---- what subclasses define (pure: no Qt, any thread) -------------------------------
    def row_texts(self, record: R) -> tuple[str, ...]:
        raise NotImplementedError

    def search_texts(self, record: R) -> Iterable[str]:
        """Texts the filter finds beside the cells (full hashes, notes, …)."""
        return ()

    def sort_value(self, row: int, column: int) -> Any:
        """The sort key of a cell; text columns sort naturally (f1, f2, f10)."""
        return natural_key(self._texts[row][column])

    def prepare(self, records: Sequence[R]) -> PreparedRows[R]:
        return prepare_rows(records, self.row_texts, self.search_texts)

    # ---- content ------------------------------------------------------------------------
    def set_records(self, records: Sequence[R]) -> None:
        self.set_prepared(self.prepare(records))

    def set_prepared(self, prepared: PreparedRows[R]) -> None:
        """Show records prepared elsewhere (a worker); one model reset, sorted as the view asked."""
        self.beginResetModel()
        self._records, self._texts, self._hay = list(prepared.records), list(prepared.texts), list(prepared.haystacks)
        self._seq = list(range(len(self._records)))
        self._longest = prepared.longest
        if self._sort is not None:
            self._permute(self._sorted_rows(*self._sort))
        self._rows_by_id = None
        self.endResetModel()

    def clear(self) -> None:
        self.set_prepared(PreparedRows([], [], [], ()))

    def records(self) -> list[R]:
        return list(self._records)

    def record_at(self, row: int) -> R:
        return self._records[row]

    def text_at(self, row: int, column: int) -> str:
        return self._texts[row][column]

    def longest_text(self, column: int) -> str:
        return self._longest[column] if column < len(self._longest) else ""

    def row_of(self, record_id: str) -> int | None:
        if self._rows_by_id is None:
            self._rows_by_id = {self._record_id(r): row for row, r in enumerate(self._records)}
        return self._rows_by_id.get(record_id)

    def upsert(self, record: R) -> None:
        """Replace one record in place (after an edit), or append it (after a create)."""
        texts = self.row_texts(record)
        hay = "\n".join((*texts, *self.search_texts(record))).casefold()
        if self._longest:
            self._longest = tuple(max(old, new, key=len) for old, new in zip(self._longest, texts, strict=True))
        else:
            self._longest = texts
        row = self.row_of(self._record_id(record))
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self._records), len(self._records))
            self._records.append(record)
            self._texts.append(texts)
            self._hay.append(hay)
            self._seq.append(len(self._seq))
            self._rows_by_id = None
            self.endInsertRows()
        else:
            self._records[row], self._texts[row], self._hay[row] = record, texts, hay
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._headers) - 1))
        if self._sort is not None:
            self.sort(*self._sort)

    # ---- sorting (the proxy forwards its sort here) -------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        if len(self._records) < 2:
            return
        self.layoutAboutToBeChanged.emit()
        order_rows = self._sorted_rows(column, order)
        self._permute(order_rows)
        new_row = {old: new for new, old in enumerate(order_rows)}
        persistent = self.persistentIndexList()
        self.changePersistentIndexList(persistent, [self.index(new_row[i.row()], i.column()) for i in persistent])
        self._rows_by_id = None
        self.layoutChanged.emit()

    def _sorted_rows(self, column: int, order: Qt.SortOrder) -> list[int]:
        if not 0 <= column < len(self._headers):
            return list(range(len(self._records)))
        keys = [self.sort_value(row, column) for row in range(len(self._records))]
        return sorted(range(len(keys)), key=keys.__getitem__, reverse=order is Qt.SortOrder.DescendingOrder)

    def _permute(self, rows: list[int]) -> None:
        self._records = [self._records[r] for r in rows]
        self._texts = [self._texts[r] for r in rows]
        self._hay = [self._hay[r] for r in rows]
        self._seq = [self._seq[r] for r in rows]

    # ---- Qt ---------------------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[index.row()][index.column()]
        if role == HAYSTACK_ROLE:
            return self._hay[index.row()]
        return self.other_data(index.row(), index.column(), role)

    def other_data(self, row: int, column: int, role: int) -> object:
        """Roles other than the text and the filter's (fonts, colours, tooltips)."""
        return None


class RecordFilterModel(QSortFilterProxyModel):
    """Filters in C++ on each row's prepared text; sorting is the source model's own (see the module doc)."""

    def __init__(self, source: RecordTableModel[Any], parent: QObject) -> None:
        super().__init__(parent)
        self._records = source
        self.setSourceModel(source)
        self.setFilterRole(HAYSTACK_ROLE)
        self.setFilterKeyColumn(0)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseSensitive)  # both sides are case-folded
        self.filter_text = ""

    def set_filter_text(self, text: str) -> None:
        self.filter_text = text.strip().casefold()
        self.setFilterFixedString(self.filter_text)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._records.sort(column, order)


class _Measured(Protocol):
    def longest_text(self, column: int) -> str: ...

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = ...) -> object: ...


class PlainHeader(QHeaderView):
    """A column header that draws each section without asking whether its column is wholly selected.

    Qt's own section painting asks the selection model ``isColumnSelected``, which visits every row of the column:
    after Ctrl+A over 100,000 items each repaint of the header made a million calls into our Python model (1.1 s on
    the GUI thread). Our tables select whole rows, so a header never shows a column as selected anyway.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setHighlightSections(False)

    def paintSection(self, painter: QPainter, rect: QRect, logical: int) -> None:
        if not rect.isValid():
            return
        option = QStyleOptionHeader()
        self.initStyleOption(option)
        option.rect = rect
        option.section = logical
        option.state |= QStyle.StateFlag.State_Raised
        if self.isEnabled():
            option.state |= QStyle.StateFlag.State_Enabled
        if self.window().isActiveWindow():
            option.state |= QStyle.StateFlag.State_Active
        option.textAlignment = self.defaultAlignment()
        model = self.model()
        painter.save()
        if model is not None:  # what the model says of its headings, as Qt's own painting takes it
            horizontal = Qt.Orientation.Horizontal
            option.text = str(model.headerData(logical, horizontal, Qt.ItemDataRole.DisplayRole) or "")
            font = model.headerData(logical, horizontal, Qt.ItemDataRole.FontRole)
            if isinstance(font, QFont):
                painter.setFont(font)
                option.fontMetrics = QFontMetrics(font)
            alignment = model.headerData(logical, horizontal, Qt.ItemDataRole.TextAlignmentRole)
            if isinstance(alignment, (int, Qt.AlignmentFlag)):
                option.textAlignment = Qt.AlignmentFlag(int(alignment))
        option.iconAlignment = Qt.AlignmentFlag.AlignVCenter
        if self.isSortIndicatorShown() and self.sortIndicatorSection() == logical:
            option.sortIndicator = (QStyleOptionHeader.SortIndicator.SortDown
                                    if self.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
                                    else QStyleOptionHeader.SortIndicator.SortUp)
        visual = self.visualIndex(logical)
        visible = [v for v in range(self.count()) if not self.isSectionHidden(self.logicalIndex(v))]
        if len(visible) == 1:
            option.position = QStyleOptionHeader.SectionPosition.OnlyOneSection
        elif visible and visual == visible[0]:
            option.position = QStyleOptionHeader.SectionPosition.Beginning
        elif visible and visual == visible[-1]:
            option.position = QStyleOptionHeader.SectionPosition.End
        else:
            option.position = QStyleOptionHeader.SectionPosition.Middle
        self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        painter.restore()


def set_up_record_table(table: QTableView, model: QAbstractItemModel, name: str, *, several: bool) -> None:
    """How our record tables behave (evidence, both timelines): whole rows selected (``several``: with Shift and
    Ctrl), read-only, Tab leaving the table (issue 11), no row numbers, and the PlainHeader, whose drawing does not
    visit every row after Ctrl+A. The caller adds the sort and the column widths."""
    table.setHorizontalHeader(PlainHeader(table))
    table.setObjectName(name)
    table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move within it
    table.setModel(model)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if several
                           else QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(24)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)


def show_from_top(table: QTableView, column: int) -> None:
    """Show the table's sort indicator on ``column``, ascending, and scroll to the top: a kept case tab showing
    another case starts as a new one would. The header's signals are held: this is not a new sort asked for (the
    next read sorts so)."""
    header = table.horizontalHeader()
    header.blockSignals(True)
    header.setSortIndicator(column, Qt.SortOrder.AscendingOrder)
    header.blockSignals(False)
    table.scrollToTop()


def selected_rows(view: QAbstractItemView) -> list[int]:
    """The view's selected rows, in order, read from the selection's ranges. ``selectedRows()`` asks the model
    about every selected cell to find the fully selected rows: after Ctrl+A over 100,000 items that took
    seconds on the GUI thread; our tables select whole rows, so a range's rows are the selected ones."""
    rows: set[int] = set()
    selection = view.selectionModel().selection()
    for i in range(selection.size()):
        selected = selection.at(i)
        rows.update(range(selected.top(), selected.bottom() + 1))
    return sorted(rows)


def fit_columns(table: QTableView, model: _Measured, columns: Iterable[int], limit: int = 220,
                bold: Iterable[int] = ()) -> None:
    """Size columns to their longest text (measured once, not row by row as ``resizeColumnToContents``)."""
    metrics = table.fontMetrics()
    font = QFont(table.font())
    font.setBold(True)
    bold_metrics = QFontMetrics(font)
    heavy = set(bold)
    header = table.horizontalHeader()
    header_metrics = header.fontMetrics()
    for column in columns:
        text = model.longest_text(column)
        width = (bold_metrics if column in heavy else metrics).horizontalAdvance(text) + 16
        title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
        width = max(width, header_metrics.horizontalAdvance(title) + 24)
        table.setColumnWidth(column, min(width, limit))


def offer_column_choice(table: QTableView, hidden: Iterable[int] = (), keep: Iterable[int] = (0,)) -> None:
    """Right-click on the header: a menu to show or hide each column (a narrow pane shows what matters to this
    user); ``hidden`` start hidden, ``keep`` cannot be hidden."""
    header = table.horizontalHeader()
    fixed = set(keep)
    for column in hidden:
        header.setSectionHidden(column, True)
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def menu_at(point: QPoint) -> None:
        model = table.model()
        if model is None:
            return
        menu = QMenu(header)
        menu.setObjectName("columnMenu")
        for column in range(model.columnCount()):
            action = menu.addAction(str(model.headerData(column, Qt.Orientation.Horizontal) or ""))
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.setEnabled(column not in fixed)
            action.toggled.connect(lambda shown, c=column: header.setSectionHidden(c, not shown))
        menu.exec(header.mapToGlobal(point))

    header.customContextMenuRequested.connect(menu_at)


def set_column_widths(table: QTableView, widths: Iterable[tuple[int, int]]) -> None:
    """The columns' first widths, each widened to show its whole title (longer in German or French)."""
    header = table.horizontalHeader()
    metrics = header.fontMetrics()
    model = table.model()
    for column, width in widths:
        title = str(model.headerData(column, Qt.Orientation.Horizontal) or "") if model is not None else ""
        table.setColumnWidth(column, max(width, metrics.horizontalAdvance(title) + 24))


class CaseTableModel(RecordTableModel[Case]):
    """The case list."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_(_HEADERS[c]) for c in CaseColumn], lambda case: case.id, parent)
        self._bold = QFont()
        self._bold.setBold(True)

    def row_texts(self, record: Case) -> tuple[str, ...]:
        return tuple(self._display(record, column) for column in CaseColumn)

    def sort_value(self, row: int, column: int) -> Any:
        if column == CaseColumn.UPDATED:
            return self._records[row].updated_at.isoformat()
        return super().sort_value(row, column)

    def other_data(self, row: int, column: int, role: int) -> object:
        case = self._records[row]
        if role == CASE_ID_ROLE:
            return case.id
        if role == Qt.ItemDataRole.ToolTipRole and column == CaseColumn.TITLE:
            return case.title
        if role == Qt.ItemDataRole.ToolTipRole and column == CaseColumn.UPDATED:
            return full_time(case.updated_at)
        if column == CaseColumn.TLP:
            if role == Qt.ItemDataRole.BackgroundRole:
                return _TLP_BACKGROUND
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(tlp_colour(case.fields.tlp))
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ForegroundRole and case.status is CaseStatus.CLOSED:
            return _CLOSED_FOREGROUND
        return None

    @staticmethod
    def _display(case: Case, column: CaseColumn) -> str:
        match column:
            case CaseColumn.NUMBER:
                return case.number
            case CaseColumn.TITLE:
                return case.title
            case CaseColumn.STATUS:
                return status_text(case.status)
            case CaseColumn.HANDLING:
                return case.fields.handling_code.value
            case CaseColumn.TLP:
                return tlp_label(case.fields.tlp)
            case CaseColumn.UPDATED:
                return local_time(case.updated_at)


class CaseFilterModel(RecordFilterModel):
    """A case-insensitive filter over every column; sorting by the model's keys."""
