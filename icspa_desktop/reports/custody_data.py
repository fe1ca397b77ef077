"""What a chain-of-custody report says, as plain data (reports/custody_pdf.py draws it): made by the services,
drawn in the caller's thread or in a process of its own (icspa_desktop/separate.py), so everything here crosses a
pipe — no callables but module-level ones and lookups. Imports nothing of reportlab (``render_pdf`` does, where it
runs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from icspa_desktop.domain.progress import CancelToken, ProgressCallback


@dataclass(frozen=True, slots=True)
class ReportItem:
    exhibit_number: str
    name: str
    kind: str
    description: str
    size: int | None
    hashes: dict[str, str]
    markings: str
    details: Sequence[tuple[str, str]] = ()  # acquisition, storage, seal …
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class ReportEvent:
    index: int
    id: str
    at_utc: str
    local_time: str
    time_zone: str
    actor: str
    role: str
    agency: str
    action: str
    purpose: str
    authority: str
    location: str
    result: str
    items: Sequence[str] = ()  # exhibit numbers of the items the event names
    extra: str = ""  # counterparty, hashes, tool, notes, changes


@dataclass(frozen=True, slots=True)
class CustodyReport:
    report_id: str
    subject: str  # "Case 2026-041" or "Item 2026-041-003 of case 2026-041"
    agency_lines: Sequence[str]
    markings: str  # "H2 · TLP:AMBER"
    case_fields: Sequence[tuple[str, str]]
    items: Sequence[ReportItem]
    events: Sequence[ReportEvent]
    checkpoint_text: str
    checkpoint_signature_b64: str
    certificate_sha256: str
    verification: str
    verification_ok: bool
    generated_at: str
    generated_by: str
    notes: Sequence[str] = field(default_factory=tuple)
    # How the services' recorded English shows in the report's language (services/custody_verify.py's phrasebooks,
    # looked up beforehand so that drawing a report needs nothing of the services, also in a separate process):
    # the damage summary, and each damage.
    show_summary: Callable[[str], str] = str
    show_damage: Callable[[str], str] = str


@dataclass(frozen=True, slots=True)
class ShownTexts:
    """Recorded English texts and how they read in the report's language, as a lookup (a plain mapping crosses to
    a separate process; a text not in it shows as it is)."""

    texts: Mapping[str, str]

    def __call__(self, text: str) -> str:
        return self.texts.get(text, text)


def render_pdf(report: CustodyReport, *, progress: ProgressCallback, cancel: CancelToken | None = None) -> bytes:
    """``reports.custody_pdf.render``, imported only where the drawing runs: the process that hands a big report to a
    process of its own (the GUI, an export) never loads reportlab. Importing it there took ~110 ms holding the GIL
    in a worker thread, and a click on a case meanwhile stalled 76-107 ms (bench gui, 2,000 items)."""
    from icspa_desktop.reports import custody_pdf

    return custody_pdf.render(report, progress=progress, cancel=cancel)
