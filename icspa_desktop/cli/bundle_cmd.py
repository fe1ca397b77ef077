"""``icspa bundle export|verify|list|import``: signed, encrypted sharing bundles for partner agencies (DESIGN §5)."""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Any

from icspa_desktop.bundle.reader import shown_seal
from icspa_desktop.cli.context import CliContext, warning_line
from icspa_desktop.cli.evidence_cmd import StderrProgress
from icspa_desktop.cli.options import add_list_option, add_out, add_reason, check_new_file, replacing, split_list
from icspa_desktop.domain.errors import UsageError
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import bundle_import, bundles, receipts


def register(groups: Any) -> None:
    group = groups.add_parser("bundle", help=_("signed, encrypted sharing bundles for partner agencies"))
    sub = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    export = sub.add_parser("export", help=_("send a case's evidence to partner agencies as one bundle file"))
    export.add_argument("case", metavar="CASE", help=_("case number or id"))
    add_list_option(export, "--to", metavar="PARTNER",
                    help_text=_("partner agencies by id, exact name or fingerprint"), required=True)
    add_out(export, "PATH", _("the bundle file to write (.icspa is added); the seal is written beside it"))
    add_list_option(export, "--items", metavar="EXHIBIT|ID",
                    help_text=_("only these items (default: every stored item)"))
    add_reason(export, help_text=_("why the evidence leaves (recorded in custody)"))
    export.add_argument("--authority", default="", help=_("legal authority, e.g. the MLA request reference"))
    export.add_argument("--h3-override", default="", metavar="REASON",
                        help=_("send H3 items anyway, for this recorded reason"))
    export.add_argument("--permission-ref", default="", metavar="REF",
                        help=_("the originating partner's permission to pass on items received under H2, TLP:RED "
                               "or TLP:AMBER+STRICT (their reference)"))
    export.add_argument("--permission-date", default="", metavar="YYYY-MM-DD",
                        help=_("the date of that permission"))
    export.add_argument("--permission-by", default="", metavar="NAME", help=_("who gave that permission"))
    export.add_argument("--dry-run", action="store_true", help=_("show exactly what would leave; write nothing"))
    export.set_defaults(handler=_export)

    verify = sub.add_parser("verify", help=_("check a bundle file (own copy or received) layer by layer; exit 1 "
                                             "when anything is wrong"))
    verify.add_argument("path", type=Path, metavar="PATH", help=_("NAME.icspa (or the first of NAME.icspa.001…)"))
    verify.set_defaults(handler=_verify)

    lst = sub.add_parser("list", help=_("the bundles this vault sent (with --received: the bundles it imported)"))
    lst.add_argument("--received", action="store_true", help=_("list the bundles imported from partners instead"))
    lst.set_defaults(handler=_list)

    imp = sub.add_parser("import", help=_("verify a partner's bundle completely, then store its evidence and "
                                          "custody (nothing is stored when any check fails: exit 4)"))
    imp.add_argument("path", type=Path, metavar="PATH",
                     help=_("NAME.icspa (or the name of its volumes NAME.icspa.001…)"))
    imp.add_argument("--case", metavar="CASE", help=_("add to this existing case (default: the case that holds the "
                                                      "partner's case, or a new one)"))
    imp.set_defaults(handler=_import)

    receipt = sub.add_parser("receipt", help=_("sign a receipt for a bundle this vault imported, for its sender"))
    receipt.add_argument("bundle", metavar="BUNDLE", help=_("the imported bundle's id (or its first characters), or "
                                                            "the bundle file itself"))
    add_out(receipt, help_text=_("the receipt file to write"))
    receipt.set_defaults(handler=_receipt)

    receipt_import = sub.add_parser("receipt-import", help=_("record a partner's receipt for a bundle we sent: "
                                                             "closes the transfer and keeps the receipt as a witness "
                                                             "of our log"))
    receipt_import.add_argument("file", type=Path, metavar="FILE", help=_("the receipt file the partner returned"))
    receipt_import.set_defaults(handler=_receipt_import)


