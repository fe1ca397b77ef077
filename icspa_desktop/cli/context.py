"""What every command handler gets: the vault path, output mode, and credentials on demand."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from icspa_desktop.cli.options import check_new_file, read_secret_file
from icspa_desktop.domain.errors import UsageError
from icspa_desktop.files import default_vault_path
from icspa_desktop.i18n import N_, _
from icspa_desktop.services.session import Session, unlock

__all__ = ["NEW_PASSPHRASE_ENV", "PASSPHRASE_ENV", "USER_ENV", "CliContext", "check_new_file", "error_line"]

PASSPHRASE_ENV = "ICSPA_PASSPHRASE"  # noqa: S105 - an env variable name
NEW_PASSPHRASE_ENV = "ICSPA_NEW_PASSPHRASE"  # noqa: S105 - an env variable name
USER_ENV = "ICSPA_USER"
# The secret a new-passphrase prompt asks for, in "Enter the …" / "Repeat the …" / "No … given" (translated there).
NEW_PASSPHRASE = N_("new passphrase")
FIRST_PASSPHRASE = N_("passphrase for the new vault")


class CliContext:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.vault_path: Path = Path(args.vault).expanduser() if args.vault else default_vault_path()
        self.json: bool = bool(args.json)
        # Global (docs/cli.md): main() also puts it in ICSPA_WITNESS_DIR for the command, so the user's witness
        # at unlock and every checkpoint a service signs on its own use the same directory.
        self.witness_dir: Path | None = Path(args.witness_dir).expanduser() if args.witness_dir else None
        self._session: Session | None = None
        self._warned = 0  # session warnings already printed

    # ---- credentials ------------------------------------------------------------------
    def user_name(self) -> str:
        name = self.args.user or os.environ.get(USER_ENV)
        if name:
            return str(name)
        if sys.stdin.isatty():
            return input(_("User: ")).strip()
        raise UsageError(_("No user given: use --user NAME or set ICSPA_USER."))

    def passphrase(self, prompt: str | None = None) -> str:
        """The passphrase; ``prompt`` (translated) asks for it on a terminal (default "Passphrase: ")."""
        if self.args.passphrase_file:
            return read_secret_file(self.args.passphrase_file)
        env = os.environ.get(PASSPHRASE_ENV)
        if env is not None:
            return env
        if sys.stdin.isatty():
            return getpass.getpass(prompt or _("Passphrase: "))
        raise UsageError(_("No passphrase given: use --passphrase-file FILE, ICSPA_PASSPHRASE, or run "
                           "interactively."))

    def new_passphrase(self, file_option: str | None, what: str | None = None) -> str:
        """A new passphrase from ``file_option``, ICSPA_NEW_PASSPHRASE or asked twice; ``what`` (translated) names
        it in the prompts (default: "new passphrase")."""
        what = what or _(NEW_PASSPHRASE)
        if file_option:
            return read_secret_file(file_option)
        env = os.environ.get(NEW_PASSPHRASE_ENV)
        if env is not None:
            return env
        if sys.stdin.isatty():
            first = getpass.getpass(_("Enter the {what}: ", what=what))
            if getpass.getpass(_("Repeat the {what}: ", what=what)) != first:
                raise UsageError(_("The two entries differ; nothing was changed."))
            return first
        raise UsageError(_("No {what} given: use --new-passphrase-file FILE, ICSPA_NEW_PASSPHRASE, or a terminal.",
                           what=what))

    def session(self) -> Session:
        if self._session is None:
            self._session = unlock(self.vault_path, self.user_name(), self.passphrase())
            for warning in self._session.warnings:
                if warning != self._session.read_only_notice:  # told at close(), see there
                    print(warning_line(warning), file=sys.stderr)
            self._warned = len(self._session.warnings)
        return self._session

    def close(self) -> list[str]:
        """Lock; returns the warnings not yet shown (from the command, or the lock: a witness not written)."""
        if self._session is None:
            return []
        session, self._session = self._session, None
        session.lock()
        lines = [warning_line(w) for w in session.warnings[self._warned:]]
        # A read-only vault is told once, after the command's output; a write it refused is one line that
        # already names the read-only vault (docs/cli.md).
        if session.read_only_notice is not None and not session.write_refused:
            lines.insert(0, warning_line(session.read_only_notice))
        return lines

    # ---- output -----------------------------------------------------------------------
    def emit(self, data: dict[str, Any] | list[dict[str, Any]], human: Callable[[], Iterable[str]]) -> None:
        """``--json``: the object(s) on stdout; otherwise the human lines."""
        if self.json:
            json.dump(data, sys.stdout, indent=2, ensure_ascii=False, sort_keys=True)
            sys.stdout.write("\n")
        else:
            for line in human():
                print(line)

    def info(self, message: str) -> None:
        """A human note: on stderr in --json mode, so stdout stays machine-readable."""
        print(message, file=sys.stderr if self.json else sys.stdout)


def error_line(message: str) -> str:
    """An error the CLI itself reports: one line, ``icspa:`` first (docs/cli.md); ``message`` is translated."""
    return f"icspa: {message}"


def warning_line(warning: str) -> str:
    """A service's warning as the CLI prints it: one line, ``icspa: warning:`` first (docs/cli.md)."""
    text = " ".join(warning.split())
    return f"icspa: warning: {text.removeprefix('Warning: ')}"
