"""docs/admin-guide.md names only commands and options that exist: every ``icspa`` and ``icspa-desktop`` line of
its shell blocks parses with the programs' own parsers, and every option given to ``install.sh`` or
``make-transfer-set.sh`` is one the script handles. (The commands were run as written when the guide was made; a
renamed command or option fails here.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from icspa_desktop.cli.main import build_parser as cli_parser
from icspa_desktop.cli.main import hoist_global_options
from icspa_desktop.gui.app import build_parser as gui_parser

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "admin-guide.md"


PROGRAM = r"(?:icspa|icspa-desktop|\./install\.sh|packaging/make-transfer-set\.sh)"
# Inline spans that are not commands: a command's shape, a program's name, what a program prints.
NOT_COMMANDS = {"icspa COMMAND --help", "icspa", "icspa-desktop",
                "icspa-desktop 0.1.0 self-test: OK (Qt 6.11.3, platform xcb)"}


def _argv(line: str) -> list[list[str]]:
    """A shell line as commands (``a && b`` split; ``sudo`` and a leading ``VAR=value`` taken off)."""
    words = shlex.split(line, comments=True)
    commands = []
    while words:
        cut = words.index("&&") if "&&" in words else len(words)
        command, words = words[:cut], words[cut + 1:]
        while command and (command[0] == "sudo" or re.match(r"^[A-Z_]+=", command[0])):
            command = command[1:]
        if command:
            commands.append(command)
    return commands


def guide_commands() -> list[list[str]]:
    """Each command of the guide's ```sh blocks (continuations joined, comments dropped), then each inline
    `code` span that starts with one of our programs."""
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.DOTALL | re.MULTILINE)
    commands = [c for block in blocks for line in block.replace("\\\n", " ").splitlines() for c in _argv(line)]
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.DOTALL | re.MULTILINE)
    spans = re.findall(rf"`((?:sudo |[A-Z_]+=\S+ )*{PROGRAM}(?: [^`]*)?)`", prose.replace("\n", " "))
    return commands + [c for span in spans if span not in NOT_COMMANDS for c in _argv(span)]


def test_the_guide_has_the_commands_this_test_reads() -> None:
    programs = {command[0] for command in guide_commands()}
    assert {"icspa", "icspa-desktop", "./install.sh", "packaging/make-transfer-set.sh"} <= programs
    assert len([c for c in guide_commands() if c[0] == "icspa"]) >= 20


@pytest.mark.parametrize("argv", [c for c in guide_commands() if c[0] == "icspa"], ids=" ".join)
def test_every_icspa_command_parses(argv: list[str]) -> None:
    assert exit_code_of_parsing(argv[1:]) == 0


def exit_code_of_parsing(args: list[str]) -> int:
    """0 when ``icspa ARGS`` parses (--version and --help exit 0); an unknown command or option exits 2."""
    try:
        cli_parser().parse_args(hoist_global_options(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("argv", [c for c in guide_commands() if c[0] == "icspa-desktop"], ids=" ".join)
def test_every_icspa_desktop_command_parses(argv: list[str]) -> None:
    _args, rest = gui_parser().parse_known_args(argv[1:])
    assert rest == []


@pytest.mark.parametrize("script", ["install.sh", "make-transfer-set.sh"])
def test_every_script_option_is_handled(script: str) -> None:
    source = (ROOT / "packaging" / script).read_text(encoding="utf-8")
    patterns = re.findall(r"^\s*([-a-z0-9|\"]+)\)", source, flags=re.MULTILINE)  # the case arms
    handled = {word for pattern in patterns for word in pattern.split("|") if word.startswith("--")}
    used = {word for command in guide_commands() if command[0].endswith(script)
            for word in command if word.startswith("--")}
    assert used, f"the guide runs {script}"
    assert used <= handled, used - handled
