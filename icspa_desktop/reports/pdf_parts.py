"""Building blocks of our PDFs (reportlab): the Unicode fonts, plain-text tables that wrap and draw fast (``Grid``),
a flowable that stands for many made only when the layout reaches them, and a vector QR code. The custody report
and the agency card use them (reports/custody_pdf.py, reports/agency_card_pdf.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import segno
from reportlab.lib import colors
from reportlab.lib.colors import Color
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable
from reportlab.platypus.doctemplate import NullActionFlowable


# ---- fonts ---------------------------------------------------------------------------------------
class SubsetFont(TTFont):  # type: ignore[misc]  # reportlab has no type hints
    """A TrueType font whose text encoding takes a fast path once a line's characters all have their code.

    reportlab embeds a subset of each TrueType font and encodes every line of text into it character by character
    in Python (``TTFont.splitString``): a quarter of the time to draw a custody report. Once a document's subset has
    given every character of a line a code in its first 256 (the usual case after the first pages), the line is
    encoded here by one ``str.translate`` with the same codes; a line with any other character goes through
    reportlab's own method, which assigns new codes (``tests/reports/test_pdf_tables.py`` compares the output).
    """

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name, path)
        # per document: (the number of assignments it was made from, char -> code table, the characters in it)
        self._tables: WeakKeyDictionary[Any, tuple[int, dict[int, str], frozenset[str]]] = WeakKeyDictionary()

    def first_subset_codes(self, doc: Any) -> tuple[dict[int, str], frozenset[str]]:
        """The table ``splitString``'s fast path translates with for ``doc`` and the characters it holds (empty
        before the document's first line); it grows as lines with new characters go through ``splitString``."""
        made = self._tables.get(doc)
        return (made[1], made[2]) if made is not None else ({}, frozenset())

    def splitString(self, text: str | bytes, doc: Any, encoding: str = "utf-8") -> list[tuple[int, bytes]]:
        made = self._tables.get(doc)
        if made is not None and isinstance(text, str) and made[2].issuperset(text):
            return [(0, text.translate(made[1]).encode("latin-1"))] if text else []
        split: list[tuple[int, bytes]] = super().splitString(text, doc, encoding)
        assignments: dict[int, int] = self.state[doc].assignments
        if made is None or made[0] != len(assignments):
            table = {code: chr(n) for code, n in assignments.items() if n < 256}
            if 32 in table:
                table[0xA0] = table[32]  # reportlab encodes a no-break space as a space
            self._tables[doc] = (len(assignments), table, frozenset(map(chr, table)))
        return split


_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_FONTS: dict[str, str] = {}


def fonts() -> dict[str, str]:
    """Unicode TrueType fonts: DejaVu when installed, else the Vera fonts shipped with reportlab."""
    if _FONTS:
        return _FONTS
    import reportlab

    vera = Path(reportlab.__file__).parent / "fonts"
    candidates = {
        "regular": [_DEJAVU / "DejaVuSans.ttf", vera / "Vera.ttf"],
        "bold": [_DEJAVU / "DejaVuSans-Bold.ttf", vera / "VeraBd.ttf"],
        "italic": [_DEJAVU / "DejaVuSans-Oblique.ttf", vera / "VeraIt.ttf"],
        "mono": [_DEJAVU / "DejaVuSansMono.ttf"],
    }
    fallback = {"regular": "Helvetica", "bold": "Helvetica-Bold", "italic": "Helvetica-Oblique", "mono": "Courier"}
    for role, paths in candidates.items():
        name = fallback[role]
        for path in paths:
            if path.exists():
                name = f"icspa-{role}"
                pdfmetrics.registerFont(SubsetFont(name, str(path)))
                break
        _FONTS[role] = name
    pdfmetrics.registerFontFamily(_FONTS["regular"], normal=_FONTS["regular"], bold=_FONTS["bold"],
                                  italic=_FONTS["italic"], boldItalic=_FONTS["bold"])
    return _FONTS



