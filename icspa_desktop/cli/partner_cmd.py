"""``icspa partner import|add|list|show|revoke``."""

from __future__ import annotations

from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.cli.options import add_reason, read_input_file
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import Partner
from icspa_desktop.i18n import _
from icspa_desktop.services import partners


def register(groups: Any) -> None:
    cmd = groups.add_parser("partner", help=_("partner agencies you exchange bundles with"))
    sub = cmd.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    imp = sub.add_parser("import", help=_("trust a partner's agency card after comparing its fingerprint"))
    imp.add_argument("card", metavar="CARD")
    imp.add_argument("--confirm-fingerprint", metavar="FP",
                     help=_("the fingerprint the partner told you out of band (phone, letter); may be left out "
                            "only for a successor card signed by the partner's previous, still trusted key"))
    imp.set_defaults(handler=_import)

    inspect = sub.add_parser("inspect", help=_("check a card and show its fingerprint, without trusting it"))
    inspect.add_argument("card", metavar="CARD")
    inspect.set_defaults(handler=_inspect)

    add = sub.add_parser("add", help=_("add a partner that has no copy of this application"))
    add.add_argument("--name", required=True)
    add.add_argument("--country", required=True)
    add.add_argument("--age-recipient", required=True, metavar="age1...")
    add.add_argument("--cert", required=True, metavar="FILE.pem")
    add.add_argument("--unit", default="")
    add.add_argument("--contact", default="")
    add.set_defaults(handler=_add)

    lst = sub.add_parser("list", help=_("list partners"))
    lst.add_argument("--active", action="store_true", help=_("only partners that can be sent to"))
    lst.set_defaults(handler=_list)

    show = sub.add_parser("show", help=_("show one partner"))
    show.add_argument("partner", metavar="ID|NAME|FINGERPRINT")
    show.set_defaults(handler=_show)

    revoke = sub.add_parser("revoke", help=_("stop trusting a partner (its bundles are refused)"))
    revoke.add_argument("partner", metavar="ID|NAME|FINGERPRINT")
    add_reason(revoke, required=True)
    revoke.set_defaults(handler=_revoke)


def _human(p: Partner) -> list[str]:
    shown = partners.partner_to_json(p) | {"status": partners.shown_status(p)}
    return [f"{key:>20}: {value}" for key, value in shown.items()]


def _import(ctx: CliContext) -> int:
    partner = partners.import_card(ctx.session(), read_input_file(ctx.args.card, "card"), ctx.args.confirm_fingerprint)
    done = (_("Partner {name} ({country}) new key accepted as the successor of its previous key.",
              name=partner.name, country=partner.country) if partner.lineage != partner.id
            else _("Partner {name} ({country}) trusted.", name=partner.name, country=partner.country))
    ctx.emit(partners.partner_to_json(partner), lambda: [done, *_human(partner)])
    return 0


def _inspect(ctx: CliContext) -> int:
    session = ctx.session()
    card = partners.read_card(read_input_file(ctx.args.card, "card"))
    successor = partners.successor_of(session, card)
    data = {**{k: v for k, v in card.body.items() if k != "certificate"}, "fingerprint": card.fingerprint,
            "card_expires": card.expires.isoformat(), "certificate_subject": certs.subject_text(card.certificate),
            "certificate_sha256": certs.sha256_fingerprint(card.certificate),
            "successor_of": successor.id if successor else None}
    notes = [_("Signed by the trusted key of partner {name}: importing it replaces that key.", name=successor.name)
             if successor else _("Compare the fingerprint with the partner (phone, letter) before importing it.")]
    ctx.emit(data, lambda: [f"{key:>20}: {value}" for key, value in data.items()] + notes)
    return 0


def _add(ctx: CliContext) -> int:
    a = ctx.args
    cert = read_input_file(a.cert, "certificate file")
    partner = partners.add_partner(ctx.session(), a.name, a.country, a.age_recipient, cert, a.unit, a.contact)
    ctx.emit(partners.partner_to_json(partner), lambda: [_("Partner {name} added.", name=partner.name),
                                                         *_human(partner)])
    return 0


def _list(ctx: CliContext) -> int:
    found = partners.list_partners(ctx.session(), include_inactive=not ctx.args.active)
    ctx.emit([partners.partner_to_json(p) for p in found],
             lambda: [f"{p.name:<30} {p.country} {partners.shown_status(p):<10} {p.fingerprint}  "
                      + _("expires {date}", date=f"{p.expires:%Y-%m-%d}") for p in found] or [_("No partners.")])
    return 0


def _show(ctx: CliContext) -> int:
    partner = partners.get_partner(ctx.session(), ctx.args.partner)
    ctx.emit(partners.partner_to_json(partner), lambda: _human(partner))
    return 0


def _revoke(ctx: CliContext) -> int:
    partner = partners.revoke_partner(ctx.session(), ctx.args.partner, ctx.args.reason)
    ctx.emit(partners.partner_to_json(partner), lambda: [_("Partner {name} revoked.", name=partner.name)])
    return 0
