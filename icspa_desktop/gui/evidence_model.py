"""The evidence table's Qt model over ``services.evidence`` items, and its filter/sort proxy."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.domain.evidence import Item, ItemKind
from icspa_desktop.gui.markings import local_time, tlp_colour, tlp_label
from icspa_desktop.gui.models import RecordTableModel

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


class ItemColumn(IntEnum):
    EXHIBIT = 0
    NAME = 1
    KIND = 2
    SIZE = 3
    SHA256 = 4
    MIME = 5
    TLP = 6
    HANDLING = 7
    STATUS = 8
    ACQUIRED = 9


_HEADERS = {
    ItemColumn.EXHIBIT: "Exhibit",
    ItemColumn.NAME: "Name",
    ItemColumn.KIND: "Kind",
    ItemColumn.SIZE: "Size",
    ItemColumn.SHA256: "SHA-256",
    ItemColumn.MIME: "MIME type",
    ItemColumn.TLP: "TLP",
    ItemColumn.HANDLING: "Handling",
    ItemColumn.STATUS: "Status",
    ItemColumn.ACQUIRED: "Acquired",
}

_TLP_BACKGROUND = QBrush(QColor("#000000"))
_OUT_FOREGROUND = QBrush(QColor("#b35c00"))


def human_size(size: int | None) -> str:
    """``1536`` → ``1.5 KiB``; None (a physical item) → an empty string."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def item_status(item: Item) -> str:
    if item.kind is ItemKind.DIGITAL:
        return "stored"
    return f"checked out to {item.holder}" if item.checked_out else "in storage"


def acquired_local(item: Item) -> str:
    try:
        return local_time(datetime.fromisoformat(item.acquisition.acquired_at))
    except (ValueError, TypeError):
        return item.acquisition.acquired_at


class ItemTableModel(RecordTableModel[Item]):
    """A case's items."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_HEADERS[c] for c in ItemColumn], lambda item: item.id, parent)
        self._bold = QFont()
        self._bold.setBold(True)
        self._mono = QFont("monospace")
        self._mono.setStyleHint(QFont.StyleHint.Monospace)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        item = self._records[index.row()]
        column = ItemColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == SORT_ROLE:
            if column is ItemColumn.SIZE:
                return -1 if item.size is None else item.size
            if column is ItemColumn.ACQUIRED:
                return item.acquisition.acquired_at
            return self._display(item, column).casefold()
        if role == ITEM_ID_ROLE:
            return item.id
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is ItemColumn.SHA256:
                return item.sha256 or "no content (physical item)"
            if column is ItemColumn.NAME:
                return item.original_path or item.original_name
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column is ItemColumn.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole:
            if column is ItemColumn.SHA256:
                return self._mono
            if column in (ItemColumn.TLP, ItemColumn.EXHIBIT):
                return self._bold
        if column is ItemColumn.TLP:
            if role == Qt.ItemDataRole.BackgroundRole:
                return _TLP_BACKGROUND
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(tlp_colour(item.markings.tlp))
        if column is ItemColumn.STATUS and role == Qt.ItemDataRole.ForegroundRole and item.checked_out:
            return _OUT_FOREGROUND
        return None

    @staticmethod
    def _display(item: Item, column: ItemColumn) -> str:
        if column is ItemColumn.EXHIBIT:
            return item.exhibit_number
        if column is ItemColumn.NAME:
            return item.original_name
        if column is ItemColumn.KIND:
            return "file" if item.kind is ItemKind.DIGITAL else "physical"
        if column is ItemColumn.SIZE:
            return human_size(item.size)
        if column is ItemColumn.SHA256:
            return (item.sha256 or "")[:16]
        if column is ItemColumn.MIME:
            return item.mime_type
        if column is ItemColumn.TLP:
            return tlp_label(item.markings.tlp)
        if column is ItemColumn.HANDLING:
            return item.markings.handling_code.value
        if column is ItemColumn.STATUS:
            return item_status(item)
        return acquired_local(item)


class ItemFilterModel(QSortFilterProxyModel):
    """Filters on every visible column plus the full hashes, description and tags; sorts by SORT_ROLE."""

    def __init__(self, source: ItemTableModel, parent: QObject) -> None:
        super().__init__(parent)
        self._items = source
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self._needle = ""

    def set_filter_text(self, text: str) -> None:
        self.beginFilterChange()
        self._needle = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        needle = self._needle
        if not needle:
            return True
        item = self._items.record_at(source_row)
        hay = [ItemTableModel._display(item, column) for column in ItemColumn]
        hay += [*item.hashes.values(), item.description, item.notes, *item.tags, item.holder,
                item.storage_location, item.original_path]
        return any(needle in text.casefold() for text in hay)
