"""A table model over a paged service query: it knows how many rows match, and holds only the pages that
were looked at (issue 11: a 100,000-item case or a 200,000-event timeline shows its first rows at once, and
scrolls without ever holding every record).

Every read runs in a worker (``gui/ops.py``): a *query* (the count, the page the view shows, and where the
rows to keep selected now stand) replaces the content in one model reset; a *page* the view asks for while
scrolling arrives later and fills its rows (``dataChanged``). Until then a row's cells are blank. Pages
are read one at a time, the most recently wanted first, so dragging the scroll bar to the end reads the end,
not every page on the way; a result that belongs to an older query (the sort, the filter or the data
changed meanwhile) is dropped. The model holds at most ``max_pages`` pages, forgetting the least recently
used. A lock abandons every read (``DesktopApp.lock``): the ops are children of this model.

The rows' texts are computed in the worker that read them (``texts``), as ``models.prepare_rows`` does for
the tables that hold everything: painting a cell costs a lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal

from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.gui.ops import BackgroundOp, load_in_background

R = TypeVar("R")
Q = TypeVar("Q")
Q_contra = TypeVar("Q_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

_Index = QModelIndex | QPersistentModelIndex


class PageSource(Protocol[Q_contra, R_co]):
    """The service side (no Qt; its methods run in workers, and seldom on the GUI thread)."""

    def count(self, query: Q_contra) -> int: ...

    def page(self, query: Q_contra, offset: int, limit: int) -> Sequence[R_co]: ...

    def positions(self, query: Q_contra, ids: Sequence[str]) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class QueryResult(Generic[R]):
    """What a query's worker found: the count, one page of rows with their texts, and the kept rows' places."""

    count: int
    total: int  # the count without the filter
    first_page: int
    rows: list[R]
    texts: list[tuple[str, ...]]
    positions: dict[str, int]
    longest: dict[int, str]
    extra: object


class PagedTableModel(QAbstractTableModel, Generic[R, Q]):
    """Rows of ``source`` under ``query``; subclasses give other ``data`` roles (``other_data``).

    ``queried(positions)`` follows each query's reset: where the ids asked to be kept now stand.
    """

    queried = Signal(dict)
    query_failed = Signal(object)
    sort_requested = Signal(int, bool)  # (column, descending): the view's header was clicked

    def __init__(self, headers: Sequence[str], record_id: Callable[[R], str],
                 texts: Callable[[R], tuple[str, ...]], parent: QObject, *, page_size: int = 200,
                 max_pages: int = 40) -> None:
        super().__init__(parent)
        self._headers = list(headers)
        self._record_id = record_id
        self._texts_of = texts
        self.page_size = page_size
        self._max_pages = max_pages
        self._source: PageSource[Q, R] | None = None
        self._query: Q | None = None
        self._generation = 0
        self._shown_generation = 0  # the generation whose query ``_source`` and ``_query`` are
        self._count = 0
        self._total = 0
        self._pages: OrderedDict[int, tuple[list[R], list[tuple[str, ...]]]] = OrderedDict()
        self._wanted: list[int] = []  # pages asked for and not read yet, the most recent last
        self._page_op: BackgroundOp | None = None
        self._query_op: BackgroundOp | None = None
        self._longest: dict[int, str] = {}
        self.extra: object = None  # what the last query's ``extra`` read
        self._pump_timer = QTimer(self)
        self._pump_timer.setSingleShot(True)
        self._pump_timer.setInterval(0)
        self._pump_timer.timeout.connect(self._pump)

    # ---- queries -----------------------------------------------------------------------------------
    @property
    def query(self) -> Q | None:
        return self._query

    @property
    def querying(self) -> bool:
        """A query is under way (``queried`` or ``query_failed`` follows it)."""
        return self._query_op is not None and self._query_op.running

    def run_query(self, source: PageSource[Q, R], query: Q, keep: Sequence[str] = (), first_row: int = 0,
                  total_query: Q | None = None,
                  longest: Callable[[], dict[int, str]] | None = None,
                  extra: Callable[[], object] | None = None) -> BackgroundOp:
        """Read ``query``'s count and the page holding ``first_row`` in a worker, then show them (one reset);
        ``keep``: ids whose new rows ``queried`` reports; ``total_query``: the same without the filter;
        ``longest``: column → longest text over all rows; ``extra``: anything else to read (``self.extra``)."""
        self._generation += 1
        generation = self._generation
        self._cancel_reads()
        size, texts_of = self.page_size, self._texts_of  # not ``self``: the worker holds no Qt object

        def work(cancel: CancelToken) -> QueryResult[R]:
            count = source.count(query)
            cancel.check()
            total = count if total_query is None else source.count(total_query)
            cancel.check()
            first = min(first_row, max(0, count - 1)) // size
            rows = list(source.page(query, first * size, size))
            cancel.check()
            positions = source.positions(query, keep) if keep else {}
            cancel.check()
            widest = longest() if longest is not None else {}
            more = extra() if extra is not None else None
            return QueryResult(count, total, first, rows, [texts_of(row) for row in rows], positions, widest, more)

        def shown(result: QueryResult[R]) -> None:
            if generation != self._generation:
                return
            self.beginResetModel()
            self._source, self._query = source, query
            self._shown_generation = generation
            self._count, self._total = result.count, result.total
            self._pages.clear()
            self._wanted.clear()
            self._pages[result.first_page] = (result.rows, result.texts)
            self._longest = self._widest(result.longest, result.texts)
            self.extra = result.extra
            self.endResetModel()
            self.queried.emit(result.positions)

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self._shown_generation = generation  # the old rows stay: their pages may be read again
                self.query_failed.emit(exc)

        self._query_op = load_in_background(self, work, shown, failed)
        return self._query_op

    def clear(self) -> None:
        """Forget every row and the source (the vault is locking, or the view shows nothing)."""
        self._generation += 1
        self._shown_generation = self._generation
        self._cancel_reads()
        self.beginResetModel()
        self._source, self._query = None, None
        self._count = self._total = 0
        self._pages.clear()
        self._wanted.clear()
        self._longest = {}
        self.endResetModel()

    def _cancel_reads(self) -> None:
        for op in (self._query_op, self._page_op):
            if op is not None and op.running:
                op.cancel()
        self._page_op = None
        self._wanted.clear()

    # ---- pages -------------------------------------------------------------------------------------
    def _want(self, page: int) -> None:
        if page in self._wanted:
            self._wanted.remove(page)
        self._wanted.append(page)
        del self._wanted[:-4]  # scrolled past: not worth reading any more
        if not self._pump_timer.isActive():
            self._pump_timer.start()

    def _pump(self) -> None:
        if self._page_op is not None and self._page_op.running:
            return
        if self._shown_generation != self._generation:
            # A newer query is under way: the rows shown are the old query's until its reset, which asks for
            # pages again. A page read now would be the old query's, yet carry the new generation: arriving
            # after the reset it showed the old order's rows among the new (a re-sort showed duplicates).
            return
        self._wanted = [page for page in self._wanted if page not in self._pages]
        if not self._wanted or self._source is None or self._query is None:
            return
        page = self._wanted.pop()
        source, query, generation, size = self._source, self._query, self._generation, self.page_size
        texts_of = self._texts_of

        def work(cancel: CancelToken) -> tuple[list[R], list[tuple[str, ...]]]:
            rows = list(source.page(query, page * size, size))
            cancel.check()
            return rows, [texts_of(row) for row in rows]

        def arrived(result: tuple[list[R], list[tuple[str, ...]]]) -> None:
            self._page_op = None
            if generation == self._generation:
                self._store(page, *result)
            self._pump()

        def failed(_exc: BaseException) -> None:
            self._page_op = None  # the next look at the page asks again

        self._page_op = load_in_background(self, work, arrived, failed)

    def _store(self, page: int, rows: list[R], texts: list[tuple[str, ...]]) -> None:
        self._pages[page] = (rows, texts)
        self._pages.move_to_end(page)
        while len(self._pages) > self._max_pages:
            self._pages.popitem(last=False)
        self._longest = self._widest(self._longest, texts)
        first = page * self.page_size
        last = min(self._count, first + len(rows)) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._headers) - 1))

    @staticmethod
    def _widest(known: dict[int, str], texts: list[tuple[str, ...]]) -> dict[int, str]:
        """Each column's longest text among ``known`` and ``texts``."""
        widest = dict(known)
        for column, cells in enumerate(zip(*texts, strict=True)):
            widest[column] = max((widest.get(column, ""), *cells), key=len)
        return widest

    def _cached(self, row: int) -> tuple[R, tuple[str, ...]] | None:
        page = self._pages.get(row // self.page_size)
        if page is None:
            return None
        offset = row % self.page_size
        rows, texts = page
        return (rows[offset], texts[offset]) if offset < len(rows) else None

    def _read_now(self, rows: Sequence[int]) -> None:
        """Read the pages of ``rows`` on this thread (a selection reaching rows never shown; rare)."""
        if self._source is None or self._query is None:
            return
        for page in sorted({row // self.page_size for row in rows} - set(self._pages)):
            found = list(self._source.page(self._query, page * self.page_size, self.page_size))
            self._store(page, found, [self._texts_of(record) for record in found])

    # ---- records -----------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        """How many rows there are without the filter."""
        return self._total

    def is_cached(self, row: int) -> bool:
        return self._cached(row) is not None

    def cached_rows(self) -> int:
        """How many rows are held now (at most ``max_pages`` pages)."""
        return sum(len(rows) for rows, _texts in self._pages.values())

    def records(self) -> list[R]:
        """The rows held now, in row order (all of them for a table of one page)."""
        return [record for page in sorted(self._pages) for record in self._pages[page][0]]

    def record_at(self, row: int) -> R:
        """The record of a row, read now if its page is not held."""
        found = self._cached(row)
        if found is None:
            self._read_now([row])
            found = self._cached(row)
        if found is None:
            raise IndexError(row)
        return found[0]

    def records_at(self, rows: Sequence[int]) -> list[R]:
        """The records of rows; rows not held are read now (see ``records_reader``)."""
        return self.records_reader(rows)()

    def records_reader(self, rows: Sequence[int]) -> Callable[[], list[R]]:
        """What reads the records of rows, to be called in a worker when many are not held (Ctrl+A over 100,000
        items: ~2 s): rows held are taken now; the rest is read, when called, one query per run of consecutive
        rows (not 500 pages), without filling the held pages with them. IndexError when a row is gone by then."""
        found: dict[int, R] = {}
        runs: list[list[int]] = []
        for row in sorted(set(rows)):
            held = self._cached(row)
            if held is not None:
                found[row] = held[0]
            elif runs and row == runs[-1][-1] + 1:
                runs[-1].append(row)
            else:
                runs.append([row])
        source, query, wanted = self._source, self._query, list(rows)

        def read() -> list[R]:
            if runs and source is not None and query is not None:
                for run in runs:
                    for offset, record in enumerate(source.page(query, run[0], len(run))):
                        found[run[0] + offset] = record
            try:
                return [found[row] for row in wanted]
            except KeyError as exc:
                raise IndexError(exc.args[0]) from None

        return read

    def text_at(self, row: int, column: int) -> str:
        found = self._cached(row)
        if found is None:
            self.record_at(row)
            found = self._cached(row)
        return found[1][column] if found is not None else ""

    def longest_text(self, column: int) -> str:
        """The longest text of a column among the rows read (or as the query's ``longest`` said)."""
        return self._longest.get(column, "")

    def row_of(self, record_id: str) -> int | None:
        """The row of a record among the rows held (None when not held)."""
        for page, (rows, _texts) in self._pages.items():
            for offset, record in enumerate(rows):
                if self._record_id(record) == record_id:
                    return page * self.page_size + offset
        return None

    def replace(self, record: R) -> bool:
        """Show an edited record where it is held (its place in the order may change: the caller re-queries)."""
        row = self.row_of(self._record_id(record))
        if row is None:
            return False
        rows, texts = self._pages[row // self.page_size]
        rows[row % self.page_size] = record
        texts[row % self.page_size] = self._texts_of(record)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._headers) - 1))
        return True

    # ---- Qt ----------------------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else self._count

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
        found = self._cached(index.row())
        if found is None:
            if role == Qt.ItemDataRole.DisplayRole:
                self._want(index.row() // self.page_size)
                return ""
            return None
        record, texts = found
        if role == Qt.ItemDataRole.DisplayRole:
            return texts[index.column()]
        return self.other_data(record, texts, index.column(), role)

    def other_data(self, record: R, texts: tuple[str, ...], column: int, role: int) -> object:
        """Roles other than the text (fonts, colours, tooltips)."""
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The view's header asks; the owner re-queries (``sort_requested``)."""
        self.sort_requested.emit(column, order == Qt.SortOrder.DescendingOrder)
