"""The long fuzzing run: every parser of untrusted input for N seconds each; prints executions and findings.

    .venv/bin/python -m tests.fuzz.run --seconds 60            # atheris (libFuzzer) where it is installed
    .venv/bin/python -m tests.fuzz.run --seconds 60 --engine hypothesis
    .venv/bin/python -m tests.fuzz.run --seconds 10 --only card cms

Samples are made once (tests/fuzz/samples.py, cheap test KDF, in a temporary folder); each target then runs
in a child process of its own (atheris needs one per target; a 4 GiB address-space limit bounds its memory).
With atheris the icspa_desktop modules are instrumented for coverage, the valid sample seeds the corpus and
mutations.TOKENS is the dictionary; libFuzzer's -timeout ends any input that runs 10 s (a hang). A finding is
an input the parser answers with anything but a result or its refusal (targets.check); known product bugs are
counted apart. Exit status 1 if anything was found.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ADDRESS_SPACE = 4 << 30


def _env(root: Path) -> dict[str, str]:
    home = root / "home"
    return {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"), "ICSPA_WITNESS_DIR": str(root / "witness"),
            "PYTHONPATH": str(ROOT)}


def _have_atheris() -> bool:
    try:
        import atheris  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


# ---- the child: one target ---------------------------------------------------------------------------
class _Stats:
    def __init__(self, path: Path, name: str, engine: str) -> None:
        self.path = path
        self.data: dict[str, Any] = {"target": name, "engine": engine, "executions": 0, "findings": 0,
                                      "outcomes": Counter(),
                                     "first_finding": ""}
        self.written = 0.0

    def count(self, outcome: str) -> None:
        self.data["executions"] += 1
        self.data["outcomes"][outcome] += 1
        if time.monotonic() - self.written > 0.5:
            self.write()

    def finding(self, message: str, data: bytes) -> None:
        self.data["findings"] += 1
        if not self.data["first_finding"]:
            self.data["first_finding"] = message[:500]
            (self.path.parent / f"finding-{self.data['target']}.bin").write_bytes(data)
        self.count("finding")

    def write(self) -> None:
        self.data["peak_rss_mib"] = _peak_rss_mib()
        self.path.write_text(json.dumps(self.data))
        self.written = time.monotonic()


def _peak_rss_mib() -> int:
    """This process image's peak resident set (VmHWM; ru_maxrss carries the parent's over fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _child(name: str, root: Path, seconds: int, engine: str) -> None:
    stats = _Stats(root / f"stats-{name}.json", name, engine)
    if engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["icspa_desktop"]):
            from icspa_desktop.crypto import kdf
            from tests.fuzz import mutations, samples, targets
    else:
        from icspa_desktop.crypto import kdf
        from tests.fuzz import mutations, samples, targets
    kdf.use_insecure_test_profile()
    target = targets.TARGETS[name]
    ctx = targets.Context(samples.load(root), root / f"work-{name}")

    def one(data: bytes) -> None:
        try:
            stats.count(targets.check(target, ctx, data, measure=False))
        except targets.Finding as exc:
            stats.finding(f"{exc}: {exc.__cause__!r}", data)

    if engine == "atheris":
        corpus = root / f"corpus-{name}"
        corpus.mkdir()
        (corpus / "seed").write_bytes(ctx.samples.read(target.sample))
        words = [t for t in mutations.TOKENS if len(t) <= 64]
        (root / "tokens.dict").write_text("".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in words))
        atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-max_len={target.max_size}",
                       "-timeout=10", "-rss_limit_mb=3072", f"-dict={root / 'tokens.dict'}", "-print_final_stats=1"],
                      one)
        atheris.Fuzz()  # ends the process when the time is up; the stats were written on the way
        return
    from hypothesis import HealthCheck, given, settings

    sample = ctx.samples.read(target.sample)

    @settings(max_examples=500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(mutations.inputs(sample, target.max_size))
    def batch(data: bytes) -> None:
        one(data)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch()
    stats.write()
    ctx.close()


# ---- the parent --------------------------------------------------------------------------------------
def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _run_target(name: str, root: Path, seconds: int, engine: str) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.run", "--child", name, "--root", str(root),
                           "--seconds", str(seconds), "--engine", engine], cwd=ROOT, env=_env(root),
                          capture_output=True, text=True, timeout=seconds * 3 + 300, preexec_fn=_limit, check=False)
    path = root / f"stats-{name}.json"
    stats: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"executions": 0, "findings": 0,
                                                                                  "outcomes": {}}
    done = re.search(r"Done (\d+) runs in", proc.stderr)
    if done:
        stats["executions"] = max(stats["executions"], int(done.group(1)))
    crashed = re.search(r"ERROR: libFuzzer: (\S+)|Traceback", proc.stderr)
    if proc.returncode != 0 or crashed:
        stats["findings"] = stats.get("findings", 0) + 1
        stats["first_finding"] = stats.get("first_finding") or proc.stderr[-1500:]
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per parser (default 60)")
    parser.add_argument("--engine", choices=["atheris", "hypothesis"], default=None,
                        help="default: atheris if it is installed, else hypothesis")
    parser.add_argument("--only", nargs="*", metavar="TARGET", help="these targets only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    engine = args.engine or ("atheris" if _have_atheris() else "hypothesis")
    if args.child:
        _child(args.child, args.root, args.seconds, engine)
        return 0

    from icspa_desktop.crypto import kdf
    from tests.fuzz import samples, targets

    kdf.use_insecure_test_profile()
    root = Path(tempfile.mkdtemp(prefix="icspa-fuzz-"))
    os.environ.update(_env(root))
    samples.build(root)
    names = args.only or list(targets.TARGETS)
    print(f"fuzzing {len(names)} parsers for {args.seconds} s each with {engine} (work folder {root})", flush=True)
    total_runs = total_findings = 0
    for name in names:
        stats = _run_target(name, root, args.seconds, engine)
        outcomes = stats.get("outcomes", {})
        known = ", ".join(f"{k.removeprefix('known: ')} {v}" for k, v in sorted(outcomes.items())
                          if k.startswith("known"))
        rate = stats["executions"] / max(args.seconds, 1)
        print(f"  {name:14} executions {stats['executions']:>9,} ({rate:>7,.0f}/s)"
              f"  refused {outcomes.get('refused', 0):>9,}  accepted {outcomes.get('accepted', 0):>7,}"
              f"  known bugs {sum(v for k, v in outcomes.items() if k.startswith('known')):>6,}"
              f"{f' ({known})' if known else ''}  findings {stats['findings']}"
              f"  peak RSS {stats.get('peak_rss_mib', '?')} MiB", flush=True)
        if stats["findings"]:
            print(f"    first finding: {stats.get('first_finding', '')}", flush=True)
        total_runs += stats["executions"]
        total_findings += stats["findings"]
    print(f"  total: {total_runs:,} executions, {total_findings} findings", flush=True)
    return 1 if total_findings else 0


if __name__ == "__main__":
    sys.exit(main())
