"""The custody PDF's event list is cut into tables of EVENTS_PER_TABLE rows: one table of thousands of rows made
reportlab re-measure all of it at every page break (2,000 events: 15.6 s, against 3.2 s in pieces)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from icspa_desktop.reports import custody_pdf, pdf_parts


def _event(i: int) -> custody_pdf.ReportEvent:
    return custody_pdf.ReportEvent(i, f"id-{i}", "2026-11-30 10:00:00", "11:00", "CET", "alice", "investigator",
                                   "Politie", "acquired", "JIT Nightjar", "", "Harbour", "ok", ("2026/041-001",), "")


def test_events_are_cut_into_tables_each_with_the_header() -> None:
    styles = custody_pdf._styles()
    rows = [custody_pdf._event_row(_event(i)) for i in range(2 * custody_pdf.EVENTS_PER_TABLE + 1)]
    parts = list(custody_pdf._event_parts(rows, styles))
    assert len(parts) == 3 and all(isinstance(t, pdf_parts.Grid) for t, _n in parts)
    # A header row and two rows (the event and its detail line) per event; each part counts its events.
    assert [len(t.rows) for t, _n in parts] == [1 + 2 * custody_pdf.EVENTS_PER_TABLE] * 2 + [3]
    assert [n for _t, n in parts] == [custody_pdf.EVENTS_PER_TABLE] * 2 + [1]
    assert len(list(custody_pdf._event_parts([], styles))) == 1  # an empty log still shows the header


def test_the_tables_are_made_only_when_the_layout_reaches_them() -> None:
    """A report holds a few tables at a time, not one per 50 events and one per item (memory grew with the case)."""
    made: list[int] = []
    styles = custody_pdf._styles()
    rows = [custody_pdf._event_row(_event(i)) for i in range(20 * custody_pdf.EVENTS_PER_TABLE)]

    def parts() -> Iterator[tuple[pdf_parts.Grid, int]]:
        for table, n in custody_pdf._event_parts(rows, styles):
            made.append(n)
            yield table, n

    lazy = pdf_parts.Lazy(parts(), lambda _n: None)
    assert len(made) == 1  # the first, to know whether there is one
    first = lazy.split(500, 700)
    assert len(made) == 2 and first[-1] is lazy and isinstance(first[1], pdf_parts.Grid)


def test_cells_wrap_at_spaces_keep_line_breaks_and_cut_only_words_wider_than_the_cell() -> None:
    from reportlab.pdfbase import pdfmetrics

    font = pdf_parts.fonts()["regular"]
    digest = "e7cfa8f2b9300964edc3724c2a740b61a2b33d7e0e0e3a990dee519b8f318da7"
    text = f"Bench Politie investigator\nSHA256 {digest} end"
    width = 60.0
    lines = pdf_parts.wrap_text(text, font, 7.2, width)
    assert all(pdfmetrics.stringWidth(line, font, 7.2) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")  # nothing lost or added
    assert lines[0] == "Bench Politie"  # words kept whole where they fit
    assert digest[:8] in lines[3] and len([line for line in lines if set(line) <= set(digest)]) >= 3  # cut
    assert pdf_parts.wrap_text("a\n\nb", font, 7.2, width) == ["a", "", "b"]  # blank lines kept


def test_a_page_break_repeats_the_header_and_never_parts_an_event_from_its_detail_line() -> None:
    styles = custody_pdf._styles()
    rows = [custody_pdf._event_row(_event(i)) for i in range(custody_pdf.EVENTS_PER_TABLE)]
    table = custody_pdf._event_table(rows, styles)
    _width, height = table.wrap(500, 10_000)
    heights = table._heights
    assert len(heights) == 1 + 2 * len(rows) and abs(sum(heights) - height) < 1e-6
    for room in (sum(heights[:3]) + 1, height / 3, height / 2 + 7.3, height - 1):  # cuts mid-event too
        first, rest = table.split(500, room)
        assert isinstance(first, pdf_parts.Grid) and isinstance(rest, pdf_parts.Grid)
        assert first.wrap(500, room)[1] <= room
        assert len(first.rows) % 2 == 1 and len(rest.rows) % 2 == 1  # the header and whole events, each part
        assert rest.rows[0] is table.rows[0]  # the header again on the next page
        assert first.rows[1:] + rest.rows[1:] == table.rows[1:]  # every row once, in order
        assert not first.rows[-1].with_next
    assert table.split(500, heights[0] + heights[1]) == []  # not even one whole event fits: the next page


def test_an_item_block_moves_to_the_next_page_whole_unless_it_is_taller_than_a_page() -> None:
    styles = custody_pdf._styles()
    item = custody_pdf.ReportItem("2026/041-001", "phone.img", "digital", "", 4096, {"sha256": "ab" * 32},
                                  "H0 · TLP:AMBER", (), "id-1")
    block = custody_pdf._item_block(item, styles)
    _width, height = block.wrap(500, 10_000)
    assert height < custody_pdf._ITEM_LOOK.whole_up_to
    assert block.split(500, height / 2) == []  # kept whole: the layout puts it on the next page
    long = custody_pdf.ReportItem("2026/041-002", "case.zip", "digital", "notes " * 300, 4096, {"sha256": "cd" * 32},
                                  "H0 · TLP:AMBER", tuple((f"Detail {i}", "a value " * 40) for i in range(60)), "id-2")
    tall = custody_pdf._item_block(long, styles)
    assert tall.wrap(500, 10_000)[1] > custody_pdf._ITEM_LOOK.whole_up_to
    first, rest = tall.split(500, 400)
    assert first.wrap(500, 400)[1] <= 400 and first.rows + rest.rows == tall.rows  # split where it must be


class _Doc:
    """Stands for the PDF document a font keeps its subsets for."""


def test_the_fast_subset_font_encodes_text_exactly_as_reportlab_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """``SubsetFont`` encodes a line whose characters all have codes with one translate: exactly what
    reportlab's own TTFont gives (so the PDF is the same): the same codes and subsets, over more than one subset."""
    import reportlab
    from reportlab.pdfbase.ttfonts import TTFont

    # Not registered with reportlab: it keeps one font object per face (a second one of the face is not used).
    vera = f"{reportlab.__path__[0]}/fonts/Vera.ttf"
    font, stock = pdf_parts.SubsetFont("icspa-probe", vera), TTFont("icspa-probe-stock", vera)
    covered = sorted(chr(c) for c in font.face.charToGlyph if c > 32)
    assert len(covered) > 256  # so the document needs a second subset
    lines = ["Chain of custody report", "Straße, Øresund, café", "Ελληνικά κείμενα", "中文 (not in the font)",
             "no\u00a0break\u00a0space", "", "Chain of custody report"]
    lines += ["".join(covered[i:i + 60]) for i in range(0, len(covered), 60)]
    lines += [line[::-1] for line in lines] + lines  # the second time round every character has its code
    ours, theirs = _Doc(), _Doc()
    for line in lines:
        assert font.splitString(line, ours) == stock.splitString(line, theirs), line
    assert font.state[ours].subsets == stock.state[theirs].subsets and len(font.state[ours].subsets) > 1

    # The fast path is taken: a line whose characters have their codes is not encoded by reportlab's loop.
    doc = _Doc()
    assert font.splitString("Chain of custody", doc) == [(0, b"Chain of custody")]  # ASCII keeps its codes
    real = TTFont.splitString
    calls: list[str] = []

    def counted(self: TTFont, text: str, document: object, encoding: str = "utf-8") -> list[tuple[int, bytes]]:
        calls.append(text)
        return real(self, text, document, encoding)  # type: ignore[no-any-return]

    monkeypatch.setattr(TTFont, "splitString", counted)
    assert font.splitString("custody of Chain", doc) == real(font, "custody of Chain", doc)
    assert font.splitString("of\u00a0custody", doc) == real(font, "of custody", doc)
    assert calls == []
    assert font.splitString("Øresund", doc) == real(font, "Øresund", doc) and calls == ["Øresund"]


