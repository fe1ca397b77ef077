"""Run ``icspa`` and SIGKILL the process at the Nth durability step (a test helper, never shipped).

Usage: ``python -m tests.foundation.crashwrap ICSPA-ARGS...`` with env ``CRASH_AT=N`` and
``CRASH_WHEN=before|after``. Steps counted, in one sequence:

- Python-level: ``os.fsync``, ``os.replace``, ``os.rename``, ``os.write``, and the SQL statements
  BEGIN/COMMIT sent through the vault's database connections;
- inside SQLCipher: every ``write``/``pwrite``/``ftruncate``/``unlink`` the SQLite unix VFS makes (WAL
  frames, checkpoints into the database file, -shm, WAL truncation), hooked with the VFS's own
  ``xSetSystemCall`` through ctypes, so a kill can land between two frames of one commit.

With ``CRASH_REPORT=1`` the number of steps is written to stderr at the end (to size the test loop);
``CRASH_TRACE=1`` names every step on stderr as it happens.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_count = 0
_target = int(os.environ.get("CRASH_AT", "0"))
_after = os.environ.get("CRASH_WHEN", "before") == "after"
_trace = bool(os.environ.get("CRASH_TRACE"))


def _step(call: Callable[[], Any], label: str = "") -> Any:
    global _count
    _count += 1
    if _trace:
        sys.stderr.write(f"step {_count}: {label}\n")
    if _count == _target and not _after:
        os.kill(os.getpid(), signal.SIGKILL)
    result = call()
    if _count == _target and _after:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


def _wrap(name: str) -> None:
    original = getattr(os, name)
    setattr(os, name, lambda *a, **k: _step(lambda: original(*a, **k), f"os.{name}"))


class _Conn:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.split(None, 1)[0].upper() in {"BEGIN", "COMMIT"}:
            return _step(lambda: self._inner.execute(sql, *args), sql.split(None, 1)[0].upper())
        return self._inner.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Vfs(ctypes.Structure):
    _fields_ = [
        ("iVersion", ctypes.c_int), ("szOsFile", ctypes.c_int), ("mxPathname", ctypes.c_int),
        ("pNext", ctypes.c_void_p), ("zName", ctypes.c_char_p), ("pAppData", ctypes.c_void_p),
        *[(name, ctypes.c_void_p) for name in (
            "xOpen", "xDelete", "xAccess", "xFullPathname", "xDlOpen", "xDlError", "xDlSym", "xDlClose",
            "xRandomness", "xSleep", "xCurrentTime", "xGetLastError", "xCurrentTimeInt64",
            "xSetSystemCall", "xGetSystemCall", "xNextSystemCall")],
    ]


_SSIZE, _INT, _PTR, _SIZE, _OFF = ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64
_SYSCALLS = {  # SQLite unix VFS system call name -> C prototype
    "write": ctypes.CFUNCTYPE(_SSIZE, _INT, _PTR, _SIZE),
    "pwrite": ctypes.CFUNCTYPE(_SSIZE, _INT, _PTR, _SIZE, _OFF),
    "ftruncate": ctypes.CFUNCTYPE(_INT, _INT, _OFF),
    "unlink": ctypes.CFUNCTYPE(_INT, ctypes.c_char_p),
}
_keep_alive: list[Any] = []


def _hook_sqlite() -> None:
    """Route SQLCipher's own file writes through ``_step`` (statically linked in the sqlcipher3 module)."""
    import sqlcipher3._sqlite3 as native

    lib = ctypes.CDLL(native.__file__)
    lib.sqlite3_vfs_find.restype = ctypes.POINTER(_Vfs)
    lib.sqlite3_vfs_find.argtypes = [ctypes.c_char_p]
    vfs = lib.sqlite3_vfs_find(None)
    assert vfs and vfs.contents.zName == b"unix" and vfs.contents.iVersion >= 3
    get = ctypes.CFUNCTYPE(_PTR, ctypes.POINTER(_Vfs), ctypes.c_char_p)(vfs.contents.xGetSystemCall)
    put = ctypes.CFUNCTYPE(_INT, ctypes.POINTER(_Vfs), ctypes.c_char_p, _PTR)(vfs.contents.xSetSystemCall)
    for name, proto in _SYSCALLS.items():
        original = proto(get(vfs, name.encode()))

        def hooked(*args: Any, _original: Any = original, _name: str = name) -> Any:
            return _step(lambda: _original(*args), f"sqlite {_name}")

        callback = proto(hooked)
        _keep_alive.extend((original, callback))
        assert put(vfs, name.encode(), ctypes.cast(callback, _PTR)) == 0, name


def main() -> int:
    _hook_sqlite()
    for name in ("fsync", "replace", "rename", "write"):
        _wrap(name)
    from icspa_desktop.crypto import kdf
    from icspa_desktop.vault import db

    kdf.use_insecure_test_profile()  # the vaults of the tests are made with it
    original_open = db.open_database
    db.open_database = lambda *a, **k: _Conn(original_open(*a, **k))  # type: ignore[assignment]
    from icspa_desktop.cli.main import main as cli_main

    code = cli_main(sys.argv[1:])
    sys.stdout.flush()
    if os.environ.get("CRASH_REPORT"):
        os.write(2, f"\ncrashwrap-steps={_count}\n".encode())
    return code


if __name__ == "__main__":
    sys.exit(main())
