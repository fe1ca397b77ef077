"""Benchmarks: each ``bench_*.py`` prints figures and ratios against a baseline measured in the same run."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def median_time(fn: Callable[[], object], runs: int = 3) -> float:
    """Median wall time of ``runs`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


RESULTS_ENV = "ICSPA_BENCH_RESULTS"


def peak_rss() -> int:
    """This process image's peak resident set size in bytes (VmHWM). Not getrusage's ru_maxrss: Linux carries
    the parent's high-water mark into a child across fork and exec, so a benchmark's child showed its parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def report(bench: str, measure: str, values: Sequence[float], unit: str, *, ratio: float | None = None,
           baseline: str = "", goal: str = "", met: bool | None = None) -> None:
    """One headline figure for the summary table ``python -m bench`` prints and writes to docs/PERFORMANCE.md.

    ``values``: one per run (median and min–max are shown); ``ratio``: against ``baseline``, measured in the same
    run; ``goal`` in words and whether it was ``met``. Recorded only when the runner asks (``ICSPA_BENCH_RESULTS``
    names the file), so a benchmark run alone just prints its own lines."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    row = {"bench": bench, "measure": measure, "median": statistics.median(values), "min": min(values),
           "max": max(values), "unit": unit, "ratio": ratio, "baseline": baseline, "goal": goal, "met": met}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The summary as a Markdown table (also readable as plain text)."""
    lines = ["| benchmark | measure | median | min–max | ratio (baseline) | goal | |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f} ({r['baseline']})" if r["ratio"] is not None else ""
        verdict = "" if r["met"] is None else ("pass" if r["met"] else "MISS")
        lines.append(f"| {r['bench']} | {r['measure']} | {_fmt(r['median'])} {r['unit']} | {_fmt(r['min'])}–"
                     f"{_fmt(r['max'])} | {ratio} | {r['goal']} | {verdict} |")
    return lines


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
