"""``python -m bench [NAME ...] [[--] OPTIONS]``: run the named benchmarks (``vault`` → bench/bench_vault.py), or all.

Every ``bench/bench_*.py`` module is found by its file name and exposes ``main(argv) -> int``; the options
(e.g. ``python -m bench vault --cases 1000``) are passed to each benchmark that runs.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import sqlcipher3

from bench import RESULTS_ENV, read_results, table


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
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp:
        results = Path(tmp) / "results.jsonl"
        os.environ[RESULTS_ENV] = str(results)
        try:
            for name in names or known:
                print(f"\n## {name}")
                sys.stdout.flush()
                module = importlib.import_module(f"bench.bench_{name}")
                status |= int(module.main(extra))
        finally:
            del os.environ[RESULTS_ENV]
        rows = read_results(results)
    if rows:
        lines = table(rows)
        print("\n## summary\n" + "\n".join(lines))
        if not names:  # the full run is the project's record
            _write_performance(lines, extra)
    return status


def _write_performance(lines: list[str], extra: list[str]) -> None:
    """docs/PERFORMANCE.md: the summary table of the last full run, with the machine it ran on."""
    conn = sqlcipher3.connect(":memory:")
    cipher = conn.execute("PRAGMA cipher_version").fetchone()[0]
    conn.close()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = ["# Performance", "", f"The last full `./dev.sh bench{' ' + ' '.join(extra) if extra else ''}` run, "
            f"{when}, on {os.cpu_count()} cores ({_cpu_model()}), Python {platform.python_version()}, SQLCipher "
            f"{cipher}, {platform.platform()}. Each ratio is against a baseline measured in the same run; each "
            "benchmark's own output has the detail (`./dev.sh bench NAME`).", "", *lines, ""]
    target = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"
    target.write_text("\n".join(text), encoding="utf-8")
    print(f"(written to {target})")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
