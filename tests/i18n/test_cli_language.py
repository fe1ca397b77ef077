"""The command line in German and French: help, human output, prompts' words and its own error lines follow the
language; what other tools read (--json, exit codes, the ``icspa:`` / ``icspa: warning:`` / ``icspa: error:``
prefixes, status markers) is the same in every language. In-process, as tests/cli does."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from icspa_desktop import i18n
from icspa_desktop.cli import main as cli_main
from tests.cli.conftest import Result, in_process
from tests.conftest import VaultInfo

Icspa = Callable[..., Result]


@pytest.fixture
def icspa(vault: VaultInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Icspa:
    """``icspa(*argv)`` → Result, against the test vault as the administrator (tests/cli/conftest.py's ``cli``)."""
    return in_process(monkeypatch, capsys, vault.path)


@pytest.fixture
def nightjar(icspa: Icspa, tmp_path: Path, use_language: Callable[[str], None]) -> Path:
    """A case with two files of the same content (in English, as any user may have made it)."""
    use_language("en")
    assert icspa("case", "create", "--number", "2026/001", "--title", "Operation Nightjar", "--handling", "H2",
                 "--tlp", "AMBER", "--jurisdiction", "NL", "--authority", "RC 2026/17").code == 0
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "chat.txt").write_text("meeting at the harbour, 23:00\n")
    (folder / "copy.txt").write_text("meeting at the harbour, 23:00\n")
    return folder


def test_icspa_help_in_french(icspa: Icspa, use_language: Callable[[str], None]) -> None:
    use_language("fr")
    done = icspa("--help")
    assert done.code == 0
    assert "ICSPA Evidence Desktop — ligne de commande." in done.out
    assert "sortie lisible par machine sur stdout" in done.out
    assert "créer, lister, afficher et modifier des affaires" in done.out  # the command groups' lines
    assert "machine-readable output" not in done.out
    create = icspa("case", "create", "--help")
    assert "numéro d'affaire (unique)" in create.out and "code de traitement Europol" in create.out
    out = icspa("report", "custody", "--help").out
    assert "le PDF à écrire (un fichier existant est refusé, sauf avec --force)" in " ".join(out.split())


def _help_texts(parser: argparse.ArgumentParser, where: str = "icspa") -> dict[str, str]:
    """Every description and option help of ``parser`` and its subcommands, by where it stands (not argparse's own
    --help and --version lines: its gettext domain)."""
    found = {f"{where} (description)": parser.description or ""}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                found[f"{where} {choice.dest} (listed)"] = choice.help or ""
            for name, sub in action.choices.items():
                found.update(_help_texts(sub, f"{where} {name}"))
        elif action.help and action.help != argparse.SUPPRESS and action.dest not in ("help", "version"):
            found[f"{where} {action.dest}"] = action.help
    for number, group in enumerate(parser._action_groups[2:]):  # after argparse's own two
        found[f"{where} [group {number}]"] = group.title or ""
    return {key: text for key, text in found.items() if any(char.isalpha() for char in text)}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_help_text_of_every_command_is_translated(language: str,
                                                        use_language: Callable[[str], None]) -> None:
    use_language("en")
    english = _help_texts(cli_main.build_parser())
    use_language(language)
    translated = _help_texts(cli_main.build_parser())
    assert translated.keys() == english.keys()
    assert len(english) > 200
    same = [key for key in english if english[key] == translated[key]]
    assert same == []


@pytest.mark.parametrize("language", ["de", "fr"])
def test_json_output_is_the_same_in_every_language(language: str, icspa: Icspa, nightjar: Path,
                                                   use_language: Callable[[str], None]) -> None:
    assert icspa("evidence", "add", "2026/001", nightjar / "chat.txt").code == 0
    commands = [("case", "list"), ("case", "show", "2026/001"), ("evidence", "list", "2026/001"),
                ("evidence", "show", "2026/001-001"), ("user", "list"), ("partner", "list"), ("evidence", "defaults"),
                ("search", "harbour")]
    english = [icspa("--json", *command) for command in commands]
    assert all(done.code == 0 and done.out.startswith(("{", "[")) for done in english)
    use_language(language)
    translated = [icspa("--json", *command) for command in commands]
    assert [done.out for done in translated] == [done.out for done in english]
    assert [done.code for done in translated] == [0] * len(commands)


def test_human_output_speaks_german_and_keeps_its_markers(icspa: Icspa, nightjar: Path,
                                                         use_language: Callable[[str], None]) -> None:
    use_language("de")
    added = icspa("evidence", "add", "2026/001", nightjar / "chat.txt", nightjar / "copy.txt")
    assert added.code == 0
    assert added.out.startswith("2026/001-001 hinzugefügt: chat.txt (")
    warning = [line for line in added.err.splitlines() if line.startswith("icspa: warning: ")]
    assert len(warning) == 1 and "hat denselben Inhalt (SHA-256) wie" in warning[0]
    shown = icspa("case", "show", "2026/001").out.splitlines()
    assert shown[0] == "Fall 2026/001: Operation Nightjar"
    fields = {line.split()[0]: line.split()[1:] for line in shown[1:]}
    assert fields["Zuständigkeit:"] == ["NL"] and fields["Rechtsgrundlage:"] == ["RC", "2026/17"]
    assert len({line.index(line.split()[1]) for line in shown[1:] if len(line.split()) > 1}) <= 2  # one column
    verified = icspa("evidence", "verify", "2026/001").out.splitlines()
    assert verified[0].startswith("ok ") and verified[-1] == "2 von 2 Asservat(en) erfolgreich geprüft."
    # The CLI's own error line: "icspa: " first, then German; exit codes as ever.
    missing = icspa("evidence", "verify")
    assert missing.code == 2
    assert missing.err.strip() == ("icspa: Geben Sie einen Fall oder ein Asservat zur Prüfung an, oder --all für "
                                   "den ganzen Tresor.")
    assert icspa("custody", "checkpoint-list").out.strip().startswith(("Noch keine Checkpoints", "    1"))


def test_a_usage_error_keeps_its_documented_prefix(icspa: Icspa, use_language: Callable[[str], None]) -> None:
    use_language("fr")
    done = icspa("case", "create", "--number", "X-1")
    assert done.code == 2
    line = done.err.strip()
    assert line.startswith("icspa: error: ") and line.endswith("(voir 'icspa case create --help')")
    assert "--title" in line  # argparse's own message, from its own catalogue


def test_the_english_command_line_is_as_it_was(icspa: Icspa, nightjar: Path,
                                               use_language: Callable[[str], None]) -> None:
    assert i18n.current_language() == "en"
    shown = icspa("case", "show", "2026/001").out.splitlines()
    assert shown[:2] == ["Case 2026/001: Operation Nightjar", shown[1]] and shown[1].startswith("  id:          ")
    assert "  jurisdiction: NL" in shown and "  markings:    H2, TLP:AMBER" in shown
    assert icspa("evidence", "verify").err.strip() == ("icspa: Give a case or an item to verify, or --all for the "
                                                       "whole vault.")
