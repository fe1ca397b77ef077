"""Every error the core raises, with its user-facing message and CLI exit code.

The GUI shows ``str(error)`` in a dialog; the CLI prints it as one line on stderr and exits with
``error.exit_code`` (DESIGN §6).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    AUTHENTICATION = 3
    REFUSED_INPUT = 4
    OTHER = 5
    PERMISSION_DENIED = 6


class IcspaError(Exception):
    """Base of all expected failures. The message is shown to the user as it is."""

    exit_code: ExitCode = ExitCode.OTHER


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


class Cancelled(IcspaError):
    exit_code = ExitCode.OTHER

    def __init__(self, message: str = "Cancelled by the user; nothing was changed.") -> None:
        super().__init__(message)
