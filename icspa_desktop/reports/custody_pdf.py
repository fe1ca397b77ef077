"""The chain-of-custody report as PDF (reportlab): plain data in, PDF bytes out.

Layout: A4 portrait; every page carries the agency, the report title, the handling markings at top and
bottom, and "Page N of M". Sections: case identification, items with every hash, the event table, the
log verification result, the signed checkpoint with its QR code, and a signature block for the
releasing and receiving officers.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from icspa_desktop.domain.enums import CASE_STATUS_WORDS
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.i18n import N_, _, current_language, format_moment
from icspa_desktop.reports import pdf_parts
from icspa_desktop.reports.custody_data import CustodyReport, ReportEvent, ReportItem, ShownTexts
from icspa_desktop.reports.pdf_parts import Grid, GridLook, GridRow, Lazy, QrCode

__all__ = ["CustodyReport", "ReportEvent", "ReportItem", "ShownTexts", "render"]


def _styles() -> dict[str, ParagraphStyle]:
    f = pdf_parts.fonts()
    base = ParagraphStyle("base", fontName=f["regular"], fontSize=8.5, leading=10.5)
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontName=f["bold"], fontSize=15, leading=19, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, leading=13, textColor=colors.HexColor("#333")),
        "h2": ParagraphStyle("h2", parent=base, fontName=f["bold"], fontSize=11, leading=14, spaceBefore=10,
                             spaceAfter=4, textColor=colors.HexColor("#0b2545")),
        "label": ParagraphStyle("label", parent=base, fontName=f["bold"], fontSize=8, leading=10),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.2, leading=8.8),
        "cellbold": ParagraphStyle("cellbold", parent=base, fontName=f["bold"], fontSize=7.2, leading=8.8),
        "small": ParagraphStyle("small", parent=base, fontSize=6.8, leading=8.4, textColor=colors.HexColor("#333")),
        "mono": ParagraphStyle("mono", parent=base, fontName=f["mono"], fontSize=7.2, leading=8.8),
        "monosmall": ParagraphStyle("monosmall", parent=base, fontName=f["mono"], fontSize=5.6, leading=6.6),
        "head": ParagraphStyle("head", parent=base, fontName=f["bold"], fontSize=7.2, leading=8.8,
                               textColor=colors.white),
        "warn": ParagraphStyle("warn", parent=base, fontName=f["bold"], fontSize=9, leading=12,
                               textColor=colors.HexColor("#8b0000")),
        "ok": ParagraphStyle("ok", parent=base, fontName=f["bold"], fontSize=9, leading=12,
                             textColor=colors.HexColor("#14532d")),
        "center": ParagraphStyle("center", parent=base, alignment=TA_CENTER),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


class _NumberedCanvas(rl_canvas.Canvas):  # type: ignore[misc]  # reportlab is untyped
    """Defers page output so each page can say "Page N of M"."""

    decorate: Any = None
    page_done: Any = None  # called with (page, pages) as each page is written out: progress and cancel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for page, state in enumerate(self._saved, 1):
            if self.page_done is not None:
                self.page_done(page - 1, total)
            self.__dict__.update(state)
            if self.decorate is not None:
                self.decorate(self, total)
            super().showPage()
        super().save()


# ---- the document --------------------------------------------------------------------------------
CMS_HEADING = N_("Detached CMS signature of the checkpoint text (PEM, by the agency key):")
PEM_BEGIN, PEM_END = "-----BEGIN CMS-----", "-----END CMS-----"
# The command is a field: a translation moves the words around it, never the command itself.
EXTRACT_COMMAND = "pdftotext -layout report.pdf report.txt"
CHECK_COMMAND = ("openssl cms -verify -binary -inform PEM -in sig.pem -content checkpoint.txt -CAfile agency.pem "
                 "-no-CApath -no-CAstore -partial_chain -purpose any -out /dev/null")
CHECK_INSTRUCTIONS = N_(
    "To check it without ICSPA software, extract this page's text with {extract} "
    "(plain pdftotext can interleave the columns). Put the four checkpoint lines in checkpoint.txt, each ending "
    "in a line feed, and the lines from {begin} to {end}, without their leading spaces, "
    "in sig.pem. Then: {command} (agency.pem: the agency's certificate, with the SHA-256 above; "
    "docs/custody-format.md §6)."
)
PAGE_W, PAGE_H = A4
MARGIN_X = 16 * mm
TOP = 30 * mm
BOTTOM = 22 * mm
WIDTH = PAGE_W - 2 * MARGIN_X
FRAME_H = PAGE_H - TOP - BOTTOM - 12  # the height a page's frame gives the story (its paddings: 6 pt each)
NAVY = colors.HexColor("#0b2545")
GRID = colors.HexColor("#9aa5b1")
ZEBRA = colors.HexColor("#f1f4f8")


# The ICU locale of each language's numbers (as i18n.format_moment's dates): 12,345 / 12.345 / 12 345.
_NUMBER_LOCALES = {"en": "en_GB", "de": "de_DE", "fr": "fr_FR"}


def _number(value: float, decimals: int = 0) -> str:
    """``value`` with the reader's digit grouping and decimal sign (``decimals`` places)."""
    if current_language() == "en":
        return f"{value:,.{decimals}f}"
    import icu  # type: ignore[import-untyped]  # PyICU, as i18n.format_moment

    formatter = icu.NumberFormat.createInstance(icu.Locale(_NUMBER_LOCALES.get(current_language(), "en_GB")))
    formatter.setMinimumFractionDigits(decimals)
    formatter.setMaximumFractionDigits(decimals)
    # French groups digits with a narrow no-break space, which not every PDF font has: a no-break space.
    return str(formatter.format(value)).replace("\u202f", "\u00a0")


