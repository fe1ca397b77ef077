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

from icspa_desktop.i18n import _, ngettext
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
        self.setPlaceholderText(_("Search hash or text ({shortcut})", shortcut="Ctrl+K"))
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
        self.setWindowTitle(_("Search: {query}", query=results.query))
        self.resize(720, 380)
        self.summary = QLabel(self._summary(results))
        self.summary.setObjectName("searchSummary")
        self.list = QListWidget()
        self.list.setObjectName("searchResults")
        for case in results.cases:
            entry = QListWidgetItem(_("Case {number} — {title}", number=case.number, title=case.title))
            entry.setData(_KIND_ROLE, "case")
            entry.setData(_CASE_ROLE, case.id)
            self.list.addItem(entry)
        for item in results.items:
            digest = (item.sha256 or "")[:16]
            number = case_numbers.get(item.case_id, "?")
            entry = QListWidgetItem(
                _("{exhibit} — {name}   (case {number}, SHA-256 {digest}…)", exhibit=item.exhibit_number,
                  name=item.original_name, number=number, digest=digest) if digest else
                _("{exhibit} — {name}   (case {number})", exhibit=item.exhibit_number, name=item.original_name,
                  number=number))
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

    @staticmethod
    def _summary(results: SearchResults) -> str:
        """How many matches, of what kind, and whether the list is cut (never a silent cap, issue 11)."""
        count = len(results.items) + len(results.cases)
        total = f"{results.items_total + results.cases_total:,}"
        algorithm = results.by_hash.name.replace("SHA", "SHA-") if results.by_hash else ""
        if results.truncated:
            if results.prefix:
                return _("The first {count} of {total} items whose SHA-256 starts like this in the whole vault; "
                         "refine the search to see the others.", count=count, total=total)
            if results.by_hash:
                return _("The first {count} of {total} items with this {algorithm} in the whole vault; refine the "
                         "search to see the others.", count=count, total=total, algorithm=algorithm)
            return _("The first {count} of {total} matches in the whole vault; refine the search to see the "
                     "others.", count=count, total=total)
        if not count:
            return _("Nothing matches in the whole vault.")
        if results.prefix:
            return ngettext("{n} item whose SHA-256 starts like this in the whole vault.",
                            "{n} items whose SHA-256 starts like this in the whole vault.", count)
        if results.by_hash:
            return ngettext("{n} item with this {algorithm} in the whole vault.",
                            "{n} items with this {algorithm} in the whole vault.", count, algorithm=algorithm)
        return ngettext("{n} match in the whole vault.", "{n} matches in the whole vault.", count)

    def choose(self, entry: QListWidgetItem) -> None:
        if entry.data(_KIND_ROLE) == "item":
            self.item_chosen.emit(str(entry.data(_CASE_ROLE)), str(entry.data(_ITEM_ROLE)))
        else:
            self.case_chosen.emit(str(entry.data(_CASE_ROLE)))
