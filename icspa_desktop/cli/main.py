"""``icspa`` entry point: global options, command groups, errors → one line + exit code."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
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
from icspa_desktop.cli.context import CliContext, error_line
from icspa_desktop.cli.options import Parser
from icspa_desktop.custody.checkpoints import WITNESS_ENV
from icspa_desktop.domain.errors import ExitCode, IcspaError, Terminated
from icspa_desktop.i18n import _
from icspa_desktop.vault.db import storage_error
from icspa_desktop.vault.process import disable_core_dumps

# Each module defines ``register(subparsers)``; its parsers set ``handler(ctx) -> int``.
COMMAND_GROUPS: list[ModuleType] = [
    vault_cmd, user_cmd, case_cmd, evidence_cmd, search_cmd, custody_cmd, report_cmd, agency_cmd, partner_cmd,
    bundle_cmd,
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="icspa", description=_("ICSPA Evidence Desktop — command line. Global options may stand "
                                                "before or after the command; the option rules are in docs/cli.md."))
    parser.add_argument("--version", action="version", version=f"icspa {__version__}")
    parser.add_argument("--vault", metavar="PATH", help=_("vault directory (env ICSPA_VAULT)"))
    parser.add_argument("--json", action="store_true", help=_("machine-readable output on stdout"))
    parser.add_argument("--user", metavar="NAME", help=_("user name (env ICSPA_USER)"))
    parser.add_argument(
        "--passphrase-file", metavar="FILE",
        help=_("read the passphrase from FILE (else env ICSPA_PASSPHRASE — less safe — or a prompt)"),
    )
    parser.add_argument(
        "--witness-dir", metavar="DIR",
        help=_("where your witnesses of the custody log live (env ICSPA_WITNESS_DIR; default: your config dir, "
               "outside the vault)"),
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=Parser)
    groups.required = True
    for module in COMMAND_GROUPS:
        module.register(groups)
    return parser


# Global options (DESIGN §6: "accepted before or after the command"): name → takes a value.
_GLOBAL_OPTIONS = {"--vault": True, "--user": True, "--passphrase-file": True, "--witness-dir": True, "--json": False}


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


# Temporary names our writers use beside a user's file (icspa_desktop/files.py, bundle/media.py, services/fixity.py,
# cli/options.replacing): an error about one of them is reported under the name the user gave.
_TEMP_NAME = re.compile(r"^\.(?P<name>.+?)(?:\.tmp-\d+|\.partial-(?:\d+-\d+-)?[0-9a-f]+(?:\.\d{3})?"
                        r"|\.icspa-partial-[^/]+|\.icspa-replaced-\d+)$")


def user_path(filename: object) -> str:
    """The path the user named, for an OSError's ``filename`` that may be one of our temporary names."""
    if filename is None:
        return ""
    text = os.fsdecode(filename) if isinstance(filename, bytes | str | os.PathLike) else str(filename)
    path = Path(text)
    match = _TEMP_NAME.match(path.name)
    return str(path.with_name(match["name"])) if match else text


def _os_error_line(exc: OSError) -> str:
    where = user_path(exc.filename) or _("while reading or writing a file")
    if exc.errno == errno.ENOSPC:
        return error_line(_("the disk is full ({where}); the unfinished step changed nothing — free some space and "
                            "try again.", where=where))
    return f"icspa: {exc.strerror or exc}: {where}"  # the system's own words


@contextlib.contextmanager
def _witness_env(directory: str | None) -> Iterator[None]:
    """``--witness-dir`` for the whole command: the services read ICSPA_WITNESS_DIR wherever no directory is
    passed (the user's witness at unlock and lock, checkpoints signed on the way). Restored afterwards."""
    if not directory:
        yield
        return
    before = os.environ.get(WITNESS_ENV)
    os.environ[WITNESS_ENV] = str(Path(directory).expanduser())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(WITNESS_ENV, None)
        else:
            os.environ[WITNESS_ENV] = before


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (a test may call main() elsewhere)
        return

    def stop(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    disable_core_dumps()  # before any key, passphrase or evidence byte is in memory
    parser = build_parser()
    args = parser.parse_args(hoist_global_options(sys.argv[1:] if argv is None else argv))
    with _witness_env(args.witness_dir), _stop_on_sigterm():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    ctx = CliContext(args)
    try:
        return int(args.handler(ctx))
    except IcspaError as exc:
        print(f"icspa: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt as exc:
        stopped = (_("stopped by SIGTERM; nothing was changed by the unfinished step.") if isinstance(exc, Terminated)
                   else _("interrupted; nothing was changed by the unfinished step."))
        print(error_line(stopped), file=sys.stderr)
        return int(ExitCode.OTHER)
    except OSError as exc:
        print(_os_error_line(exc), file=sys.stderr)
        return int(ExitCode.OTHER)
    except Exception as exc:  # the error boundary: never a traceback on the user's terminal (DESIGN §6)
        fault = storage_error(exc)  # a disk fault SQLite met outside a transaction (a read, an open)
        if fault is not None:
            print(f"icspa: {fault}", file=sys.stderr)
            return int(fault.exit_code)
        where = crashlog.record(exc)
        print(error_line(_("unexpected error ({kind}); nothing more was done. Details: {where}",
                           kind=type(exc).__name__, where=where)), file=sys.stderr)
        return int(ExitCode.OTHER)
    finally:
        for warning in ctx.close():
            print(warning, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