def _size_text(size: int | None) -> str:
    if size is None:
        return "—"
    units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return _("{size} bytes", size=_number(size))
    return _("{size} bytes ({value} {unit})", size=_number(size), value=_number(value, 1), unit=units[unit])


def _kv_table(rows: Sequence[tuple[str, str]], st: dict[str, ParagraphStyle], label_width: float = 38 * mm) -> Grid:
    line = (0.25, GRID)
    return Grid([GridRow(((_(k), st["label"]), (v or "—", st["base"])), line_below=line) for k, v in rows],
                GridLook((label_width, WIDTH - label_width), padding=(2.5, 2.5, 6, 6), page_height=FRAME_H))


def _item_block(item: ReportItem, st: dict[str, ParagraphStyle]) -> Grid:
    head = _("Exhibit {exhibit} — {name}", exhibit=item.exhibit_number,
             name=item.name or item.description or item.kind)
    rows = [GridRow(((head, st["head"]), None), span_from=0, background=NAVY)]
    facts = [(_("Kind"), item.kind), (_("Size"), _size_text(item.size)), (_("Markings"), _markings(item.markings))]
    if item.description:
        facts.insert(0, (_("Description"), item.description))
    if item.item_id:
        facts.append((_("Item id"), item.item_id))
    facts.extend((_(label), _detail_value(label, value)) for label, value in item.details)
    hashes = []
    for algorithm in sorted(item.hashes, key=lambda a: (a != "sha256", a)):
        hashes.append((algorithm.upper().replace("SHA", "SHA-") if algorithm.startswith("sha") else algorithm.upper(),
                       item.hashes[algorithm]))
    line = (0.25, GRID)
    for label, value in facts:
        rows.append(GridRow(((label, st["cellbold"]), (value or "—", st["cell"])), line_below=line))
    for label, value in hashes:  # the algorithm's name and the value, as they are in every language
        rows.append(GridRow(((label, st["cellbold"]), (value or "—", st["mono"])), line_below=line))
    return Grid(rows, _ITEM_LOOK)


# An item's block is kept on one page (moved to the next whole) unless it is taller than a page.
_ITEM_LOOK = GridLook((32 * mm, WIDTH - 32 * mm), padding=(2, 2, 6, 6), box=(0.6, NAVY), whole_up_to=FRAME_H,
                      page_height=FRAME_H, space_after=3 * mm)
_EVENT_COLS = [10 * mm, 30 * mm, 30 * mm, 23 * mm, 38 * mm, 23 * mm, 24 * mm]


