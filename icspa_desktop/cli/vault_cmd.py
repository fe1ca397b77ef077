"""``icspa vault init|status|check|rekey|recover|backup|restore``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from icspa_desktop.cli.context import NEW_PASSPHRASE_ENV, PASSPHRASE_ENV, CliContext
from icspa_desktop.cli.evidence_cmd import StderrProgress
from icspa_desktop.cli.options import add_command, add_reason, check_new_file, read_secret_file
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import IcspaError, UsageError, VerificationFailed
from icspa_desktop.files import atomic_write
from icspa_desktop.services import backup, fixity, rotation, vault_service
from icspa_desktop.vault.layout import QuarantinedFile


def register(groups: Any) -> None:
    vault = groups.add_parser("vault", help="create and inspect the vault")
    sub = vault.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    init = sub.add_parser("init", help="create a new vault with its first (administrator) user")
    init.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMINISTRATOR.value)
    init.add_argument("--display-name", default="", help="full name shown in reports")
    init.add_argument("--agency-name", default="", help="the agency's name (as in 'agency init')")
    init.add_argument("--country", default="", help="ISO 3166 two-letter code, e.g. NL")
    init.add_argument("--unit", default="", help="the agency's unit")
    init.add_argument("--contact", default="", help="the agency's contact")
    init.add_argument("--new-passphrase-file", metavar="FILE",
                      help="the first user's passphrase (else env ICSPA_NEW_PASSPHRASE or a prompt)")
    init.add_argument("--recovery-key-out", metavar="FILE", type=Path,
                      help="also write the recovery key to FILE (print it and store it offline; an existing file "
                           "is refused unless --force)")
    init.add_argument("--force", action="store_true", help="replace an existing --recovery-key-out file")
    init.set_defaults(handler=_init)

    status = sub.add_parser("status", help="unlock and show what the vault holds")
    status.set_defaults(handler=_status)

    check = sub.add_parser("check", help="check the database's integrity and list the files in quarantine")
    check.add_argument("--repair", action="store_true",
                       help="administrator: permanently remove the files in quarantine (recorded in custody)")
    check.set_defaults(handler=_check)

    rotate = add_command(sub, "rekey", "rotate-key", help="administrator: replace the vault master key (done by "
                                                          "'user disable'; run it when that could not rotate)")
    add_reason(rotate, required=True)
    rotate.set_defaults(handler=_rotate)

    recover = sub.add_parser("recover", help="set a new passphrase for a user with the recovery key")
    recover.add_argument("--recovery-key-file", metavar="FILE", required=True, help="the printed recovery key")
    recover.add_argument("--new-passphrase-file", metavar="FILE",
                         help="the new passphrase (else env ICSPA_NEW_PASSPHRASE or a prompt)")
    recover.set_defaults(handler=_recover)

    save = sub.add_parser("backup", help="make a checked, still-encrypted copy of the whole vault, while it is in use")
    save.add_argument("--out", required=True, type=Path, metavar="DIR",
                      help="the folder to write into (e.g. a mounted medium); the backup is a new folder "
                           "icspa-backup-<time>-<id> inside it and never replaces anything")
    save.add_argument("--read-back", action="store_true",
                      help="also read every copied file back from the medium and compare it with the MANIFEST")
    save.set_defaults(handler=_backup)

    put_back = sub.add_parser(
        "restore", help="check a backup and put it in place; the first unlock, by an administrator, records it",
        description="With --from: check the backup's MANIFEST, copy it to --to (default: the vault path), then "
                    "unlock it as --user and record the restore with --reason (administrator). Without --from: "
                    "record a restore that was copied earlier (--copy-only) at its first unlock.")
    put_back.add_argument("--from", dest="source", type=Path, metavar="DIR", help="the backup folder (icspa-backup-…)")
    put_back.add_argument("--to", type=Path, metavar="PATH", help="where the vault goes (default: --vault)")
    put_back.add_argument("--force", action="store_true",
                          help="move an existing vault at PATH aside (PATH.replaced-<time>, kept) instead of refusing")
    add_reason(put_back, help_text="why the backup is restored (recorded in the chain of custody; required unless "
                                   "--check or --copy-only)")
    mode = put_back.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only check the backup against its MANIFEST; write nothing")
    mode.add_argument("--copy-only", action="store_true",
                      help="put the backup in place without unlocking it; record it later with 'vault restore "
                           "--to PATH --reason TEXT'")
    put_back.set_defaults(handler=_restore)


def _rotate(ctx: CliContext) -> int:
    result = rotation.rotate_master_key(ctx.session(), ctx.args.reason)
    lines = [f"The vault master key was rotated: {result.blobs_rewrapped} evidence keys rewrapped, left for "
             f"{result.users_reached} users, {result.seconds:.1f} s."]
    if result.new_recovery_key:
        lines.append("The old recovery key no longer opens the vault. New recovery key (print it, keep it in a "
                     f"safe): {result.new_recovery_key}")
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
        passphrase = ctx.new_passphrase(None, "passphrase for the new vault")
    agency = vault_service.AgencyInfo(args.agency_name, args.country.upper(), args.unit, args.contact)
    recovery = vault_service.init_vault(ctx.vault_path, name, passphrase, display_name=args.display_name,
                                        role=Role(args.role), agency=agency)
    ctx.emit(
        {"id": str(ctx.vault_path), "path": str(ctx.vault_path), "user": name, "recovery_key": recovery},
        lambda: [
            f"Vault created at {ctx.vault_path} with user {name!r} ({args.role}).",
            "Recovery key (print it, store it in a safe; it is shown only now):",
            f"  {recovery}",
        ],
    )
    if args.recovery_key_out is not None:  # after it was shown: a failed write must not lose the only copy
        atomic_write(args.recovery_key_out, (recovery + "\n").encode())
        ctx.info(f"The recovery key was also written to {args.recovery_key_out}.")
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
        raise VerificationFailed(f"The vault database has {len(found.problems)} integrity problem(s)"
                                 + ("; nothing was removed from quarantine." if ctx.args.repair else "."))
    return 0


def _quarantined_json(f: QuarantinedFile) -> dict[str, Any]:
    return {"path": f.location, "was": f.origin, "kind": f.kind, "size": f.size, "reason": f.reason}


def _check_lines(found: vault_service.VaultCheck, remaining: list[QuarantinedFile],
                 repaired: vault_service.Repair | None) -> list[str]:
    lines = found.problems or ["Database integrity: ok"]
    if repaired is not None and not repaired.removed:
        lines.append("Quarantine: empty; nothing was removed.")
    elif repaired is not None:
        lines.append(f"Quarantine: {len(repaired.removed)} file(s), {repaired.bytes} bytes removed for good"
                     + (f" (custody event {repaired.event_index})." if repaired.event_index is not None else "."))
    elif remaining:
        lines.append(f"Quarantine: {len(remaining)} file(s) that opening the vault moved aside instead of deleting "
                     "(an administrator removes them with 'icspa vault check --repair'):")
        lines.extend(f"  {f.location}  ({f.kind}, {f.size} bytes; {f.reason})" for f in remaining)
    else:
        lines.append("Quarantine: empty")
    if repaired is not None and repaired.slots_removed:
        lines.append(f"Key slots without a user removed: {', '.join(repaired.slots_removed)}.")
    elif found.slots_without_user:
        lines.append(f"Key slots whose user is not in the database: {len(found.slots_without_user)} "
                     f"({', '.join(found.slots_without_user)}); an older database may have been put back "
                     "('icspa vault check --repair' removes them, recorded).")
    return lines


def _recover(ctx: CliContext) -> int:
    args = ctx.args
    key = read_secret_file(args.recovery_key_file, "recovery key").strip()
    name = ctx.user_name()
    new = ctx.new_passphrase(args.new_passphrase_file)
    session = vault_service.recover(ctx.vault_path, key, name, new)
    session.lock()
    print(f"User {name!r} has a new passphrase and a new signing key.", file=sys.stderr if ctx.json else sys.stdout)
    if ctx.json:
        ctx.emit({"id": name, "user": name, "recovered": True}, lambda: [])
    return 0


def _backup(ctx: CliContext) -> int:
    session = ctx.session()
    progress = StderrProgress("Backing up")
    try:
        result = backup.backup(session, ctx.args.out, progress, read_back=ctx.args.read_back)
    finally:
        progress.close()
    mib = result.total_bytes / 2**20
    rate = mib / max(result.seconds, 1e-6)
    ctx.emit(result.to_json(), lambda: [
        f"Backup {result.id} written and checked: {result.path}",
        f"  {result.files} files, {mib:,.1f} MiB ({result.blobs} evidence file(s)) in {result.seconds:.1f} s "
        f"({rate:,.0f} MiB/s); custody log of {result.tree_size} events"
        + ("; every file read back" if result.read_back else ""),
        f"  MANIFEST SHA-256 {result.manifest_sha256}; recorded as custody event #{result.event_index}.",
    ])
    return 0


def _restore(ctx: CliContext) -> int:
    args = ctx.args
    target: Path = (args.to.expanduser() if args.to else ctx.vault_path).absolute()
    if args.source is None and (args.check or args.copy_only or args.force):
        raise UsageError("--check, --copy-only and --force need the backup: --from DIR.")
    if not (args.check or args.copy_only) and not args.reason.strip():
        raise UsageError("Say why the backup is restored (--reason TEXT, recorded in the chain of custody), or use "
                         "--copy-only to put it in place and record it later.")
    if args.check:
        checked = backup.check_backup(args.source, StderrProgress("Checking"))
        manifest = checked.manifest
        ctx.emit({"id": manifest.backup_id, "ok": True, "vault_id": manifest.vault_id, "files": len(manifest.files),
                  "bytes": manifest.total_bytes, "tree_size": manifest.tree_size,
                  "manifest_sha256": checked.manifest_sha256},
                 lambda: [f"Backup {manifest.backup_id} (vault {manifest.vault_id}, made {manifest.created_at} by "
                          f"{manifest.created_by}): all {len(manifest.files)} files match its MANIFEST; nothing was "
                          "written."])
        return 0
    data: dict[str, Any] = {}
    lines: list[str] = []
    if args.source is not None:
        progress = StderrProgress("Restoring")
        try:
            restored = backup.restore(args.source, target, force=args.force, progress=progress)
        finally:
            progress.close()
        data = restored.to_json()
        lines.append(f"Backup {restored.backup_id} ({restored.files} files, custody log of {restored.tree_size} "
                     f"events) restored to {restored.path}.")
        if restored.set_aside is not None:
            lines.append(f"The vault that was there was moved aside, not deleted: {restored.set_aside}")
    if args.copy_only:
        lines.append(f"Not recorded yet: an administrator records it at the first unlock with 'icspa --vault "
                     f"{target} vault restore --reason TEXT'.")
        ctx.emit(data, lambda: lines)
        return 0
    if args.source is not None and not ctx.json:  # what was done so far, before the unlock's warnings (stderr)
        for line in lines:
            print(line)
        print("First unlock of the restored vault: warnings that its log is older than your witnesses are what the "
              "restore explains.")
        lines = []
    ctx.vault_path = target
    try:
        record = backup.record_restore(ctx.session(), args.reason, witness_dir=ctx.witness_dir)
    except IcspaError as exc:
        if args.source is None:
            raise
        raise _with_note(exc, f" The backup is in place at {target}, but its restore is not recorded yet: an "
                              f"administrator runs 'icspa --vault {target} vault restore --reason TEXT'.") from exc
    data = {**data, "id": record.backup_id, "recorded": record.to_json()}
    lines.append(f"Restore recorded as custody event #{record.event_index} (reason: {args.reason.strip()}).")
    if record.witness_tree_size is not None:
        lines.append(f"The witnesses had seen {record.witness_tree_size} events, the restored log holds "
                     f"{record.tree_size_restored}: the difference is in the event.")
    if record.checkpoint_id is not None:
        lines.append(f"The agency witness was replaced by checkpoint {record.checkpoint_id}.")
    lines.extend(f"Witness set aside (kept): {path}" for path in record.user_witnesses_set_aside)
    lines.append(f"From now on {target} is the vault and the witnesses follow it: a copy of the vault kept elsewhere "
                 "no longer fits them (a fork); do not go on using it.")
    lines.append("Users of other OS accounts will see at their next unlock that the log no longer holds their newest "
                 "event; the restore event explains it (docs/SECURITY.md).")
    ctx.emit(data, lambda: lines)
    return 0


def _with_note(exc: IcspaError, note: str) -> IcspaError:
    try:
        noted = type(exc)(str(exc) + note)
    except TypeError:
        noted = IcspaError(str(exc) + note)
        noted.exit_code = exc.exit_code
    return noted
