"""The evidence table's Qt model over ``services.evidence`` items, and its filter/sort proxy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.domain.evidence import Item, ItemKind
from icspa_desktop.gui.markings import full_time, local_time, tlp_colour, tlp_label
from icspa_desktop.gui.models import PreparedRows, RecordFilterModel, RecordTableModel, prepare_rows
from icspa_desktop.i18n import N_, _

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
    ItemColumn.EXHIBIT: N_("Exhibit"),
    ItemColumn.NAME: N_("Name"),
    ItemColumn.KIND: N_("Kind"),
    ItemColumn.SIZE: N_("Size"),
    ItemColumn.SHA256: "SHA-256",
    ItemColumn.MIME: N_("MIME type"),
    ItemColumn.TLP: "TLP",
    ItemColumn.HANDLING: N_("Handling"),
    ItemColumn.STATUS: N_("Status"),
    ItemColumn.ACQUIRED: N_("Acquired"),
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
        return _("stored")
    return _("checked out to {holder}", holder=item.holder) if item.checked_out else _("in storage")


def acquired_local(item: Item) -> str:
    """When the item was acquired, in the reader's conventions and zone (a table cell: no UTC beside it)."""
    try:
        return local_time(datetime.fromisoformat(item.acquisition.acquired_at))
    except (ValueError, TypeError):
        return item.acquisition.acquired_at


def acquired_full(item: Item) -> str:
    """When the item was acquired, with UTC beside the reader's time (details, the cell's tooltip)."""
    try:
        return full_time(datetime.fromisoformat(item.acquisition.acquired_at))
    except (ValueError, TypeError):
        return item.acquisition.acquired_at


class ItemTableModel(RecordTableModel[Item]):
    """A case's items."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_(_HEADERS[c]) for c in ItemColumn], lambda item: item.id, parent)
        self._bold = QFont()
        self._bold.setBold(True)
        self._mono = QFont("monospace")
        self._mono.setStyleHint(QFont.StyleHint.Monospace)

    def row_texts(self, record: Item) -> tuple[str, ...]:
        return item_texts(record)

    def search_texts(self, record: Item) -> Iterable[str]:
        return item_search_texts(record)

    def sort_value(self, row: int, column: int) -> Any:
        item = self._records[row]
        if column == ItemColumn.SIZE:
            return -1 if item.size is None else item.size
        if column == ItemColumn.ACQUIRED:
            return item.acquisition.acquired_at
        return super().sort_value(row, column)

    def other_data(self, row: int, column: int, role: int) -> object:
        item = self._records[row]
        if role == ITEM_ID_ROLE:
            return item.id
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ItemColumn.SHA256:
                return item.sha256 or _("no content (physical item)")
            if column == ItemColumn.NAME:
                return item.original_path or item.original_name
            if column == ItemColumn.ACQUIRED:
                return acquired_full(item)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == ItemColumn.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole:
            if column == ItemColumn.SHA256:
                return self._mono
            if column in (ItemColumn.TLP, ItemColumn.EXHIBIT):
                return self._bold
        if column == ItemColumn.TLP:
            if role == Qt.ItemDataRole.BackgroundRole:
                return _TLP_BACKGROUND
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(tlp_colour(item.markings.tlp))
        if column == ItemColumn.STATUS and role == Qt.ItemDataRole.ForegroundRole and item.checked_out:
            return _OUT_FOREGROUND
        return None


def item_texts(item: Item) -> tuple[str, ...]:
    """The cells of an item's row, in ``ItemColumn`` order."""
    return (
        item.exhibit_number,
        item.original_name,
        _("file") if item.kind is ItemKind.DIGITAL else _("physical"),
        human_size(item.size),
        (item.sha256 or "")[:16],
        item.mime_type,
        tlp_label(item.markings.tlp),
        item.markings.handling_code.value,
        item_status(item),
        acquired_local(item),
    )


def item_search_texts(item: Item) -> tuple[str, ...]:
    """What the filter finds beside the cells: the full hashes, description, notes, tags and places."""
    return (*item.hashes.values(), item.description, item.notes, *item.tags, item.holder, item.storage_location,
            item.original_path)


def prepare_items(items: Sequence[Item]) -> PreparedRows[Item]:
    """An item table's rows, computed in the worker that listed the items."""
    return prepare_rows(items, item_texts, item_search_texts)


class ItemFilterModel(RecordFilterModel):
    """Filters on every visible column plus the full hashes, description and tags; sorts by the model's keys."""
