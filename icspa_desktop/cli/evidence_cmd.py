"""``icspa evidence add|add-physical|list|show|verify|extract|checkout|checkin|annotate|defaults``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from icspa_desktop.cli.case_cmd import field_lines
from icspa_desktop.cli.context import CliContext, error_line
from icspa_desktop.cli.options import add_list_option, add_out, add_reason, check_new_file, replacing, split_list
from icspa_desktop.domain.enums import HandlingCode, InformationEvaluation, SourceEvaluation, Tlp
from icspa_desktop.domain.errors import UsageError, VerificationFailed
from icspa_desktop.domain.evidence import (
    Acquisition,
    FixityReport,
    Item,
    ItemFields,
    ItemKind,
    MarkingChanges,
)
from icspa_desktop.domain.ids import ItemId
from icspa_desktop.i18n import _
from icspa_desktop.services import cases, evidence, fixity, physical

# Show progress only for work that takes noticeable time.
PROGRESS_MIN_BYTES = 64 << 20


class StderrProgress:
    """A ProgressCallback printing at most one line a second on stderr (stdout stays clean for --json)."""

    def __init__(self, verb: str) -> None:  # verb: translated ("Adding", "Verifying" …)
        self._verb = verb
        self._last = 0.0
        self._start = time.monotonic()
        self._tty = sys.stderr.isatty()
        self._shown = False

    def __call__(self, done: int, total: int, message: str) -> None:
        if total < PROGRESS_MIN_BYTES:
            return
        now = time.monotonic()
        if now - self._last < 1.0 and done < total:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-6) / 1e6
        line = _("{verb} {step}: {done} / {total} MiB ({rate} MB/s)", verb=self._verb, step=message,
                 done=f"{done / 2**20:,.0f}", total=f"{total / 2**20:,.0f}", rate=f"{rate:,.0f}")
        sys.stderr.write(("\r" + line.ljust(79)) if self._tty else line + "\n")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown and self._tty:
            sys.stderr.write("\n")


def _add_item_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--description", default="")
    parser.add_argument("--notes", default="")
    add_list_option(parser, "--tag", "--tags", metavar="TAG", help_text=_("tags"))
    parser.add_argument("--exhibit", default="", metavar="N",
                        help=_("exhibit number (default: next in agency format)"))
    parser.add_argument("--parent", metavar="ITEM", help=_("the item this one was derived from (e.g. carved from)"))
    parser.add_argument("--handling", choices=[h.value for h in HandlingCode], help=_("default: the case's"))
    parser.add_argument("--handling-text", default="", help=_("the restriction, required with H3"))
    parser.add_argument("--tlp", choices=[t.value for t in Tlp], help=_("default: the case's"))
    parser.add_argument("--source-eval", choices=[s.value for s in SourceEvaluation], help=_("source evaluation"))
    parser.add_argument("--info-eval", choices=[i.value for i in InformationEvaluation],
                        help=_("information evaluation"))
    acq = parser.add_argument_group(_("acquisition"))
    acq.add_argument("--acquired-by", default="", help=_("default: you"))
    acq.add_argument("--acquired-at", default="", help=_("ISO 8601 time; default: now"))
    acq.add_argument("--location", default="", help=_("where it was acquired"))
    acq.add_argument("--method", default="", help=_("e.g. logical copy, physical image, seizure"))
    acq.add_argument("--tool", default="", help=_("acquisition tool"))
    acq.add_argument("--tool-version", default="")
    acq.add_argument("--device", default="", help=_("source device"))
    acq.add_argument("--serial", default="", help=_("source device serial number"))
    acq.add_argument("--seal", default="", help=_("seal number"))


def register(groups: Any) -> None:
    group = groups.add_parser("evidence", help=_("add, list, verify and extract evidence items"))
    sub = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    add = sub.add_parser("add", help=_("ingest files or folders into a case (hashed and encrypted in one pass)"))
    add.add_argument("case", metavar="CASE", help=_("case number or id"))
    add.add_argument("paths", metavar="FILE", nargs="+", type=Path, help=_("files or folders"))
    add_list_option(add, "--hash", metavar="ALGS",
                    help_text=_("extra digests besides SHA-256, e.g. md5,sha1 (default: the agency setting)"))
    _add_item_options(add)
    add.set_defaults(handler=_add)

    add_physical = sub.add_parser("add-physical", help=_("record a physical item (no content)"))
    add_physical.add_argument("case", metavar="CASE")
    add_physical.add_argument("name", metavar="NAME", help=_("short name, e.g. 'iPhone 12, black'"))
    add_physical.add_argument("--storage", default="", help=_("storage location (shelf, locker)"))
    _add_item_options(add_physical)
    add_physical.set_defaults(handler=_add_physical)

    lst = sub.add_parser("list", help=_("list the items of a case"))
    lst.add_argument("case", metavar="CASE")
    lst.set_defaults(handler=_list)

    show = sub.add_parser("show", help=_("show one item"))
    show.add_argument("item", metavar="ITEM", help=_("item id or exhibit number"))
    show.set_defaults(handler=_show)

    verify = sub.add_parser("verify", help=_("re-read and re-hash stored content (exit 1 on any mismatch)"))
    verify.add_argument("target", metavar="CASE|ITEM", nargs="?")
    verify.add_argument("--all", action="store_true", help=_("every item in the vault"))
    verify.set_defaults(handler=_verify)

    extract = sub.add_parser("extract", help=_("decrypt an item to a file for examination (recorded)"))
    extract.add_argument("item", metavar="ITEM")
    add_out(extract, "PATH", _("the file to write the content to"))
    add_reason(extract, required=True)
    extract.set_defaults(handler=_extract)

    out = sub.add_parser("checkout", help=_("hand a physical item to someone"))
    out.add_argument("item", metavar="ITEM")
    out.add_argument("--to", required=True, metavar="PERSON", help=_("receiving person"))
    add_reason(out, required=True, help_text=_("why it leaves storage (recorded in the chain of custody)"))
    out.add_argument("--released-by", default="", metavar="PERSON", help=_("default: you"))
    out.add_argument("--authority", default="", help=_("legal authority reference"))
    out.add_argument("--notes", default="")
    out.set_defaults(handler=_checkout)

    back = sub.add_parser("checkin", help=_("take a physical item back into storage"))
    back.add_argument("item", metavar="ITEM")
    back.add_argument("--from", dest="from_person", required=True, metavar="PERSON", help=_("releasing person"))
    back.add_argument("--received-by", default="", metavar="PERSON", help=_("default: you"))
    back.add_argument("--storage", default="", help=_("new storage location (default: unchanged)"))
    back.add_argument("--notes", default="")
    back.set_defaults(handler=_checkin)

    annotate = sub.add_parser("annotate", help=_("change description, notes, tags or markings of an item"))
    annotate.add_argument("item", metavar="ITEM")
    annotate.add_argument("--description")
    annotate.add_argument("--notes")
    add_list_option(annotate, "--tag", "--tags", metavar="TAG",
                    help_text=_("replaces the item's tags with these; --tag '' removes them all"))
    annotate.add_argument("--handling", choices=[h.value for h in HandlingCode])
    annotate.add_argument("--handling-text")
    annotate.add_argument("--tlp", choices=[t.value for t in Tlp])
    annotate.add_argument("--source-eval", choices=[s.value for s in SourceEvaluation])
    annotate.add_argument("--info-eval", choices=[i.value for i in InformationEvaluation])
    add_reason(annotate)
    annotate.set_defaults(handler=_annotate)

    defaults = sub.add_parser("defaults", help=_("show or set the agency's evidence defaults (administrators)"))
    defaults.add_argument("--hash", metavar="ALGS", help=_("digests besides SHA-256, e.g. md5,sha1; 'none' for none"))
    defaults.add_argument("--exhibit-format", metavar="FORMAT",
                          help=_("exhibit numbers, e.g. {example} (the default) or {other}",
                                 example="'{case}-{seq:03d}'", other="'EX-{seq:05d}'"))
    defaults.set_defaults(handler=_defaults)


def _fields(ctx: CliContext, storage: str = "") -> ItemFields:
    args = ctx.args
    changes = MarkingChanges(args.handling, args.handling_text or None, args.tlp, args.source_eval, args.info_eval)
    markings = evidence.new_item_markings(cases.get_case(ctx.session(), args.case), changes) if changes.any() \
        else None
    return ItemFields(
        description=args.description, notes=args.notes, tags=tuple(split_list(args.tag) or ()),
        exhibit_number=args.exhibit,
        markings=markings, parent_id=ItemId(args.parent) if args.parent else None, storage_location=storage,
        acquisition=Acquisition(args.acquired_by, args.acquired_at, args.location, args.method, args.tool,
                                args.tool_version, args.device, args.serial, args.seal),
    )


def _size(item: Item) -> str:
    return "-" if item.size is None else f"{item.size:,}"


def _human(item: Item, case_number: str = "") -> list[str]:
    m = item.markings
    marking = f"{m.handling_code}" + (f" ({m.handling_text})" if m.handling_text else "") + f", TLP:{m.tlp}"
    if m.source_evaluation or m.information_evaluation:
        marking += _(", evaluation {grade}", grade=f"{m.source_evaluation or '-'}{m.information_evaluation or '-'}")
    a = item.acquisition
    rows: list[tuple[str, object]] = [(_("id:"), item.id), (_("case:"), case_number or item.case_id),
                                      (_("markings:"), marking)]
    if item.kind is ItemKind.DIGITAL:
        rows += [(_("size:"), _("{size} bytes", size=_size(item))), (_("type:"), item.mime_type),
                 (_("source path:"), item.original_path)]
        rows += [(name + ":", value) for name, value in item.hashes.items()]  # the algorithms' names as they are
    else:
        where = _("checked out to {holder}", holder=item.holder) if item.checked_out else _("in storage")
        rows += [(_("storage:"), f"{item.storage_location or '-'} ({where})")]
    acquired = (_("{moment} by {person} at {place}", moment=a.acquired_at, person=a.acquired_by, place=a.location)
                if a.location else _("{moment} by {person}", moment=a.acquired_at, person=a.acquired_by))
    rows += [(_("acquired:"), acquired)]
    for label, value in ((_("method:"), a.method), (_("tool:"), f"{a.tool} {a.tool_version}".strip()),
                         (_("device:"), a.source_device), (_("serial:"), a.source_serial), (_("seal:"), a.seal_number),
                         (_("derived from:"), item.parent_id or ""), (_("description:"), item.description),
                         (_("notes:"), item.notes), (_("tags:"), ", ".join(item.tags))):
        if value:
            rows.append((label, value))
    title = _("Item {exhibit}: {name} ({kind})", exhibit=item.exhibit_number, name=item.original_name, kind=item.kind)
    return [title, *field_lines(rows)]


def _add(ctx: CliContext) -> int:
    session = ctx.session()
    hashes = split_list(ctx.args.hash)
    algorithms = evidence.parse_algorithms(",".join(hashes)) if hashes is not None else None
    progress = StderrProgress(_("Adding"))
    try:
        outcome = evidence.add_files(session, ctx.args.case, ctx.args.paths, _fields(ctx), algorithms, progress)
    finally:
        progress.close()
    for path, reason in outcome.skipped:
        print(error_line(_("skipped {path}: {reason}", path=path, reason=reason)), file=sys.stderr)
    for new, earlier in outcome.duplicates:
        print("icspa: warning: " + _("{path} has the same content (SHA-256) as {earlier} already in this case",
                                     path=new, earlier=earlier), file=sys.stderr)
    ctx.emit([evidence.item_to_json(item) for item in outcome.items],
             lambda: [_("Added {exhibit}: {name} ({size} bytes, SHA-256 {sha256}) as {id}", exhibit=item.exhibit_number,
                        name=item.original_name, size=_size(item), sha256=item.sha256, id=item.id)
                      for item in outcome.items])
    return 0


def _add_physical(ctx: CliContext) -> int:
    item = physical.add_physical(ctx.session(), ctx.args.case, ctx.args.name, _fields(ctx, ctx.args.storage))
    ctx.emit(evidence.item_to_json(item),
             lambda: [_("Added physical item {exhibit}: {name} ({id}).", exhibit=item.exhibit_number,
                        name=item.original_name, id=item.id)])
    return 0


def _list(ctx: CliContext) -> int:
    items = evidence.list_items(ctx.session(), ctx.args.case)
    ctx.emit([evidence.item_to_json(i) for i in items],
             lambda: [f"{i.exhibit_number:<16} {i.kind!s:<8} {_size(i):>15} {(i.sha256 or '')[:16]:<16} "
                      f"{i.original_name}" + ("  " + _("[out: {holder}]", holder=i.holder) if i.checked_out else "")
                      for i in items] or [_("No items.")])
    return 0


def _show(ctx: CliContext) -> int:
    session = ctx.session()
    item = evidence.get_item(session, ctx.args.item)
    number = cases.get_case(session, item.case_id).number
    ctx.emit(evidence.item_to_json(item), lambda: _human(item, number))
    return 0


def _verify(ctx: CliContext) -> int:
    session = ctx.session()
    args = ctx.args
    if args.all == bool(args.target):
        raise UsageError(_("Give a case or an item to verify, or --all for the whole vault."))
    progress = StderrProgress(_("Verifying"))
    try:
        if args.all:
            reports = fixity.verify_all(session, progress)
        else:
            target = evidence.resolve_case_or_item(session, args.target)
            reports = fixity.verify_case(session, target.case.id, progress) if target.item is None \
                else [fixity.verify_item(session, target.item.id, progress)]
    finally:
        progress.close()
    failed = [r for r in reports if not r.ok]
    ctx.emit([fixity.report_to_json(r) for r in reports], lambda: _verify_lines(reports))
    if failed:
        names = ", ".join(r.exhibit_number for r in failed)
        raise VerificationFailed(_("Verification FAILED for {failed} of {n} item(s): {names}.", failed=len(failed),
                                   n=len(reports), names=names))
    return 0


def _verify_lines(reports: list[FixityReport]) -> list[str]:
    if not reports:
        return [_("No stored content to verify.")]
    # "ok" / "MISMATCH" begin each line as they are: a status word scripts look for.
    lines = [f"{'ok' if r.ok else 'MISMATCH':<9} {r.exhibit_number:<16} {r.item_id}"
             + ("" if r.ok else f"  {fixity.PROBLEMS.shown(r.problem)}") for r in reports]
    lines.append(_("{ok} of {n} item(s) verified ok.", ok=sum(r.ok for r in reports), n=len(reports)))
    return lines


def _extract(ctx: CliContext) -> int:
    out = check_new_file(ctx.args.out, ctx.args.force)
    session = ctx.session()
    for interrupted in fixity.interrupted_extractions(session):
        print(f"icspa: warning: {interrupted.message}", file=sys.stderr)
    progress = StderrProgress(_("Extracting"))
    try:
        with replacing([out], ctx.args.force):  # the service never writes over a file
            result = fixity.extract(session, ctx.args.item, out, ctx.args.reason, progress)
    finally:
        progress.close()
    ctx.emit({**evidence.item_to_json(result.item), "path": str(result.path)},
             lambda: [_("Extracted {exhibit} to {path} ({size} bytes, SHA-256 {sha256} checked).",
                        exhibit=result.item.exhibit_number, path=result.path, size=f"{result.size:,}",
                        sha256=result.sha256)])
    return 0


def _checkout(ctx: CliContext) -> int:
    a = ctx.args
    item = physical.check_out(ctx.session(), a.item, a.to, a.reason, released_by=a.released_by,
                              authority=a.authority, notes=a.notes)
    ctx.emit(evidence.item_to_json(item), lambda: [_("Item {exhibit} checked out to {holder}.",
                                                     exhibit=item.exhibit_number, holder=item.holder)])
    return 0


def _checkin(ctx: CliContext) -> int:
    a = ctx.args
    item = physical.check_in(ctx.session(), a.item, a.from_person, received_by=a.received_by,
                             storage_location=a.storage, notes=a.notes)
    ctx.emit(evidence.item_to_json(item),
             lambda: [_("Item {exhibit} checked in ({place}).", exhibit=item.exhibit_number,
                        place=item.storage_location or _("no location"))])
    return 0


def _annotate(ctx: CliContext) -> int:
    a = ctx.args
    session = ctx.session()
    changes = MarkingChanges(a.handling or None, a.handling_text, a.tlp or None, a.source_eval or None,
                             a.info_eval or None)
    tags = split_list(a.tag)
    item = evidence.annotate(session, a.item, description=a.description, notes=a.notes, tags=tags,
                             marking_changes=changes, reason=a.reason)
    ctx.emit(evidence.item_to_json(item), lambda: [_("Item {exhibit} updated.", exhibit=item.exhibit_number)])
    return 0


def _defaults(ctx: CliContext) -> int:
    session = ctx.session()
    if ctx.args.hash is not None:
        text = "" if ctx.args.hash.strip().lower() == "none" else ctx.args.hash
        chosen = evidence.set_default_algorithms(session, evidence.parse_algorithms(text))
    else:
        chosen = evidence.default_algorithms(session)
    if ctx.args.exhibit_format is not None:
        evidence.set_exhibit_format(session, ctx.args.exhibit_format)
    names = [a.value for a in chosen]
    pattern = evidence.get_exhibit_format(session)
    ctx.emit({"id": "evidence-defaults", "hash_algorithms": names, "exhibit_format": pattern},
             lambda: [_("Digests computed at ingest: {names}", names=", ".join(names)),
                      _("Exhibit number format: {pattern}", pattern=pattern)])
    return 0