EVENTS_PER_TABLE = 50
# An event naming more items than this (an export of a whole case) lists them after the event tables, where the
# list may run over pages: in its table row a thousand exhibit numbers made a cell taller than a page, and
# reportlab refused the whole report (LayoutError) — every later report and export of that case failed.
ITEMS_IN_ROW = 12


@dataclass(frozen=True, slots=True)
class _EventRow:
    cells: tuple[str, ...]  # the seven columns
    detail: str  # the line below: event id, items, counterparty, hashes …


def _event_row(event: ReportEvent) -> _EventRow:
    local = _local_text(event)
    authority = event.authority and _("Authority: {authority}", authority=event.authority)
    purpose = "\n".join(p for p in (event.purpose, authority) if p)
    parts = [_("Event id {id}", id=event.id)]
    if len(event.items) > ITEMS_IN_ROW:
        parts.append(_("Items: {n} exhibits, listed under “Items named by event #{index}” after this table",
                       n=_number(len(event.items)), index=event.index))
    elif event.items:
        parts.append(_("Items: {items}", items=", ".join(event.items)))
    if event.extra:
        parts.append(_extra_text(event.extra))
    return _EventRow((str(event.index), f"{event.at_utc}\n{local}".strip(),
                      f"{event.actor}\n{event.role}" + (f", {event.agency}" if event.agency else ""), event.action,
                      purpose or "—", event.location or "—", event.result or "—"), " · ".join(parts))


def _event_table(rows_in: Sequence[_EventRow], st: dict[str, ParagraphStyle], first: int = 0) -> Grid:
    """One table of events (``EVENTS_PER_TABLE`` at most), with the header. One table of thousands of rows made
    reportlab measure all of it again at every page break: a 4,000-event case took 115-180 s; in pieces the
    work grows with the number of events (tests/custody/test_reports.py). An event's row and its detail line
    are never parted by a page break."""
    header = tuple((h, st["head"]) for h in (
        "#", _("Time (UTC)\nactor's local time"), _("Actor / role"), _("Action"), _("Purpose / legal authority"),
        _("Location"), _("Result")))
    rows = [GridRow(header, background=NAVY)]
    cell_styles = (st["cell"], st["cell"], st["cell"], st["cellbold"], st["cell"], st["cell"], st["cell"])
    for n, row in enumerate(rows_in):
        zebra = ZEBRA if (first + n) % 2 else None
        rows.append(GridRow(tuple(zip(row.cells, cell_styles, strict=True)), background=zebra, with_next=True))
        rows.append(GridRow((None, (row.detail, st["small"])), span_from=1, background=zebra,
                            line_below=(0.25, GRID)))
    return Grid(rows, _EVENT_LOOK)


_EVENT_LOOK = GridLook(tuple(_EVENT_COLS), padding=(1.8, 1.8, 2.5, 2.5), box=(0.6, NAVY), header_rows=1,
                       page_height=FRAME_H)


def _event_parts(rows: Sequence[_EventRow], st: dict[str, ParagraphStyle]) -> Iterator[tuple[Flowable, int]]:
    """The event tables (made as the layout reaches them: see ``Lazy``), each with the number of its events."""
    if not rows:
        yield _event_table([], st, 0), 1  # an empty log still shows the header
    for start in range(0, len(rows), EVENTS_PER_TABLE):
        part = rows[start:start + EVENTS_PER_TABLE]
        yield _event_table(part, st, start), len(part)


