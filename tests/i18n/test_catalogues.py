"""The catalogues: complete for what is marked, placeholders kept, readable by gettext (no Qt here)."""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from icspa_desktop import i18n
from icspa_desktop.i18n import Entry

LANGUAGES = ["de", "fr"]


def entries(language: str) -> list[Entry]:
    path = i18n.po_path(language)
    return i18n.parse_po(path.read_text(encoding="utf-8"), str(path))


def placeholder_problems(catalogue: list[Entry]) -> list[str]:
    """Each translation whose ``{fields}`` differ from its original's (a missing one loses data from the
    message; an extra one raises KeyError at run time)."""
    problems = []
    for entry in catalogue:
        if not entry.msgid:
            continue
        originals = [entry.msgid, entry.plural] if entry.plural else [entry.msgid]
        wanted = [i18n.placeholders(text) for text in originals]
        for text in entry.msgstr:
            if not text:
                continue
            try:
                fields = i18n.placeholders(text)
            except ValueError as exc:
                problems.append(f"{entry.msgid!r}: malformed {text!r} ({exc})")
                continue
            if fields not in wanted:
                problems.append(f"{entry.msgid!r}: {text!r} has {fields}, the original {wanted[0]}")
    return problems


def test_the_catalogues_exist_for_every_offered_language() -> None:
    assert i18n.catalogue_languages() == sorted(set(i18n.LANGUAGES) - {i18n.SOURCE_LANGUAGE})


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_keeps_the_placeholders_of_its_original(language: str) -> None:
    catalogue = entries(language)
    assert sum(1 for e in catalogue if i18n.placeholders(e.msgid)) >= 8  # the check really meets fields
    assert placeholder_problems(catalogue) == []


