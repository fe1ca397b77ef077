"""The errors of age v1 (``AgeError`` for the data, ``KeyFormatError`` for key strings) and their messages."""

from __future__ import annotations

from icspa_desktop.domain.errors import Text


class AgeError(Exception):
    """What is wrong with age data handed to us; ``str(exc)`` is one sentence a user can read (translated:
    ``message(exc)`` keeps its English beside it, for what a record keeps)."""


def message(exc: BaseException) -> Text:
    """The message of an error raised by this package as a ``Text``: shown translated, its ``english`` for records."""
    text = exc.args[0] if exc.args else ""
    return text if isinstance(text, Text) else Text(str(exc))


class HeaderError(AgeError):
    """The age header is malformed or cut short (or, for the subclasses, not age at all or altered)."""


class NotAgeFile(HeaderError):
    """The data does not start as a binary age v1 file: something else, empty, or ASCII-armored."""


class HeaderMacMismatch(HeaderError):
    """A stanza opened with our identity but the header's MAC does not match: the header was altered."""


class NoMatchingIdentity(AgeError):
    """The header is well-formed but none of its stanzas opens with any of the identities given."""


class PassphraseEncrypted(AgeError):
    """The file is encrypted to a passphrase (scrypt stanza), which this implementation does not support."""


class PayloadError(AgeError):
    """The payload failed: a chunk did not authenticate, or the chunk sequence is invalid.

    ``offset``: plaintext bytes passed to ``write`` before the failure (all of them authenticated);
    ``chunk``: the index of the chunk that failed.
    """

    def __init__(self, message: str, offset: int, chunk: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.chunk = chunk


class Truncated(PayloadError):
    """Every chunk authenticated but none was marked last: the file was cut short at a chunk boundary."""


class KeyFormatError(ValueError):
    """A recipient or identity string is not a valid age X25519 key (never echoes a secret)."""


class InvalidRecipient(KeyFormatError):
    """Not an ``age1…`` X25519 recipient."""


class InvalidIdentity(KeyFormatError):
    """Not an ``AGE-SECRET-KEY-1…`` X25519 identity."""

