"""The evidence table's Qt model: a case's items a page at a time, sorted and filtered by
``services.item_pages``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import IntEnum

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from icspa_desktop.domain.evidence import Item
from icspa_desktop.gui.markings import full_time, tlp_colour, tlp_label
from icspa_desktop.gui.paged_model import PagedTableModel
from icspa_desktop.i18n import N_, _
from icspa_desktop.services import evidence, item_pages
from icspa_desktop.services.item_pages import ItemQuery, ItemSort
from icspa_desktop.services.session import Session
from icspa_desktop.services.table_texts import kind_text, size_text, status_text, time_text

ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 2


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


def item_status(item: Item) -> str:
    return status_text(item.kind, item.checked_out, item.holder)


def acquired_full(item: Item) -> str:
    """When the item was acquired, with UTC beside the reader's time (details, the cell's tooltip)."""
    try:
        return full_time(datetime.fromisoformat(item.acquisition.acquired_at))
    except (ValueError, TypeError):
        return item.acquisition.acquired_at


# The service's sort for each column (services/item_pages.py).
ITEM_SORTS = {
    ItemColumn.EXHIBIT: ItemSort.EXHIBIT, ItemColumn.NAME: ItemSort.NAME, ItemColumn.KIND: ItemSort.KIND,
    ItemColumn.SIZE: ItemSort.SIZE, ItemColumn.SHA256: ItemSort.SHA256, ItemColumn.MIME: ItemSort.MIME,
    ItemColumn.TLP: ItemSort.TLP, ItemColumn.HANDLING: ItemSort.HANDLING, ItemColumn.STATUS: ItemSort.STATUS,
    ItemColumn.ACQUIRED: ItemSort.ACQUIRED,
}


class ItemPages:
    """The evidence table's page source: ``services.item_pages`` over one session (no Qt; runs in workers). In
    exhibit order its pages come from an index; any other sort or a filter orders the case's items once
    (``item_refs``) and keeps that order, so each page while scrolling costs a lookup, not another sort."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._refs: tuple[ItemQuery, list[str]] | None = None

    def _order(self, query: ItemQuery) -> list[str]:
        held = self._refs  # one assignment: workers may overlap (a page still read while the next query starts)
        if held is not None and held[0] == query:
            return held[1]
        refs = item_pages.item_refs(self._session, query)
        self._refs = (query, refs)
        return refs

    def count(self, query: ItemQuery) -> int:
        if item_pages.simple_order(query):
            return item_pages.count_items(self._session, query)
        return len(self._order(query))

    def page(self, query: ItemQuery, offset: int, limit: int) -> list[Item]:
        if item_pages.simple_order(query):
            return item_pages.item_page(self._session, query, offset, limit)
        return evidence.items_by_ids(self._session, self._order(query)[offset : offset + limit])

    def positions(self, query: ItemQuery, ids: Sequence[str]) -> dict[str, int]:
        if item_pages.simple_order(query):
            return item_pages.item_positions(self._session, query, ids)
        wanted = set(ids)
        return {item_id: n for n, item_id in enumerate(self._order(query)) if item_id in wanted}


class ItemTableModel(PagedTableModel[Item, ItemQuery]):
    """A case's items, a page at a time (``gui/paged_model.py``)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__([_(_HEADERS[c]) for c in ItemColumn], lambda item: item.id, item_texts, parent)
        self._bold = QFont()
        self._bold.setBold(True)
        self._mono = QFont("monospace")
        self._mono.setStyleHint(QFont.StyleHint.Monospace)

    def other_data(self, item: Item, texts: tuple[str, ...], column: int, role: int) -> object:
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
        kind_text(item.kind),
        size_text(item.size),
        (item.sha256 or "")[:16],
        item.mime_type,
        tlp_label(item.markings.tlp),
        item.markings.handling_code.value,
        item_status(item),
        time_text(item.acquisition.acquired_at),
    )