def _long_item_lists(events: Sequence[ReportEvent], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Each item list too long for its event's row, in full, as paragraphs that may run over pages."""
    story: list[Flowable] = []
    for event in events:
        if len(event.items) > ITEMS_IN_ROW:
            story += [
                Spacer(1, 2 * mm),
                _p(_("Items named by event #{index} ({action}, {n} exhibits)", index=event.index,
                     action=event.action, n=_number(len(event.items))), st["label"]),
                _p(", ".join(event.items), st["small"]),
            ]
    return story


def _local_text(event: ReportEvent) -> str:
    """"local 22:55:13 CET (+01:00)", with the date when it differs from the UTC date."""
    text = event.local_time
    if len(text) < 19:
        return text
    date, clock, offset = text[:10], text[11:19], text[19:]
    shown = clock if event.at_utc.startswith(date) else f"{date} {clock}"
    return _("local {time} {zone} ({offset})", time=shown, zone=event.time_zone,
             offset=offset or "UTC").replace("  ", " ")


# ---- the services' English, for the reader -------------------------------------------------------
# services/custody_reports.py hands over the report's labels and a few sentences in English (the report's data
# stays as it is); they are translated here, where the report is drawn. A text not listed below (a case field
# a later version adds, a value a user typed) is shown as it came.
LABELS = (
    # case identification
    N_("Case number"), N_("Title"), N_("Status"), N_("Lead investigator"), N_("Jurisdiction"),
    N_("Legal authority"), N_("Description"), N_("Opened"), N_("Case id"),
    # an item's details
    N_("Original name"), N_("Original path"), N_("Media type"), N_("Acquired by"), N_("Acquired at"),
    N_("Acquisition place"), N_("Method"), N_("Tool"), N_("Source device"), N_("Seal number"),
    N_("Storage location"), N_("Holder"),
    # the page header when the vault has no agency name
    N_("Agency name not set"),
)
# A case's status as the reader's word (the value itself is the code "open" / "closed").
CASE_STATUS = CASE_STATUS_WORDS
# The handling codes' meanings (services/custody_reports._HANDLING_TEXT); an H3 restriction is the user's text.
HANDLING_MEANINGS = (
    N_("use for crime prevention/combating only"),
    N_("no use in judicial proceedings without the provider's permission"),
    N_("no dissemination without the provider's permission"),
    N_("other restrictions"),
)
_EXTRA_LABELS = {"Counterparty": N_("Counterparty: {value}"), "Tool": N_("Tool: {value}"),
                 "Notes": N_("Notes: {value}"), "Details": N_("Details: {value}")}
_SUBJECTS = (
    (re.compile(r"Case (?P<case>.+)"), N_("Case {case}")),
    (re.compile(r"Exhibit (?P<exhibit>.+?) of case (?P<case>.+)"), N_("Exhibit {exhibit} of case {case}")),
    (re.compile(r"(?P<n>\d+) exhibit\(s\) of case (?P<case>.+?) \((?P<purpose>[^()]*)\)"),
     N_("{n} exhibit(s) of case {case} ({purpose})")),
)
_VERIFIED = re.compile(r"Verified intact when this report was produced: all (?P<n>\d+) events of the vault's log "
                       r"\(signatures, leaf hashes, Merkle tree, stored checkpoints and the external witness\)\.")
_NOT_VERIFIED = "The custody log could not be verified when this report was produced."
_DAMAGED = re.compile(r"WARNING — the custody log is damaged: (?P<summary>.*)", re.DOTALL)
_MARKINGS = re.compile(r"(?P<code>H\d) \((?P<meaning>.*)\)(?P<rest> · TLP:.*)", re.DOTALL)
_EVALUATION = re.compile(r" · evaluation (?P<grade>\S+)$")
_CHECKED_OUT = " (checked out)"


def _subject(text: str) -> str:
    for pattern, message in _SUBJECTS:
        match = pattern.fullmatch(text)
        if match:
            return _(message, **match.groupdict())
    return text


def _verification(text: str, show_summary: Callable[[str], str]) -> str:
    if text == _NOT_VERIFIED:
        return _("The custody log could not be verified when this report was produced.")
    if match := _VERIFIED.fullmatch(text):
        return _("Verified intact when this report was produced: all {n} events of the vault's log (signatures, "
                 "leaf hashes, Merkle tree, stored checkpoints and the external witness).", n=match["n"])
    if match := _DAMAGED.fullmatch(text):
        # The summary as services/custody_verify.py made it, in English; its phrasebook shows it in the report's
        # language (English in the report a bundle carries, which is made under i18n.language("en")).
        return _("WARNING — the custody log is damaged: {summary}", summary=show_summary(match["summary"]))
    return text


def _markings(text: str) -> str:
    """"H2 (no dissemination …) · TLP:AMBER · evaluation B2" with the meaning and "evaluation" translated; the
    codes stay as they are."""
    if match := _EVALUATION.search(text):
        text = text[:match.start()] + _(" · evaluation {grade}", grade=match["grade"])
    if (match := _MARKINGS.fullmatch(text)) and match["meaning"] in HANDLING_MEANINGS:
        return f"{match['code']} ({_(match['meaning'])}){match['rest']}"
    return text


def _moment(text: str) -> str:
    """A moment the services wrote as UTC ("2026-03-02 09:20:00 UTC") in the reader's form, UTC beside it."""
    for form in ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC"):
        try:
            moment = datetime.strptime(text, form).replace(tzinfo=UTC)
        except ValueError:
            continue
        return format_moment(moment)
    return text


def _case_value(label: str, value: str) -> str:
    if label == "Opened":
        return _moment(value)
    if label == "Status" and value in CASE_STATUS:
        return _(CASE_STATUS[value])
    return value


def _detail_value(label: str, value: str) -> str:
    if label == "Holder" and value.endswith(_CHECKED_OUT):
        return _("{holder} (checked out)", holder=value.removesuffix(_CHECKED_OUT))
    return value


def _extra_text(extra: str) -> str:
    """An event's further facts ("Counterparty: … · Tool: …"), each one's label translated; the values (signed in
    the event) as they are."""
    parts = []
    for part in extra.split(" · "):
        label, sep, value = part.partition(": ")
        parts.append(_(_EXTRA_LABELS[label], value=value) if sep and label in _EXTRA_LABELS else part)
    return " · ".join(parts)


def _signature_block(st: dict[str, ParagraphStyle]) -> Table:
    def box(title: str) -> Table:
        lines = [[_p(title, st["head"])]]
        for label in (_("Name:"), _("Rank / role:"), _("Agency / unit:"), _("Date and time:"), _("Place:"),
                      _("Signature:")):
            lines.append([_p(label, st["cell"])])
        inner = Table(lines, colWidths=[(WIDTH - 6 * mm) / 2], rowHeights=[13] + [17] * 5 + [30])
        inner.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), NAVY),
            ("BOX", (0, 0), (-1, -1), 0.6, NAVY),
            ("LINEBELOW", (0, 1), (-1, -2), 0.25, GRID),
            ("VALIGN", (0, 1), (-1, -1), "BOTTOM"),
        ]))
        return inner

    outer = Table([[box(_("RELEASED BY")), "", box(_("RECEIVED BY"))]],
                  colWidths=[(WIDTH - 6 * mm) / 2, 6 * mm, (WIDTH - 6 * mm) / 2])
    outer.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return outer


