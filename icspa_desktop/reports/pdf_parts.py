"""Building blocks of our PDFs (reportlab): the Unicode fonts, plain-text table cells that wrap fast, a flowable that
stands for many made only when the layout reaches them, and a vector QR code. The custody report and the agency card
use them (reports/custody_pdf.py, reports/agency_card_pdf.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import segno
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable
from reportlab.platypus.doctemplate import NullActionFlowable

# ---- fonts ---------------------------------------------------------------------------------------
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
                pdfmetrics.registerFont(TTFont(name, str(path)))
                break
        _FONTS[role] = name
    pdfmetrics.registerFontFamily(_FONTS["regular"], normal=_FONTS["regular"], bold=_FONTS["bold"],
                                  italic=_FONTS["italic"], boldItalic=_FONTS["bold"])
    return _FONTS



class TextCell(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Plain text wrapped at spaces (a word wider than the cell at characters), for the thousands of table cells.

    What ``Paragraph`` does for a cell without markup, at a fraction of its cost: reportlab's Paragraph parses
    markup into fragments and measures every line again at each wrap (a table wraps its cells two or three
    times), which made the custody report of a 1,000-item export take ~10 s; here each word's width is measured
    once per font (``_WIDTHS``) and the lines once per cell width.
    """

    def __init__(self, text: str, style: ParagraphStyle) -> None:
        super().__init__()
        self._text = text
        self._style = style
        self._lines: list[str] = []
        self._for_width = -1.0

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        if avail_width != self._for_width:
            self._lines = wrap_text(self._text, self._style.fontName, self._style.fontSize, avail_width)
            self._for_width = avail_width
        return avail_width, len(self._lines) * self._style.leading

    def draw(self) -> None:
        style, canvas = self._style, self.canv
        canvas.setFillColor(style.textColor)
        text = canvas.beginText()
        text.setFont(style.fontName, style.fontSize, style.leading)
        # As Paragraph places its first line: the baseline one font size below the top.
        text.setTextOrigin(0, len(self._lines) * style.leading - style.fontSize)
        for line in self._lines:
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
