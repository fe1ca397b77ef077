"""``icspa user add|list|passwd|disable|enable``."""

from __future__ import annotations

from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.crypto.signing import key_fingerprint
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.models import User
from icspa_desktop.services import users


def register(groups: Any) -> None:
    user = groups.add_parser("user", help="manage users and passphrases")
    sub = user.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    add = sub.add_parser("add", help="add a user (administrators only)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--display-name", default="")
    add.add_argument("--new-passphrase-file", metavar="FILE",
                     help="the new user's passphrase (else env ICSPA_NEW_PASSPHRASE or a prompt)")
    add.set_defaults(handler=_add)

    lst = sub.add_parser("list", help="list users")
    lst.set_defaults(handler=_list)

    passwd = sub.add_parser("passwd", help="change your passphrase (rewrites only your key slot)")
    passwd.add_argument("--new-passphrase-file", metavar="FILE")
    passwd.set_defaults(handler=_passwd)

    for verb, active in (("disable", False), ("enable", True)):
        cmd = sub.add_parser(verb, help=f"{verb} a user account (administrators only)")
        cmd.add_argument("name")
        cmd.set_defaults(handler=lambda ctx, active=active: _set_active(ctx, active))


def user_to_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "display_name": user.display_name, "role": str(user.role),
            "active": user.active, "created_at": user.created_at.isoformat(),
            "signing_key": key_fingerprint(user.signing_public_key)}


def _add(ctx: CliContext) -> int:
    session = ctx.session()
    # The name first: nobody should type a passphrase twice to learn that the name was refused.
    users.check_name_available(session, ctx.args.name)
    new = ctx.new_passphrase(ctx.args.new_passphrase_file, f"passphrase for {ctx.args.name}")
    user = users.add_user(session, ctx.args.name, Role(ctx.args.role), new, ctx.args.display_name)
    ctx.emit(user_to_json(user), lambda: [f"User {user.name!r} added as {user.role}."])
    return 0


def _list(ctx: CliContext) -> int:
    found = users.list_users(ctx.session())
    ctx.emit([user_to_json(u) for u in found],
             lambda: [f"{u.name:<20} {u.role!s:<14} {'active' if u.active else 'disabled':<9} {u.display_name}"
                      for u in found])
    return 0


def _passwd(ctx: CliContext) -> int:
    session = ctx.session()
    current = ctx.passphrase("Current passphrase: ")
    new = ctx.new_passphrase(ctx.args.new_passphrase_file)
    users.change_passphrase(session, current, new)
    ctx.emit({"id": session.user.id, "name": session.user.name, "changed": True},
             lambda: [f"Passphrase of {session.user.name!r} changed."])
    return 0


def _set_active(ctx: CliContext, active: bool) -> int:
    user, rotated = users.set_active(ctx.session(), ctx.args.name, active)
    lines = [f"User {user.name!r} is now {'enabled' if active else 'disabled'}."]
    if rotated is not None:
        lines.append(f"The vault master key was rotated ({rotated.blobs_rewrapped} evidence keys rewrapped, "
                     f"{rotated.seconds:.1f} s): an old copy of their key slot opens nothing current.")
        if rotated.new_recovery_key:
            lines.append("The old recovery key no longer opens the vault. New recovery key (print it, keep it "
                         f"in a safe): {rotated.new_recovery_key}")
    data = user_to_json(user) | ({"rotation": {"blobs_rewrapped": rotated.blobs_rewrapped, "seconds": rotated.seconds,
                                               "new_recovery_key": rotated.new_recovery_key}} if rotated else {})
    ctx.emit(data, lambda: lines)
    return 0