class _Steps:
    """The rendering's progress as one bar (``SCALE`` steps): preparing the blocks, laying them out, writing the
    pages. The cancel token is checked at every report, so each is a point where rendering can stop."""

    SCALE = 1000
    # Shares of the time, measured on a case of 1,000 items and 2,000 events: ~5 % preparing the events' texts,
    # ~90 % laying out (which makes the tables as it reaches them), ~5 % writing the pages.
    PREPARE, LAYOUT = 0.05, 0.9

    def __init__(self, progress: ProgressCallback, cancel: CancelToken) -> None:
        self._progress = progress
        self._cancel = cancel
        self._done = 0

    def at(self, fraction: float, message: str) -> None:
        self._cancel.check()
        self._done = max(self._done, min(self.SCALE, int(fraction * self.SCALE)))  # never backwards
        self._progress(self._done, self.SCALE, message)

    def preparing(self, done: int, total: int, message: str) -> None:
        self.at(self.PREPARE * done / max(total, 1), message)

    def laying_out(self, done: float, total: float, page: int) -> None:
        self.at(self.PREPARE + self.LAYOUT * done / max(total, 1), _("Laying out the report: page {page}…",
                                                                     page=page))

    def writing(self, page: int, pages: int) -> None:
        self.at(self.PREPARE + self.LAYOUT + (1 - self.PREPARE - self.LAYOUT) * page / max(pages, 1),
                _("Writing page {page} of {pages}…", page=page + 1, pages=pages))


