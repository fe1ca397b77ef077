"""Run ``icspa`` and SIGKILL this very process at the Nth call of a chosen operation.

Usage: python killer.py OP N icspa-args...  with OP one of write, fsync, replace, record.
A real crash (no cleanup handlers, no atexit, no flush) at a precise point of the ingest.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def _arm(op: str, nth: int) -> None:
    count = {"n": 0}

    def tick() -> None:
        count["n"] += 1
        if count["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    if op == "record":
        from icspa_desktop.services.session import Session

        real_record = Session.record

        def record(self: Session, draft: Any) -> Any:
            result = real_record(self, draft)
            tick()  # after the INSERTs, before COMMIT
            return result

        Session.record = record  # type: ignore[method-assign]
        return
    real = getattr(os, op)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if op != "fsync":
            tick()  # before a write or rename takes effect
            return real(*args, **kwargs)
        result = real(*args, **kwargs)
        tick()  # right after the data became durable
        return result

    setattr(os, op, wrapped)


if __name__ == "__main__":
    _arm(sys.argv[1], int(sys.argv[2]))
    from icspa_desktop.cli.main import main
    from icspa_desktop.crypto import kdf

    kdf.use_insecure_test_profile()  # the vaults of the tests are made with it

    sys.exit(main(sys.argv[3:]))
