"""Translations of the user interface: ``_()`` / ``ngettext()`` over gettext catalogues, the language setting,
and dates in the reader's locale and zone with UTC beside them. Qt-free: the CLI and reports can use it too.

Messages are English source text with named ``{fields}`` (``str.format``): ``_("Vault: {path}", path=p)``.
A translation must keep exactly the original's fields (tests/i18n checks it); should a catalogue ever break
that, the original's English is shown rather than an error.

The catalogues are ``locale/<lang>/LC_MESSAGES/icspa.po``, read at first use and compiled in memory into
the ``.mo`` form that the standard library's ``gettext.GNUTranslations`` reads: the ``.po`` file is the only
copy, so there is no compiled file in git that could lag behind it and no build step to forget.

``python -m icspa_desktop.i18n --update`` extracts the marked messages from the source (``_``, ``ngettext``,
``N_`` calls with literal text) into ``locale/icspa.pot`` and each language's ``.po``; ``--check`` lists what
is untranslated, fuzzy or obsolete; ``--compile DIR`` writes ``.mo`` files for tools that want them.
docs/translations.md explains the work flow.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gettext
import io
import locale
import os
import string
import struct
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

DOMAIN = "icspa"
ENV_VAR = "ICSPA_LANG"
SOURCE_LANGUAGE = "en"
# Each language under its own name, so a user who cannot read the current one still finds theirs.
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français"}
PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
_FORMATTER = string.Formatter()


# ---- the language setting ------------------------------------------------------------------------------
def settings_file() -> Path:
    """``$XDG_CONFIG_HOME/icspa/language``: one line, the chosen code. A file of its own rather than a key of
    the desktop's ``desktop.ini``: the CLI reads it too, without Qt and without QSettings' INI dialect."""
    return Path(platformdirs.user_config_dir("icspa", appauthor=False)) / "language"


def _supported(code: str | None) -> str | None:
    """``de_DE.UTF-8`` / ``fr-CH`` / ``DE`` → the supported language it names, else None."""
    if not code:
        return None
    base = code.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return base if base in LANGUAGES else None


def saved_language() -> str | None:
    """The language chosen in the app (Help → Language…), None when the user never chose one."""
    try:
        text = settings_file().read_text(encoding="utf-8")[:64]
    except (OSError, UnicodeDecodeError):
        return None
    return _supported(text)


def save_language(code: str | None) -> None:
    """Remember ``code`` for the next start; None removes the choice (follow the system again)."""
    from icspa_desktop.files import atomic_write  # the vault's crash-safe write; imported when used

    path = settings_file()
    if code is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    if _supported(code) != code:
        raise ValueError(f"not a supported language: {code!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, f"{code}\n".encode())


def system_language() -> str | None:
    """The first supported language of the session's locale (gettext's order: LANGUAGE, LC_ALL, LC_MESSAGES,
    LANG), then what the C library reports; "C" and "POSIX" name none."""
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            for code in value.split(":"):
                if _supported(code):
                    return _supported(code)
            if variable != "LANGUAGE":  # LC_ALL=C means C, whatever LANG says
                return None
    with contextlib.suppress(ValueError):
        return _supported(locale.getlocale()[0])
    return None


def chosen_language() -> str:
    """``ICSPA_LANG``, else the saved choice, else the system's language, else English."""
    return _supported(os.environ.get(ENV_VAR)) or saved_language() or system_language() or SOURCE_LANGUAGE


