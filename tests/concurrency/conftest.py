"""Fixtures of the concurrency tests (issue 13 item 5): the GUI fixtures of tests/gui, and vault snapshots."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.gui.conftest import desktop, settings

__all__ = ["desktop", "settings", "snapshot"]


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots``, its SHA-256 and mode: what 'nothing changed' compares."""
    found: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[str(path)] = f"{digest} {path.stat().st_mode:o}"
            elif path.is_dir():
                found[str(path)] = "dir"
    return found
