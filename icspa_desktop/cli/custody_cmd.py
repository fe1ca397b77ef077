"""``icspa custody show|verify|checkpoint|checkpoint-list|proofs|witness-reset|witness-copy``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.cli.options import add_command, add_out, add_reason, check_new_file
from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.errors import UsageError, VerificationFailed
from icspa_desktop.files import atomic_write
from icspa_desktop.i18n import _
from icspa_desktop.services import custody, custody_verify, received
from icspa_desktop.services.permissions import Permission, allowed


def register(groups: Any) -> None:
    group = groups.add_parser("custody", help=_("the chain of custody: timeline, verification, checkpoints"))
    sub = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    show = sub.add_parser("show", help=_("the custody timeline of a case, an item, or the whole vault"))
    show.add_argument("ref", metavar="CASE|ITEM", nargs="?", help=_("case number or id, or item id / exhibit number"))
    show.add_argument("--all", action="store_true", help=_("every event in the vault"))
    show.set_defaults(handler=_show)

    verify = sub.add_parser("verify", help=_("check every signature, leaf, the tree, checkpoints and the witness "
                                             "(exit 1 on any damage)"))
    verify.add_argument("--incremental", action="store_true",
                        help=_("only the events since the last clean full verification (routine check)"))
    verify.add_argument("--workers", type=int, default=None,
                        help=_("processes for signature checks (default: cores)"))
    verify.add_argument("--witness-copy", metavar="DIR", type=Path,
                        help=_("also check the copy of the witness kept in DIR (e.g. the evidence office's medium)"))
    verify.set_defaults(handler=_verify)

    checkpoint = sub.add_parser("checkpoint", help=_("sign a checkpoint of the log with the agency key and write "
                                                     "the witness file"))
    add_reason(checkpoint, help_text=_("why (recorded with the checkpoint; default: on demand)"))
    add_out(checkpoint, help_text=_("also write the signed checkpoint (text + PEM CMS) here"), required=False)
    checkpoint.add_argument("--replace-witness", action="store_true",
                            help=_("overwrite a witness that does not fit this vault (after restoring a backup on "
                                   "purpose); the old one is recorded in the custody event"))
    checkpoint.set_defaults(handler=_checkpoint)

    reset = sub.add_parser("witness-reset", help=_("administrator: write the witness file anew from the latest "
                                                   "checkpoint after it was lost (recorded in the custody log)"))
    add_reason(reset, required=True, help_text=_("why (e.g. 'new OS account after reinstall'; recorded)"))
    reset.set_defaults(handler=_witness_reset)

    copy = sub.add_parser("witness-copy", help=_("administrator: also keep every agency witness in DIR (e.g. on "
                                                 "removable media); verify checks it when it is there"))
    where = copy.add_mutually_exclusive_group(required=True)
    where.add_argument("directory", nargs="?", type=Path, metavar="DIR")
    where.add_argument("--off", action="store_true", help=_("stop keeping a second witness"))
    add_reason(copy)
    copy.set_defaults(handler=_witness_copy)

    lst = add_command(sub, "checkpoint-list", "checkpoints", help=_("list the stored checkpoints"))
    lst.set_defaults(handler=_checkpoints)

    proofs = sub.add_parser("proofs", help=_("events of a case or item with inclusion proofs against a signed "
                                             "checkpoint (for docs/verify_custody_proofs.py)"))
    proofs.add_argument("ref", metavar="CASE|ITEM")
    add_out(proofs, help_text=_("the proof document (JSON) to write"))
    proofs.add_argument("--since-checkpoint", type=int, metavar="ID",
                        help=_("add the consistency proof from this earlier checkpoint"))
    proofs.set_defaults(handler=_proofs)


def _witness_reset(ctx: CliContext) -> int:
    args = ctx.args
    done = custody.reset_witness(ctx.session(), args.reason, witness_dir=ctx.witness_dir)
    lines = []
    if done.checkpoint is not None:
        lines.append(_("Agency witness re-established from checkpoint {id} (tree size {size}).",
                       id=done.checkpoint.id, size=done.checkpoint.size))
    lines += [_("User witness set aside (kept): {path}", path=name) for name in done.set_aside]
    ctx.emit(done.to_json(), lambda: lines)
    return 0


def _witness_copy(ctx: CliContext) -> int:
    args = ctx.args
    directory = None if args.off else args.directory
    custody.set_witness_copy(ctx.session(), directory, args.reason)
    ctx.emit({"id": str(directory) if directory else "", "directory": str(directory) if directory else None},
             lambda: [_("A second witness is kept in {path}.", path=directory) if directory
                      else _("No second witness is kept.")])
    return 0


def _event_row(event: StoredEvent) -> str:
    body = event.body
    actor = body.get("actor") or {}
    who = f"{actor.get('name', '?')} ({actor.get('role', '?')})"
    what = str(body.get("action", "?"))
    extra = "; ".join(part for part in (body.get("purpose"), body.get("authority") and f"authority {body['authority']}",
                                        body.get("result")) if part)
    at = str(body.get("at", ""))[:19].replace("T", " ")
    return f"{event.index:>6}  {at}Z  {who:<28} {what:<18} {extra}"


def _show(ctx: CliContext) -> int:
    args = ctx.args
    if args.all == bool(args.ref):
        raise UsageError(_("Give either a case or item, or --all."))
    session = ctx.session()
    label, found = custody.timeline(session, None if args.all else args.ref)
    case_id, item_id, _label = (None, None, "") if args.all else custody.resolve_subject(session, args.ref)
    theirs = received.partner_events(session, case_id=case_id, item_id=item_id)

    def human() -> list[str]:
        lines = [_("Custody timeline of {subject}: {n} events", subject=label, n=len(found)),
                 f"{'#':>6}  {_('time (UTC)'):<20} {_('actor'):<28} {_('action'):<18} "
                 f"{_('purpose / authority / result')}", *(_event_row(e) for e in found)]
        if theirs:
            lines += ["", _("Partner agencies' own events, as they signed them ({n}):", n=len(theirs))]
            lines += [f"{v.leaf_index:>6}  {v.at[:19].replace('T', ' ')}Z  {v.partner_name + ': ' + v.actor:<28} "
                      f"{v.action:<18} {v.purpose}" for v in theirs]
        return lines

    ctx.emit([custody.event_to_json(e) | {"source": "own"} for e in found] + [v.to_json() for v in theirs], human)
    return 0


def _verify(ctx: CliContext) -> int:
    session = ctx.session()
    progress = None
    if not ctx.json and sys.stderr.isatty():
        def progress(done: int, total: int) -> None:
            print("\r" + _("verified {done}/{total} events", done=done, total=total), end="", file=sys.stderr,
                  flush=True)
    report = custody_verify.verify(session, incremental=ctx.args.incremental, witness_dir=ctx.witness_dir,
                                   workers=ctx.args.workers, progress=progress, witness_copy=ctx.args.witness_copy)
    if progress is not None:
        print(file=sys.stderr)

    def human() -> list[str]:
        mode, status = report.mode, report.witness_status
        lines = [custody_verify.SUMMARY.shown(report.summary()),
                 "  " + _("tree size {size}, root {root}, {seconds} s ({mode})", size=report.tree_size,
                          root=report.to_json()["root_hash"], seconds=f"{report.seconds:.2f}",
                          mode=_(custody_verify.MODES[mode]) if mode in custody_verify.MODES else mode),
                 "  " + _("witness: {status} ({path})", path=report.witness_path,
                          status=_(custody_verify.WITNESS_STATES[status]) if status in custody_verify.WITNESS_STATES
                          else status)]
        # "DAMAGE [kind]" begins a damage line as it is: a marker scripts look for.
        lines += [f"  DAMAGE [{d.kind}] {custody_verify.DAMAGE.shown(d.message)}" for d in report.damages]
        lines += ["  " + _("note: {note}", note=custody_verify.NOTES.shown(n)) for n in report.notes]
        return lines

    ctx.emit(report.to_json(), human)
    if not report.ok:
        raise VerificationFailed(custody_verify.SUMMARY.text(report.summary()))
    return 0


def _checkpoint(ctx: CliContext) -> int:
    args = ctx.args
    out = check_new_file(args.out, args.force) if args.out else None
    session = ctx.session()
    if not allowed(session.user.role, Permission.SIGN_AS_AGENCY):
        if out is not None:
            raise UsageError(_("Your role signs checkpoints with your own key, not the agency key: there is no CMS "
                               "signature to write with --out."))
        event = custody.user_checkpoint(session, args.reason or "on demand")
        size = event.body["details"]["tree_size"]
        ctx.emit(custody.event_to_json(event), lambda: [
            _("Checkpoint of {size} events signed with your own key (event #{event}); your role may not use "
              "the agency key, so no agency checkpoint was made.", size=size, event=event.index)])
        return 0
    stored = custody.make_checkpoint(session, args.reason or "on demand", witness_dir=ctx.witness_dir,
                                     replace_witness=args.replace_witness)
    if out is not None:
        atomic_write(out, stored.signed_bytes())
    ctx.emit(stored.to_json(), lambda: [_("Checkpoint {id} signed: {size} events.", id=stored.id, size=stored.size),
                                        "", stored.text])
    return 0


def _checkpoints(ctx: CliContext) -> int:
    found = custody.list_checkpoints(ctx.session())
    ctx.emit([c.to_json() for c in found],
             lambda: [f"{c.id:>5}  {c.checkpoint.timestamp_text}  size {c.size:<8} {c.checkpoint.root_b64}  {c.reason}"
                      for c in found] or [_("No checkpoints yet ('icspa custody checkpoint' makes one).")])
    return 0


def _proofs(ctx: CliContext) -> int:
    args = ctx.args
    out = check_new_file(args.out, args.force)
    session = ctx.session()
    label, found = custody.timeline(session, args.ref)
    if not found:
        raise UsageError(_("{subject} has no custody events.", subject=label))
    checkpoint = custody.checkpoint_covering(session, max(e.index for e in found) + 1, witness_dir=ctx.witness_dir)
    previous = custody.get_checkpoint(session, args.since_checkpoint) if args.since_checkpoint else None
    doc = custody.proof_document(session, found, checkpoint, previous)
    atomic_write(out, json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
    ctx.emit({"id": str(checkpoint.id), "file": str(out), "events": len(found), "tree_size": checkpoint.size},
             lambda: [_("{n} events of {subject} with inclusion proofs against checkpoint {id} (tree size {size}) "
                        "written to {path}.", n=len(found), subject=label, id=checkpoint.id, size=checkpoint.size,
                        path=out)])
    return 0
