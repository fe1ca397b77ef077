"""models.PlainHeader: a table's column header that does not visit every row to draw itself after Ctrl+A."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QApplication, QHeaderView, QTableView
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.models import PlainHeader

_Index = QModelIndex | QPersistentModelIndex


class Counting(QAbstractTableModel):
    """20,000 rows × 6 columns that count how often the view asks for their number."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        self.asked += 1
        return 0 if parent.isValid() else 20_000

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        self.asked += 1
        return 0 if parent.isValid() else 6

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        return f"{index.row()}:{index.column()}" if role == Qt.ItemDataRole.DisplayRole else None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return f"Column {section}"
        return None


def _asked_after_select_all(qtbot: QtBot, header: QHeaderView | None) -> int:
    model = Counting()
    view = QTableView()
    qtbot.addWidget(view)
    if header is not None:
        view.setHorizontalHeader(header)
    view.setModel(model)
    view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    view.resize(600, 300)
    view.show()
    qtbot.waitExposed(view)
    model.asked = 0
    view.selectAll()
    QApplication.processEvents()  # the view's and the header's updates after the selection
    return model.asked


def test_the_plain_header_draws_without_visiting_every_row(qtbot: QtBot) -> None:
    plain = _asked_after_select_all(qtbot, PlainHeader())
    qt_own = _asked_after_select_all(qtbot, None)
    assert plain < 2_000 < qt_own  # Qt's header asked about every row of every column drawn (100,000s of calls)


def test_the_plain_header_shows_the_headings_and_the_sort_indicator(qtbot: QtBot) -> None:
    view = QTableView()
    qtbot.addWidget(view)
    header = PlainHeader(view)
    view.setHorizontalHeader(header)
    view.setModel(Counting())
    view.setSortingEnabled(True)
    view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    view.resize(600, 300)
    view.show()
    qtbot.waitExposed(view)
    image = header.grab().toImage()
    assert header.sortIndicatorSection() == 2 and header.isSortIndicatorShown()
    # Something was drawn in each visible section (its heading), not a blank bar.
    row = header.height() // 2
    for section in range(3):
        left = header.sectionViewportPosition(section)
        colours = {image.pixel(x, row) for x in range(left + 4, left + header.sectionSize(section) - 4)}
        assert len(colours) > 1, section
