"""The CLI's shared option rules (docs/cli.md): one spelling per concept, old spellings as hidden aliases.

Every command module builds its options through these helpers, so that ``--reason``, ``--out``/``--force``,
list options and secret files mean the same everywhere, and an old spelling keeps working for scripts
without showing up in ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from icspa_desktop.domain.errors import Conflict, ExitCode, UsageError
from icspa_desktop.files import read_bounded
from icspa_desktop.i18n import N_, _

# Option strings that parse but are not shown in --help, per action (old spellings kept for scripts).
_HIDDEN_OPTIONS: weakref.WeakKeyDictionary[argparse.Action, frozenset[str]] = weakref.WeakKeyDictionary()


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, without the hidden aliases of an option or a subcommand."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = _HIDDEN_OPTIONS.get(action)
        if hidden:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings if s not in hidden]
        return super()._format_action_invocation(action)


class Parser(argparse.ArgumentParser):
    """One clear line and exit 2 for a usage error (DESIGN §6), and the formatter above for every (sub)parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's default prints the whole usage first. "icspa: error:" is the documented prefix (docs/cli.md);
        # the message is argparse's own (its gettext domain).
        self.exit(int(ExitCode.USAGE), "icspa: error: " + _("{error} (see '{command} --help')", error=message,
                                                             command=self.prog) + "\n")


def add_option(parser: argparse.ArgumentParser | Any, preferred: str, *old: str, **kwargs: Any) -> argparse.Action:
    """``parser.add_argument(preferred, *old, ...)`` with the old spellings accepted but left out of --help."""
    kwargs.setdefault("dest", preferred.lstrip("-").replace("-", "_"))
    action: argparse.Action = parser.add_argument(preferred, *old, **kwargs)
    if old:
        _HIDDEN_OPTIONS[action] = frozenset(old)
    return action


def add_command(sub: Any, name: str, *old: str, **kwargs: Any) -> argparse.ArgumentParser:
    """``sub.add_parser(name, ...)``; the old names run the same command but are not listed in --help."""
    parser: argparse.ArgumentParser = sub.add_parser(name, aliases=list(old), **kwargs)
    if old and "help" in kwargs:
        # argparse lists aliases as "name (old, …)"; show the preferred name only.
        pseudo = sub._choices_actions[-1]  # argparse has no public hook for this
        pseudo.metavar = pseudo.dest = name
    return parser


def add_reason(parser: argparse.ArgumentParser | Any, *, required: bool = False, help_text: str = "") -> None:
    """``--reason TEXT``: why this is done, recorded in the chain of custody (old spelling ``--purpose``)."""
    add_option(parser, "--reason", "--purpose", required=required, default="", metavar="TEXT",
               help=help_text or _("why (recorded in the chain of custody)"))


def add_out(parser: argparse.ArgumentParser | Any, metavar: str = "FILE", help_text: str = "",
            *, required: bool = True) -> None:
    """``--out FILE`` and ``--force``: an existing file is refused unless ``--force`` (see ``check_new_file``).
    ``help_text`` is translated already (default: "the file to write")."""
    parser.add_argument("--out", required=required, type=Path, metavar=metavar,
                        help=_("{what} (an existing file is refused unless --force)",
                               what=help_text or _("the file to write")))
    parser.add_argument("--force", action="store_true", help=_("replace existing output files"))


def add_list_option(parser: argparse.ArgumentParser | Any, preferred: str, *old: str, metavar: str,
                    help_text: str, required: bool = False) -> None:
    """A list option: comma-separated values, and the option may be repeated (``--tag a,b --tag c``);
    ``help_text`` is translated already."""
    add_option(parser, preferred, *old, action="append", metavar=metavar, default=None, required=required,
               help=_("{what}; comma-separated, may be repeated", what=help_text))


def split_list(values: Sequence[str] | None) -> list[str] | None:
    """The values of a list option, or None when it was not given (``--tag ''`` gives an empty list)."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def check_new_file(path: Path, force: bool = False) -> Path:
    """The one rule for every ``--out`` (issue 12): an existing file is refused unless ``--force``; the folder must
    exist. Checked before anything is recorded or written."""
    if not path.parent.is_dir():
        raise UsageError(_("The folder {path} does not exist.", path=path.parent))
    if path.is_dir():
        raise UsageError(_("{path} is a folder; give a file name.", path=path))
    if os.path.lexists(path) and not force:
        raise Conflict(_("{path} already exists; choose another file name, or add --force to replace it.",
                         path=path))
    return path


ASIDE_MARK = ".icspa-replaced-"


@contextlib.contextmanager
def replacing(paths: Iterable[Path], force: bool) -> Iterator[None]:
    """For services that never write over a file: with ``--force``, move the existing ``paths`` aside for the
    duration of the command, remove them when it succeeds and put them back when it fails (old or new, never
    neither)."""
    existing = [p for p in paths if os.path.lexists(p)]
    for path in existing:
        check_new_file(path, force)
    aside: list[tuple[Path, Path]] = []
    try:
        for path in existing:
            moved = path.with_name(f".{path.name}{ASIDE_MARK}{os.getpid()}")
            os.rename(path, moved)
            aside.append((path, moved))
        yield
    except BaseException:
        for path, moved in reversed(aside):
            if not os.path.lexists(path):
                with contextlib.suppress(OSError):
                    os.rename(moved, path)
        raise
    for _path, moved in aside:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(moved)


# What a secret file holds, as named in "Cannot read the … file" (translated where shown).
SECRET_PASSPHRASE, SECRET_RECOVERY_KEY, SECRET_KEY_PASSWORD = N_("passphrase"), N_("recovery key"), N_("key password")


def read_secret_file(path: str | Path, what: str = SECRET_PASSPHRASE) -> str:
    """A secret file's text; its trailing line break is not part of the secret. ``what``: one of ``SECRET_*``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(_("Cannot read the {what} file {path}: {reason}.", what=_(what), path=path,
                           reason=exc.strerror)) from None
    return text.rstrip("\r\n")


def read_input_file(path: str | Path, what: str = "file") -> bytes:
    """A file the user named as input (a regular file, bounded: ``files.read_bounded``); a missing or
    unreadable one is a usage error that names it."""
    return read_bounded(path, what)
