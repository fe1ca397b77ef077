"""Texts recorded in English and shown in the reader's language.

What is recorded stays English in every language — custody events, database rows, bundle contents, receipts,
``--json`` output, the custody report a bundle carries — but a user reads it in their own language. Such a text
is made in English from a template marked with ``N_()``, and the template goes into a ``Phrasebook`` where it is
made. The place that shows the text — a dialog, the CLI's text output — passes the English through
``book.shown(text)``: the template it matches is translated with the fields filled as they were recorded (a
field may be shown through a phrasebook of its own, e.g. the cause quoted inside a damage text, or through a
table of words, e.g. a recorded action code → its ``N_()`` words). A text no template matches — one recorded by
another version — is shown as it came.

(A message that is only *shown* is translated where it is made, with ``errors._()``; this module is for what
is recorded first and read later, or read from a record.)
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from icspa_desktop import i18n
from icspa_desktop.domain.errors import Text

_FORMATTER = string.Formatter()


def _pattern(template: str) -> re.Pattern[str]:
    """The regular expression a template's English fills match: each ``{field}`` any text, at least one character."""
    parts: list[str] = []
    seen: set[str] = set()
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"{template!r}: only named fields can be read back, not {{{name}}}")
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


def _shown_field(book: Phrasebook | Mapping[str, str], value: str) -> str:
    """A field's recorded value through its phrasebook, or its table of recorded tokens and ``N_()`` words."""
    if isinstance(book, Phrasebook):
        return book.shown(value)
    word = book.get(value)
    return value if word is None else i18n._(word)


class Phrasebook:
    """English templates of recorded texts, and how to show one of their texts in the reader's language."""

    def __init__(self, *templates: str, fields: Mapping[str, Phrasebook | Mapping[str, str]] | None = None) -> None:
        self.templates = templates
        self._exact = {t for t in templates if not any(name is not None for _l, name, _s, _c in _FORMATTER.parse(t))}
        # The most literal text first: "{label}: its stored leaf hash…" wins over "{label}: {problem}".
        patterned = sorted((t for t in templates if t not in self._exact),
                           key=lambda t: -sum(len(literal) for literal, _n, _s, _c in _FORMATTER.parse(t)))
        self._patterns = [(_pattern(t), t) for t in patterned]
        self._fields = dict(fields or {})

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.match(text) is not None

    def match(self, text: str) -> tuple[str, dict[str, str]] | None:
        """The template that ``text`` was made from and its fields, or None."""
        if text in self._exact:
            return text, {}
        for pattern, template in self._patterns:
            found = pattern.fullmatch(text)
            if found:
                return template, found.groupdict()
        return None

    def shown(self, text: str) -> str:
        """``text`` (English, as recorded) in the reader's language; as it is when no template made it."""
        found = self.match(text) if text else None  # most events' notes are empty: a timeline shows many
        if found is None:
            return text
        template, fields = found
        return i18n._(template, **{name: _shown_field(self._fields[name], value) if name in self._fields else value
                                   for name, value in fields.items()})

    def text(self, english: str) -> Text:
        """``shown(english)`` that keeps the English beside it: a field of an ``errors._()`` message."""
        return Text(self.shown(english), english)

    def __or__(self, other: Phrasebook) -> Phrasebook:
        """Both books' templates (and the field books of both; ``other``'s win)."""
        return Phrasebook(*self.templates, *other.templates, fields={**self._fields, **other._fields})


class Messages(Phrasebook):
    """A phrasebook for a field that quotes one of the core's error messages by its English (``errors.english``):
    a message made without fields is its own msgid, so the catalogue gives its translation; one with fields is
    known only where its template is in this book (a template such as "{label}: {error}" would claim any text, so
    the catalogue's templates are not tried as patterns) and otherwise shown as it came. (``|`` of it gives a plain
    ``Phrasebook``: use it as a field's book, or as the book of a text that is such a message.)"""

    def shown(self, text: str) -> str:
        if text and self.match(text) is None:
            return i18n._(text)  # no fields: the msgid itself; a text the catalogue lacks comes back as it is
        return super().shown(text)