@dataclass(frozen=True, slots=True)
class GridRow:
    """One row of a ``Grid``: a text and its style per column (None: empty)."""

    cells: tuple[tuple[str, ParagraphStyle] | None, ...]
    span_from: int | None = None  # the cells from this column on are one, holding ``cells[span_from]``'s text
    background: Color | None = None
    line_below: tuple[float, Color] | None = None  # (width, colour), across the whole row
    with_next: bool = False  # a page break never falls between this row and the next (an event and its detail)


@dataclass(frozen=True, slots=True)
class GridLook:
    """What every row of a ``Grid`` shares."""

    widths: tuple[float, ...]  # of the columns
    padding: tuple[float, float, float, float]  # top, bottom, left, right, inside every cell
    box: tuple[float, Color] | None = None  # a frame around the whole grid (each part, when split)
    header_rows: int = 0  # repeated at the top of every part after a page break
    whole_up_to: float = 0.0  # a grid no taller than this is never split, but moved to the next page whole
    page_height: float = float("inf")  # a row that no page holds (with the header rows) is cut between its lines
    space_after: float = 0.0


# A row of a grid being cut: the row, its cells' lines, its height.
_GridPiece = tuple[GridRow, list[list[str]], float]


class Grid(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A table of plain-text cells, top-aligned, measured once and drawn straight on the canvas.

    What reportlab's ``Table`` does for the custody report's item blocks and event rows, at a fraction of its
    cost: a ``Table`` measures each cell again at every wrap and split and draws each through its own flowable
    and canvas state (the report of a 1,000-item export: 1.32 s of drawing with Tables, 0.69 s with Grids). Rows are
    split between pages only where ``with_next`` allows; a row taller than a page (``GridLook.page_height``) is cut
    between its lines — with a ``Table`` such a row (a 10,000-character description) failed the whole report.
    """

    def __init__(self, rows: Sequence[GridRow], look: GridLook,
                 _measured: tuple[list[list[list[str]]], list[float]] | None = None) -> None:
        super().__init__()
        self.hAlign = "CENTER"  # as a Table: one as wide as the page's text stands on its margins
        self.spaceAfter = look.space_after
        self.rows = list(rows)
        self.look = look
        # per row, per cell: the wrapped lines ([] for an empty cell); the rows' heights. A part made by ``split``
        # takes its rows' measures along instead of measuring them again at every page.
        self._lines, self._heights = _measured if _measured is not None else ([], [])
        self._measured = _measured is not None

    def _measure(self) -> None:
        if self._measured:
            return
        top, bottom, left, right = self.look.padding
        for row in self.rows:
            cells: list[list[str]] = []
            height = 0.0
            for column, width in self._cell_widths(row):
                cell = row.cells[column]
                if cell is None:
                    cells.append([])
                    continue
                text, style = cell
                lines = _wrapped(text, style.fontName, style.fontSize, width - left - right)
                cells.append(lines)
                height = max(height, len(lines) * style.leading)
            self._lines.append(cells)
            self._heights.append(height + top + bottom)
        self._measured = True

    def _cell_widths(self, row: GridRow) -> list[tuple[int, float]]:
        """(column, width) of each cell of ``row``, a span counted as one."""
        widths = self.look.widths
        last = len(widths) if row.span_from is None else row.span_from
        cells = [(column, widths[column]) for column in range(last)]
        if row.span_from is not None:
            cells.append((row.span_from, sum(widths[row.span_from:])))
        return cells

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self._measure()
        self.width, self.height = sum(self.look.widths), sum(self._heights)
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        self._measure()
        header = self.look.header_rows
        used = sum(self._heights[:header])
        cut = 0
        for index in range(header, len(self.rows)):
            used += self._heights[index]
            if used > avail_height:
                break
            if not self.rows[index].with_next:
                cut = index + 1
        if cut == len(self.rows):
            return []  # it fits: nothing to split
        if cut <= header:  # not one whole row fits here
            if header < len(self.rows) and sum(self._heights[:header + 1]) > self.look.page_height:
                return self._split_row(header, avail_height - sum(self._heights[:header]))
            return []  # the layout tries the next frame
        if sum(self._heights) <= self.look.whole_up_to:
            return []  # kept whole: it fits on the next page
        return self._cut(cut, cut, None)

    def _cut(self, end: int, resume: int, halves: tuple[_GridPiece, _GridPiece] | None) -> list[Flowable]:
        """Rows before ``end`` (and the first of ``halves``) here; the header, the second half and the rows from
        ``resume`` on in the part that follows."""
        header = self.look.header_rows
        pieces = list(zip(self.rows, self._lines, self._heights, strict=True))
        first, rest = pieces[:end], pieces[:header]
        if halves is not None:
            first.append(halves[0])
            rest.append(halves[1])
        rest += pieces[resume:]
        return [Grid([p[0] for p in part], self.look, ([p[1] for p in part], [p[2] for p in part]))
                for part in (first, rest)]

    def _split_row(self, index: int, room: float) -> list[Flowable]:
        """Row ``index``, taller than a page, cut between lines: as many as fit in ``room`` here, the rest on."""
        top, bottom, _left, _right = self.look.padding
        row = self.rows[index]
        leadings = [cell[1].leading if (cell := row.cells[column]) is not None else 0.0
                    for column, _width in self._cell_widths(row)]
        fits = [max(0, int((room - top - bottom) // leading)) if leading else 0 for leading in leadings]
        first = [lines[:fit] for lines, fit in zip(self._lines[index], fits, strict=True)]
        rest = [lines[fit:] for lines, fit in zip(self._lines[index], fits, strict=True)]
        if not any(first):
            return []  # not even one line fits here: the next frame

        def height(cells: list[list[str]]) -> float:
            return max(len(lines) * leading for lines, leading in zip(cells, leadings, strict=True)) + top + bottom

        # The line below (and the tie to the next row) belong to the row's end, in the second half.
        head = GridRow(row.cells, row.span_from, row.background, None, with_next=False)
        return self._cut(index, index + 1, ((head, first, height(first)), (row, rest, height(rest))))

    def draw(self) -> None:
        self._measure()
        canvas = self.canv
        width = sum(self.look.widths)
        tops = [self.height]
        for height in self._heights:
            tops.append(tops[-1] - height)
        for row, top, height in zip(self.rows, tops, self._heights, strict=False):
            if row.background is not None:
                canvas.setFillColor(row.background)
                canvas.rect(0, top - height, width, height, stroke=0, fill=1)
        if self._subset_fonts_only():
            canvas.addLiteral(self._text_operators(canvas, tops))
        else:  # a font of reportlab's own (no DejaVu: Courier for the monospaced cells), or a CMYK colour
            self._draw_text_object(canvas, tops)
        # The rules below the rows, each line width and colour set once for all the rows that use it.
        rules: dict[tuple[float, Color], list[tuple[float, float, float, float]]] = {}
        for row, top, height in zip(self.rows, tops, self._heights, strict=False):
            if row.line_below is not None:
                rules.setdefault(row.line_below, []).append((0, top - height, width, top - height))
        for (line_width, colour), lines in rules.items():
            canvas.setLineWidth(line_width)
            canvas.setStrokeColor(colour)
            canvas.lines(lines)
        if self.look.box is not None:
            canvas.setLineWidth(self.look.box[0])
            canvas.setStrokeColor(self.look.box[1])
            canvas.rect(0, 0, width, self.height, stroke=1, fill=0)

    def _subset_fonts_only(self) -> bool:
        """Whether every cell is in one of our subset fonts and an RGB colour (what ``_text_operators`` writes)."""
        styles = {id(cell[1]): cell[1] for row in self.rows for cell in row.cells if cell is not None}.values()
        return all(isinstance(pdfmetrics.getFont(style.fontName), SubsetFont) and type(style.textColor) is Color
                   for style in styles)

    def _cell_texts(self, tops: list[float]) -> Iterator[tuple[ParagraphStyle, float, float, list[str]]]:
        """Each non-empty cell's style, the origin of its first line (a ``Table`` with VALIGN TOP places a
        ``Paragraph`` there: one font size below the cell's top padding) and its lines."""
        top_pad, _bottom, left, _right = self.look.padding
        for row, top, lines in zip(self.rows, tops, self._lines, strict=False):
            x = 0.0
            for (column, cell_width), cell_lines in zip(self._cell_widths(row), lines, strict=True):
                cell = row.cells[column]
                if cell is not None and cell_lines:
                    yield cell[1], x + left, top - top_pad - cell[1].fontSize, cell_lines
                x += cell_width

    def _text_operators(self, canvas: Any, tops: list[float]) -> str:
        """The grid's text as one PDF text object, in the operators reportlab's ``PDFTextObject`` writes for
        ``setFont``, ``setFillColor``, ``setTextOrigin`` and ``textLine`` (``_draw_text_object``; a test holds
        the two to the same bytes), written straight: per line, reportlab's text object costs ~10 µs of Python,
        two thirds of it bookkeeping this grid never reads (a third of a big custody report's drawing).
        Dynamic (subset) fonts only, encoded as reportlab documents it (``ttfonts``: ``splitString`` and
        ``getSubsetInternalName``)."""
        doc, escape = canvas._doc, canvas._escape
        place = "1 0 0 1 {} Tm" if canvas.bottomup else "1 0 0 -1 {} Tm"
        code = ["BT", place.format(fp_str(0, 0))]
        font_key: tuple[str, float, float] | None = None
        font: Any = None
        size_op = ""
        subset = -1
        table: dict[int, str] = {}
        known: frozenset[str] = frozenset()
        colour: Color | None = None
        names: dict[tuple[str, int], str] = {}  # (font, subset): its name in the document
        for style, x, y, lines in self._cell_texts(tops):
            if (style.fontName, style.fontSize, style.leading) != font_key:
                font_key = (style.fontName, style.fontSize, style.leading)
                font = pdfmetrics.getFont(style.fontName)
                size_op = f"{fp_str(style.fontSize)} Tf {fp_str(style.leading)} TL"
                subset = -1
                table, known = font.first_subset_codes(doc)
            if style.textColor is not colour and style.textColor != colour:
                colour = style.textColor
                code.append(f"{fp_str(colour.red, colour.green, colour.blue)} rg")
            code.append(place.format(fp_str(x, y)))
            for line in lines:
                if subset == 0 and line and known.issuperset(line):  # splitString's fast path, inline
                    code.append(f"({escape(line.translate(table).encode('latin-1'))}) Tj T*")
                    continue
                ops = []
                for part, chunk in font.splitString(line, doc):
                    if part != subset:
                        name = names.get((font_key[0], part))
                        if name is None:
                            name = names[font_key[0], part] = font.getSubsetInternalName(part, doc)
                        ops.append(f"{name} {size_op}")
                        subset = part
                    ops.append(f"({escape(chunk)}) Tj")
                code.append(f"{' '.join(ops)} T*")
                table, known = font.first_subset_codes(doc)
        code.append("ET")
        return " ".join(code)

    def _draw_text_object(self, canvas: Any, tops: list[float]) -> None:
        """The grid's text through reportlab's text object: for fonts other than ours, and the reference the
        faster ``_text_operators`` is held to."""
        text = canvas.beginText()
        font: tuple[str, float, float] | None = None
        colour = None
        for style, x, y, lines in self._cell_texts(tops):
            if (style.fontName, style.fontSize, style.leading) != font:
                font = (style.fontName, style.fontSize, style.leading)
                text.setFont(*font)
            if style.textColor != colour:
                colour = style.textColor
                text.setFillColor(colour)
            text.setTextOrigin(x, y)
            for line in lines:
                text.textLine(line)
        canvas.drawText(text)


_WIDTHS: dict[tuple[str, float, str], float] = {}


def _width(word: str, font: str, size: float) -> float:
    key = (font, size, word)
    width = _WIDTHS.get(key)
    if width is None:
        if len(_WIDTHS) > 200_000:  # a report of many distinct words (hashes, ids) must not grow it for ever
            _WIDTHS.clear()
        width = _WIDTHS[key] = pdfmetrics.stringWidth(word, font, size)
    return width


_WRAPPED: dict[tuple[str, str, float, float], list[str]] = {}


def _wrapped(text: str, font: str, size: float, width: float) -> list[str]:
    """``wrap_text``, remembered for short texts: a report's cells repeat (the same officer, action, label or
    date in thousands of rows). The lists are shared: never changed by their users."""
    if len(text) > 80:
        return wrap_text(text, font, size, width)
    key = (text, font, size, width)
    lines = _WRAPPED.get(key)
    if lines is None:
        if len(_WRAPPED) > 50_000:
            _WRAPPED.clear()
        lines = _WRAPPED[key] = wrap_text(text, font, size, width)
    return lines


def wrap_text(text: str, font: str, size: float, width: float) -> list[str]:
    """``text``'s lines at most ``width`` points wide: its own line breaks kept, words kept whole where they fit."""
    space = _width(" ", font, size)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line: list[str] = []
        used = 0.0
        for word in paragraph.split(" "):
            w = _width(word, font, size)
            if line and used + space + w <= width:
                line.append(word)
                used += space + w
                continue
            if line:
                lines.append(" ".join(line))
            if w <= width:
                line, used = [word], w
                continue
            # A word wider than the cell (a hash, an id, a path): cut it where it reaches the edge.
            start, used = 0, 0.0
            for i, char in enumerate(word):
                c = _width(char, font, size)
                if used + c > width and i > start:
                    lines.append(word[start:i])
                    start, used = i, 0.0
                used += c
            line = [word[start:]]
        lines.append(" ".join(line))
    return lines



class QrCode(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A QR code drawn as vector squares (no raster image, prints sharply at any size)."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
        self.qr = segno.make(data, error="m", micro=False)
        self.size = size
        self.width = self.height = size

    def draw(self) -> None:
        matrix = [list(row) for row in self.qr.matrix]
        border = 4  # the quiet zone ISO/IEC 18004 asks for
        count = len(matrix) + 2 * border
        cell = self.size / count
        c = self.canv
        c.setFillColor(colors.white)
        c.rect(0, 0, self.size, self.size, stroke=0, fill=1)
        c.setFillColor(colors.black)
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    c.rect((x + border) * cell, self.size - (y + border + 1) * cell, cell, cell, stroke=0, fill=1)



class Lazy(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Stands in the story for many flowables that are made only when the layout reaches them.

    A report of thousands of items and events held every table in memory before the first page was laid out
    (a 1,000-item export's report: ~40 MB of tables and cell styles, growing with the case). This flowable
    never fits; asked to split, it gives a no-op action, the next flowable and itself, so reportlab lays out
    that flowable as if it had been in the story all along (splitting it over pages as it likes) and comes
    back for the next. ``done(weight)`` is told what each flowable stood for (progress).
    """

    def __init__(self, parts: Iterator[tuple[Flowable, int]], done: Callable[[int], None]) -> None:
        super().__init__()
        self._parts = parts
        self._next = next(parts, None)
        self._done = done

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return (0, 0) if self._next is None else (avail_width, avail_height + 1)

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        if self._next is None:
            return []
        part, weight = self._next
        self._next = next(self._parts, None)
        self._done(weight)
        # The no-op action first: reportlab then puts all of these back at the head of the story, instead of
        # requiring the first one to fit where this one stood.
        return [NullActionFlowable(), part] + ([self] if self._next is not None else [])

    def draw(self) -> None:  # only ever drawn with nothing left (zero size)
        pass