def test_the_placeholder_check_finds_a_lost_a_renamed_and_an_added_field() -> None:
    catalogue = [Entry("Vault: {path}", msgstr=["Tresor"]), Entry("{path} was not opened.", msgstr=["{pfad} x"]),
                 Entry("Locked", msgstr=["Gesperrt {user}"]), Entry("{n:d} of {total}", msgstr=["{n} von {total}"]),
                 Entry("{a}", msgstr=["{a"]), Entry("ok {x}", msgstr=["gut {x}"])]
    problems = placeholder_problems(catalogue)
    assert len(problems) == 5
    assert not any("ok {x}" in problem for problem in problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_message_is_translated_and_nothing_obsolete_is_kept(language: str) -> None:
    marked = i18n.references()
    assert len(marked) >= 90
    catalogue = {(e.msgid, e.plural): e for e in entries(language) if e.msgid}
    missing = [key[0] for key in marked if key not in catalogue]
    untranslated = [key[0] for key in marked if key in catalogue and not catalogue[key].translated]
    obsolete = [key[0] for key in catalogue if key not in marked]
    assert (missing, untranslated, obsolete) == ([], [], [])
    assert all(entry.msgstr[0].strip() for entry in catalogue.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_files_are_as_the_update_command_writes_them(language: str) -> None:
    """``python -m icspa_desktop.i18n --update`` changes nothing: references and template are current."""
    path = i18n.po_path(language)
    text = path.read_text(encoding="utf-8")
    assert i18n.write_po(i18n.updated(language, i18n.parse_po(text), i18n.references())) == text
    template = (i18n.LOCALE_DIR / "icspa.pot").read_text(encoding="utf-8")
    assert i18n.write_po(i18n.updated(None, [], i18n.references())) == template


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_header_names_the_language_and_its_plural_rule(language: str) -> None:
    translations = i18n.load(language)
    assert isinstance(translations, gettext.GNUTranslations)
    assert translations.info()["language"] == language
    assert translations.plural(0) == (0 if language == "fr" else 1)  # French: zero takes the singular
    assert translations.plural(1) == 0 and translations.plural(2) == 1


def test_a_po_file_survives_parse_and_write_and_compiles_for_gettext() -> None:
    text = (
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        '# translator: seized items\n#: a.py:1\nmsgid "{n} item"\nmsgid_plural "{n} items"\n'
        'msgstr[0] "{n} scellé"\nmsgstr[1] "{n} scellés"\n\n'
        '#: a.py:2\n#, fuzzy\nmsgid "Locked"\nmsgstr "Verrouillé ?"\n\n'
        '#: a.py:3\nmsgid "Untranslated"\nmsgstr ""\n\n'
        '#: a.py:4\nmsgid "Say \\"yes\\"\\tthen\\nnext"\nmsgstr "Dire \\"oui\\"\\tpuis\\nsuite"\n')
    parsed = i18n.parse_po(text)
    assert [e.msgid for e in parsed] == ["", "{n} item", "Locked", "Untranslated", 'Say "yes"\tthen\nnext']
    assert parsed[1].comments == ["translator: seized items"] and parsed[2].flags == {"fuzzy"}
    assert i18n.parse_po(i18n.write_po(parsed)) == parsed
    catalogue = gettext.GNUTranslations(io.BytesIO(i18n.mo_bytes(parsed)))
    assert catalogue.ngettext("{n} item", "{n} items", 0) == "{n} scellé"  # French: 0 is singular
    assert catalogue.ngettext("{n} item", "{n} items", 2) == "{n} scellés"
    assert catalogue.gettext("Locked") == "Locked"  # fuzzy: not trusted, the original is shown
    assert catalogue.gettext("Untranslated") == "Untranslated"
    assert catalogue.gettext('Say "yes"\tthen\nnext') == 'Dire "oui"\tpuis\nsuite'


@pytest.mark.parametrize("bad", ['msgstr "x"\n', 'msgid "a"\nmsgstr "b\\q"\n', 'msgctxt "m"\nmsgid "a"\nmsgstr "b"\n',
                                 'msgid "a"\nmsgid_plural "as"\nmsgstr[1] "x"\n', '"stray"\n'])
def test_a_malformed_po_file_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="<po>:"):
        i18n.parse_po(bad)


def test_the_compile_command_writes_mo_files_gettext_finds(tmp_path: Path) -> None:
    assert i18n.main(["--compile", str(tmp_path)]) == 0
    german = gettext.translation(i18n.DOMAIN, tmp_path, ["de"])
    assert german.gettext("&Vault") == "&Tresor"


def test_extraction_refuses_text_built_at_run_time(tmp_path: Path) -> None:
    for source in ('_(f"Vault: {path}")', '_("Vault: " + path)', '_("Vault: {p}".format(p=path))'):
        module = tmp_path / "sample.py"
        module.write_text(f"from icspa_desktop.i18n import _\npath = 'x'\nprint({source})\n", encoding="utf-8")
        with pytest.raises(ValueError, match="literal text"):
            i18n.extract_file(module, tmp_path)
    module.write_text('TITLES = [N_("A")]\nprint(_(TITLES[0]), ngettext("{n} file", "{n} files", 2))\n',
                      encoding="utf-8")
    assert [(m.msgid, m.plural) for m in i18n.extract_file(module, tmp_path)] == [("A", ""),
                                                                                   ("{n} file", "{n} files")]


# ---- the running translation --------------------------------------------------------------------------
def test_messages_follow_the_active_language_and_fill_their_fields(use_language: Callable[[str], None]) -> None:
    use_language("de")
    assert i18n._("Vault: {path}", path="/srv/v") == "Tresor: /srv/v"
    assert i18n.current_language() == "de"
    use_language("fr")
    assert i18n._("Vault: {path}", path="/srv/v") == "Coffre-fort : /srv/v"
    assert i18n._("A message nobody translated") == "A message nobody translated"
    use_language("en")
    assert i18n._("&Vault") == "&Vault"
    assert i18n.ngettext("{n} item", "{n} items", 3) == "3 items"


def test_a_broken_translation_shows_the_original_instead_of_failing(use_language: Callable[[str], None]) -> None:
    use_language("de")
    i18n.activate("de")
    i18n._Active.catalogue = gettext.GNUTranslations(io.BytesIO(i18n.mo_bytes(
        [i18n.header("de"), Entry("Vault: {path}", msgstr=["Tresor: {pfad}"])])))
    assert i18n._("Vault: {path}", path="/srv/v") == "Vault: /srv/v"


def test_the_language_is_the_variable_then_the_saved_choice_then_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", i18n.ENV_VAR):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "fr_BE.UTF-8")
    assert i18n.saved_language() is None
    assert i18n.chosen_language() == "fr"
    i18n.save_language("de")
    assert i18n.settings_file().read_text(encoding="utf-8") == "de\n"
    assert i18n.chosen_language() == "de"
    monkeypatch.setenv(i18n.ENV_VAR, "en")
    assert i18n.chosen_language() == "en"
    monkeypatch.setenv(i18n.ENV_VAR, "klingon")  # not offered: the next source decides
    assert i18n.chosen_language() == "de"
    i18n.save_language(None)
    assert not i18n.settings_file().exists()
    assert i18n.chosen_language() == "fr"
    monkeypatch.setenv("LC_ALL", "C")  # C means C: English, whatever LANG says
    assert i18n.chosen_language() == "en"
    monkeypatch.setenv("LANGUAGE", "pt_BR:de_AT")
    assert i18n.chosen_language() == "de"
    with pytest.raises(ValueError, match="supported"):
        i18n.save_language("xx")


def test_a_damaged_setting_file_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv(i18n.ENV_VAR, raising=False)
    i18n.settings_file().parent.mkdir(parents=True, exist_ok=True)
    i18n.settings_file().write_bytes(b"\xff\xfe" + b"de" * 100_000)
    assert i18n.saved_language() is None
    assert i18n.chosen_language() == "en"


# ---- dates ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("language", "expected"), [
    ("de", "15.03.2026, 00:05:09 MEZ (2026-03-14 23:05:09 UTC)"),
    ("fr", "15/03/2026 00:05:09 UTC+1 (2026-03-14 23:05:09 UTC)"),
    ("en", "15/03/2026, 00:05:09 CET (2026-03-14 23:05:09 UTC)"),
])
def test_a_moment_is_shown_in_the_readers_conventions_with_utc_beside_it(language: str, expected: str) -> None:
    from datetime import UTC, datetime

    assert i18n.format_moment(datetime(2026, 3, 14, 23, 5, 9, tzinfo=UTC), language, "Europe/Berlin") == expected


def test_the_utc_date_is_left_out_when_it_is_the_same_and_utc_is_said_once() -> None:
    from datetime import datetime

    naive = datetime(2026, 7, 1, 10, 0, 0)  # the vault's naive times are UTC
    assert i18n.format_moment(naive, "de", "Europe/Paris") == "01.07.2026, 12:00:00 MESZ (10:00:00 UTC)"
    assert i18n.format_moment(naive, "de", "UTC") == "01.07.2026, 10:00:00 UTC"
