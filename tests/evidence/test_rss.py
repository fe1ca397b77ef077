"""Bounded memory: ingesting a 2 GiB file keeps the process's peak RSS under 200 MB (slow; see bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, icspa_command, run_cli

SLOW = os.environ.get("ICSPA_SLOW_TESTS") == "1"
LIMIT_KIB = 200 * 1000  # 200 MB

# Runs one child and prints the child's peak RSS in KiB: isolates it from every other child of pytest.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_rss_kib(args: list[str], env: dict[str, str]) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *args], env=env, capture_output=True, text=True,
                         check=True, timeout=900).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="set ICSPA_SLOW_TESTS=1 to ingest a 2 GiB file")
def test_ingest_of_2_gib_stays_under_200_mb(vault: VaultInfo, tmp_path: Path) -> None:
    env = {**os.environ, "ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}
    assert run_cli("case", "create", "--number", "R-1", "--title", "RSS", env=env).returncode == 0
    big = tmp_path / "two-gib.bin"
    with open(big, "wb") as handle:
        for offset in range(0, 2 << 30, 256 << 20):  # random blocks in an otherwise sparse file
            handle.seek(offset)
            handle.write(os.urandom(1 << 20))
        handle.truncate(2 << 30)
    rc, peak = peak_rss_kib(icspa_command("evidence", "add", "R-1", str(big), "--hash", "md5,sha1"), env)
    assert rc == 0
    print(f"peak RSS of a 2 GiB ingest: {peak / 1024:.1f} MiB")
    assert peak < LIMIT_KIB
    listed = json.loads(run_cli("--json", "evidence", "list", "R-1", env=env).stdout)
    assert listed[0]["size"] == 2 << 30
