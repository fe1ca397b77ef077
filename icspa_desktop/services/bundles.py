"""Sharing bundles, export (DESIGN §5, issue 9): what leaves, checked first; then the signed, encrypted bundle.

``plan_export`` decides exactly what would leave and why it may (or may not) — it writes nothing, so the
CLI's ``--dry-run`` and the GUI's preview show the same plan that ``export`` then carries out. The bytes
of the bundle are written by ``icspa_desktop.bundle`` (BagIt → CMS → pax tar → age, outer seal).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from icspa_desktop import TOOL_NAME, __version__, i18n
from icspa_desktop.bundle import format as bundle_format
from icspa_desktop.bundle import media as bundle_media
from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.bundle.tarwalk import DEFAULT_LIMITS, Limits
from icspa_desktop.custody import events
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.agency import Partner
from icspa_desktop.domain.enums import CustodyAction, HandlingCode, Tlp
from icspa_desktop.domain.errors import (
    Cancelled,
    Conflict,
    IcspaError,
    NotFound,
    Terminated,
    UsageError,
    _,
    english,
    ngettext,
)
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.ids import new_id
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, Steps, no_progress
from icspa_desktop.domain.recorded import Messages
from icspa_desktop.files import remove_published
from icspa_desktop.i18n import N_
from icspa_desktop.services import (
    agency,
    bundle_bounds,
    cases,
    custody,
    custody_reports,
    evidence,
    fixity,
    partners,
    receipts,
    received,
)
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session, setting
from icspa_desktop.vault.process import PROCESS_TOKEN

BUNDLE_SUFFIX = ".icspa"
BUNDLE_REPORT_LANGUAGE = "en"  # the custody PDF inside a bundle: the language partner agencies share


@dataclass(frozen=True, slots=True)
class OriginatorPermission:
    """The originating partner's permission to pass received H2 / TLP:RED / TLP:AMBER+STRICT items on."""

    reference: str  # their letter, message or agreement reference
    date: str  # YYYY-MM-DD
    granted_by: str  # who gave it, at the partner

    def to_json(self) -> dict[str, str]:
        return {"reference": self.reference, "date": self.date, "granted_by": self.granted_by}


# Received under these, an item goes to a third agency only with the originator's recorded permission.
_ORIGINATOR_CONTROLLED_TLP = frozenset({Tlp.RED, Tlp.AMBER_STRICT})


def _check_permission(permission: OriginatorPermission | None) -> OriginatorPermission | None:
    if permission is None or not any((permission.reference.strip(), permission.date.strip(),
                                      permission.granted_by.strip())):
        return None
    cleaned = OriginatorPermission(permission.reference.strip(), permission.date.strip(),
                                   permission.granted_by.strip())
    if not cleaned.reference or not cleaned.granted_by:
        raise UsageError(_("A recorded permission needs its reference, its date and who gave it."))
    try:
        when = date.fromisoformat(cleaned.date)
    except ValueError:
        raise UsageError(_("The permission date {date!r} is not a date (YYYY-MM-DD).", date=cleaned.date)) from None
    if when > datetime.now(UTC).date():
        raise UsageError(_("The permission date {date} lies in the future.", date=cleaned.date))
    return cleaned


WARNING_NAMES = 12  # exhibit numbers a warning names; the plan's item list (the preview, --dry-run) has them all


def _some(exhibits: Sequence[str]) -> str:
    """``a, b, c`` — or the first ``WARNING_NAMES`` and how many more: a warning about 2,000 H2 items stays a line
    (the export wizard's preview was squeezed to four lines by one)."""
    if len(exhibits) <= WARNING_NAMES:
        return ", ".join(exhibits)
    rest = len(exhibits) - WARNING_NAMES
    return ngettext("{names} and {n} more", "{names} and {n} more", rest, names=", ".join(exhibits[:WARNING_NAMES]))


