"""Bundle export of a case, as the investigator runs it: ``bundles.export`` against ``tar | age`` of the same files.

    python -m bench export [--size-mib 1024] [--small 1000] [--small-kib 4] [--runs 3] [--dir DIR]

Issue 9's benchmark: a case with one large and many small items in a real vault (``bench/partner_vaults.py``)
exported to a partner — every payload decrypted from the blob store and hashed against its record, the items'
custody events signed, the checkpoint, the custody proofs, the CASE/UCO graph and the PDF custody report made,
the bag signed, age-encrypted, written, synced, read back from the medium and sealed. Baseline in the same run,
on the same plaintext files and the same disk: ``tar -cf - -C FILES . | age -r R > OUT`` (and with ``sync``).
Each run exports from a fresh copy of the sender's vault (so every run's report and proofs are the same size)
in a child process, whose phases, CPU time and peak RSS are its own (and its report's drawing process's, measured
apart). The issue's goal is the export *without* its read-back against the baseline; the ratio with the read-back
(and against a synced baseline) is printed beside it. ``bench bundle`` measures the writing layer alone (synthetic
payloads, no vault). Goals (issue 9): ratio >= 1.0, RSS < 200 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import partner_vaults, peak_rss, report
from bench.partner_vaults import PASS

PHASES = (  # (module, function or Class.method, label): timed in the child by wrapping them
    ("icspa_desktop.services.custody_reports", "custody_report", "custody report: events read, log verified"),
    ("icspa_desktop.services.bundles", "_bag_spec", "proofs, CASE/UCO, metadata"),
    ("icspa_desktop.bundle.format", "write_bundle", "bag, signature, age, write, read-back, seal"),
    ("icspa_desktop.services.custody_reports", "ReportDrawing.result",
     "  of which: waiting for the PDF after the payloads"),
    ("icspa_desktop.bundle.media", "read_back_sha256", "  of which: read-back"),
)
READ_BACK = PHASES[-1][2]


class _ChildrenPeak:
    """The highest peak RSS (VmHWM) of this process's children (the custody report's drawing), sampled."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import multiprocessing

        while not self._stop.wait(0.02):
            for child in multiprocessing.active_children():
                try:
                    for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
                except OSError:
                    pass  # ended meanwhile

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _child(argv: Sequence[str]) -> int:
    import importlib

    from icspa_desktop.crypto import kdf
    from icspa_desktop.services import bundles
    from icspa_desktop.services.session import unlock

    kdf.use_insecure_test_profile()
    vault, out = Path(argv[0]), Path(argv[1])
    spent: dict[str, float] = {label: 0.0 for _m, _f, label in PHASES}

    def timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started
        return wrapper

    for module, name, label in PHASES:
        target: Any = importlib.import_module(module)
        *owner, attribute = name.split(".")
        for part in owner:
            target = getattr(target, part)
        setattr(target, attribute, timed(getattr(target, attribute), label))
    with unlock(vault, "admin", PASS) as session:
        plan = bundles.plan_export(session, partner_vaults.CASE, [partner_vaults.PARTNER], purpose="benchmark")
        children = _ChildrenPeak()
        started, cpu = time.perf_counter(), time.process_time()
        written = bundles.export(session, plan, out)
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu
        drawing_rss = children.stop()
    print(json.dumps({"total": total, "cpu": cpu, "size": written.size, "rss": peak_rss(), "phases": spent,
                      "drawing_rss": drawing_rss, "children_cpu": partner_vaults.children_cpu()}))
    return 0


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    args = partner_vaults.parse_args("python -m bench export", argv)
    if partner_vaults.missing_tool("bench export"):
        return 1
    base, env = partner_vaults.work_dir("bench-export-", args.dir)
    try:
        plain = (args.size_mib << 20) + args.small * (args.small_kib << 10)
        # each run keeps two baseline outputs, a vault copy and the bundle (set_aside)
        if not partner_vaults.room_for(base, args.runs, 4 * plain, "bench export"):
            return 1
        vaults = partner_vaults.build(base, args.size_mib << 20, args.small, args.small_kib << 10)
        size = f"{args.size_mib} MiB + {args.small} small"
        print(f"# a case of one {args.size_mib} MiB item + {args.small} x {args.small_kib} KiB items in a real vault")
        out = base / "out"
        timed = partner_vaults.Baseline(out)
        target = out / "plain.age"
        command = f"tar -cf - -C {vaults.files} . | age -r {vaults.recipient_public} > {target}"

        def baseline(sync: bool) -> float:
            return timed(command, f"sync {target}" if sync else "")

        runs, baselines, synced = [], [], []
        for i in range(args.runs):
            baselines.append(baseline(False))
            synced.append(baseline(True))
            copy, witness = base / f"nl-{i}", base / f"witness-{i}"
            shutil.copytree(vaults.sender, copy)
            shutil.copytree(base / "witness", witness)
            out.mkdir()
            child = subprocess.run([sys.executable, "-m", "bench.bench_export", "--child", str(copy),
                                    str(out / "b.icspa")], capture_output=True, text=True, check=False,
                                   env=dict(env, ICSPA_WITNESS_DIR=str(witness)))
            if child.returncode != 0:
                print(child.stderr, file=sys.stderr)
                return 1
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            partner_vaults.set_aside(copy)  # see set_aside: no deletion before the next measurement
            partner_vaults.set_aside(out)
            shutil.rmtree(witness)
        def written(run: dict[str, Any]) -> float:  # the measure: the export without our read-back
            return float(run["total"] - run["phases"][READ_BACK])

        ratio = statistics.median(b / written(run) for b, run in zip(baselines, runs, strict=True))
        ratio_whole = statistics.median(b / run["total"] for b, run in zip(baselines, runs, strict=True))
        ratio_synced = statistics.median(b / run["total"] for b, run in zip(synced, runs, strict=True))
        rss = max(run["rss"] for run in runs)
        drawing_rss = max(run["drawing_rss"] for run in runs)

        def rate(seconds: float) -> str:
            return f"{plain / seconds / 1e6:7.0f} MB/s ({seconds:.2f} s)"

        print(f"tar | age > OUT (the issue's baseline)     {rate(statistics.median(baselines))}")
        print(f"tar | age > OUT && sync OUT                {rate(statistics.median(synced))}")
        print(f"bundles.export without its read-back       {rate(statistics.median(map(written, runs)))}   "
              f"ratio {ratio:.2f} (goal >= 1.0)")
        print(f"bundles.export end to end, read-back too   {rate(statistics.median(r['total'] for r in runs))}   "
              f"ratio {ratio_whole:.2f} (vs synced baseline {ratio_synced:.2f})")
        fastest = min(map(written, runs))
        print(f"    fastest against fastest: {fastest:.2f} s against {min(baselines):.2f} s, ratio "
              f"{min(baselines) / fastest:.2f}")
        for _module, _name, label in PHASES:
            print(f"    {label:48} {statistics.median(r['phases'][label] for r in runs):6.2f} s")
        print(f"CPU seconds: tar | age {statistics.median(timed.cpu):.2f}, export "
              f"{statistics.median(r['cpu'] for r in runs):.2f} (all threads) + its report's drawing "
              f"{statistics.median(r['children_cpu'] for r in runs):.2f}")
        cores = os.cpu_count() or 1
        crypto = partner_vaults.required_crypto_seconds(plain, statistics.median(r["size"] for r in runs))
        # What the issue has the bundle carry besides the bytes: the custody report (its data, and its drawing in a
        # process of its own), the proofs, the CASE/UCO graph and the metadata.
        contents = statistics.median(r["children_cpu"] + r["phases"][PHASES[0][2]] + r["phases"][PHASES[1][2]]
                                     for r in runs)
        floor = (crypto + contents) / cores
        print(f"floor: its SHA-256s, ChaCha20-Poly1305 and AES-GCM ({crypto:.2f} s of one core) and the bundle's "
              f"custody report, proofs, CASE/UCO and metadata ({contents:.2f} s), spread perfectly over {cores} "
              f"cores: {floor:.2f} s, at best ratio {statistics.median(baselines) / floor:.2f} (before any reading, "
              f"writing or signing)")
        print(f"peak RSS of the exporting process          {rss / 1e6:7.0f} MB (goal < 200 MB)")
        print(f"peak RSS of the report's drawing process   {drawing_rss / 1e6:7.0f} MB")
        report("export", f"export of a case without read-back, {size}", [plain / written(r) / 1e6 for r in runs],
               "MB/s", ratio=ratio, baseline="tar | age", goal="ratio >= 1.0", met=ratio >= 1.0)
        report("export", f"export of a case end to end with read-back, {size}",
               [plain / r["total"] / 1e6 for r in runs], "MB/s", ratio=ratio_whole, baseline="tar | age")
        report("export", f"export of a case vs a synced baseline, {size}", [plain / r["total"] / 1e6 for r in runs],
               "MB/s", ratio=ratio_synced, baseline="tar | age && sync")
        report("export", f"peak RSS of the export of a case, {size}", [r["rss"] / 1e6 for r in runs], "MB",
               goal="< 200 MB", met=rss < 200e6)
        report("export", f"peak RSS of its report's drawing process, {size}",
               [r["drawing_rss"] / 1e6 for r in runs], "MB")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
