"""Custody reports: the PDF chain-of-custody report and the CASE/UCO JSON-LD export."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from icspa_desktop import separate
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events
from icspa_desktop.custody.events import EventDraft, StoredEvent
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Conflict, UsageError, VaultError, _
from icspa_desktop.domain.ids import new_id
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.files import atomic_write
from icspa_desktop.reports.custody_data import CustodyReport, ReportEvent, ReportItem, ShownTexts, render_pdf
from icspa_desktop.services.custody import StoredCheckpoint, _cert_fingerprint, agency_signer, make_checkpoint
from icspa_desktop.services.custody_verify import DAMAGE, SUMMARY, VerifyReport, verify
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session

# ---- reports --------------------------------------------------------------------------------------
_HANDLING_TEXT = {
    "H0": "use for crime prevention/combating only",
    "H1": "no use in judicial proceedings without the provider's permission",
    "H2": "no dissemination without the provider's permission",
    "H3": "other restrictions",
}


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What a report states about a case or item: the facts, its events, and the checkpoint covering them."""

    report_id: str
    case: Any  # domain.models.Case
    items: list[Any]  # domain.evidence.Item
    item: Any | None
    events: list[StoredEvent]
    checkpoint: StoredCheckpoint
    verification: VerifyReport | None
    certificate_sha256: str


def report_context(session: Session, case_ref: str, *, item_ref: str | None = None,
                   signer: cp.CheckpointSigner | None = None, verifier: cp.SignatureVerifier | None = None,
                   witness_dir: Path | None = None, purpose: str = "custody report",
                   item_ids: Sequence[str] | None = None, progress: ProgressCallback = no_progress,
                   cancel: CancelToken | None = None) -> ReportContext:
    """Gather a case (or one of its items, or the items ``item_ids`` with the case events and theirs), sign a
    fresh checkpoint covering its events, verify the log.

    ``cancel`` is checked before the checkpoint is signed (a report cancelled by then has recorded nothing) and
    during the verification; a checkpoint already signed stays in the log, as it is true."""
    from icspa_desktop.services import cases, evidence

    cancel = cancel or CancelToken()
    session.require(Permission.REPORT, attempted=f"produce a {purpose} for {case_ref}")
    progress(0, 0, _("Reading the case…"))
    case = cases.get_case(session, case_ref)
    item = None
    if item_ref is not None:
        item = evidence.get_item(session, item_ref)
        if item.case_id != case.id:
            raise UsageError(_("Item {exhibit_number} does not belong to case {number}.",
                               exhibit_number=item.exhibit_number, number=case.number))
    items = [item] if item is not None else evidence.list_items(session, case.id)
    if item_ids is not None:
        wanted = set(item_ids)
        items = [i for i in items if i.id in wanted]
    report_id = f"{purpose.split()[0][:4].upper()}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{new_id()[:6]}"
    signer = signer or agency_signer(session)
    cancel.check()
    progress(0, 0, _("Signing a checkpoint of the custody log…"))
    checkpoint = make_checkpoint(session, f"{purpose} {report_id}", signer=signer, witness_dir=witness_dir,
                                 case_id=case.id)
    found = (events.list_events(session.conn, item_id=item.id) if item is not None
             else events.list_events(session.conn, case_id=case.id))
    found = [e for e in found if e.index < checkpoint.size]
    if item_ids is not None:
        chosen = {i.id for i in items}
        found = [e for e in found if not e.body.get("item_ids") or chosen & set(e.body["item_ids"])]
    def verifying(done: int, total: int) -> None:
        # The verification has no cancel token of its own; it reports progress between chunks of events, and
        # Cancelled raised here ends it there like any error of the chunk would.
        cancel.check()
        progress(done, total, _("Verifying the custody log: {done:,} of {total:,} events…", done=done, total=total))

    cancel.check()
    progress(0, 0, _("Verifying the custody log…"))
    try:
        verification: VerifyReport | None = verify(session, incremental=True, verifier=verifier,
                                                   witness_dir=witness_dir, progress=verifying)
    except VaultError:
        verification = None
    cancel.check()
    return ReportContext(report_id, case, items, item, found, checkpoint, verification, _cert_fingerprint(signer))