def _third_party_items(session: Session, items: Sequence[Item], recipients: Sequence[Partner]) -> list[str]:
    """Received items that only their originator may allow to go on, and to whom they would go now."""
    found: list[str] = []
    for item in items:
        origin = received.item_provenance(session.conn, item.id)
        controlled = (item.markings.handling_code is HandlingCode.H2 or item.markings.tlp in _ORIGINATOR_CONTROLLED_TLP)
        if origin is None or not controlled:
            continue
        third = [p.name for p in recipients if p.lineage != origin.partner_lineage]
        if third:
            marks = f"{item.markings.handling_code} TLP:{item.markings.tlp}"
            found.append(f"{item.exhibit_number} (from {origin.partner_name}, {marks}) to {', '.join(third)}")
    return found


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """Exactly what an export would send, to whom, and what the user must know first."""

    case: Case
    items: list[Item]
    recipients: list[Partner]
    purpose: str
    authority: str
    h3_override: str
    warnings: list[str] = field(default_factory=list)
    permission: OriginatorPermission | None = None

    @property
    def total_size(self) -> int:
        return sum(item.size or 0 for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id, "case": self.case.number, "purpose": self.purpose, "authority": self.authority,
            "items": [{"id": i.id, "exhibit_number": i.exhibit_number, "name": i.original_name, "size": i.size,
                       "sha256": i.sha256, "handling": str(i.markings.handling_code), "tlp": str(i.markings.tlp)}
                      for i in self.items],
            "recipients": [{"id": p.id, "name": p.name, "country": p.country, "fingerprint": p.fingerprint}
                           for p in self.recipients],
            "total_size": self.total_size, "warnings": [english(w) for w in self.warnings],  # JSON: English
            "originator_permission": self.permission.to_json() if self.permission else None,
        }


@dataclass(frozen=True, slots=True)
class ExportResult:
    bundle_id: str
    path: Path
    size: int
    sha256: str
    seal_path: Path
    seal_signature_path: Path
    items: int
    checkpoint_id: int
    volumes: tuple[Path, ...] = ()  # NAME.icspa.001, … on FAT media; (path,) otherwise

    def to_json(self) -> dict[str, Any]:
        return {"id": self.bundle_id, "path": str(self.path), "size": self.size, "sha256": self.sha256,
                "seal": str(self.seal_path), "seal_signature": str(self.seal_signature_path), "items": self.items,
                "checkpoint_id": self.checkpoint_id, "volumes": [str(v) for v in self.volumes]}


def _pick_items(session: Session, case: Case, refs: Sequence[str] | None) -> list[Item]:
    all_items = [i for i in evidence.list_items(session, case.id) if i.blob_id is not None]
    if not refs:
        if not all_items:
            raise UsageError(_("Case {number} has no stored evidence to send.", number=case.number))
        return all_items
    by_ref = {i.id: i for i in all_items} | {i.exhibit_number: i for i in all_items}
    chosen: list[Item] = []
    for ref in refs:
        item = by_ref.get(ref.strip())
        if item is None:
            raise NotFound(_("No stored item {ref!r} in case {number} (give an exhibit number or item id).",
                             ref=ref, number=case.number))
        if item not in chosen:
            chosen.append(item)
    return chosen


