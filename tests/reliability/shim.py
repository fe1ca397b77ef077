"""Build and drive the LD_PRELOAD fault shim (faultshim.c): count, fail or crash at the Nth write/fsync/rename."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("faultshim.c")
KINDS = ("write", "fsync", "rename")


def build() -> Path | None:
    """The compiled shim (built once per source version into the temp dir), or None without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    out_dir = Path(tempfile.gettempdir()) / f"icspa-faultshim-{digest}"
    target = out_dir / "faultshim.so"
    if target.is_file():
        return target
    out_dir.mkdir(mode=0o700, exist_ok=True)
    partial = out_dir / f".faultshim.so.{os.getpid()}"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(partial), str(SOURCE), "-ldl"],
                   check=True, capture_output=True, timeout=120)
    os.replace(partial, target)  # two test processes building at once: either copy is the same
    return target


@dataclass(frozen=True)
class Fault:
    """One point: the Nth call of ``kind``; ``errno`` is a name (ENOSPC…) or ``SIGKILL`` for a crash."""

    kind: str
    nth: int
    errno: str = "SIGKILL"
    persist: bool = False
    path_prefix: str = ""

    def env(self, library: Path) -> dict[str, str]:
        env = {"LD_PRELOAD": str(library), "FAULT_OP": self.kind, "FAULT_NTH": str(self.nth),
               "FAULT_ERRNO": self.errno, "FAULT_PERSIST": "1" if self.persist else "0"}
        if self.path_prefix:
            env["FAULT_PATH"] = self.path_prefix
        return env

    def label(self) -> str:
        mode = "" if self.errno == "SIGKILL" else f" {self.errno}{' persistent' if self.persist else ' once'}"
        return f"{self.kind} #{self.nth}{mode}"


def counting_env(library: Path, count_file: Path, trace: Path | None = None) -> dict[str, str]:
    env = {"LD_PRELOAD": str(library), "FAULT_COUNT_FILE": str(count_file)}
    if trace is not None:
        env["FAULT_TRACE"] = str(trace)
    return env


def read_counts(count_file: Path) -> dict[str, int]:
    """``write=W fsync=F rename=R injected=I`` → a dict (empty when the process died before its exit)."""
    try:
        text = count_file.read_text()
    except FileNotFoundError:
        return {}
    return {key: int(value) for key, value in (part.split("=") for part in text.split())}


def read_trace(trace: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """(kind, n) → (the libc call, the path it was on), from a counting run's trace."""
    found: dict[tuple[str, int], tuple[str, str]] = {}
    if trace.exists():
        for line in trace.read_text(errors="replace").splitlines():
            kind, n, call, path = line.split(" ", 3)
            found[(kind, int(n))] = (call, path)
    return found
