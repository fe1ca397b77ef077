"""SQLCipher's enhanced memory security: off by default (its measured cost, docs/vault-format.md), on when the
installation asks for it with ICSPA_SQLCIPHER_MEMORY_SECURITY=1. Process-wide, so each case runs in a child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from pathlib import Path
from icspa_desktop.vault import db
conn = db.open_database(Path(sys.argv[1]), bytes(32), create=True)
print(conn.execute("PRAGMA cipher_memory_security").fetchone()[0])
conn.close()
"""


@pytest.mark.parametrize(("setting", "expected"), [(None, "0"), ("1", "1"), ("yes", "0")])
def test_memory_security_follows_the_installation_setting(tmp_path: Path, setting: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ICSPA_SQLCIPHER_MEMORY_SECURITY"}
    if setting is not None:
        env["ICSPA_SQLCIPHER_MEMORY_SECURITY"] = setting
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "probe.db")], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