def plan_export(session: Session, case_ref: str, partner_refs: Sequence[str], item_refs: Sequence[str] | None = None,
                *, purpose: str = "", authority: str = "", h3_override: str = "",
                permission: OriginatorPermission | None = None,
                readable_within: Limits = DEFAULT_LIMITS) -> ExportPlan:
    """Check everything an export needs and say exactly what would leave; writes nothing. ``readable_within``: the
    bounds of a partner's import the bundle must fit (its members; a whole case's custody proofs, at least)."""
    session.require(Permission.EXPORT_BUNDLE, attempted=f"export a bundle of case {case_ref}")
    session.require(Permission.SIGN_AS_AGENCY, attempted=f"sign a bundle of case {case_ref}")
    case = cases.get_case(session, case_ref)
    if not partner_refs:
        raise UsageError(_("Name at least one partner agency (--to)."))
    recipients: list[Partner] = []
    for ref in partner_refs:
        partner = partners.get_partner_for_sending(session, ref.strip())
        if partner.id not in {p.id for p in recipients}:
            recipients.append(partner)
    items = _pick_items(session, case, item_refs)
    bundle_bounds.check_plan(session, case, len(items), not item_refs, readable_within)
    warnings: list[str] = []
    h3 = [i.exhibit_number for i in items if i.markings.handling_code is HandlingCode.H3]
    if h3 and not h3_override.strip():
        raise UsageError(ngettext(
            "Item {names} is marked H3 (other restrictions: see its handling text); sending it needs an explicit "
            "override with a reason (--h3-override REASON).",
            "Items {names} are marked H3 (other restrictions: see their handling text); sending them needs an "
            "explicit override with a reason (--h3-override REASON).", len(h3), names=', '.join(h3)))
    if h3:
        warnings.append(_("H3 items sent under the override {override!r}: {names}.", override=h3_override.strip(),
                          names=_some(h3)))
    h2 = [i.exhibit_number for i in items if i.markings.handling_code is HandlingCode.H2]
    if h2:
        warnings.append(_("H2 items (no dissemination without the provider's permission): {names}; the recipients "
                          "must not pass them on.", names=_some(h2)))
    for partner in recipients:
        days = (partner.expires - datetime.now(UTC)).days
        if days < 30:
            warnings.append(ngettext("The key of {name} expires in {n} day(s); ask them for a new card.",
                                     "The key of {name} expires in {n} day(s); ask them for a new card.", days,
                                     name=partner.name))
    permission = _check_permission(permission)
    onward = _third_party_items(session, items, recipients)
    if onward and permission is None:
        raise UsageError(_("Received items under H2, TLP:RED or TLP:AMBER+STRICT go to a third agency only with the "
                           "originating partner's permission: {names}. Record it (--permission-ref REF "
                           "--permission-date YYYY-MM-DD --permission-by NAME) or leave those items out.",
                           names='; '.join(onward)))
    if onward and permission is not None:
        warnings.append(_("Passed on under the originator's permission {reference!r} of {date} ({granted_by}): "
                          "{names}.", reference=permission.reference, date=permission.date,
                          granted_by=permission.granted_by, names="; ".join(onward)))
    if not purpose.strip():
        warnings.append(_("No reason given (--reason): the custody events will not say why the evidence left."))
    return ExportPlan(case, items, recipients, purpose.strip(), authority.strip(), h3_override.strip(), warnings,
                      permission if onward else None)


def check_export_target(session: Session, plan: ExportPlan, out: Path, *, probe: bool = False) -> Path:
    """The bundle's path (``NAME.icspa``) if ``export`` can write there; else what it would refuse with. A
    missing folder, a read-only or (``probe``: a trial file) unwritable medium, or one without room for the
    bundle is refused before anything is recorded, so a full stick leaves the vault as it was. The room asked for
    bounds what the writer asks for once the bag's documents exist (the payloads alone let a stick pass here and
    fail there, after the events). Without ``probe`` nothing is written (the dry run)."""
    if out.is_dir():  # NAME.icspa would be written beside the folder: on another disk than the stick's
        raise UsageError(_("{path} is a folder; give a file name.", path=out))
    out = out if out.name.endswith(BUNDLE_SUFFIX) else out.with_name(out.name + BUNDLE_SUFFIX)
    if out.exists():
        raise Conflict(_("{path} already exists; choose another file name.", path=out))
    if not out.parent.is_dir():
        raise UsageError(_("The folder {folder} does not exist (is the medium mounted?).", folder=out.parent))
    carried = int(session.conn.execute("SELECT COUNT(*) FROM custody_events WHERE case_id = ?",
                                       (plan.case.id,)).fetchone()[0]) + len(plan.items) + 8  # and this export's
    bundle_media.check_target(out.parent, bundle_format.upfront_size([item.size or 0 for item in plan.items], carried,
                                                                     len(plan.recipients) + 1), probe=probe)
    return out