def render(report: CustodyReport, *, progress: ProgressCallback = no_progress,
           cancel: CancelToken | None = None) -> bytes:
    """The report as PDF bytes. ``progress`` gets (done, total, message) all along; ``cancel`` stops it
    (``Cancelled``) between items, tables of events and pages."""
    steps = _Steps(progress, cancel or CancelToken())
    st = _styles()
    fonts = pdf_parts.fonts()
    buffer = io.BytesIO()
    subject = _subject(report.subject)
    generated_at = _moment(report.generated_at)
    agency_lines = [_(line) for line in report.agency_lines]  # only "Agency name not set" is in the catalogue
    markings = _markings(report.markings)
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=TOP,
                            bottomMargin=BOTTOM, title=_("Chain of custody report — {subject}", subject=subject),
                            author=report.agency_lines[0] if report.agency_lines else "ICSPA Evidence Desktop",
                            subject=report.report_id, creator="ICSPA Evidence Desktop")
    story: list[Any] = [
        _p(_("Chain of Custody Report"), st["title"]),
        _p(subject, st["subtitle"]),
        Spacer(1, 3 * mm),
        _kv_table([(N_("Report id"), report.report_id), (N_("Generated"), generated_at),
                   (N_("Generated by"), report.generated_by), (N_("Handling markings"), markings)], st),
        _p(_("1. Case identification"), st["h2"]),
        _kv_table([(label, _case_value(label, value)) for label, value in report.case_fields], st),
        _p(_("2. Items ({n})", n=len(report.items)), st["h2"]),
    ]
    if not report.items:
        story.append(_p(_("No evidence items are recorded for this case."), st["base"]))
    # The texts of the events first (the "preparing" share of the bar); the tables themselves, and the items'
    # blocks, are made only when the layout reaches them (``Lazy``): memory does not grow with the case.
    event_rows: list[_EventRow] = []
    for n, event in enumerate(report.events):
        if n % EVENTS_PER_TABLE == 0:
            steps.preparing(n, len(report.events), _("Preparing the custody events…"))
        event_rows.append(_event_row(event))
    total = len(report.items) + max(len(report.events), 1)
    laid_out = [0]  # items and events handed to the layout so far
    page = [1]

    def done(weight: int) -> None:
        laid_out[0] += weight
        steps.laying_out(laid_out[0], total, page[0])

    def on_layout(kind: str, value: int) -> None:
        if kind == "PAGE":
            page[0] = value + 1
            steps.laying_out(laid_out[0], total, page[0])

    item_blocks = ((_item_block(item, st), 1) for item in report.items)
    story.append(Lazy(item_blocks, done))
    story += [
        CondPageBreak(40 * mm),
        _p(_("3. Custody events ({n})", n=len(report.events)), st["h2"]),
        _p(_("Every event is signed with its actor's personal Ed25519 key and is a leaf of the vault's Merkle log; "
             "# is the leaf index. Times are UTC, with the actor's local time below."), st["small"]),
        Spacer(1, 2 * mm),
        Lazy(_event_parts(event_rows, st), done),
        *_long_item_lists(report.events, st),
        _p(_("4. Integrity of the custody log"), st["h2"]),
        _p(_verification(report.verification, report.show_summary), st["ok"] if report.verification_ok else st["warn"]),
    ]
    for note in report.notes:  # the first damages, English as verification made them: shown in the report's language
        story.append(_p(report.show_damage(note), st["small"]))
    checkpoint_rows = [[
        [_p(_("Signed checkpoint (the C2SP tlog-checkpoint body; the agency's detached CMS signature is below)"),
            st["label"]), Spacer(1, 1 * mm),
         _p(report.checkpoint_text.rstrip("\n"), st["mono"]), Spacer(1, 2 * mm),
         _p(_("Agency certificate SHA-256: {sha256}", sha256=report.certificate_sha256), st["small"]),
         Spacer(1, 1 * mm),
         _p(_("The QR code holds the checkpoint text."), st["small"])],
        QrCode(report.checkpoint_text, 38 * mm),
    ]]
    checkpoint_table = Table(checkpoint_rows, colWidths=[WIDTH - 42 * mm, 42 * mm])
    checkpoint_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOX", (0, 0), (-1, -1), 0.6, NAVY),
                                          ("LEFTPADDING", (0, 0), (-1, -1), 4), ("TOPPADDING", (0, 0), (-1, -1), 4)]))
    story += [
        # One block, never split by a page break: a PEM cut by a page's footer and header no longer decodes.
        KeepTogether([
            _p(_("5. Signed checkpoint"), st["h2"]),
            checkpoint_table,
            Spacer(1, 2 * mm),
            _p(_(CMS_HEADING), st["label"]),
            Spacer(1, 1 * mm),
            _p(PEM_BEGIN + "\n" + _wrap(report.checkpoint_signature_b64, 110) + "\n" + PEM_END, st["monosmall"]),
            Spacer(1, 1.5 * mm),
            _p(_(CHECK_INSTRUCTIONS, extract=EXTRACT_COMMAND, begin=PEM_BEGIN, end=PEM_END, command=CHECK_COMMAND),
               st["small"]),
        ]),
        CondPageBreak(75 * mm),
        _p(_("6. Transfer of custody"), st["h2"]),
        _p(_("The undersigned confirm the release and receipt of the items listed in section 2, in the condition "
             "and with the seals described, at the date and time stated."), st["base"]),
        Spacer(1, 3 * mm),
        _signature_block(st),
    ]

    def decorate(canvas: rl_canvas.Canvas, total: int) -> None:
        canvas.saveState()
        top = PAGE_H - 12 * mm
        canvas.setFillColor(NAVY)
        canvas.setFont(fonts["bold"], 9)
        canvas.drawString(MARGIN_X, top, agency_lines[0] if agency_lines else "")
        canvas.setFont(fonts["regular"], 7.5)
        for i, line in enumerate(agency_lines[1:3]):
            canvas.drawString(MARGIN_X, top - 9.5 * (i + 1), line)
        canvas.setFont(fonts["bold"], 9)
        canvas.drawRightString(PAGE_W - MARGIN_X, top, _("CHAIN OF CUSTODY REPORT"))
        canvas.setFont(fonts["regular"], 7.5)
        canvas.drawRightString(PAGE_W - MARGIN_X, top - 9.5, subject)
        _marking_bar(canvas, PAGE_H - 8 * mm, markings, fonts)
        canvas.setStrokeColor(NAVY)
        canvas.setLineWidth(0.8)
        canvas.line(MARGIN_X, PAGE_H - TOP + 5 * mm, PAGE_W - MARGIN_X, PAGE_H - TOP + 5 * mm)
        canvas.line(MARGIN_X, BOTTOM - 6 * mm, PAGE_W - MARGIN_X, BOTTOM - 6 * mm)
        canvas.setFillColor(colors.black)
        canvas.setFont(fonts["regular"], 7)
        canvas.drawString(MARGIN_X, BOTTOM - 10 * mm, _("Report {id} · generated {moment}", id=report.report_id,
                                                         moment=generated_at))
        canvas.setFont(fonts["bold"], 8)
        canvas.drawRightString(PAGE_W - MARGIN_X, BOTTOM - 10 * mm,
                               _("Page {page} of {pages}", page=canvas.getPageNumber(), pages=total))
        _marking_bar(canvas, 7 * mm, markings, fonts)
        canvas.restoreState()

    canvas_class = type("ReportCanvas", (_NumberedCanvas,), {"decorate": staticmethod(decorate),
                                                              "page_done": staticmethod(steps.writing)})
    doc.setProgressCallBack(on_layout)
    doc.build(story, canvasmaker=canvas_class)
    steps.at(1.0, _("Report laid out."))
    return buffer.getvalue()


def _marking_bar(canvas: rl_canvas.Canvas, y: float, markings: str, fonts: dict[str, str]) -> None:
    canvas.setFont(fonts["bold"], 8)
    canvas.setFillColor(colors.HexColor("#8b0000"))
    canvas.drawCentredString(PAGE_W / 2, y - 1, markings)


def _wrap(text: str, width: int) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))
