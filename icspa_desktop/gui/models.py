"""Qt item models over service results (plain lists of domain records).

Every model takes the widget that shows it as its Qt parent, so C++ owns it and deletes it with that
widget, on the GUI thread. A model owned only by its Python wrapper would be destroyed whenever Python's
cyclic garbage collector frees the wrapper, and that collection runs in whichever thread happens to
allocate, often a worker of ``gui/ops.py``: a source model destroyed there posts its ``destroyed()`` call
to the proxy's GUI thread while the same collection destroys the proxy, a use-after-free in the GUI
thread's event loop (the GUI suite's occasional segfault).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.markings import local_time, tlp_colour, tlp_label

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CASE_ID_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex
R = TypeVar("R")


class CaseColumn(IntEnum):
    NUMBER = 0
    TITLE = 1
    STATUS = 2
    HANDLING = 3
    TLP = 4
    UPDATED = 5


_HEADERS = {
    CaseColumn.NUMBER: "Number",
    CaseColumn.TITLE: "Title",
    CaseColumn.STATUS: "Status",
    CaseColumn.HANDLING: "Handling",
    CaseColumn.TLP: "TLP",
    CaseColumn.UPDATED: "Updated",
}

_TLP_BACKGROUND = QBrush(QColor("#000000"))
_CLOSED_FOREGROUND = QBrush(QColor("#7c8692"))


class RecordTableModel(QAbstractTableModel, Generic[R]):
    """A table of frozen records with stable ids: replace all, upsert one, find a row. ``clear()`` drops
    every record (used when the vault locks). Subclasses give the headers, the id and ``data``."""

    def __init__(self, headers: Sequence[str], record_id: Callable[[R], str], parent: QObject) -> None:
        super().__init__(parent)
        self._headers = list(headers)
        self._record_id = record_id
        self._records: list[R] = []

    def set_records(self, records: Sequence[R]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def clear(self) -> None:
        self.set_records([])

    def records(self) -> list[R]:
        return list(self._records)

    def record_at(self, row: int) -> R:
        return self._records[row]

    def row_of(self, record_id: str) -> int | None:
        return next((row for row, r in enumerate(self._records) if self._record_id(r) == record_id), None)

    def upsert(self, record: R) -> None:
        """Replace one record in place (after an edit), or append it (after a create)."""
        row = self.row_of(self._record_id(record))
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self._records), len(self._records))
            self._records.append(record)
            self.endInsertRows()
        else:
            self._records[row] = record
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._headers) - 1))

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None


class CaseTableModel(RecordTableModel[Case]):
    """The case list."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_HEADERS[c] for c in CaseColumn], lambda case: case.id, parent)
        self._bold = QFont()
        self._bold.setBold(True)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        case = self._records[index.row()]
        column = CaseColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(case, column)
        if role == SORT_ROLE:
            if column is CaseColumn.UPDATED:
                return case.updated_at.isoformat()
            return self._display(case, column).casefold()
        if role == CASE_ID_ROLE:
            return case.id
        if role == Qt.ItemDataRole.ToolTipRole and column is CaseColumn.TITLE:
            return case.title
        if column is CaseColumn.TLP:
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
                return case.status.value.capitalize()
            case CaseColumn.HANDLING:
                return case.fields.handling_code.value
            case CaseColumn.TLP:
                return tlp_label(case.fields.tlp)
            case CaseColumn.UPDATED:
                return local_time(case.updated_at)


class CaseFilterModel(QSortFilterProxyModel):
    """Sorting on stable keys and a case-insensitive filter over every column."""

    def __init__(self, source: CaseTableModel, parent: QObject) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
