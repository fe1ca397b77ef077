"""The toolbar search box (Ctrl+K) and its results: items by hash or text, and cases, across the vault."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.services.search import SearchResults

_KIND_ROLE = Qt.ItemDataRole.UserRole + 1
_CASE_ROLE = Qt.ItemDataRole.UserRole + 2
_ITEM_ROLE = Qt.ItemDataRole.UserRole + 3


class SearchBox(QLineEdit):
    """Emits ``search_requested(text)`` on Enter."""

    search_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchBox")
        self.setPlaceholderText("Search hash or text (Ctrl+K)")
        self.setClearButtonEnabled(True)
        self.setMinimumWidth(260)
        self.setMaximumWidth(440)
        self.returnPressed.connect(lambda: self.search_requested.emit(self.text().strip()))

    def focus(self) -> None:
        self.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.selectAll()


class SearchResultsDialog(QDialog):
    """Non-modal list of matches; activating one emits ``item_chosen(case_id, item_id)`` or ``case_chosen``."""

    item_chosen = Signal(str, str)
    case_chosen = Signal(str)

    def __init__(self, results: SearchResults, case_numbers: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchResultsDialog")
        self.setWindowTitle(f"Search: {results.query}")
        self.resize(720, 380)
        if results.prefix:
            what = "items whose SHA-256 starts like this"
        else:
            what = f"items with this {results.by_hash.name.replace('SHA', 'SHA-')}" if results.by_hash else "matches"
        count = len(results.items) + len(results.cases)
        total = results.items_total + results.cases_total
        text = f"{count} {what} in the whole vault." if count else "Nothing matches in the whole vault."
        if results.truncated:  # never a silent cap (issue 11)
            text = f"The first {count} of {total:,} {what} in the whole vault; refine the search to see the others."
        self.summary = QLabel(text)
        self.summary.setObjectName("searchSummary")
        self.list = QListWidget()
        self.list.setObjectName("searchResults")
        for case in results.cases:
            entry = QListWidgetItem(f"Case {case.number} — {case.title}")
            entry.setData(_KIND_ROLE, "case")
            entry.setData(_CASE_ROLE, case.id)
            self.list.addItem(entry)
        for item in results.items:
            digest = (item.sha256 or "")[:16]
            where = f"case {case_numbers.get(item.case_id, '?')}" + (f", SHA-256 {digest}…" if digest else "")
            entry = QListWidgetItem(f"{item.exhibit_number} — {item.original_name}   ({where})")
            entry.setData(_KIND_ROLE, "item")
            entry.setData(_CASE_ROLE, item.case_id)
            entry.setData(_ITEM_ROLE, item.id)
            self.list.addItem(entry)
        self.list.itemActivated.connect(self.choose)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        if self.list.count():
            self.list.setCurrentRow(0)

    def choose(self, entry: QListWidgetItem) -> None:
        if entry.data(_KIND_ROLE) == "item":
            self.item_chosen.emit(str(entry.data(_CASE_ROLE)), str(entry.data(_ITEM_ROLE)))
        else:
            self.case_chosen.emit(str(entry.data(_CASE_ROLE)))
