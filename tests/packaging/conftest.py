"""The transfer set, built once for the session (tests/packaging/test_transfer_set.py, test_app_bundle.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = ROOT / "packaging" / "make-transfer-set.sh"


@dataclass
class TransferSet:
    path: Path
    manifest_sha256: str
    build_seconds: float


@pytest.fixture(scope="session")
def transfer_set(tmp_path_factory: pytest.TempPathFactory) -> TransferSet:
    """``make-transfer-set.sh OUT`` as on the build machine: our wheel from the commit checked out (HEAD: a change
    still in the work tree is not in it), the lock's wheels from pip (its cache, else the index)."""
    out = tmp_path_factory.mktemp("usb") / "icspa-set"
    env = dict(os.environ, PYTHON=sys.executable)
    start = time.monotonic()
    result = subprocess.run([str(MAKE), str(out)], env=env, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"^SHA-256 of MANIFEST.sha256: ([0-9a-f]{64})$", result.stdout, re.MULTILINE)
    assert match is not None, result.stdout
    print(f"\ntransfer set built in {seconds:.1f} s: {sum(f.stat().st_size for f in out.rglob('*')) / 1e6:.0f} MB")
    return TransferSet(out, match.group(1), seconds)