def _grid_pdf(rows: list[pdf_parts.GridRow], look: pdf_parts.GridLook) -> bytes:
    """One page holding the grid, as PDF bytes that depend only on what is drawn (no time, no compression)."""
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(out, invariant=1, pageCompression=0)
    grid = pdf_parts.Grid(rows, look)
    grid.wrap(500, 800)
    grid.drawOn(canvas, 40, 40)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def test_the_grid_writes_its_text_as_reportlabs_text_object_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Grid._text_operators`` writes the PDF text object itself: the same bytes as drawing the cells with
    reportlab's ``PDFTextObject`` (``_draw_text_object``), over fonts, sizes, colours, wrapped lines, characters
    that need escaping and text that spreads over more than one subset of a font."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    fonts = pdf_parts.fonts()
    regular = ParagraphStyle("r", fontName=fonts["regular"], fontSize=7.2, leading=8.64)
    bold = ParagraphStyle("b", fontName=fonts["bold"], fontSize=7.2, leading=8.64, textColor=colors.HexColor("#0b2545"))
    big = ParagraphStyle("g", fontName=fonts["regular"], fontSize=10, leading=13, textColor=colors.HexColor("#333"))
    many = "".join(chr(c) for c in range(0x100, 0x250))  # Latin Extended: more than one subset's 256 codes
    texts = ["Chain of custody (report) \\ back", "Straße, Øresund, café", "Ελληνικά κείμενα", many,
             "a line\nand another", "no\u00a0break", "", "2026-12-01 17:42:55 UTC"]
    rows = [pdf_parts.GridRow((("Header", bold), ("Header", bold), None))]
    for i, text in enumerate(texts * 3):
        rows.append(pdf_parts.GridRow(((text, regular), (texts[-1 - i % len(texts)], bold if i % 2 else big),
                                       (f"row {i}", regular)), line_below=(0.25, colors.grey)))
    look = pdf_parts.GridLook(widths=(120, 160, 60), padding=(2, 2, 3, 3), box=(0.5, colors.black), header_rows=1)
    fast = _grid_pdf(rows, look)
    monkeypatch.setattr(pdf_parts.Grid, "_subset_fonts_only", lambda self: False)
    reference = _grid_pdf(rows, look)
    assert b"Tj T*" in fast and re.search(rb"/F\d\+1 ", fast)  # text, in a font's second subset too
    assert fast == reference