# ---- catalogues -----------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One message of a ``.po`` file; ``msgstr`` has one form, or one per plural form when ``plural``."""

    msgid: str
    plural: str = ""
    msgstr: list[str] = field(default_factory=lambda: [""])
    references: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    comments: list[str] = field(default_factory=list)  # translator comments ("# ...")

    @property
    def translated(self) -> bool:
        return all(self.msgstr) and "fuzzy" not in self.flags


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: str, where: str) -> str:
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"{where}: expected a quoted string")
    out, chars = [], iter(token[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise ValueError(f"{where}: unknown escape \\{escaped}")
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


def parse_po(text: str, name: str = "<po>") -> list[Entry]:
    """The entries of a ``.po`` file (the header is the entry with msgid ""); obsolete ``#~`` entries are
    dropped. Only what this project writes is accepted: no ``msgctxt``."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # which string continuation lines extend
    pending = Entry("")

    def finish() -> None:
        nonlocal current, pending
        if current is not None:
            entries.append(current)
        current, pending = None, Entry("")

    for number, raw in enumerate(text.splitlines(), 1):
        line, where = raw.strip(), f"{name}:{number}"
        if not line:
            finish()
            target = None
        elif line.startswith("#~"):
            continue
        elif line.startswith("#"):
            if current is not None and target is not None and target[0] == "msgstr":
                finish()
            if line.startswith("#:"):
                pending.references += line[2:].split()
            elif line.startswith("#,"):
                pending.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            elif not line.startswith("#.") and not line.startswith("#|"):
                pending.comments.append(line[1:].strip())
        elif line.startswith('"'):
            if current is None or target is None:
                raise ValueError(f"{where}: a string outside an entry")
            value = _unquote(line, where)
            if target[0] == "msgid":
                current.msgid += value
            elif target[0] == "msgid_plural":
                current.plural += value
            else:
                current.msgstr[target[1]] += value
        else:
            keyword, _sep, rest = line.partition(" ")
            value = _unquote(rest.strip(), where)
            if keyword == "msgid":
                if current is not None:
                    finish()
                current = pending
                current.msgid, target = value, ("msgid", 0)
            elif current is None:
                raise ValueError(f"{where}: {keyword} before msgid")
            elif keyword == "msgid_plural":
                current.plural, target = value, ("msgid_plural", 0)
            elif keyword == "msgstr":
                current.msgstr, target = [value], ("msgstr", 0)
            elif keyword.startswith("msgstr[") and keyword.endswith("]") and keyword[7:-1].isdigit():
                index = int(keyword[7:-1])
                if target is None:
                    raise ValueError(f"{where}: msgstr[{index}] outside an entry")
                if index != (len(current.msgstr) if target[0] == "msgstr" else 0):
                    raise ValueError(f"{where}: plural forms out of order")
                if target[0] == "msgstr":
                    current.msgstr.append(value)
                else:
                    current.msgstr = [value]
                target = ("msgstr", index)
            else:
                raise ValueError(f"{where}: unsupported keyword {keyword!r}")
    finish()
    return entries


def mo_bytes(entries: Iterable[Entry]) -> bytes:
    """The GNU ``.mo`` form of ``entries`` (translated, non-fuzzy ones and the header), as ``msgfmt`` writes it
    without the optional hash table: magic, counts, two tables of (length, offset), then the strings."""
    pairs: dict[bytes, bytes] = {}
    for entry in entries:
        if entry.msgid and not entry.translated:
            continue  # an untranslated message falls back to the English
        key = entry.msgid + ("\0" + entry.plural if entry.plural else "")
        pairs[key.encode()] = "\0".join(entry.msgstr).encode()
    keys = sorted(pairs)
    header_size = 7 * 4
    ids_table, strs_table = header_size, header_size + 8 * len(keys)
    data_start = strs_table + 8 * len(keys)
    ids, strs, offsets = b"", b"", []
    for msg_key in keys:
        offsets.append((len(msg_key), len(ids), len(pairs[msg_key]), len(strs)))
        ids += msg_key + b"\0"
        strs += pairs[msg_key] + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, len(keys), ids_table, strs_table, 0, data_start + len(ids) + len(strs))
    for id_len, id_off, _s_len, _s_off in offsets:
        out += struct.pack("<2I", id_len, data_start + id_off)
    for _i_len, _i_off, s_len, s_off in offsets:
        out += struct.pack("<2I", s_len, data_start + len(ids) + s_off)
    return out + ids + strs


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` (the English source text for English or a language without one)."""
    path = po_path(language)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    entries = parse_po(path.read_text(encoding="utf-8"), str(path))
    return gettext.GNUTranslations(io.BytesIO(mo_bytes(entries)))


# ---- the active language --------------------------------------------------------------------------------
class _Active:
    """The process's one language (a translated UI shows one). Chosen at the first message, kept until
    ``activate`` or ``reset``: a change in the app applies at the next start."""

    language: str | None = None
    catalogue: gettext.NullTranslations = gettext.NullTranslations()


def activate(language: str | None = None) -> str:
    """Use ``language`` (None: ``chosen_language()``) from now on; returns the code used."""
    code = _supported(language) or chosen_language()
    _Active.catalogue, _Active.language = load(code), code
    return code


def reset() -> None:
    """Forget the active language; the next message chooses again (tests that change the setting)."""
    _Active.language = None


# A language for the work of one thread or context only (a PDF that leaves for a partner agency is in English
# whatever the sender's window speaks), without touching the process's language the GUI thread shows.
_OVERRIDE: ContextVar[tuple[str, gettext.NullTranslations] | None] = ContextVar("icspa_language", default=None)


@contextlib.contextmanager
def language(code: str) -> Iterator[None]:
    """``with i18n.language("en"):`` — messages, numbers and dates in ``code`` inside the block, in this thread."""
    supported = _supported(code) or SOURCE_LANGUAGE
    token = _OVERRIDE.set((supported, load(supported)))
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def current_language() -> str:
    override = _OVERRIDE.get()
    return override[0] if override else _Active.language or activate()


def _catalogue() -> gettext.NullTranslations:
    override = _OVERRIDE.get()
    if override:
        return override[1]
    current_language()
    return _Active.catalogue


def _fill(template: str, original: str, fields: dict[str, object]) -> str:
    if not fields:
        return template
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError):  # a broken translation: show the original
        return original.format(**fields)


def _(message: str, **fields: object) -> str:
    """``message`` in the active language, its ``{fields}`` filled in from the keyword arguments."""
    return _fill(_catalogue().gettext(message), message, fields)


def ngettext(singular: str, plural: str, n: int, **fields: object) -> str:
    """The form for ``n`` in the active language; ``n`` is also the field ``{n}``."""
    fields.setdefault("n", n)
    return _fill(_catalogue().ngettext(singular, plural, n), singular if n == 1 else plural, fields)


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it (a table built at import, translated when shown)."""
    return message


def placeholders(text: str) -> list[str]:
    """The ``{fields}`` of ``text`` as written (name, conversion, format spec), sorted; ValueError if malformed."""
    return sorted(f"{name}!{conv or ''}:{spec or ''}" for _lit, name, spec, conv in _FORMATTER.parse(text)
                  if name is not None)


# English as written in the EU (day before month, 24-hour clock), not ICU's default en_US.
_ICU_LOCALES = {"en": "en_GB", "de": "de_DE", "fr": "fr_FR"}


# ---- dates ----------------------------------------------------------------------------------------------
_UTC_IDS = ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal")
_FORMATTERS = threading.local()  # ICU's SimpleDateFormat is not thread-safe: one set per thread


@dataclass(frozen=True)
class _Formatters:
    moment: Any  # icu.SimpleDateFormat of the date and time with the zone's name
    day: Any  # icu.SimpleDateFormat of the date alone (yyyy-MM-dd), to tell whether UTC's date differs
    keeps_utc: bool  # the zone is UTC: the UTC beside it would say the same again


def _formatters(language: str | None, zone: str | None) -> _Formatters:
    """The formatters of ``language`` and ``zone``, made once per thread: building ICU's pattern for each date
    took ~0.15 ms, a 100,000-event timeline's worth of seconds."""
    import icu  # type: ignore[import-untyped]  # PyICU (a dependency already): CLDR formats, time zones

    locale_name = _ICU_LOCALES.get(_supported(language) or current_language(), "en_GB")
    cache: dict[tuple[str, str | None], _Formatters] = _FORMATTERS.__dict__.setdefault("cache", {})
    found = cache.get((locale_name, zone))
    if found is None:
        icu_locale = icu.Locale(locale_name)
        timezone = icu.TimeZone.createTimeZone(zone) if zone else icu.TimeZone.createDefault()
        pattern = icu.DateTimePatternGenerator.createInstance(icu_locale).getBestPattern("yMMddHHmmssz")
        moment_format = icu.SimpleDateFormat(pattern, icu_locale)
        moment_format.setTimeZone(timezone)
        day_format = icu.SimpleDateFormat("yyyy-MM-dd", icu_locale)
        day_format.setTimeZone(timezone)
        found = _Formatters(moment_format, day_format,
                            timezone.getRawOffset() == 0 and timezone.getID() in _UTC_IDS)
        cache[(locale_name, zone)] = found
    return found


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def format_moment(moment: datetime, language: str | None = None, zone: str | None = None) -> str:
    """A moment for a reader: the date and time in ``language``'s conventions and the ``zone`` (an IANA name;
    None: this workstation's), with UTC beside it — ``14.03.2026, 15:05:09 MEZ (14:05:09 UTC)``; the UTC date
    is repeated when it differs. Naive datetimes are taken as UTC (how the vault stores them)."""
    utc = _utc(moment)
    formats = _formatters(language, zone)
    local = str(formats.moment.format(utc.timestamp()))
    if formats.keeps_utc:
        return local  # the workstation keeps UTC: once is enough
    same_day = formats.day.format(utc.timestamp()) == f"{utc:%Y-%m-%d}"
    return f"{local} ({utc:%H:%M:%S} UTC)" if same_day else f"{local} ({utc:%Y-%m-%d %H:%M:%S} UTC)"


def format_local(moment: datetime, language: str | None = None, zone: str | None = None) -> str:
    """``format_moment`` without the UTC beside it: for a table cell, whose tooltip or details give the UTC."""
    return str(_formatters(language, zone).moment.format(_utc(moment).timestamp()))


# ---- sizes ----------------------------------------------------------------------------------------------
_DECIMAL_SEPARATORS: dict[str, str] = {}  # ICU locale name → its decimal separator (CLDR)
SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB")


def decimal_separator(language: str | None = None) -> str:
    """The decimal separator of ``language`` (None: the reader's): ``.`` in English, ``,`` in German."""
    locale_name = _ICU_LOCALES.get(_supported(language) or current_language(), "en_GB")
    found = _DECIMAL_SEPARATORS.get(locale_name)
    if found is None:
        import icu  # PyICU, as in _formatters

        symbols = icu.DecimalFormatSymbols(icu.Locale(locale_name))
        found = str(symbols.getSymbol(icu.DecimalFormatSymbols.kDecimalSeparatorSymbol))
        _DECIMAL_SEPARATORS[locale_name] = found
    return found


def format_size(size: int, language: str | None = None) -> str:
    """A number of bytes for a reader, in binary units with one decimal in ``language``'s conventions:
    ``1536`` → ``1.5 KiB`` (``1,5 KiB`` in German); below 1 KiB the bytes themselves (``512 B``)."""
    if abs(size) < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in SIZE_UNITS:
        if abs(value) < 1024 or unit == SIZE_UNITS[-1]:
            return f"{value:.1f}".replace(".", decimal_separator(language)) + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable: the last unit always returns")  # pragma: no cover


# ---- extraction and catalogue upkeep (developers' tool) ------------------------------------------------
@dataclass(frozen=True)
class Message:
    msgid: str
    plural: str
    reference: str  # path:line of its first use


_MARKERS = {"_": 1, "N_": 1, "ngettext": 2}


def extract_file(path: Path, root: Path = PACKAGE_DIR.parent) -> list[Message]:
    """The messages marked in ``path``; ValueError for a marker around text built at run time (an f-string, a
    sum, a call: no catalogue holds it). ``_(name)`` of a variable is a text marked with ``N_`` elsewhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Message] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _MARKERS):
            continue
        texts = node.args[:_MARKERS[node.func.id]]
        where = f"{path.relative_to(root).as_posix()}:{node.lineno}"
        if node.func.id == "_" and texts and isinstance(texts[0], ast.Name | ast.Attribute | ast.Subscript):
            continue  # a text marked where it is defined (N_) and translated here
        if len(texts) < _MARKERS[node.func.id] or not all(
                isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in texts):
            raise ValueError(f"{where}: {node.func.id}() needs literal text (no f-string, sum or call)")
        values = [arg.value for arg in texts if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        found.append(Message(values[0], values[1] if len(values) > 1 else "", where))
    return sorted(found, key=lambda m: int(m.reference.rsplit(":", 1)[1]))


def extract(paths: Iterable[Path] | None = None) -> list[Message]:
    """Every marked message of the package, once each, in source order (the first use's reference)."""
    files = sorted(paths) if paths is not None else sorted(PACKAGE_DIR.rglob("*.py"))
    seen: dict[tuple[str, str], Message] = {}
    for path in files:
        for message in extract_file(path):
            seen.setdefault((message.msgid, message.plural), message)
    return list(seen.values())


def references(paths: Iterable[Path] | None = None) -> dict[tuple[str, str], list[str]]:
    files = sorted(paths) if paths is not None else sorted(PACKAGE_DIR.rglob("*.py"))
    refs: dict[tuple[str, str], list[str]] = {}
    for path in files:
        for message in extract_file(path):
            refs.setdefault((message.msgid, message.plural), []).append(message.reference)
    return refs


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    parts = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if not parts:
        return '""'
    if len(parts) == 1 and len(parts[0]) < 70:
        return f'"{parts[0]}"'
    wrapped = []
    for part in parts:  # at most ~76 columns a line, broken after a space, as msgmerge does
        while len(part) > 76 and " " in part[:76]:
            cut = part.rindex(" ", 0, 76) + 1
            wrapped.append(part[:cut])
            part = part[cut:]
        wrapped.append(part)
    return '""\n' + "\n".join(f'"{part}"' for part in wrapped if part)


def write_po(entries: Sequence[Entry]) -> str:
    """``entries`` as ``.po`` text (header first)."""
    blocks = []
    for entry in entries:
        lines = [f"# {comment}" for comment in entry.comments]
        lines += [f"#: {ref}" for ref in entry.references]
        if entry.flags:
            lines.append("#, " + ", ".join(sorted(entry.flags)))
        lines.append(f"msgid {_quote(entry.msgid)}")
        if entry.plural:
            lines.append(f"msgid_plural {_quote(entry.plural)}")
            lines += [f"msgstr[{i}] {_quote(form)}" for i, form in enumerate(entry.msgstr)]
        else:
            lines.append(f"msgstr {_quote(entry.msgstr[0])}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


_PLURAL_FORMS = {"de": "nplurals=2; plural=(n != 1);", "fr": "nplurals=2; plural=(n > 1);",
                 "en": "nplurals=2; plural=(n != 1);"}


def header(language: str) -> Entry:
    text = (f"Project-Id-Version: icspa-desktop\nLanguage: {language}\nMIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n"
            f"Plural-Forms: {_PLURAL_FORMS.get(language, 'nplurals=2; plural=(n != 1);')}\n")
    return Entry("", msgstr=[text])


def updated(language: str | None, existing: Sequence[Entry], refs: dict[tuple[str, str], list[str]]) -> list[Entry]:
    """The catalogue for ``refs`` (the template when ``language`` is None): translations kept, new messages
    empty, messages no longer in the source dropped."""
    old = {(entry.msgid, entry.plural): entry for entry in existing if entry.msgid}
    head = next((entry for entry in existing if not entry.msgid), None) or header(language or "")
    out = [head]
    for key, where in refs.items():
        forms = 2 if key[1] else 1
        previous = old.get(key)
        entry = Entry(key[0], key[1], [""] * forms, list(where))
        if previous is not None and language is not None:
            entry.msgstr, entry.flags, entry.comments = previous.msgstr, previous.flags, previous.comments
        out.append(entry)
    return out


def catalogue_languages() -> list[str]:
    return sorted(path.name for path in LOCALE_DIR.iterdir() if (path / "LC_MESSAGES" / f"{DOMAIN}.po").is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m icspa_desktop.i18n", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="extract the marked messages into the catalogues")
    parser.add_argument("--check", action="store_true", help="list untranslated, fuzzy and obsolete messages")
    parser.add_argument("--compile", metavar="DIR", type=Path, help="write DIR/<lang>/LC_MESSAGES/icspa.mo")
    parser.add_argument("--new", metavar="LANG", help="start a catalogue for LANG (then add it to LANGUAGES)")
    args = parser.parse_args(argv)
    refs = references()
    if args.new:
        po_path(args.new).parent.mkdir(parents=True, exist_ok=True)
        if not po_path(args.new).exists():
            po_path(args.new).write_text(write_po(updated(args.new, [header(args.new)], refs)), encoding="utf-8")
    if args.update:
        (LOCALE_DIR / f"{DOMAIN}.pot").write_text(write_po(updated(None, [], refs)), encoding="utf-8")
        for language in catalogue_languages():
            path = po_path(language)
            path.write_text(write_po(updated(language, parse_po(path.read_text(encoding="utf-8")), refs)),
                            encoding="utf-8")
    problems = 0
    if args.check:
        for language in catalogue_languages():
            entries = {(e.msgid, e.plural): e for e in parse_po(po_path(language).read_text(encoding="utf-8"))}
            for key in refs:
                if key not in entries or not entries[key].translated:
                    problems += 1
                    print(f"{language}: untranslated: {key[0]!r}")
            for key in entries.keys() - refs.keys() - {("", "")}:
                problems += 1
                print(f"{language}: obsolete: {key[0]!r}")
    if args.compile:
        for language in catalogue_languages():
            target = args.compile / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(mo_bytes(parse_po(po_path(language).read_text(encoding="utf-8"))))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
