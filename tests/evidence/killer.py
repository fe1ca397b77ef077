"""Run ``icspa`` and SIGKILL this very process at the Nth call of a chosen operation.

Usage: python killer.py OP N icspa-args...  with OP one of write, fsync, replace, rename, record, or
``none`` (no kill: a dry run, e.g. for counting). A real crash (no cleanup handlers, no atexit, no flush)
at a precise point of the command.

With env ``KILLER_COUNT_FILE`` set, the Python-level calls (write, fsync, replace, rename, record) are
counted and written there as JSON when the command ends: the dry counting run of the crash harness
(tests/reliability/crash.py). Writes, fsyncs and renames inside SQLite are not Python calls; the
LD_PRELOAD shim of tests/reliability counts and kills those.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

# This checkout's code, whatever checkout the venv's editable install points at (a worktree, a clone).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

OPS = ("write", "fsync", "replace", "rename", "record")
COUNT_ENV = "KILLER_COUNT_FILE"


def _arm(op: str, nth: int, counts: dict[str, int]) -> None:
    def tick(kind: str) -> None:
        counts[kind] += 1
        if kind == op and counts[kind] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    from icspa_desktop.services.session import Session

    real_record = Session.record

    def record(self: Session, draft: Any) -> Any:
        result = real_record(self, draft)
        tick("record")  # after the INSERTs, before COMMIT
        return result

    real_record_many = Session.record_many

    def record_many(self: Session, drafts: Any) -> Any:
        result = real_record_many(self, drafts)
        tick("record")  # one batch: after its INSERTs, before COMMIT
        return result

    Session.record = record  # type: ignore[method-assign]
    Session.record_many = record_many  # type: ignore[method-assign]
    for name in OPS[:-1]:
        real = getattr(os, name)

        def wrapped(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if _name != "fsync":
                tick(_name)  # before a write or rename takes effect
                return _real(*args, **kwargs)
            result = _real(*args, **kwargs)
            tick(_name)  # right after the data became durable
            return result

        setattr(os, name, wrapped)


def _write_counts(path: str, counts: dict[str, int]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(counts, handle)


if __name__ == "__main__":
    op, nth = sys.argv[1], int(sys.argv[2])
    if op not in (*OPS, "none"):
        raise SystemExit(f"killer.py: unknown operation {op!r}")
    counts = dict.fromkeys(OPS, 0)
    _arm(op, nth, counts)
    if os.environ.get(COUNT_ENV):
        atexit.register(_write_counts, os.environ[COUNT_ENV], counts)
    from icspa_desktop.cli.main import main
    from icspa_desktop.crypto import kdf

    kdf.use_insecure_test_profile()  # the vaults of the tests are made with it

    sys.exit(main(sys.argv[3:]))