def bundle_files(out: Path) -> list[Path]:
    """Every file ``bundle export --out PATH`` may write: NAME.icspa or its volumes NAME.icspa.001…, and the seal."""
    suffix = bundles.BUNDLE_SUFFIX
    out = out if out.name.endswith(suffix) else out.with_name(out.name + suffix)
    volumes = sorted(out.parent.glob(f"{glob.escape(out.name)}.[0-9][0-9][0-9]"))
    return [out, *volumes, out.with_name(out.name + ".sha256"), out.with_name(out.name + ".sha256.p7s")]


def _export(ctx: CliContext) -> int:
    args = ctx.args
    items = split_list(args.items)
    if items == []:  # an empty variable in a script must not send the whole case
        raise UsageError(_("--items names no item: give exhibit numbers or item ids, or leave the option out to send "
                           "every stored item of the case."))
    targets = [] if args.dry_run else bundle_files(args.out)
    for target in targets:
        check_new_file(target, args.force)  # before anything is recorded or the long work starts
    session = ctx.session()
    plan = bundles.plan_export(session, args.case, split_list(args.to) or [], items,
                               purpose=args.reason, authority=args.authority, h3_override=args.h3_override,
                               permission=bundles.OriginatorPermission(args.permission_ref, args.permission_date,
                                                                       args.permission_by))
    if args.dry_run:
        ctx.emit(plan.to_json() | {"dry_run": True},
                 lambda: [*_plan_lines(plan), _("Dry run: nothing was written.")])
        bundles.check_export_target(session, plan, args.out)  # what the export would refuse there (writes nothing)
        return 0
    for warning in plan.warnings:
        print(warning_line(warning), file=sys.stderr)  # docs/cli.md: on stderr, "icspa: warning:" first
    with replacing(targets, args.force):  # the bundle writer never writes over a file
        result = bundles.export(session, plan, args.out, progress=StderrProgress(_("Exporting")))
    ctx.emit(result.to_json(), lambda: [
        ngettext("Bundle {id} written to {path} and read back: {n} item, {size} bytes.",
                 "Bundle {id} written to {path} and read back: {n} items, {size} bytes.", result.items,
                 id=result.bundle_id, path=result.path, size=f"{result.size:,}"), f"  SHA-256 {result.sha256}",
        "  " + _("seal: {seal} and {signature} (check without a key: see docs/bundle-format.md)",
                 seal=result.seal_path.name, signature=result.seal_signature_path.name)])
    return 0


def _plan_lines(plan: bundles.ExportPlan) -> list[str]:
    lines = [_("Case {number}: {n} item(s), {size} bytes, to {recipients}", number=plan.case.number,
               n=len(plan.items), size=f"{plan.total_size:,}",
               recipients=", ".join(f"{p.name} ({p.country}, {p.fingerprint})" for p in plan.recipients))]
    lines += [f"  {i.exhibit_number:<16} {i.size or 0:>14,}  {i.markings.handling_code} TLP:{i.markings.tlp}  "
              f"{i.original_name}" for i in plan.items]
    lines += [_("Warning: {warning}", warning=w) for w in plan.warnings]
    return lines


def _verify(ctx: CliContext) -> int:
    report = bundles.verify_bundle(ctx.session(), ctx.args.path, progress=StderrProgress(_("Checking")))
    c = report.check

    def human() -> list[str]:
        bundle_id = c.bundle_id or _("(id unknown)")
        rows = [(_("file"), _("{size} bytes, SHA-256 {sha256}", size=f"{c.size:,}", sha256=c.sha256)),
                (_("seal"), shown_seal(c.seal)), (_("signed by"), report.signer_name or _("nobody trusted")),
                (_("to"), ", ".join(report.recipient_names) or _("(unknown)")),
                (_("payload"), _("{n} file(s), {size} bytes", n=len(c.payload),
                                 size=f"{sum(s for _n, s, _h in c.payload):,}"))]
        width = max(9, *(len(label) for label, _value in rows))
        lines = [_("Bundle {id}: every layer checks out.", id=bundle_id) if report.ok
                 else _("Bundle {id}: {n} problem(s) found.", id=bundle_id, n=len(report.problems)),
                 *(f"  {label:<{width}} {value}" for label, value in rows)]
        # "PROBLEM" begins a problem line as it is: a marker scripts look for.
        return lines + [f"  {'PROBLEM':<{width}} {p}" for p in report.problems]

    ctx.emit(report.to_json(), human)
    return 0 if report.ok else 1