def export(session: Session, plan: ExportPlan, out: Path, *, progress: ProgressCallback = no_progress,
           cancel: CancelToken | None = None, readable_within: Limits = DEFAULT_LIMITS) -> ExportResult:
    """Write the bundle of ``plan`` to ``out`` (``NAME.icspa``), with its outer seal beside it.

    The items' ``bundled`` events are recorded first, so the checkpoint the bundle carries covers them;
    a failure after that is recorded too (nothing is left under the final name). A bundle whose records a
    partner's import would not read within ``readable_within`` (the import's bounds) is refused before it is
    written."""
    out = check_export_target(session, plan, out, probe=True)
    signer = agency.agency_signer(session)
    identity = agency.agency_identity(session)
    bundle_id = new_id()
    case = plan.case
    counterparty = ", ".join(f"{p.name} ({p.country})" for p in plan.recipients)
    recipients = [{"id": p.id, "name": p.name, "fingerprint": p.fingerprint} for p in plan.recipients]
    items = [{"id": i.id, "exhibit_number": i.exhibit_number, "sha256": i.sha256, "size": i.size} for i in plan.items]
    with session.transaction() as conn:
        session.record_many([EventDraft(
            CustodyAction.BUNDLED, case_id=case.id, item_ids=(item.id,), purpose=plan.purpose,
            authority=plan.authority, counterparty=counterparty, result="prepared",
            hashes={"sha256": item.sha256 or ""},
            details={"bundle_id": bundle_id, "recipients": [p.fingerprint for p in plan.recipients],
                     **({"h3_override": plan.h3_override} if plan.h3_override else {}),
                     **({"originator_permission": plan.permission.to_json()} if plan.permission else {})})
            for item in plan.items])  # in the plan's order, the log head read and saved once
        # The journal row: if this process dies (or the outcome cannot be committed), 'bundle list' still shows
        # the export, as interrupted, and where it was writing.
        conn.execute(
            "INSERT INTO bundles_sent (id, case_id, created_at, created_by, recipients, items, file_name, status,"
            " folder, process) VALUES (?, ?, ?, ?, ?, ?, ?, 'writing', ?, ?)",
            (bundle_id, case.id, datetime.now(UTC).isoformat(timespec="seconds"), session.user.id,
             json.dumps(recipients), json.dumps(items), out.name, os.path.abspath(out.parent), PROCESS_TOKEN))
    # In the user's language (made out here); steps of the report, not bytes.
    making_report = Steps(_("Making the custody report for the partner"))

    def report_progress(done: int, total: int, _message: str) -> None:
        progress(done, total, making_report)

    try:
        # In English whatever language the sender works in: the report leaves for a partner agency. Its progress
        # and cancel are the export's (a big case's report takes seconds: the wizard's bar moves, Cancel works).
        with i18n.language(BUNDLE_REPORT_LANGUAGE):
            # Only the report's data are kept: its context (every event of the case) is let go before the
            # bundle's own documents are built.
            report = custody_reports.custody_report(session, case.id, purpose=f"bundle {bundle_id}",
                                                    item_ids=[i.id for i in plan.items], progress=report_progress,
                                                    cancel=cancel)[0]
            # A big report is drawn in a process of its own from now on, while the bundle's documents are made
            # and the payloads stream; the bag takes the PDF after the last payload (ended if the export fails).
            drawing = custody_reports.ReportDrawing(report)
        with drawing:
            del report

            def report_pdf() -> bytes:
                with i18n.language(BUNDLE_REPORT_LANGUAGE):
                    return drawing.result(progress=report_progress, cancel=cancel)

            checkpoint = custody.make_checkpoint(session, f"bundle {bundle_id}", case_id=case.id)
            spec = _bag_spec(session, plan, bundle_id, checkpoint, report_pdf, identity.fingerprint, readable_within)
            written = bundle_format.write_bundle(spec, signer.sign_detached,
                                                 [p.age_recipient for p in plan.recipients] + [identity.age_recipient],
                                                 out, progress=progress, cancel=cancel)
    except KeyboardInterrupt as exc:  # Ctrl+C or SIGTERM in the CLI: the events above are recorded, and so is the stop
        sigterm = isinstance(exc, Terminated)
        with contextlib.suppress(Exception):
            _record_outcome(session, plan, bundle_id, out, None, None,
                            "stopped by SIGTERM" if sigterm else "interrupted by the user (Ctrl+C)")
        if sigterm:
            raise Cancelled(_("Stopped by SIGTERM: the export stopped and nothing was left under {name}; the case's "
                              "custody records it as failed.", name=out.name)) from exc
        raise Cancelled(_("Interrupted: the export stopped and nothing was left under {name}; the case's custody "
                          "records it as failed.", name=out.name)) from exc
    except Exception as exc:
        # Recorded whatever failed (a database error too), in English; the export's own error is what the user sees.
        with contextlib.suppress(Exception):
            _record_outcome(session, plan, bundle_id, out, None, None, english(exc) or type(exc).__name__)
        raise
    try:
        _record_outcome(session, plan, bundle_id, out, written, checkpoint.id, "")
    except BaseException as exc:
        # A bundle whose outcome is not recorded must not stay on the media as if it had been sent.
        for path in (*reversed(written.volumes), written.seal_signature_path, written.seal_path):
            remove_published(path)
        if isinstance(exc, IcspaError):
            raise type(exc)(_("{error} The bundle was removed from {folder}.", error=exc, folder=out.parent)) from exc
        raise
    return ExportResult(bundle_id, written.path, written.size, written.sha256, written.seal_path,
                        written.seal_signature_path, len(plan.items), checkpoint.id, written.volumes)


