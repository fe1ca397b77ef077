"""Every error the core raises, with its user-facing message and CLI exit code.

The GUI shows ``str(error)`` in a dialog; the CLI prints it as one line on stderr and exits with
``error.exit_code`` (DESIGN §6).

Messages are translated where they are built, with this module's ``_()`` / ``ngettext()``: the text shown is in
the user's language, and ``error.english`` keeps the English original for what a record keeps (a custody event's
notes, an export journal row): records stay English whatever language the user reads.
"""

from __future__ import annotations

from enum import IntEnum

from icspa_desktop import i18n


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    AUTHENTICATION = 3
    REFUSED_INPUT = 4
    OTHER = 5
    PERMISSION_DENIED = 6


class Text(str):
    """A message in the user's language that remembers its English original (``english``)."""

    english: str

    def __new__(cls, shown: str, english: str | None = None) -> Text:
        text = super().__new__(cls, shown)
        text.english = shown if english is None else english
        return text


def english(value: object) -> str:
    """The English of a message or an error built with ``_()`` here; any other value as ``str()`` gives it."""
    if isinstance(value, IcspaError):
        return value.english
    return value.english if isinstance(value, Text) else str(value)


def _english_fields(fields: dict[str, object]) -> dict[str, object]:
    return {key: english(value) if isinstance(value, IcspaError | Text) else value for key, value in fields.items()}


def _(message: str, **fields: object) -> Text:
    """``i18n._`` for an error message: shown translated, its English (fields in English too) kept beside it."""
    return Text(i18n._(message, **fields), message.format(**_english_fields(fields)) if fields else message)


def ngettext(singular: str, plural: str, n: int, **fields: object) -> Text:
    """``i18n.ngettext`` for an error message, its English kept as ``_()`` here keeps it."""
    shown = i18n.ngettext(singular, plural, n, **fields)
    fields.setdefault("n", n)
    return Text(shown, (singular if n == 1 else plural).format(**_english_fields(fields)))


class IcspaError(Exception):
    """Base of all expected failures. The message is shown to the user as it is."""

    exit_code: ExitCode = ExitCode.OTHER

    @property
    def english(self) -> str:
        """The message in English, for records (a translated message keeps its original; see ``_()``)."""
        return english(self.args[0]) if len(self.args) == 1 else str(self)


class UsageError(IcspaError):
    exit_code = ExitCode.USAGE


class AuthenticationError(IcspaError):
    exit_code = ExitCode.AUTHENTICATION


class PermissionDenied(IcspaError):
    exit_code = ExitCode.PERMISSION_DENIED


class RefusedInput(IcspaError):
    """Bad, tampered or untrusted input (file, bundle, card)."""

    exit_code = ExitCode.REFUSED_INPUT


class VerificationFailed(IcspaError):
    """A check ran and found damage (fixity mismatch, custody log tampering)."""

    exit_code = ExitCode.CHECK_FAILED


class NotFound(IcspaError):
    exit_code = ExitCode.OTHER


class Conflict(IcspaError):
    """The request clashes with existing state (duplicate case number, existing vault)."""

    exit_code = ExitCode.OTHER


class VaultError(IcspaError):
    """The vault cannot be used: missing, damaged, busy, locked, or of an unknown format."""

    exit_code = ExitCode.OTHER


class VaultBusy(VaultError):
    pass


class VaultLocked(VaultError):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (a shutdown, ``kill``, a service manager): the CLI stops a command as Ctrl+C stops it, so that what its
    unfinished step began is undone (an import's staged files were left for the next unlock to quarantine)."""


class Cancelled(IcspaError):
    exit_code = ExitCode.OTHER

    def __init__(self, message: str | None = None) -> None:
        super().__init__(_("Cancelled by the user; nothing was changed.") if message is None else message)