def _list(ctx: CliContext) -> int:
    if ctx.args.received:
        received = bundle_import.list_received(ctx.session())
        ctx.emit([r.to_json() for r in received], lambda: [
            f"{r.id}  {r.imported_at[:16]}  from {r.partner_name}  case {r.case_number}  {r.items} item(s)  "
            f"{r.size:,} bytes  sha256 {r.sha256}" for r in received] or [_("No bundles imported yet.")])
        return 0
    sent = bundles.list_sent(ctx.session())

    def receipt_text(b: bundles.SentBundle) -> str:
        if not b.receipts:
            return "  " + _("no receipt yet") if b.status == "written" else ""
        return "  " + _("receipt from {partners}", partners=", ".join(f"{r['partner']} ({r['time'][:10]})"
                                                                     for r in b.receipts))

    ctx.emit([b.to_json() for b in sent], lambda: [
        f"{b.id}  {b.created_at}  case {b.case_number}  {len(b.items)} item(s)  to "
        f"{', '.join(r['name'] for r in b.recipients)}  {b.status}"
        + (f"  {b.size:,} bytes  sha256 {b.sha256}" if b.sha256 else f"  ({bundles.JOURNAL_PROBLEMS.shown(b.problem)})")
        + receipt_text(b)
        for b in sent] or [_("No bundles sent yet.")])
    return 0


def _import(ctx: CliContext) -> int:
    session = ctx.session()
    prepared = bundle_import.prepare_import(session, ctx.args.path, ctx.args.case,
                                            progress=StderrProgress(_("Checking")))
    try:
        result = bundle_import.commit_import(session, prepared)
    except BaseException:
        prepared.discard()
        raise

    def human() -> list[str]:
        p = prepared
        lines = [_("Bundle {id} from {partner} ({country}), signed {moment} UTC: every check passed.",
                   id=p.bundle_id, partner=p.partner.name, country=p.partner.country,
                   moment=f"{p.signed_at:%Y-%m-%d %H:%M}")]
        names = {c.name: bundle_import.CHECK_NAMES.shown(c.name) for c in p.checks}
        width = max(11, *(len(name) for name in names.values()))
        lines += [f"  {names[c.name]:<{width}} {c.detail}" for c in p.checks]
        lines += [_("Warning: {warning}", warning=w) for w in p.warnings]
        if result.already_imported:
            return [*lines, result.already_imported]
        lines.append(_("Imported into case {number}: {added} item(s) added, {held} already held, {events} partner "
                       "custody event(s).", number=result.case.number, added=len(result.added),
                       held=result.already_present, events=result.partner_events_added))
        lines += [f"  {i.exhibit_number:<20} {i.size or 0:>14,}  {i.markings.handling_code} TLP:{i.markings.tlp}  "
                  f"{i.original_name}" for i in result.added]
        return lines

    ctx.emit(prepared.to_json() | result.to_json(), human)
    return 0


def _receipt(ctx: CliContext) -> int:
    out = check_new_file(ctx.args.out, ctx.args.force)
    session = ctx.session()
    made = receipts.write_receipt(session, ctx.args.bundle, out)
    ctx.emit(made.to_json(), lambda: [_("Receipt for bundle {id} written to {path}; return it to {sender} (they "
                                        "record it with 'icspa bundle receipt-import').", id=made.bundle_id,
                                        path=out, sender=made.body["sender"]["name"])])
    return 0


def _receipt_import(ctx: CliContext) -> int:
    stored = receipts.import_receipt(ctx.session(), ctx.args.file)
    facts = dict(partner=stored.partner_name, id=stored.bundle_id, result=stored.result, officer=stored.officer,
                 moment=stored.time)
    ctx.emit(stored.to_json(), lambda: [
        _("Receipt from {partner} for bundle {id}: {result}, by {officer} at {moment}. It was recorded before; "
          "nothing changed.", **facts) if stored.already
        else _("Receipt from {partner} for bundle {id}: {result}, by {officer} at {moment}. Transfer completed; the "
               "receipt now witnesses the first {size} events of our custody log.", **facts,
               size=stored.checkpoint_size)])
    return 0
