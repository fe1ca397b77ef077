"""SIGKILL during ``vault init`` and ``case create`` at every durability step: no half state, ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.services import cases
from icspa_desktop.services.session import unlock
from icspa_desktop.vault import db
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo

ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 400


def _run(args: list[str], env: dict[str, str], crash_at: int, when: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ) | env | {"CRASH_AT": str(crash_at), "CRASH_WHEN": when}
    return subprocess.run([sys.executable, "-m", "tests.foundation.crashwrap", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120, check=False)


def _assert_consistent(path: Path) -> None:
    with unlock(path, ADMIN, ADMIN_PASS) as s:
        assert db.integrity_check(s.conn) == []
        indices = [row[0] for row in s.conn.execute("SELECT idx FROM custody_events ORDER BY idx")]
        assert indices == list(range(len(indices)))
        created = {e.body["case_id"] for e in events.list_events(s.conn) if e.action == CustodyAction.CASE_CREATED}
        assert created == {c.id for c in cases.list_cases(s)}


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_during_vault_init(tmp_path: Path, when: str) -> None:
    env = {"ICSPA_NEW_PASSPHRASE": ADMIN_PASS}
    outcomes = {"absent": 0, "complete": 0}
    for n in range(1, MAX_STEPS):
        path = tmp_path / f"v-{when}-{n}"
        result = _run(["--vault", str(path), "--user", ADMIN, "vault", "init"], env, n, when)
        if result.returncode == 0:
            break
        assert result.returncode == -signal.SIGKILL, result.stderr
        visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
        if path.exists():
            outcomes["complete"] += 1
            _assert_consistent(path)
        else:
            outcomes["absent"] += 1
            assert path.name not in visible
    else:
        pytest.fail("vault init never finished")
    assert n > 5, "the wrapper saw too few steps to be meaningful"
    assert outcomes["absent"] > 0
    # A later init in the same folder removes what the killed ones left hidden.
    _run(["--vault", str(tmp_path / "final"), "--user", ADMIN, "vault", "init"], env, 0, when)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".icspa-init-")]


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_during_case_create(vault: VaultInfo, when: str) -> None:
    env = {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}
    seen_absent = seen_present = False
    for n in range(1, MAX_STEPS):
        number = f"K-{when}-{n}"
        result = _run(["case", "create", "--number", number, "--title", "Killed?"], env, n, when)
        if result.returncode == 0:
            break
        assert result.returncode == -signal.SIGKILL, result.stderr
        _assert_consistent(vault.path)
        with unlock(vault.path, ADMIN, ADMIN_PASS) as s:
            exists = any(c.number == number for c in cases.list_cases(s))
        seen_absent |= not exists
        seen_present |= exists
    else:
        pytest.fail("case create never finished")
    assert seen_absent
    _assert_consistent(vault.path)