def _record_outcome(session: Session, plan: ExportPlan, bundle_id: str, out: Path,
                    written: bundle_format.WrittenBundle | None, checkpoint_id: int | None, problem: str) -> None:
    recipients = [p.name for p in plan.recipients]
    with session.transaction() as conn:
        conn.execute(
            "UPDATE bundles_sent SET size = ?, sha256 = ?, checkpoint_id = ?, status = ?, problem = ?, process = ''"
            " WHERE id = ?",
            (written.size if written else None, written.sha256 if written else None, checkpoint_id,
             "written" if written else "failed", problem, bundle_id))
        session.record(EventDraft(
            CustodyAction.TRANSFERRED if written else CustodyAction.BUNDLED, case_id=plan.case.id,
            item_ids=tuple(i.id for i in plan.items), purpose=plan.purpose, authority=plan.authority,
            counterparty=", ".join(recipients),
            result="bundle written and read back" if written else "export failed",
            hashes={"sha256": written.sha256} if written else {},
            details={"bundle_id": bundle_id, "file_name": out.name, **({"problem": problem} if problem else {}),
                     **({"size": written.size, "volumes": [v.name for v in written.volumes]} if written else {})}))


def _payload_file(session: Session, item: Item) -> bundle_format.PayloadFile:
    """An item's payload, hashed by the blob reader's thread as it is decrypted (against its recorded SHA-256:
    the content that leaves must be the content that was acquired, whatever was done to the stored blob)."""
    digest = hashlib.sha256()

    def chunks() -> Iterator[memoryview]:
        nonlocal digest
        digest = hashlib.sha256()  # of this pass
        return fixity.content_chunks(session, item, None, (digest,))

    return bundle_format.PayloadFile(name=str(item.id), size=int(item.size or 0), sha256=str(item.sha256),
                                     chunks=chunks, hexdigest=lambda: digest.hexdigest())


def _bag_spec(session: Session, plan: ExportPlan, bundle_id: str, checkpoint: custody.StoredCheckpoint,
              report_pdf: Callable[[], bytes], sender_fingerprint: str,
              readable_within: Limits) -> bundle_format.BagSpec:
    from icspa_desktop.reports import case_uco

    conn = session.conn
    case = plan.case
    item_ids = {i.id for i in plan.items}
    carried = [e for e in events.list_events(conn, case_id=case.id)
               if e.index < checkpoint.size and (not e.body.get("item_ids") or item_ids & set(e.body["item_ids"]))]

    def dump(value: Any) -> bytes:
        return (_record_lines(value) + "\n").encode("utf-8")

    # Each document is serialised as soon as it is built, so only one of the big trees (thousands of events with
    # their proofs, the CASE/UCO graph) is in memory at a time: the export's peak memory is these, not the data.
    custody_json = dump(custody.proof_document(session, carried, checkpoint,
                                               _previous_checkpoint(session, plan.recipients)))
    uco_json = dump(case_uco.build(vault_id=session.vault.header.vault_id, agency_name=setting(conn, "agency.name"),
                                   case=case, items=plan.items, events=carried))
    del carried
    tag_files = {
        "metadata/case.json": dump(cases.case_to_json(case)),
        "metadata/items.json": dump([evidence.item_to_json(i) | {"payload": f"data/{i.id}"} for i in plan.items]),
        "metadata/custody.json": custody_json,
        "metadata/case.jsonld": uco_json,
    }
    bundle_bounds.check_records(tag_files, len(plan.items), readable_within)
    handling = sorted({str(i.markings.handling_code) for i in plan.items})
    tlp = sorted({str(i.markings.tlp) for i in plan.items})
    info: list[tuple[str, str]] = [
        ("Source-Organization", setting(conn, "agency.name")),
        ("Contact-Name", session.user.display_name),
        ("External-Identifier", bundle_id),
        ("ICSPA-Format-Version", bundle_format.BUNDLE_FORMAT_VERSION),
        ("ICSPA-Sender-Agency", sender_fingerprint),
        *[("ICSPA-Recipient-Agency", p.fingerprint) for p in plan.recipients],
        ("ICSPA-Case-Number", case.number),
        ("ICSPA-Handling-Codes", " ".join(handling)),
        ("ICSPA-TLP", " ".join(tlp)),
        ("ICSPA-Tool", f"{TOOL_NAME} {__version__}"),
    ]
    if setting(conn, "agency.contact"):
        info.insert(2, ("Contact-Email", setting(conn, "agency.contact")))

    payload = [_payload_file(session, item) for item in plan.items]
    return bundle_format.BagSpec(bundle_id, info, tag_files, payload,
                                 later_tag_files=lambda: {"metadata/custody-report.pdf": report_pdf()})


