"""Bundle import: ``prepare_import`` + ``commit_import`` on a real bundle against ``age -d | tar -x`` of it.

    python -m bench import [--size-mib 1024] [--small 1000] [--small-kib 4] [--runs 3] [--dir DIR]

Two real agency vaults (cheap test KDF: unlocking is not what is measured) trust each other; the sender
ingests one large and many small files and exports them to the recipient. Then, in the same run and on
the same disk: the baseline ``age -d -i KEY B | tar -x -C DIR && sync`` (what a partner without our
software does), and our import in a child process on a fresh copy of the recipient's vault each time —
every layer verified, payloads sealed into the blob store, one transaction. Peak RSS is the child's
(VmHWM).
Goals (issue 10): ratio >= 1.0, RSS < 200 MB at 2 GiB.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import partner_vaults, peak_rss, report
from bench.partner_vaults import PASS


def _child(argv: Sequence[str]) -> int:

    from icspa_desktop.crypto import kdf
    from icspa_desktop.services import bundle_import
    from icspa_desktop.services.session import unlock

    kdf.use_insecure_test_profile()
    vault, bundle = Path(argv[0]), Path(argv[1])
    peak = peak_rss

    with unlock(vault, "admin", PASS) as session:
        unlocked = peak()
        labels: dict[str, float] = {}  # each progress label -> when it first came (the stream's, then the checks')

        def progress(done: int, total: int, label: str) -> None:
            labels.setdefault(str(label), time.perf_counter())

        started, cpu = time.perf_counter(), time.process_time()
        prepared = bundle_import.prepare_import(session, bundle, progress=progress)
        checked = time.perf_counter() - started
        after = sorted(labels.values())[1:]  # the checks that wait for the whole stream to be authenticated
        stream = (after[0] if after else started + checked) - started
        after_prepare = peak()
        result = bundle_import.commit_import(session, prepared)
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu
    print(json.dumps({"total": total, "prepare": checked, "stream": stream, "cpu": cpu, "items": len(result.added),
                      "rss": peak(), "rss_unlocked": unlocked, "rss_prepared": after_prepare}))
    return 0


def _make(base: Path, size: int, small: int, small_size: int) -> tuple[Path, Path, Path]:
    """(recipient vault, bundle, recipient age identity file): the sender exports its case to the recipient."""
    from icspa_desktop.services import bundles
    from icspa_desktop.services.session import unlock

    vaults = partner_vaults.build(base, size, small, small_size)
    with unlock(vaults.sender, "admin", PASS) as s_nl:
        plan = bundles.plan_export(s_nl, partner_vaults.CASE, [partner_vaults.PARTNER], purpose="benchmark")
        written = bundles.export(s_nl, plan, base / "bundle")
    partner_vaults.set_aside(vaults.files)
    key = base / "de-identity.txt"
    key.write_text(vaults.recipient_secret + "\n")
    return vaults.recipient, written.path, key


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    args = partner_vaults.parse_args("python -m bench import", argv)
    if partner_vaults.missing_tool("bench import"):
        return 1
    base, env = partner_vaults.work_dir("bench-import-", args.dir)
    try:
        plain = (args.size_mib << 20) + args.small * (args.small_kib << 10)
        # each run keeps two baseline outputs and the vault it imported into (set_aside)
        if not partner_vaults.room_for(base, args.runs, 3 * plain, "bench import"):
            return 1
        de, bundle, key = _make(base, args.size_mib << 20, args.small, args.small_kib << 10)
        print(f"# bundle {bundle.stat().st_size / 1e6:.0f} MB: one {args.size_mib} MiB item + {args.small} x "
              f"{args.small_kib} KiB items, with custody proofs, CASE/UCO and the PDF report")
        out = base / "out"
        timed = partner_vaults.Baseline(out)

        def baseline(sync: bool) -> float:
            return timed(f"age -d -i {key} {bundle} | tar -x -C {out}", "sync" if sync else "")

        # Baseline and ours back to back in each run, so a machine busy with something else slows both alike;
        # the ratio is the median of the runs' own ratios.
        runs, baselines, synced = [], [], []
        for i in range(args.runs):
            baselines.append(baseline(False))
            synced.append(baseline(True))
            copy, witness = base / f"de-{i}", base / f"witness-{i}"
            shutil.copytree(de, copy)
            shutil.copytree(base / "witness", witness)
            child = subprocess.run([sys.executable, "-m", "bench.bench_import", "--child", str(copy), str(bundle)],
                                   capture_output=True, text=True, check=False,
                                   env=dict(env, ICSPA_WITNESS_DIR=str(witness)))
            if child.returncode != 0:
                print(child.stderr, file=sys.stderr)
                return 1
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            partner_vaults.set_aside(copy)  # its 1,001 staged files: see set_aside
            shutil.rmtree(witness)
        plain_time = statistics.median(baselines)
        total = statistics.median(run["total"] for run in runs)
        prepare = statistics.median(run["prepare"] for run in runs)
        ratio = statistics.median(b / run["total"] for b, run in zip(baselines, runs, strict=True))
        ratio_synced = statistics.median(b / run["total"] for b, run in zip(synced, runs, strict=True))
        ratios = ", ".join(f"{b / run['total']:.2f}" for b, run in zip(baselines, runs, strict=True))
        rss = max(run["rss"] for run in runs)

        def rate(seconds: float) -> str:
            return f"{plain / seconds / 1e6:7.0f} MB/s ({seconds:.2f} s)"

        print(f"age -d | tar -x (the issue's baseline)  {rate(plain_time)}")
        print(f"age -d | tar -x && sync                {rate(statistics.median(synced))}")
        print(f"import: verify + stage (prepare)        {rate(prepare)}")
        print(f"import end to end (prepare + commit)    {rate(total)}   ratio {ratio:.2f} "
              f"(runs: {ratios}; goal >= 1.0); against the synced baseline {ratio_synced:.2f} (the import fsyncs)")
        # The baseline creates 1,001 files too, and on this kind of machine that costs anything from 0.02 to 0.4 s
        # (ext4 without a journal skips recently freed inodes one by one): the fastest of each side is steadier.
        fastest = min(run["total"] for run in runs)
        print(f"fastest against fastest: {fastest:.2f} s against {min(baselines):.2f} s, "
              f"ratio {min(baselines) / fastest:.2f}")
        size = f"{args.size_mib} MiB + {args.small} small"
        report("import", f"import end to end, {size}", [plain / run["total"] / 1e6 for run in runs], "MB/s",
               ratio=ratio, baseline="age -d | tar -x", goal="ratio >= 1.0", met=ratio >= 1.0)
        report("import", f"import end to end vs a synced baseline, {size}",
               [plain / run["total"] / 1e6 for run in runs], "MB/s", ratio=ratio_synced,
               baseline="age -d | tar -x && sync")
        report("import", f"CPU seconds of the import (all threads), {size}", [run["cpu"] for run in runs], "s",
               ratio=statistics.median(timed.cpu) / statistics.median(run["cpu"] for run in runs),
               baseline="CPU s of age -d | tar -x")
        report("import", f"peak RSS of the import, {size}", [run["rss"] / 1e6 for run in runs], "MB",
               goal="< 200 MB", met=rss < 200e6)
        # On a machine shared with other work the wall-clock ratio follows the load; the CPU time each side
        # spends does not (much), and says what the import costs beyond the baseline.
        print(f"CPU seconds: age -d | tar -x {statistics.median(timed.cpu):.2f} s (runs: "
              f"{', '.join(f'{c:.2f}' for c in timed.cpu)}); import (prepare + commit, all threads) "
              f"{statistics.median(run['cpu'] for run in runs):.2f} s (runs: "
              f"{', '.join(f'{cpu:.2f}' for cpu in (run['cpu'] for run in runs))})")
        cores = os.cpu_count() or 1
        floor = partner_vaults.required_crypto_seconds(plain, bundle.stat().st_size) / cores
        print(f"floor: its SHA-256s, ChaCha20-Poly1305 and AES-GCM alone, spread perfectly over {cores} cores: "
              f"{floor:.2f} s, at best ratio {plain_time / floor:.2f} (before any reading, writing, parsing, custody "
              f"check or transaction)")
        # The transaction cannot start before the last check has passed (nothing touches the vault before), so it
        # adds to any floor of the stream: this run's own commit time, measured in the child.
        commit = statistics.median(run["total"] - run["prepare"] for run in runs)
        with_commit = floor + commit
        cpu = statistics.median(run["cpu"] for run in runs)
        print(f"floor with the transaction after every check ({commit:.2f} s here, one core): {with_commit:.2f} s, at "
              f"best ratio {plain_time / with_commit:.2f} (against the fastest baseline "
              f"{min(baselines) / with_commit:.2f}); the import's CPU beyond the ciphers and hashes, "
              f"{cpu - floor * cores:.2f} s of {cpu:.2f} s, is reading, the tar walk, staging, parsing, custody checks "
              f"and that transaction")
        # What follows the stream waits for its last age chunk (truncation shows only there): the records parsed, the
        # partner's signatures and proofs checked, then the transaction. None of it overlaps the stream.
        stream = statistics.median(run["stream"] for run in runs)
        after = statistics.median(run["prepare"] - run["stream"] for run in runs)
        with_tail = floor + after + commit
        print(f"the stream {stream:.2f} s; after it, the records and custody proofs {after:.2f} s and the transaction "
              f"{commit:.2f} s. Floor with that tail: {with_tail:.2f} s, at best ratio {plain_time / with_tail:.2f} "
              f"(against the fastest baseline {min(baselines) / with_tail:.2f})")
        print(f"peak RSS of the importing process       {rss / 1e6:7.0f} MB (goal < 200 MB; after unlock "
              f"{runs[-1]['rss_unlocked'] / 1e6:.0f} MB, after prepare {runs[-1]['rss_prepared'] / 1e6:.0f} MB)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
