"""Qt item models over service results (plain lists of domain records)."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.domain.ids import CaseId
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.markings import local_time, tlp_colour, tlp_label

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CASE_ID_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


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


class CaseTableModel(QAbstractTableModel):
    """The case list. ``clear()`` drops every record (used when the vault locks)."""

    def __init__(self) -> None:
        super().__init__()
        self._cases: list[Case] = []
        self._bold = QFont()
        self._bold.setBold(True)

    # ---- content -------------------------------------------------------------------
    def set_cases(self, cases: list[Case]) -> None:
        self.beginResetModel()
        self._cases = list(cases)
        self.endResetModel()

    def clear(self) -> None:
        self.set_cases([])

    def case_at(self, row: int) -> Case:
        return self._cases[row]

    def row_of(self, case_id: CaseId) -> int | None:
        for row, case in enumerate(self._cases):
            if case.id == case_id:
                return row
        return None

    def update_case(self, case: Case) -> None:
        """Replace one record in place (after an edit), or append it (after a create)."""
        row = self.row_of(case.id)
        if row is None:
            self.beginInsertRows(QModelIndex(), len(self._cases), len(self._cases))
            self._cases.append(case)
            self.endInsertRows()
        else:
            self._cases[row] = case
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(CaseColumn) - 1))

    # ---- QAbstractTableModel -------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._cases)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(CaseColumn)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[CaseColumn(section)]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        case = self._cases[index.row()]
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

    def __init__(self, source: CaseTableModel) -> None:
        super().__init__()
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