def _record_lines(value: Any, depth: int = 0) -> str:
    """JSON for a reader's eyes and a fast writer: an object's members, and a list's elements (one event, one
    item), each on a line of its own, the elements made by json's C encoder. (``json.dump`` with an indent runs
    the pure-Python encoder: half a second for the metadata of 1,000 items, before the export could write.)"""
    pad = " " * depth
    if isinstance(value, dict) and value:
        members = (f"{pad} {json.dumps(str(key), ensure_ascii=False)}: {_record_lines(value[key], depth + 1)}"
                   for key in sorted(value))
        return "{\n" + ",\n".join(members) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        elements = (f"{pad} {json.dumps(element, ensure_ascii=False, sort_keys=True)}" for element in value)
        return "[\n" + ",\n".join(elements) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _previous_checkpoint(session: Session, recipients: Sequence[Partner]) -> custody.StoredCheckpoint | None:
    """The last checkpoint sent to all of these partners, for the consistency proof (None: first bundle).

    A partner is its agency, whichever of its keys a bundle was addressed to: after a partner replaced its key,
    the last checkpoint it holds from us was sent to its old one."""
    conn = session.conn
    agencies = partners.recipient_agencies(conn)
    wanted = {p.lineage for p in recipients}
    rows = conn.execute("SELECT recipients, checkpoint_id FROM bundles_sent WHERE status = 'written' AND"
                        " checkpoint_id IS NOT NULL ORDER BY created_at DESC").fetchall()
    for recipients_json, checkpoint_id in rows:
        if wanted <= agencies(recipients_json):
            return custody.get_checkpoint(session, int(checkpoint_id))
    return None


@dataclass(frozen=True, slots=True)
class SentBundle:
    id: str
    case_number: str
    created_at: str
    recipients: list[dict[str, str]]
    items: list[dict[str, Any]]
    file_name: str
    size: int | None
    sha256: str | None
    status: str
    problem: str
    receipts: list[dict[str, str]] = field(default_factory=list)  # partner, result, time

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "case": self.case_number, "created_at": self.created_at,
                "recipients": self.recipients, "items": self.items, "file_name": self.file_name, "size": self.size,
                "sha256": self.sha256, "status": self.status, "problem": self.problem, "receipts": self.receipts}


def list_sent(session: Session) -> list[SentBundle]:
    session.require(Permission.READ)
    rows = session.conn.execute(
        "SELECT b.id, COALESCE(c.number, b.case_id), b.created_at, b.recipients, b.items, b.file_name, b.size,"
        " b.sha256, b.status, b.problem, b.folder, b.process FROM bundles_sent b LEFT JOIN cases c"
        " ON c.id = b.case_id ORDER BY b.created_at").fetchall()
    returned = receipts.receipts_by_bundle(session.conn)
    return [SentBundle(str(r[0]), str(r[1]), str(r[2]), json.loads(r[3]), json.loads(r[4]), str(r[5]),
                       None if r[6] is None else int(r[6]), None if r[7] is None else str(r[7]), *_state(r),
                       returned.get(str(r[0]), [])) for r in rows]


