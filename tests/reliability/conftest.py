"""Fixtures of the reliability harness: the fault shim, one template scene per session, a harness per module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import scenes, shim
from tests.reliability.crash import Harness
from tests.reliability.faults import FaultHarness

SLOW = os.environ.get("ICSPA_SLOW_TESTS") == "1"
_SKIP_UNLESS_SLOW = pytest.mark.skipif(not SLOW, reason="the exhaustive run: ICSPA_SLOW_TESTS=1 (docs/reliability.md)")


def swept_operations(every: tuple[str, ...]) -> tuple[str, ...]:
    """The operations the exhaustive sweeps run: all, or those named in ICSPA_RELIABILITY_ONLY (comma-separated),
    to re-run a few after a fix."""
    only = [name.strip() for name in os.environ.get("ICSPA_RELIABILITY_ONLY", "").split(",") if name.strip()]
    unknown = sorted(set(only) - set(every))
    if unknown:
        raise ValueError(f"ICSPA_RELIABILITY_ONLY names unknown operations: {', '.join(unknown)}")
    return tuple(name for name in every if name in only) if only else every


def slow(test: Any) -> Any:
    """The exhaustive sweeps: only with ICSPA_SLOW_TESTS=1, and without pytest-timeout's 300 s (each child process
    has its own timeout)."""
    return pytest.mark.slow(pytest.mark.timeout(0)(_SKIP_UNLESS_SLOW(test)))


@pytest.fixture(scope="session")
def shim_library() -> Path | None:
    """The LD_PRELOAD fault shim, or None without a C compiler (then only Python-level crash points run)."""
    return shim.build()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scenes.build_template(tmp_path_factory.mktemp("reliability") / "template")


@pytest.fixture(scope="session")
def harness(template: Path, shim_library: Path | None, tmp_path_factory: pytest.TempPathFactory) -> Harness:
    """Scenes are copies of the template under one work dir (kept when a check fails, for a look); counting runs
    are shared by the tests of the session."""
    return Harness(template, tmp_path_factory.mktemp("scenes"), shim_library)


@pytest.fixture(scope="session")
def fault_harness(harness: Harness) -> FaultHarness:
    if harness.library is None:
        pytest.skip("I/O faults need the LD_PRELOAD shim: no C compiler (cc or gcc) on this machine")
    return FaultHarness(harness)
