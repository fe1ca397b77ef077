"""Core dumps are off from the start of ``icspa`` (the GUI entry point: tests/gui/test_app_entry.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ICSPA_BOOT

# What the kernel would use to decide about a core dump, read inside the child after the code under test ran.
_REPORT = (
    "import ctypes, json, os, resource\n"
    "status = dict(line.split(':', 1) for line in open(f'/proc/{os.getpid()}/status'))\n"
    "print(json.dumps({'core': resource.getrlimit(resource.RLIMIT_CORE),\n"
    "                  'dumpable': ctypes.CDLL(None).prctl(3, 0, 0, 0, 0),\n"  # PR_GET_DUMPABLE
    "                  'proc_uid': os.stat(f'/proc/{os.getpid()}/status').st_uid,\n"
    "                  'pid': status['Pid'].strip()}))\n"
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux")


def _child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The child starts with core dumps allowed, so that the test sees the code under test turn them off.
    preamble = "import resource; resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)\n"
    return subprocess.run([sys.executable, "-c", preamble + code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120, check=False)


@linux_only
def test_the_helper_sets_the_core_limit_to_zero_and_the_process_undumpable(tmp_path: Path) -> None:
    before = _child(_REPORT, tmp_path)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["dumpable"] == 1  # the check below would not notice anything otherwise
    done = _child("from icspa_desktop.vault.process import disable_core_dumps\n"
                  "assert disable_core_dumps() == []\n" + _REPORT, tmp_path)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["core"] == [0, 0] and state["dumpable"] == 0
    # Not dumpable: the kernel hands /proc/PID to root, so other processes of the same user cannot read it.
    # The tests run as root, which may still read it (it did, above).
    assert state["proc_uid"] == 0


@linux_only
def test_the_cli_entry_point_turns_core_dumps_off_before_its_work(tmp_path: Path) -> None:
    # The real main() of `icspa`, failing on a missing vault; the child reports its state afterwards.
    code = ICSPA_BOOT.replace("sys.exit(main())", "main(['--vault', 'nowhere', '--user', 'a', 'case', 'list'])")
    done = _child(code + "\n" + _REPORT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("icspa: ")  # main() ran and failed as expected (no passphrase)
    state = json.loads(done.stdout)
    assert state["core"] == [0, 0] and state["dumpable"] == 0


@linux_only
def test_a_crash_after_hardening_leaves_no_core_file(tmp_path: Path) -> None:
    control_dir, hardened_dir = tmp_path / "control", tmp_path / "hardened"
    control_dir.mkdir()
    hardened_dir.mkdir()
    control = _child("import os; os.abort()", control_dir)
    if not any(control_dir.iterdir()):
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        pytest.skip(f"this machine writes no core file even when allowed (core_pattern {pattern!r}, "
                    f"rc {control.returncode})")
    hardened = _child("import os\nfrom icspa_desktop.vault.process import disable_core_dumps\n"
                      "disable_core_dumps()\nos.abort()", hardened_dir)
    assert hardened.returncode == -signal.SIGABRT  # it really crashed
    assert list(hardened_dir.iterdir()) == []
