"""A few exit codes through a real process: the installed entry point and the child interpreter of the tests.

Everything else about the CLI is tested in this process (``main(argv)``); crashes are tests/foundation/test_crash.py,
prompts on a terminal test_foundation.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli

INSTALLED = Path(sys.executable).with_name("icspa")


def test_the_installed_entry_point_runs() -> None:
    assert INSTALLED.exists() or shutil.which("icspa"), "icspa is not installed in the test environment"
    command = str(INSTALLED) if INSTALLED.exists() else "icspa"
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("icspa ")
    usage = subprocess.run([command, "nonsense"], capture_output=True, text=True, check=False, timeout=60)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and usage.stdout == ""


def test_exit_codes_of_a_child_process(vault: VaultInfo, tmp_path: Path) -> None:
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}
    assert run_cli("--json", "case", "list", env=env).returncode == 0
    wrong = run_cli("case", "list", env=env | {"ICSPA_PASSPHRASE": "wrong-passphrase"})
    assert wrong.returncode == 3 and wrong.stderr.count("\n") == 1
    missing = run_cli("--vault", str(tmp_path / "none"), "case", "list", env=env)
    assert missing.returncode == 5 and "No vault at" in missing.stderr and missing.stderr.count("\n") == 1
