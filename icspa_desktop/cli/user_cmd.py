"""``icspa user add|list|passwd|disable|enable``."""

from __future__ import annotations

from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.crypto.signing import key_fingerprint
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.models import User
from icspa_desktop.i18n import _
from icspa_desktop.services import users


def register(groups: Any) -> None:
    user = groups.add_parser("user", help=_("manage users and passphrases"))
    sub = user.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    add = sub.add_parser("add", help=_("add a user (administrators only)"))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--display-name", default="")
    add.add_argument("--new-passphrase-file", metavar="FILE",
                     help=_("the new user's passphrase (else env ICSPA_NEW_PASSPHRASE or a prompt)"))
    add.set_defaults(handler=_add)

    lst = sub.add_parser("list", help=_("list users"))
    lst.set_defaults(handler=_list)

    passwd = sub.add_parser("passwd", help=_("change your passphrase (rewrites only your key slot)"))
    passwd.add_argument("--new-passphrase-file", metavar="FILE")
    passwd.set_defaults(handler=_passwd)

    for verb, active, help_text in (("disable", False, _("disable a user account (administrators only)")),
                                    ("enable", True, _("enable a user account (administrators only)"))):
        cmd = sub.add_parser(verb, help=help_text)
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
    new = ctx.new_passphrase(ctx.args.new_passphrase_file, _("passphrase for {user}", user=ctx.args.name))
    user = users.add_user(session, ctx.args.name, Role(ctx.args.role), new, ctx.args.display_name)
    ctx.emit(user_to_json(user), lambda: [_("User {user} added as {role}.", user=repr(user.name), role=user.role)])
    return 0


def _list(ctx: CliContext) -> int:
    found = users.list_users(ctx.session())
    ctx.emit([user_to_json(u) for u in found],
             lambda: [f"{u.name:<20} {u.role!s:<14} {'active' if u.active else 'disabled':<9} {u.display_name}"
                      for u in found])
    return 0


def _passwd(ctx: CliContext) -> int:
    session = ctx.session()
    current = ctx.passphrase(_("Current passphrase: "))
    new = ctx.new_passphrase(ctx.args.new_passphrase_file)
    users.change_passphrase(session, current, new)
    ctx.emit({"id": session.user.id, "name": session.user.name, "changed": True},
             lambda: [_("Passphrase of {user} changed.", user=repr(session.user.name))])
    return 0


def _set_active(ctx: CliContext, active: bool) -> int:
    user, rotated = users.set_active(ctx.session(), ctx.args.name, active)
    lines = [_("User {user} is now enabled.", user=repr(user.name)) if active
             else _("User {user} is now disabled.", user=repr(user.name))]
    if rotated is not None:
        lines.append(_("The vault master key was rotated ({keys} evidence keys rewrapped, {seconds} s): an old copy "
                       "of their key slot opens nothing current.", keys=rotated.blobs_rewrapped,
                       seconds=f"{rotated.seconds:.1f}"))
        if rotated.new_recovery_key:
            lines.append(_("The old recovery key no longer opens the vault. New recovery key (print it, keep it in a "
                           "safe): {key}", key=rotated.new_recovery_key))
    data = user_to_json(user) | ({"rotation": {"blobs_rewrapped": rotated.blobs_rewrapped, "seconds": rotated.seconds,
                                               "new_recovery_key": rotated.new_recovery_key}} if rotated else {})
    ctx.emit(data, lambda: lines)
    return 0
