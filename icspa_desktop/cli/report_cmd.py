"""``icspa report custody|case-uco``."""

from __future__ import annotations

from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.cli.options import add_out, check_new_file, replacing
from icspa_desktop.files import atomic_write
from icspa_desktop.i18n import _
from icspa_desktop.services import custody_reports


def register(groups: Any) -> None:
    group = groups.add_parser("report", help=_("chain-of-custody PDF report and CASE/UCO export"))
    sub = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    pdf = sub.add_parser("custody", help=_("PDF chain-of-custody report of a case (or one item), with a freshly "
                                           "signed checkpoint"))
    pdf.add_argument("case", metavar="CASE", help=_("case number or id"))
    pdf.add_argument("--item", metavar="ITEM", help=_("only this item (id or exhibit number)"))
    add_out(pdf, "FILE.pdf", _("the PDF to write"))
    pdf.set_defaults(handler=_custody)

    uco = sub.add_parser("case-uco", help=_("CASE/UCO JSON-LD of a case (passes case_validate)"))
    uco.add_argument("case", metavar="CASE")
    add_out(uco, "FILE.jsonld", _("the JSON-LD file to write"))
    uco.set_defaults(handler=_case_uco)


def _custody(ctx: CliContext) -> int:
    args = ctx.args
    out = check_new_file(args.out, args.force)
    pdf, result = custody_reports.custody_report_bytes(ctx.session(), args.case, item_ref=args.item,
                                                       witness_dir=ctx.witness_dir)
    atomic_write(out, pdf)
    data = {"id": result.report_id, "file": str(args.out), "case": result.case.number,
            "events": len(result.events), "items": len(result.items), "checkpoint_id": result.checkpoint.id,
            "tree_size": result.checkpoint.size,
            "log_intact": bool(result.verification is not None and result.verification.ok)}
    ctx.emit(data, lambda: [_("Report {id} written to {path}: {items} items, {events} events, checkpoint "
                              "{checkpoint} (tree size {size}).", id=result.report_id, path=args.out,
                              items=len(result.items), events=len(result.events), checkpoint=result.checkpoint.id,
                              size=result.checkpoint.size)])
    return 0


def _case_uco(ctx: CliContext) -> int:
    args = ctx.args
    out = check_new_file(args.out, args.force)
    session = ctx.session()
    with replacing([out], args.force):  # the service never writes over a file
        doc = custody_reports.case_uco_export(session, args.case, out)
    ctx.emit({"id": args.case, "file": str(args.out), "nodes": len(doc["@graph"])},
             lambda: [_("CASE/UCO JSON-LD of case {case} written to {path} ({nodes} nodes).", case=args.case,
                        path=args.out, nodes=len(doc["@graph"]))])
    return 0
