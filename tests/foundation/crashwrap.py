"""Run ``icspa`` and SIGKILL the process at the Nth durability step (a test helper, never shipped).

Usage: ``python -m tests.foundation.crashwrap ICSPA-ARGS...`` with env ``CRASH_AT=N`` and
``CRASH_WHEN=before|after``. Steps counted: os.fsync, os.replace, os.rename, os.write and the SQL
statements BEGIN/COMMIT sent through the vault's database connections. Prints nothing of its own;
exits as the CLI does when N is past the last step.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_count = 0
_target = int(os.environ.get("CRASH_AT", "0"))
_after = os.environ.get("CRASH_WHEN", "before") == "after"


def _step(call: Callable[[], Any]) -> Any:
    global _count
    _count += 1
    if _count == _target and not _after:
        os.kill(os.getpid(), signal.SIGKILL)
    result = call()
    if _count == _target and _after:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


def _wrap(name: str) -> None:
    original = getattr(os, name)
    setattr(os, name, lambda *a, **k: _step(lambda: original(*a, **k)))


class _Conn:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.split(None, 1)[0].upper() in {"BEGIN", "COMMIT"}:
            return _step(lambda: self._inner.execute(sql, *args))
        return self._inner.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def main() -> int:
    for name in ("fsync", "replace", "rename", "write"):
        _wrap(name)
    from icspa_desktop.vault import db

    original_open = db.open_database
    db.open_database = lambda *a, **k: _Conn(original_open(*a, **k))  # type: ignore[assignment]
    from icspa_desktop.cli.main import main as cli_main

    code = cli_main(sys.argv[1:])
    sys.stdout.flush()
    os.write(2, f"\ncrashwrap-steps={_count}\n".encode()) if os.environ.get("CRASH_REPORT") else None
    return code


if __name__ == "__main__":
    sys.exit(main())