def _markings_text(handling: str, handling_text: str, tlp: str) -> str:
    meaning = handling_text if handling == "H3" and handling_text else _HANDLING_TEXT.get(handling, "")
    return f"{handling} ({meaning}) · TLP:{tlp}" if meaning else f"{handling} · TLP:{tlp}"


def _report_item(item: Any) -> ReportItem:
    acq = item.acquisition
    details = [
        ("Original name", item.original_name), ("Original path", item.original_path), ("Media type", item.mime_type),
        ("Acquired by", acq.acquired_by), ("Acquired at", acq.acquired_at), ("Acquisition place", acq.location),
        ("Method", acq.method), ("Tool", " ".join(p for p in (acq.tool, acq.tool_version) if p)),
        ("Source device", " / ".join(p for p in (acq.source_device, acq.source_serial) if p)),
        ("Seal number", acq.seal_number), ("Storage location", item.storage_location),
        ("Holder", item.holder + (" (checked out)" if item.checked_out else "")),
    ]
    m = item.markings
    markings = _markings_text(str(m.handling_code), m.handling_text, str(m.tlp))
    if m.source_evaluation or m.information_evaluation:
        markings += f" · evaluation {m.source_evaluation or '-'}{m.information_evaluation or '-'}"
    return ReportItem(item.exhibit_number, item.original_name, str(item.kind), item.description, item.size,
                      dict(item.hashes), markings, [(k, v) for k, v in details if v], item.id)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Non-empty leaves of nested details as ("acquisition.tool", "Guymager") pairs."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key in sorted(value):
            pairs.extend(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    if value in ("", None, [], {}):
        return []
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return [(prefix, text)]


def _report_event(event: StoredEvent, exhibits: dict[str, str]) -> ReportEvent:
    b = event.body
    actor = b.get("actor") or {}
    extra = []
    if b.get("counterparty"):
        extra.append(f"Counterparty: {b['counterparty']}")
    for algorithm, value in sorted((b.get("hashes") or {}).items()):
        extra.append(f"{algorithm.upper()} {value}")
    tool = b.get("tool") or {}
    if tool:
        extra.append(f"Tool: {tool.get('name', '')} {tool.get('version', '')}".strip())
    if b.get("notes"):
        extra.append(f"Notes: {b['notes']}")
    facts = "; ".join(f"{k}: {v}" for k, v in _flatten(b.get("details") or {}))
    if facts:
        extra.append(f"Details: {facts if len(facts) <= 400 else facts[:400] + '…'}")
    at = str(b.get("at", ""))
    return ReportEvent(
        index=event.index, id=event.id, at_utc=f"{at[:10]}\n{at[11:19]} UTC" if at else "",
        local_time=str(b.get("local_time", "")), time_zone=str(b.get("time_zone", "")),
        actor=f"{actor.get('display_name') or actor.get('name', '?')} ({actor.get('name', '?')})",
        role=str(actor.get("role", "")), agency=str(actor.get("agency", "")),
        action=str(b.get("action", "")).replace("_", " "), purpose=str(b.get("purpose", "")),
        authority=str(b.get("authority", "")), location=str(b.get("location", "")), result=str(b.get("result", "")),
        items=tuple(exhibits.get(i, i) for i in b.get("item_ids") or []), extra=" · ".join(extra),
    )


def custody_report_pdf(session: Session, case_ref: str, out: Path, *, item_ref: str | None = None,
                       signer: cp.CheckpointSigner | None = None, verifier: cp.SignatureVerifier | None = None,
                       witness_dir: Path | None = None, progress: ProgressCallback = no_progress,
                       cancel: CancelToken | None = None) -> ReportContext:
    """Write the PDF chain-of-custody report of a case or one item to ``out`` (never over an existing file).

    The PDF is made in memory and written only if not cancelled by then: a cancelled report leaves nothing
    under ``out`` (``Cancelled`` is raised)."""
    cancel = cancel or CancelToken()
    if out.exists():
        raise Conflict(_("{path} already exists; choose another file name.", path=out))
    data, ctx = custody_report_bytes(session, case_ref, item_ref=item_ref, signer=signer, verifier=verifier,
                                     witness_dir=witness_dir, progress=progress, cancel=cancel)
    cancel.check()
    atomic_write(out, data)
    progress(1, 1, _("Custody report written to {name}.", name=out.name))
    return ctx


# Events turned into report rows between two checks of the cancel token (about 30 ms of work).
_EVENT_BATCH = 1000
# Items and events from which a report is drawn in a separate process (icspa_desktop/separate.py): starting one
# costs ~0.3 s, about the layout of this many rows; below it the report is drawn in the caller's thread.
SEPARATE_FROM = 400


def custody_report_bytes(session: Session, case_ref: str, *, item_ref: str | None = None,
                         signer: cp.CheckpointSigner | None = None, verifier: cp.SignatureVerifier | None = None,
                         witness_dir: Path | None = None, purpose: str = "custody report",
                         item_ids: Sequence[str] | None = None, progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None) -> tuple[bytes, ReportContext]:
    """The PDF chain-of-custody report of a case, one item, or the items ``item_ids`` (a bundle carries the
    report of exactly the items it sends), in memory. ``progress`` gets (done, total, message); ``cancel``
    stops the work with ``Cancelled`` between batches of events, items, tables and pages."""
    cancel = cancel or CancelToken()
    report, ctx = custody_report(session, case_ref, item_ref=item_ref, signer=signer, verifier=verifier,
                                 witness_dir=witness_dir, purpose=purpose, item_ids=item_ids, progress=progress,
                                 cancel=cancel)
    with ReportDrawing(report) as drawing:
        return drawing.result(progress=progress, cancel=cancel), ctx


class ReportDrawing:
    """A custody report being drawn. A big one (``SEPARATE_FROM`` rows or more) is seconds of layout holding the
    GIL: it is drawn in a process of its own, started at once (the caller goes on: an export streams its payloads
    meanwhile), so the GUI stays responsive. A small one is drawn in the caller's thread when ``result`` asks.
    Leaving the ``with`` block ends a drawing still running."""

    def __init__(self, report: CustodyReport) -> None:
        self._report = report
        self._running = (separate.start(render_pdf, report)
                         if len(report.items) + len(report.events) >= SEPARATE_FROM else None)

    def __enter__(self) -> ReportDrawing:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._running is not None:
            self._running.close()

    def result(self, *, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> bytes:
        """The PDF; its drawing's progress meanwhile, ``Cancelled`` on ``cancel``."""
        if self._running is None:
            return render_pdf(self._report, progress=progress, cancel=cancel)
        return self._running.result(progress=progress, cancel=cancel)


def custody_report(session: Session, case_ref: str, *, item_ref: str | None = None,
                   signer: cp.CheckpointSigner | None = None, verifier: cp.SignatureVerifier | None = None,
                   witness_dir: Path | None = None, purpose: str = "custody report",
                   item_ids: Sequence[str] | None = None, progress: ProgressCallback = no_progress,
                   cancel: CancelToken | None = None) -> tuple[CustodyReport, ReportContext]:
    """What the custody report of ``custody_report_bytes`` says (a ``reports.custody_data.CustodyReport``, plain
    data, to be drawn by ``ReportDrawing``), and its context."""
    from icspa_desktop.services.session import setting

    cancel = cancel or CancelToken()
    ctx = report_context(session, case_ref, item_ref=item_ref, signer=signer, verifier=verifier,
                         witness_dir=witness_dir, purpose=purpose, item_ids=item_ids, progress=progress,
                         cancel=cancel)
    case = ctx.case
    f = case.fields
    conn = session.conn
    agency_lines = [setting(conn, "agency.name") or "Agency name not set",
                    " · ".join(p for p in (setting(conn, "agency.unit"), setting(conn, "agency.country")) if p),
                    setting(conn, "agency.contact")]
    subject = f"Case {case.number}" if ctx.item is None else f"Exhibit {ctx.item.exhibit_number} of case {case.number}"
    if item_ids is not None:
        subject = f"{len(ctx.items)} exhibit(s) of case {case.number} ({purpose})"
    case_fields = [("Case number", case.number), ("Title", f.title), ("Status", str(case.status)),
                   ("Lead investigator", f.lead_investigator), ("Jurisdiction", f.jurisdiction),
                   ("Legal authority", f.legal_authority), ("Description", f.description),
                   ("Opened", case.created_at.strftime("%Y-%m-%d %H:%M UTC")), ("Case id", case.id)]
    v = ctx.verification
    if v is None:
        verification, ok = "The custody log could not be verified when this report was produced.", False
    elif v.ok:
        verification = (f"Verified intact when this report was produced: all {v.tree_size} events of the vault's "
                        "log (signatures, leaf hashes, Merkle tree, stored checkpoints and the external witness).")
        ok = True
    else:
        verification = f"WARNING — the custody log is damaged: {v.summary()}"
        ok = False
    summaries = [v.summary()] if v is not None and not v.ok else []
    notes = [d.message for d in v.damages[:10]] if v is not None else []
    exhibits = {i.id: i.exhibit_number for i in ctx.items}
    rows: list[ReportEvent] = []
    for start in range(0, len(ctx.events), _EVENT_BATCH):
        cancel.check()
        progress(0, 0, _("Reading the custody events: {done:,} of {total:,}…", done=start, total=len(ctx.events)))
        rows.extend(_report_event(e, exhibits) for e in ctx.events[start:start + _EVENT_BATCH])
    report = CustodyReport(
        report_id=ctx.report_id, subject=subject, agency_lines=[line for line in agency_lines if line],
        markings=_markings_text(str(f.handling_code), f.handling_text, str(f.tlp)),
        case_fields=[(k, val) for k, val in case_fields if val],
        items=[_report_item(i) for i in ctx.items], events=rows,
        checkpoint_text=ctx.checkpoint.text,
        checkpoint_signature_b64=base64.b64encode(ctx.checkpoint.signature).decode("ascii"),
        certificate_sha256=ctx.certificate_sha256, verification=verification, verification_ok=ok,
        show_summary=ShownTexts({summary: SUMMARY.shown(summary) for summary in summaries}),
        show_damage=ShownTexts({note: DAMAGE.shown(note) for note in notes}),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        generated_by=f"{session.user.display_name} ({session.user.name}, {session.user.role})", notes=notes,
    )
    return report, ctx


def case_uco_export(session: Session, case_ref: str, out: Path, *, progress: ProgressCallback = no_progress,
                    cancel: CancelToken | None = None) -> dict[str, Any]:
    """Write the CASE/UCO JSON-LD of a case to ``out``; the export is recorded on the case.

    ``progress`` gets (done, total, message). ``cancel`` stops it (``Cancelled``) at any point before the
    export is recorded and written, which happen together at the end: a cancelled export records nothing and
    leaves nothing under ``out``."""
    from icspa_desktop.reports import case_uco
    from icspa_desktop.services import cases, evidence
    from icspa_desktop.services.session import setting

    cancel = cancel or CancelToken()
    session.require(Permission.REPORT, attempted=f"export case {case_ref} as CASE/UCO")
    if out.exists():
        raise Conflict(_("{path} already exists; choose another file name.", path=out))
    progress(0, 0, _("Reading the case, its items and custody events…"))
    case = cases.get_case(session, case_ref)
    items = evidence.list_items(session, case.id)
    from icspa_desktop.services import received

    case_events = events.list_events(session.conn, case_id=case.id)
    partner_events = received.partner_events(session, case_id=case.id)
    cancel.check()
    doc = case_uco.build(vault_id=session.vault.header.vault_id, agency_name=setting(session.conn, "agency.name"),
                         case=case, items=items, events=case_events, partner_events=partner_events,
                         progress=progress, cancel=cancel)
    progress(0, 0, _("Writing the JSON-LD…"))
    data = case_uco.encode(doc, cancel=cancel)
    cancel.check()  # the last point to stop: what follows is recorded and written together
    with session.transaction():
        session.record(EventDraft(CustodyAction.EXPORTED, case_id=case.id, purpose="CASE/UCO JSON-LD export",
                                  result="written", hashes={"sha256": hashlib.sha256(data).hexdigest()},
                                  details={"format": "CASE/UCO JSON-LD", "file_name": out.name,
                                           "items": len(items)}))
        atomic_write(out, data)
    progress(1, 1, _("CASE/UCO JSON-LD written to {name}.", name=out.name))
    return doc
