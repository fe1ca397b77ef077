"""The README's shell blocks, run as written: every line in bash, in order, as a new user would.

Each line runs in its own ``bash -c`` with a temporary ``HOME`` (so ``~/cases/vault`` and ``~/seized/…`` live
there), ``HOME`` as the working directory, and ``PATH`` starting with the virtualenv's ``bin`` (``icspa`` is the
installed entry point). What a line exports is carried to the next (``export ICSPA_VAULT=…``). Passphrases
come from the documented ``ICSPA_PASSPHRASE`` / ``ICSPA_NEW_PASSPHRASE``.

The cheap test KDF reaches the installed entry point through a ``sitecustomize.py`` on ``PYTHONPATH`` in the
test's own directory, which calls ``kdf.use_insecure_test_profile()`` as tests/conftest.py does: nothing the
product reads (no variable, no setting) changes, and a real installation never has that file.

Not run:
- ``./dev.sh app`` and ``./dev.sh test``: the set-up commands; CI runs ``./dev.sh test`` itself, and the app
  is a GUI (tests/gui).
- ``source .venv/bin/activate``: a no-op here, ``PATH`` already starts with the virtualenv's ``bin``.

What the partner agency (BKA) and the world do between the user's commands is done by the test with a second
vault, right before the line that needs it, and said in ``PARTNER_STEPS``: BKA's card and fingerprint exist
before the run (``~/bka.icspa-card``, ``$BKA_FINGERPRINT``); BKA sends ``~/usb/bka-0412.icspa`` before it is
verified; BKA imports ``~/usb/nightjar.icspa`` and returns ``~/usb/receipt-from-bka.txt`` before that receipt
is imported; the witness is lost (deleted) before ``custody witness-reset``, which is documented for that case.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PASSPHRASE = "example-police-passphrase"
BKA_PASS = "bka-passphrase-1234"

# Lines not run, and why (matched on the line with its comment removed).
SKIPPED = {
    "./dev.sh app": "set-up: installs packages and starts the GUI; CI runs ./dev.sh test itself",
    "./dev.sh test": "set-up: CI runs it itself (this test is part of it)",
    "source .venv/bin/activate": "a no-op here: PATH already starts with the virtualenv's bin",
}


def readme_lines() -> list[str]:
    """Every line of every ```sh block of README.md, in order, without blank lines."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _command_part(line: str) -> str:
    return line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""


@dataclass
class Partner:
    """BKA: a second vault run by the test, in this process (``main(argv)``)."""

    run: Cli
    vault: Path
    home: Path

    def __call__(self, *argv: str | Path) -> str:
        done = self.run("--vault", self.vault, "--user", "bka.admin", *argv)
        assert done.code == 0, (argv, done.err)
        return done.out


def _bka_sends(bka: Partner) -> None:
    card = bka.home / "example-police.icspa-card"
    fingerprint = bka("--json", "partner", "inspect", card).split('"fingerprint": "')[1].split('"')[0]
    bka("partner", "import", card, "--confirm-fingerprint", fingerprint)
    bka("case", "create", "--number", "BKA-2026-0412", "--title", "Nightjar (BKA)")
    bka("evidence", "add", "BKA-2026-0412", bka.home.parent / "bka-files" / "harbour-cctv.mp4")
    bka("bundle", "export", "BKA-2026-0412", "--to", "Example Police", "--out", bka.home / "usb" / "bka-0412",
        "--reason", "JIT Nightjar")


def _bka_returns_a_receipt(bka: Partner) -> None:
    bka("bundle", "import", bka.home / "usb" / "nightjar.icspa")
    bka("bundle", "receipt", bka.home / "usb" / "nightjar.icspa", "--out", bka.home / "usb" / "receipt-from-bka.txt")


def _the_witness_is_lost(bka: Partner) -> None:
    witnesses = list((bka.home / ".config" / "icspa" / "witness").glob("*.checkpoint"))
    assert len(witnesses) == 1, witnesses
    witnesses[0].unlink()


# Before the README line that starts with the key: what the partner (or an accident) does first.
PARTNER_STEPS: dict[str, Callable[[Partner], None]] = {
    "icspa bundle verify ~/usb/bka-0412.icspa": _bka_sends,
    "icspa bundle receipt-import ~/usb/receipt-from-bka.txt": _bka_returns_a_receipt,
    'icspa custody witness-reset --reason "new OS account"': _the_witness_is_lost,
}


def _environment(home: Path, site: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "PYTHONPATH": str(site),
        "LANG": "C.UTF-8",
        "ICSPA_PASSPHRASE": PASSPHRASE,
        "ICSPA_NEW_PASSPHRASE": PASSPHRASE,
    }


def _run_line(line: str, env: dict[str, str], home: Path, env_file: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                                   dict[str, str]]:
    """``line`` exactly as written in bash; returns its result and the environment it leaves (exports)."""
    script = f"{line}\n__status=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit $__status\n"
    done = subprocess.run(["bash", "-c", script], env=env, cwd=home, capture_output=True, text=True, timeout=300,
                          check=False)
    after = dict(env)
    if env_file.exists():
        after = dict(entry.split("=", 1) for entry in env_file.read_text().split("\0") if "=" in entry)
        env_file.unlink()
    return done, after


def test_every_readme_command_runs(run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "seized").mkdir(parents=True)
    (home / "usb").mkdir()
    (home / "evidence-usb").mkdir()
    # SHA-256("test") is the value the README searches for.
    (home / "seized" / "laptop.E01").write_bytes(b"test")
    (tmp_path / "bka-files").mkdir()
    (tmp_path / "bka-files" / "harbour-cctv.mp4").write_bytes(os.urandom(50_000))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "# Only in this test's PYTHONPATH: the cheap KDF profile, as tests/conftest.py uses in-process.\n"
        "from icspa_desktop.crypto import kdf\n\nkdf.use_insecure_test_profile()\n")

    # BKA, the partner: its own vault (in this process), its card beside the user's files before the run.
    secret = tmp_path / "bka-pass"
    secret.write_text(BKA_PASS)
    monkeypatch.setenv("ICSPA_NEW_PASSPHRASE", BKA_PASS)
    monkeypatch.setenv("ICSPA_PASSPHRASE", BKA_PASS)
    bka = Partner(run, tmp_path / "bka-vault", home)
    bka("vault", "init", "--agency-name", "BKA", "--country", "DE")
    bka("agency", "card", "--out", home / "bka.icspa-card")
    env = _environment(home, site) | {"BKA_FINGERPRINT": bka("agency", "fingerprint").strip()}

    ran: list[str] = []
    skipped: list[str] = []
    env_file = tmp_path / "env-after"
    for line in readme_lines():
        command = _command_part(line)
        if not command:
            continue  # a comment line
        if command in SKIPPED:
            skipped.append(command)
            continue
        for start, step in PARTNER_STEPS.items():
            if command.startswith(start):
                step(bka)
        done, env = _run_line(line, env, home, env_file)
        assert done.returncode == 0, f"README line failed (exit {done.returncode}): {line}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        ran.append(command)

    assert sorted(skipped) == sorted(SKIPPED)
    assert len(ran) == 28, ran
    backups = list((home / "backups").glob("icspa-backup-*"))
    assert len(backups) == 1 and (backups[0] / "MANIFEST").is_file()  # the README's backup line made one
    assert (home / "cases" / "vault").is_dir() and (home / "nightjar-custody.pdf").read_bytes().startswith(b"%PDF")
    assert (home / "usb" / "receipt-bka-0412.txt").exists()
    assert env["ICSPA_VAULT"] == str(home / "cases" / "vault")  # the export reached the later lines
    # The entry point ran with the cheap profile of sitecustomize.py (production: 256 MiB, docs/vault-format.md).
    slots = json.loads((home / "cases" / "vault" / "keyslots.json").read_text())["slots"]
    memory = [slot["kdf"]["memory_kib"] for slot in slots if slot["kind"] == "passphrase"]
    assert memory and max(memory) < 256 * 1024, memory