# A sent bundle's status and the journal's problems: English in --json and the journal; the GUI's list of sent
# bundles and 'bundle list' show them in the reader's language (``_(SENT_STATES[status])``, ``JOURNAL_PROBLEMS.shown``).
# A failed export's problem is the English of whatever error stopped it: a message made without fields is its own
# msgid, so the catalogue translates it (recorded.Messages); one with fields is shown in English as recorded.
SENT_STATES = {"written": N_("written"), "failed": N_("failed"), "writing": N_("being written"),
               "interrupted": N_("interrupted")}
_BEING_WRITTEN = N_("being written now")
_INTERRUPTED = N_("the export stopped before its outcome was recorded (the program was stopped, or the vault's disk "
                  "failed). A bundle at {path}, if there, was written completely: check it with 'icspa bundle "
                  "verify' before sending it; otherwise export again.")
JOURNAL_PROBLEMS = Messages(_BEING_WRITTEN, _INTERRUPTED)


def _state(row: Sequence[Any]) -> tuple[str, str]:
    """(status, problem) of a journal row: a 'writing' row of another process is an interrupted export."""
    status, problem, folder, process = str(row[8]), str(row[9]), str(row[10]), str(row[11])
    if status != "writing":
        return status, problem
    if process == PROCESS_TOKEN:
        return "writing", _BEING_WRITTEN
    where = Path(folder) / str(row[5]) if folder else Path(str(row[5]))
    return "interrupted", _INTERRUPTED.format(path=where)



# ---- verification of a bundle file (own copy or received) --------------------------------------------
@dataclass(frozen=True, slots=True)
class BundleReport:
    """``bundle verify``: every layer it could check, in words, and the raw check."""

    path: Path
    check: bundle_reader.BundleCheck
    signer_name: str  # "this agency", a partner's name, or "" when unknown / unsigned
    recipient_names: list[str]
    addressed_to_us: bool

    @property
    def ok(self) -> bool:
        return self.check.ok and self.addressed_to_us

    @property
    def problems(self) -> list[str]:
        extra = [] if self.addressed_to_us or not self.check.recipients else [
            _("This agency is not among the recipients named in the signed bag-info.txt.")]
        return [*self.check.problems, *extra]

    def to_json(self) -> dict[str, Any]:
        c = self.check
        return {"id": c.bundle_id, "path": str(self.path), "ok": self.ok, "sha256": c.sha256, "size": c.size,
                "seal": english(c.seal), "signer": self.signer_name, "recipients": self.recipient_names,
                "addressed_to_us": self.addressed_to_us, "items": len(c.payload),
                "payload": [{"name": n, "size": s, "sha256": h} for n, s, h in c.payload],
                "problems": [english(p) for p in self.problems]}  # --json: English


def verify_bundle(session: Session, path: Path, *, progress: ProgressCallback = no_progress,
                  cancel: CancelToken | None = None) -> BundleReport:
    """Check a bundle file with this agency's keys: the outer seal, decryption, every tar member, the bag's
    manifests and the sender's signature (our own certificates and every partner's are trusted signers)."""
    session.require(Permission.VERIFY, attempted=f"verify the bundle {path.name}")
    ours = agency.own_fingerprints(session)  # every key we have had: a bundle may have been sent to an earlier one
    own = agency.agency_certificates(session)
    known = partners.list_partners(session)
    # Nothing here reads the records, the CASE/UCO graph or the report: hashed against the manifest, not held.
    check = bundle_reader.check_bundle(path, agency.age_identities(session), [*own, *(p.certificate for p in known)],
                                       keep_tag=_read_none, progress=progress, cancel=cancel)
    names = {p.fingerprint: p.name for p in known} | dict.fromkeys(ours, "this agency")
    signer = ""
    if check.signer is not None:
        if any(check.signer == cert for cert in own):
            signer = "this agency"
        else:
            signer = next((p.name for p in known if p.certificate == check.signer), "")
    # Our own copy is addressed to the partners (we can open it: we are an age recipient too).
    own_copy = signer == "this agency" and _field(check, "ICSPA-Sender-Agency") in ours
    return BundleReport(path, check, signer, [names.get(r, f"unknown agency {r}") for r in check.recipients],
                        own_copy or any(fp in check.recipients for fp in ours))


def _read_none(_name: str) -> bool:
    return False


def _field(check: bundle_reader.BundleCheck, name: str) -> str:
    return next((value for key, value in check.bag_info if key == name), "")
