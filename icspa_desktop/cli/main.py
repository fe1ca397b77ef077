"""``icspa`` entry point: global options, command groups, errors → one line + exit code."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from types import ModuleType

from icspa_desktop import __version__
from icspa_desktop.cli import (
    agency_cmd,
    bundle_cmd,
    case_cmd,
    crashlog,
    custody_cmd,
    evidence_cmd,
    partner_cmd,
    report_cmd,
    search_cmd,
    user_cmd,
    vault_cmd,
)
from icspa_desktop.cli.context import CliContext
from icspa_desktop.domain.errors import ExitCode, IcspaError
from icspa_desktop.vault.process import disable_core_dumps

# Each module defines ``register(subparsers)``; its parsers set ``handler(ctx) -> int``.
COMMAND_GROUPS: list[ModuleType] = [
    vault_cmd, user_cmd, case_cmd, evidence_cmd, search_cmd, custody_cmd, report_cmd, agency_cmd, partner_cmd,
    bundle_cmd,
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's default prints the whole usage; DESIGN §6 wants one clear line and exit 2.
        self.exit(int(ExitCode.USAGE), f"icspa: error: {message} (see 'icspa --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="icspa", description="ICSPA Evidence Desktop — command line")
    parser.add_argument("--version", action="version", version=f"icspa {__version__}")
    parser.add_argument("--vault", metavar="PATH", help="vault directory (env ICSPA_VAULT)")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("--user", metavar="NAME", help="user name (env ICSPA_USER)")
    parser.add_argument(
        "--passphrase-file", metavar="FILE",
        help="read the passphrase from FILE (else env ICSPA_PASSPHRASE — less safe — or a prompt)",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=_Parser)
    groups.required = True
    for module in COMMAND_GROUPS:
        module.register(groups)
    return parser


# Global options (DESIGN §6: "accepted before or after the command"): name → takes a value.
_GLOBAL_OPTIONS = {"--vault": True, "--user": True, "--passphrase-file": True, "--json": False}


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move the global options to the front, wherever they stand (``icspa vault init --user alice`` is
    ``icspa --user alice vault init``); everything after ``--`` is left alone."""
    front: list[str] = []
    rest: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        arg = tokens[i]
        if arg == "--":
            rest.extend(tokens[i:])
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS:
            takes_value = _GLOBAL_OPTIONS[name]
            if takes_value and "=" not in arg and i + 1 < len(tokens):
                front.extend(tokens[i:i + 2])
                i += 2
                continue
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    disable_core_dumps()  # before any key, passphrase or evidence byte is in memory
    parser = build_parser()
    args = parser.parse_args(hoist_global_options(sys.argv[1:] if argv is None else argv))
    ctx = CliContext(args)
    try:
        return int(args.handler(ctx))
    except IcspaError as exc:
        print(f"icspa: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("icspa: interrupted; nothing was changed by the unfinished step.", file=sys.stderr)
        return int(ExitCode.OTHER)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            print(f"icspa: the disk is full ({exc.filename or 'while writing'}); the unfinished step changed "
                  "nothing — free some space and try again.", file=sys.stderr)
        else:
            print(f"icspa: {exc.strerror or exc} ({exc.filename or 'I/O error'})", file=sys.stderr)
        return int(ExitCode.OTHER)
    except Exception as exc:  # the error boundary: never a traceback on the user's terminal (DESIGN §6)
        if "database or disk is full" in str(exc):
            print("icspa: the disk holding the vault is full; the unfinished step changed nothing — free some "
                  "space and try again.", file=sys.stderr)
            return int(ExitCode.OTHER)
        where = crashlog.record(exc)
        print(f"icspa: unexpected error ({type(exc).__name__}); nothing more was done. Details: {where}",
              file=sys.stderr)
        return int(ExitCode.OTHER)
    finally:
        for warning in ctx.close():
            print(warning, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
