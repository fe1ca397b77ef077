"""In-process CLI tests: ``main(argv)`` with captured stdout and stderr (KeePassXC's TestCli style).

Subprocesses are kept for what only a process shows (a crash, a terminal, the installed entry point): see
``test_smoke.py`` and ``test_readme.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.cli import main as cli_main
from icspa_desktop.domain.enums import Role
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES, VaultInfo


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def error_line(self) -> str:
        """The one line on stderr of a failed command (DESIGN §6), checked to be one (warnings from the unlock,
        e.g. files moved to quarantine, are lines of their own)."""
        lines = [line for line in self.err.strip().splitlines()
                 if not line.startswith(("Warning: ", "icspa: warning: "))]
        assert len(lines) == 1, self.err
        assert lines[0].startswith("icspa: "), lines[0]
        return lines[0]


Cli = Callable[..., Result]


def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], vault: Path | None = None) -> Cli:
    """``call(*argv)`` → Result: ``main(argv)`` in this process, SystemExit (argparse: usage, --help, --version)
    turned into its code; with ``vault``, against it as the administrator. For tests outside tests/cli too."""
    # main() lowers the hard core-dump limit of its process for good; keep the test runner's own.
    monkeypatch.setattr(cli_main, "disable_core_dumps", lambda: None)
    if vault is not None:
        monkeypatch.setenv("ICSPA_VAULT", str(vault))
        monkeypatch.setenv("ICSPA_USER", ADMIN)
        monkeypatch.setenv("ICSPA_PASSPHRASE", ADMIN_PASS)

    def call(*argv: str | Path) -> Result:
        capsys.readouterr()
        try:
            code = cli_main.main([str(a) for a in argv])
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``run(*argv)`` → Result; SystemExit (argparse: usage, --help, --version) is turned into its code."""
    return in_process(monkeypatch, capsys)


def as_role(monkeypatch: pytest.MonkeyPatch, role: Role) -> None:
    monkeypatch.setenv("ICSPA_USER", NAMES[role])
    monkeypatch.setenv("ICSPA_PASSPHRASE", PASSPHRASES[role])


@pytest.fixture
def cli(vault: VaultInfo, run: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``run`` against the shared test vault (one user per role), as the administrator."""
    monkeypatch.setenv("ICSPA_VAULT", str(vault.path))
    monkeypatch.setenv("ICSPA_USER", ADMIN)
    monkeypatch.setenv("ICSPA_PASSPHRASE", ADMIN_PASS)
    return run


@pytest.fixture
def seized(tmp_path: Path) -> Path:
    """A few files to ingest."""
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "chat.txt").write_text("meeting at the harbour, 23:00\n")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)
    return folder
