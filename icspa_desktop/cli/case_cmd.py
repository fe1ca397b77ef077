"""``icspa case create|list|show|edit|close|reopen``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.cli.options import add_reason
from icspa_desktop.domain.enums import CASE_STATUS_WORDS, CaseStatus, HandlingCode, Tlp
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.i18n import _
from icspa_desktop.services import cases

# option → CaseFields attribute
_FIELD_OPTIONS = {
    "number": "number", "title": "title", "description": "description", "lead": "lead_investigator",
    "jurisdiction": "jurisdiction", "authority": "legal_authority", "handling": "handling_code",
    "handling_text": "handling_text", "tlp": "tlp",
}


def _add_field_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--number", required=required, help=_("case number (unique)"))
    parser.add_argument("--title", required=required)
    parser.add_argument("--description")
    parser.add_argument("--lead", help=_("lead investigator"))
    parser.add_argument("--jurisdiction", help=_("jurisdiction / agency"))
    parser.add_argument("--authority", help=_("legal authority reference, e.g. warrant number"))
    parser.add_argument("--handling", choices=[h.value for h in HandlingCode], help=_("Europol handling code"))
    parser.add_argument("--handling-text", help=_("the restriction, required with H3"))
    parser.add_argument("--tlp", choices=[t.value for t in Tlp], help=_("TLP 2.0 label"))


def register(groups: Any) -> None:
    case = groups.add_parser("case", help=_("create, list, show and edit cases"))
    sub = case.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    create = sub.add_parser("create", help=_("create a case"))
    _add_field_options(create, required=True)
    create.set_defaults(handler=_create)

    lst = sub.add_parser("list", help=_("list cases"))
    lst.add_argument("--status", choices=[s.value for s in CaseStatus])
    lst.set_defaults(handler=_list)

    show = sub.add_parser("show", help=_("show one case"))
    show.add_argument("case", metavar="CASE", help=_("case number or id"))
    show.set_defaults(handler=_show)

    edit = sub.add_parser("edit", help=_("change fields of a case (only the options given)"))
    edit.add_argument("case", metavar="CASE")
    _add_field_options(edit, required=False)
    add_reason(edit)
    edit.set_defaults(handler=_edit)

    for verb, status, help_text in (("close", CaseStatus.CLOSED, _("close a case (supervisors and administrators)")),
                                    ("reopen", CaseStatus.OPEN, _("reopen a case (supervisors and administrators)"))):
        cmd = sub.add_parser(verb, help=help_text)
        cmd.add_argument("case", metavar="CASE")
        add_reason(cmd)
        cmd.set_defaults(handler=lambda ctx, status=status: _set_status(ctx, status))


def _fields_from(args: argparse.Namespace, base: CaseFields) -> CaseFields:
    changes = {attr: getattr(args, opt) for opt, attr in _FIELD_OPTIONS.items() if getattr(args, opt) is not None}
    return replace(base, **changes)


def _human(case: Case) -> list[str]:
    f = case.fields
    marking = f"{f.handling_code}" + (f" ({f.handling_text})" if f.handling_text else "") + f", TLP:{f.tlp}"
    rows = [(_("id:"), case.id), (_("status:"), _(CASE_STATUS_WORDS[case.status])), (_("markings:"), marking),
            (_("lead:"), f.lead_investigator), (_("jurisdiction:"), f.jurisdiction),
            (_("authority:"), f.legal_authority), (_("created:"), case.created_at.isoformat(timespec="seconds")),
            (_("updated:"), case.updated_at.isoformat(timespec="seconds")),
            *([(_("description:"), f.description)] if f.description else [])]
    return [_("Case {number}: {title}", number=f.number, title=f.title), *field_lines(rows)]


def field_lines(rows: Sequence[tuple[str, object]], width: int = 12) -> list[str]:
    """``  label: value`` lines with the values in a column ``width`` wide (wider for longer translated labels); as
    ever, the longest label ("jurisdiction:") sits one space before its value, and nothing after it when empty."""
    width = max([width, *(len(label) - 1 for label, _value in rows)])
    return [f"  {label:<{width}}" + (f" {value}" if str(value) or len(label) < width else "") for label, value in rows]


def _create(ctx: CliContext) -> int:
    fields = _fields_from(ctx.args, CaseFields(number="", title=""))
    case = cases.create_case(ctx.session(), fields)
    ctx.emit(cases.case_to_json(case), lambda: [_("Case {number} created ({id}).", number=case.number, id=case.id)])
    return 0


def _list(ctx: CliContext) -> int:
    status = CaseStatus(ctx.args.status) if ctx.args.status else None
    found = cases.list_cases(ctx.session(), status)
    ctx.emit([cases.case_to_json(c) for c in found],
             lambda: [f"{c.number:<20} {c.status!s:<7} {c.fields.handling_code} TLP:{c.fields.tlp!s:<13} {c.title}"
                      for c in found] or [_("No cases.")])
    return 0


def _show(ctx: CliContext) -> int:
    case = cases.get_case(ctx.session(), ctx.args.case)
    ctx.emit(cases.case_to_json(case), lambda: _human(case))
    return 0


def _edit(ctx: CliContext) -> int:
    session = ctx.session()
    case = cases.get_case(session, ctx.args.case)
    updated = cases.edit_case(session, case.id, _fields_from(ctx.args, case.fields), ctx.args.reason)
    ctx.emit(cases.case_to_json(updated), lambda: [_("Case {number} updated.", number=updated.number)])
    return 0


def _set_status(ctx: CliContext, status: CaseStatus) -> int:
    case = cases.set_status(ctx.session(), ctx.args.case, status, ctx.args.reason)
    ctx.emit(cases.case_to_json(case), lambda: [_("Case {number} is now open.", number=case.number)
                                                if case.status is CaseStatus.OPEN
                                                else _("Case {number} is now closed.", number=case.number)])
    return 0
