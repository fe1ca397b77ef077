"""``python -m bench [NAME ...] [[--] OPTIONS]``: run the named benchmarks (``vault`` → bench/bench_vault.py), or all.

Every ``bench/bench_*.py`` module is found by its file name and exposes ``main(argv) -> int``; the options
(e.g. ``python -m bench vault --cases 1000``) are passed to each benchmark that runs.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path

import sqlcipher3


def _available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _header() -> None:
    conn = sqlcipher3.connect(":memory:")
    cipher = conn.execute("PRAGMA cipher_version").fetchone()[0]
    conn.close()
    print(f"# machine: {os.cpu_count()} cores, {_cpu_model()}")
    print(f"# python {platform.python_version()}, SQLCipher {cipher}, {platform.platform()}")


def main(argv: list[str]) -> int:
    # Names come first; the options after them (or after "--") go to every benchmark that runs.
    cut = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, extra = argv[:cut], argv[cut + 1 :] if argv[cut : cut + 1] == ["--"] else argv[cut:]
    known = _available()
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(known)}", file=sys.stderr)
        return 2
    _header()
    status = 0
    for name in names or known:
        print(f"\n## {name}")
        sys.stdout.flush()
        module = importlib.import_module(f"bench.bench_{name}")
        status |= int(module.main(extra))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
