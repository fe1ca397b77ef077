"""``icspa search QUERY``: full text over cases and items, or a pasted MD5/SHA-1/SHA-256 value."""

from __future__ import annotations

from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.i18n import _
from icspa_desktop.services import search


def register(groups: Any) -> None:
    cmd = groups.add_parser("search", help=_("search cases and items by text, or items by hash value"))
    cmd.add_argument("query", metavar="QUERY", nargs="+", help=_("words, or a hex MD5/SHA-1/SHA-256"))
    cmd.add_argument("--limit", type=int, default=search.DEFAULT_LIMIT, help=_("most results of each kind"))
    cmd.set_defaults(handler=_search)


def _lines(results: search.SearchResults) -> list[str]:
    lines: list[str] = []
    if results.by_hash is not None:
        lines.append(_("Items with a SHA-256 starting with {value}:", value=results.query.lower()) if results.prefix
                     else _("Items with {algorithm} {value}:", algorithm=results.by_hash.value.upper(),
                            value=results.query.lower()))
    for case in results.cases:
        lines.append(f"case  {case.number:<20} {case.title}")
    for item in results.items:
        lines.append(f"item  {item.exhibit_number:<20} {item.original_name}  ({item.id})")
    if results.truncated:
        lines.append(_("Showing {cases} of {cases_total} case(s) and {items} of {items_total} item(s); refine the "
                       "search or raise --limit (at most 1000).", cases=len(results.cases),
                       cases_total=results.cases_total, items=len(results.items), items_total=results.items_total))
    return lines if results.cases or results.items else [_("Nothing found.")]


def _search(ctx: CliContext) -> int:
    results = search.search(ctx.session(), " ".join(ctx.args.query), max(1, min(ctx.args.limit, 1000)))
    ctx.emit(search.results_to_json(results), lambda: _lines(results))
    return 0
