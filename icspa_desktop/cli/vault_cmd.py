"""``icspa vault init|status|check|rekey|recover|backup|restore``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from icspa_desktop.cli.context import FIRST_PASSPHRASE, NEW_PASSPHRASE_ENV, PASSPHRASE_ENV, CliContext
from icspa_desktop.cli.evidence_cmd import StderrProgress
from icspa_desktop.cli.options import SECRET_RECOVERY_KEY, add_command, add_reason, check_new_file, read_secret_file
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import IcspaError, UsageError, VerificationFailed
from icspa_desktop.files import atomic_write
from icspa_desktop.i18n import _
from icspa_desktop.services import backup, fixity, restore, rotation, vault_service
from icspa_desktop.vault.layout import QuarantinedFile


def register(groups: Any) -> None:
    vault = groups.add_parser("vault", help=_("create and inspect the vault"))
    sub = vault.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    init = sub.add_parser("init", help=_("create a new vault with its first (administrator) user"))
    init.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMINISTRATOR.value)
    init.add_argument("--display-name", default="", help=_("full name shown in reports"))
    init.add_argument("--agency-name", default="", help=_("the agency's name (as in 'agency init')"))
    init.add_argument("--country", default="", help=_("ISO 3166 two-letter code, e.g. NL"))
    init.add_argument("--unit", default="", help=_("the agency's unit"))
    init.add_argument("--contact", default="", help=_("the agency's contact"))
    init.add_argument("--new-passphrase-file", metavar="FILE",
                      help=_("the first user's passphrase (else env ICSPA_NEW_PASSPHRASE or a prompt)"))
    init.add_argument("--recovery-key-out", metavar="FILE", type=Path,
                      help=_("also write the recovery key to FILE (print it and store it offline; an existing file "
                             "is refused unless --force)"))
    init.add_argument("--force", action="store_true", help=_("replace an existing --recovery-key-out file"))
    init.set_defaults(handler=_init)

    status = sub.add_parser("status", help=_("unlock and show what the vault holds"))
    status.set_defaults(handler=_status)

    check = sub.add_parser("check", help=_("check the database's integrity and list the files in quarantine"))
    check.add_argument("--repair", action="store_true",
                       help=_("administrator: permanently remove the files in quarantine (recorded in custody)"))
    check.set_defaults(handler=_check)

    rotate = add_command(sub, "rekey", "rotate-key", help=_("administrator: replace the vault master key (done by "
                                                            "'user disable'; run it when that could not rotate)"))
    add_reason(rotate, required=True)
    rotate.set_defaults(handler=_rotate)

    recover = sub.add_parser("recover", help=_("set a new passphrase for a user with the recovery key"))
    recover.add_argument("--recovery-key-file", metavar="FILE", required=True, help=_("the printed recovery key"))
    recover.add_argument("--new-passphrase-file", metavar="FILE",
                         help=_("the new passphrase (else env ICSPA_NEW_PASSPHRASE or a prompt)"))
    recover.set_defaults(handler=_recover)

    save = sub.add_parser("backup", help=_("make a checked, still-encrypted copy of the whole vault, while it is in "
                                           "use"))
    save.add_argument("--out", required=True, type=Path, metavar="DIR",
                      help=_("the folder to write into (e.g. a mounted medium); the backup is a new folder "
                             "icspa-backup-<time>-<id> inside it and never replaces anything"))
    save.add_argument("--read-back", action="store_true",
                      help=_("also read every copied file back from the medium and compare it with the MANIFEST"))
    save.set_defaults(handler=_backup)

    put_back = sub.add_parser(
        "restore", help=_("check a backup and put it in place; the first unlock, by an administrator, records it"),
        description=_("With --from: check the backup's MANIFEST, copy it to --to (default: the vault path), then "
                      "unlock it as --user and record the restore with --reason (administrator). Without --from: "
                      "record a restore that was copied earlier (--copy-only) at its first unlock."))
    put_back.add_argument("--from", dest="source", type=Path, metavar="DIR",
                          help=_("the backup folder (icspa-backup-…)"))
    put_back.add_argument("--to", type=Path, metavar="PATH", help=_("where the vault goes (default: --vault)"))
    put_back.add_argument("--force", action="store_true",
                          help=_("move an existing vault at PATH aside (PATH.replaced-<time>, kept) instead of "
                                 "refusing"))
    add_reason(put_back, help_text=_("why the backup is restored (recorded in the chain of custody; required unless "
                                     "--check or --copy-only)"))
    mode = put_back.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help=_("only check the backup against its MANIFEST; write nothing"))
    mode.add_argument("--copy-only", action="store_true",
                      help=_("put the backup in place without unlocking it; record it later with 'vault restore "
                             "--to PATH --reason TEXT'"))
    put_back.set_defaults(handler=_restore)


def _rotate(ctx: CliContext) -> int:
    result = rotation.rotate_master_key(ctx.session(), ctx.args.reason)
    lines = [_("The vault master key was rotated: {keys} evidence keys rewrapped, left for {users} users, "
               "{seconds} s.", keys=result.blobs_rewrapped, users=result.users_reached,
               seconds=f"{result.seconds:.1f}")]
    if result.new_recovery_key:
        lines.append(_("The old recovery key no longer opens the vault. New recovery key (print it, keep it in a "
                       "safe): {key}", key=result.new_recovery_key))
    ctx.emit({"id": str(ctx.vault_path), "blobs_rewrapped": result.blobs_rewrapped, "users": result.users_reached,
              "seconds": result.seconds, "new_recovery_key": result.new_recovery_key}, lambda: lines)
    return 0


def _init(ctx: CliContext) -> int:
    args: argparse.Namespace = ctx.args
    if args.recovery_key_out is not None:
        check_new_file(args.recovery_key_out, args.force)  # before the vault exists
    name = ctx.user_name()
    if args.new_passphrase_file or NEW_PASSPHRASE_ENV in os.environ:
        passphrase = ctx.new_passphrase(args.new_passphrase_file)
    elif args.passphrase_file or PASSPHRASE_ENV in os.environ:
        passphrase = ctx.passphrase()
    else:
        passphrase = ctx.new_passphrase(None, _(FIRST_PASSPHRASE))
    agency = vault_service.AgencyInfo(args.agency_name, args.country.upper(), args.unit, args.contact)
    recovery = vault_service.init_vault(ctx.vault_path, name, passphrase, display_name=args.display_name,
                                        role=Role(args.role), agency=agency)
    ctx.emit(
        {"id": str(ctx.vault_path), "path": str(ctx.vault_path), "user": name, "recovery_key": recovery},
        lambda: [
            _("Vault created at {path} with user {user} ({role}).", path=ctx.vault_path, user=repr(name),
              role=args.role),
            _("Recovery key (print it, store it in a safe; it is shown only now):"),
            f"  {recovery}",
        ],
    )
    if args.recovery_key_out is not None:  # after it was shown: a failed write must not lose the only copy
        atomic_write(args.recovery_key_out, (recovery + "\n").encode())
        ctx.info(_("The recovery key was also written to {path}.", path=args.recovery_key_out))
    return 0


def _status(ctx: CliContext) -> int:
    data = vault_service.status(ctx.session())
    ctx.emit(data, lambda: [f"{key:>16}: {value}" for key, value in data.items()])
    return 0


def _check(ctx: CliContext) -> int:
    session = ctx.session()
    for interrupted in fixity.interrupted_extractions(session):  # partial plaintext a crash left outside
        print(f"icspa: warning: {interrupted.message}", file=sys.stderr)
    found = vault_service.check_vault(session)
    repaired = vault_service.repair(session) if ctx.args.repair and found.ok else None
    remaining = [] if repaired is not None else found.quarantine
    data: dict[str, Any] = {
        "id": session.vault.header.vault_id,
        "ok": found.ok,
        "problems": found.problems,
        "quarantine": [_quarantined_json(f) for f in remaining],
        "slots_without_user": list(found.slots_without_user),
    }
    if repaired is not None:
        data["repaired"] = {"removed": [_quarantined_json(f) for f in repaired.removed],
                            "slots_removed": list(repaired.slots_removed), "custody_event": repaired.event_index}
    ctx.emit(data, lambda: _check_lines(found, remaining, repaired))
    if found.problems:
        raise VerificationFailed(
            _("The vault database has {n} integrity problem(s); nothing was removed from quarantine.",
              n=len(found.problems)) if ctx.args.repair
            else _("The vault database has {n} integrity problem(s).", n=len(found.problems)))
    return 0


def _quarantined_json(f: QuarantinedFile) -> dict[str, Any]:
    return {"path": f.location, "was": f.origin, "kind": f.kind, "size": f.size, "reason": f.reason}


def _check_lines(found: vault_service.VaultCheck, remaining: list[QuarantinedFile],
                 repaired: vault_service.Repair | None) -> list[str]:
    lines = list(found.problems) or [_("Database integrity: ok")]
    if repaired is not None and not repaired.removed:
        lines.append(_("Quarantine: empty; nothing was removed."))
    elif repaired is not None and repaired.event_index is not None:
        lines.append(_("Quarantine: {n} file(s), {size} bytes removed for good (custody event {event}).",
                       n=len(repaired.removed), size=repaired.bytes, event=repaired.event_index))
    elif repaired is not None:
        lines.append(_("Quarantine: {n} file(s), {size} bytes removed for good.", n=len(repaired.removed),
                       size=repaired.bytes))
    elif remaining:
        lines.append(_("Quarantine: {n} file(s) that opening the vault moved aside instead of deleting "
                       "(an administrator removes them with 'icspa vault check --repair'):", n=len(remaining)))
        lines.extend("  " + _("{path}  ({kind}, {size} bytes; {reason})", path=f.location, kind=f.kind, size=f.size,
                              reason=f.reason) for f in remaining)
    else:
        lines.append(_("Quarantine: empty"))
    if repaired is not None and repaired.slots_removed:
        lines.append(_("Key slots without a user removed: {slots}.", slots=", ".join(repaired.slots_removed)))
    elif found.slots_without_user:
        lines.append(_("Key slots whose user is not in the database: {n} ({slots}); an older database may have been "
                       "put back ('icspa vault check --repair' removes them, recorded).",
                       n=len(found.slots_without_user), slots=", ".join(found.slots_without_user)))
    return lines


def _recover(ctx: CliContext) -> int:
    args = ctx.args
    key = read_secret_file(args.recovery_key_file, SECRET_RECOVERY_KEY).strip()
    name = ctx.user_name()
    new = ctx.new_passphrase(args.new_passphrase_file)
    session = vault_service.recover(ctx.vault_path, key, name, new)
    session.lock()
    print(_("User {user} has a new passphrase and a new signing key.", user=repr(name)),
          file=sys.stderr if ctx.json else sys.stdout)
    if ctx.json:
        ctx.emit({"id": name, "user": name, "recovered": True}, lambda: [])
    return 0


def _backup(ctx: CliContext) -> int:
    session = ctx.session()
    progress = StderrProgress(_("Backing up"))
    try:
        result = backup.backup(session, ctx.args.out, progress, read_back=ctx.args.read_back)
    finally:
        progress.close()
    mib = result.total_bytes / 2**20
    rate = mib / max(result.seconds, 1e-6)
    figures = dict(files=result.files, mib=f"{mib:,.1f}", blobs=result.blobs, seconds=f"{result.seconds:.1f}",
                   rate=f"{rate:,.0f}", events=result.tree_size)
    ctx.emit(result.to_json(), lambda: [
        _("Backup {id} written and checked: {path}", id=result.id, path=result.path),
        "  " + (_("{files} files, {mib} MiB ({blobs} evidence file(s)) in {seconds} s ({rate} MiB/s); custody log "
                  "of {events} events; every file read back", **figures) if result.read_back
                else _("{files} files, {mib} MiB ({blobs} evidence file(s)) in {seconds} s ({rate} MiB/s); custody "
                       "log of {events} events", **figures)),
        "  " + _("MANIFEST SHA-256 {sha256}; recorded as custody event #{event}.", sha256=result.manifest_sha256,
                 event=result.event_index),
    ])
    return 0


def _restore(ctx: CliContext) -> int:
    args = ctx.args
    target: Path = (args.to.expanduser() if args.to else ctx.vault_path).absolute()
    if args.source is None and (args.check or args.copy_only or args.force):
        raise UsageError(_("--check, --copy-only and --force need the backup: --from DIR."))
    if not (args.check or args.copy_only) and not args.reason.strip():
        raise UsageError(_("Say why the backup is restored (--reason TEXT, recorded in the chain of custody), or use "
                           "--copy-only to put it in place and record it later."))
    if args.check:
        checked = backup.check_backup(args.source, StderrProgress(_("Checking")))
        manifest = checked.manifest
        ctx.emit({"id": manifest.backup_id, "ok": True, "vault_id": manifest.vault_id, "files": len(manifest.files),
                  "bytes": manifest.total_bytes, "tree_size": manifest.tree_size,
                  "manifest_sha256": checked.manifest_sha256},
                 lambda: [_("Backup {id} (vault {vault}, made {moment} by {user}): all {n} files match its "
                            "MANIFEST; nothing was written.", id=manifest.backup_id, vault=manifest.vault_id,
                            moment=manifest.created_at, user=manifest.created_by, n=len(manifest.files))])
        return 0
    data: dict[str, Any] = {}
    lines: list[str] = []
    if args.source is not None:
        progress = StderrProgress(_("Restoring"))
        try:
            restored = restore.restore(args.source, target, force=args.force, progress=progress)
        finally:
            progress.close()
        data = restored.to_json()
        lines.append(_("Backup {id} ({files} files, custody log of {events} events) restored to {path}.",
                       id=restored.backup_id, files=restored.files, events=restored.tree_size, path=restored.path))
        if restored.set_aside is not None:
            lines.append(_("The vault that was there was moved aside, not deleted: {path}", path=restored.set_aside))
    if args.copy_only:
        lines.append(_("Not recorded yet: an administrator records it at the first unlock with '{command}'.",
                       command=f"icspa --vault {target} vault restore --reason TEXT"))
        ctx.emit(data, lambda: lines)
        return 0
    if args.source is not None and not ctx.json:  # what was done so far, before the unlock's warnings (stderr)
        for line in lines:
            print(line)
        print(_("First unlock of the restored vault: warnings that its log is older than your witnesses are what "
                "the restore explains."))
        lines = []
    ctx.vault_path = target
    try:
        record = restore.record_restore(ctx.session(), args.reason, witness_dir=ctx.witness_dir)
    except IcspaError as exc:
        if args.source is None:
            raise
        raise _with_note(exc, " " + _("The backup is in place at {path}, but its restore is not recorded yet: an "
                                      "administrator runs '{command}'.", path=target,
                                      command=f"icspa --vault {target} vault restore --reason TEXT")) from exc
    data = {**data, "id": record.backup_id, "recorded": record.to_json()}
    lines.append(_("Restore recorded as custody event #{event} (reason: {reason}).", event=record.event_index,
                   reason=args.reason.strip()))
    if record.witness_tree_size is not None:
        lines.append(_("The witnesses had seen {seen} events, the restored log holds {held}: the difference is in the "
                       "event.", seen=record.witness_tree_size, held=record.tree_size_restored))
    if record.checkpoint_id is not None:
        lines.append(_("The agency witness was replaced by checkpoint {id}.", id=record.checkpoint_id))
    lines.extend(_("Witness set aside (kept): {path}", path=path) for path in record.user_witnesses_set_aside)
    lines.append(_("From now on {path} is the vault and the witnesses follow it: a copy of the vault kept elsewhere "
                   "no longer fits them (a fork); do not go on using it.", path=target))
    lines.append(_("Users of other OS accounts will see at their next unlock that the log no longer holds their "
                   "newest event; the restore event explains it (docs/SECURITY.md)."))
    ctx.emit(data, lambda: lines)
    return 0


def _with_note(exc: IcspaError, note: str) -> IcspaError:
    try:
        noted = type(exc)(str(exc) + note)
    except TypeError:
        noted = IcspaError(str(exc) + note)
        noted.exit_code = exc.exit_code
    return noted
