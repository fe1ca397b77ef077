"""Killing an export at any point leaves nothing under the final name and the vault consistent (issue 9)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from icspa_desktop.services import custody_verify
from icspa_desktop.services.session import unlock
from tests.agency.conftest import PASS
from tests.bundle.test_export import Scene, scene  # noqa: F401  (the fixture)

KILLER = Path(__file__).resolve().parents[1] / "evidence" / "killer.py"


@pytest.mark.parametrize("op", ["fsync", "record"])
def test_sigkill_during_export(scene: Scene, op: str) -> None:  # noqa: F811
    env = {"ICSPA_VAULT": str(scene.sender), "ICSPA_USER": "admin", "ICSPA_PASSPHRASE": PASS,
           "ICSPA_WITNESS_DIR": str(scene.work / "witness"), "PATH": "/usr/bin:/bin"}
    usb = scene.work / "usb"
    usb.mkdir()
    finished = False
    left_behind = 0
    for nth in range(1, 40):
        target = usb / f"b{nth}"
        done = subprocess.run([sys.executable, str(KILLER), op, str(nth), "bundle", "export", "2026/041", "--to",
                               scene.partner_name, "--out", str(target), "--purpose", "crash test"],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        killed = done.returncode == -signal.SIGKILL
        assert killed or done.returncode == 0, done.stderr
        final = usb / f"b{nth}.icspa"
        if killed:
            # Nothing under the final name unless it is complete: the bundle with its seal beside it.
            if final.exists():
                assert (usb / f"b{nth}.icspa.sha256").exists() and (usb / f"b{nth}.icspa.sha256.p7s").exists()
            # A kill cannot clean up: what it leaves is a hidden partial file of ciphertext, never plaintext.
            for leftover in usb.iterdir():
                if leftover.name.startswith(f".b{nth}."):
                    assert ".partial-" in leftover.name
                    assert b"meeting at the harbour" not in leftover.read_bytes()
                    left_behind += 1
        with unlock(scene.sender, "admin", PASS) as nl:
            report = custody_verify.verify(nl, witness_dir=scene.work / "witness")
            assert report.ok, report.damages[:2]
        if not killed:
            finished = True
            break
    assert finished, "the export never got past the kill points"
    assert nth > 1, "no kill point was reached"
    # What the killed exports left (ciphertext under hidden partial names) went at the next export there.
    assert left_behind or op != "fsync"  # an fsync kill lands while the file is being written
    assert not [p.name for p in usb.iterdir() if ".partial-" in p.name]
