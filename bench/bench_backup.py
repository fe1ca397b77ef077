"""Backup and restore speed against ``cp -a`` of the same vault directory, measured in the same run.

    .venv/bin/python -m bench backup [--size-mib 1024] [--runs 3]

A vault holding about ``--size-mib`` of evidence (one large item, many middle-sized and a few hundred small ones)
is made once. Then, alternately: ``cp -a`` of the vault directory, ``cp -a`` followed by ``sync -f`` (the backup
makes its copy durable; cp does not), ``vault backup`` (export, copy with SHA-256, syncfs, check of the copy),
``vault backup --read-back`` (every file re-read from the medium and re-hashed) and ``vault restore`` (the
MANIFEST check reads and hashes everything once, the copy a second time). Everything reads from the page cache
(the vault was just written), so the ratios compare the work done, not the disk. Target folders are on the same
file system as the vault, as ``cp -a`` is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from icspa_desktop.crypto import kdf
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import backup, cases, evidence
from icspa_desktop.services import restore as restore_service
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import init_vault

kdf.use_insecure_test_profile()  # vault creation is not what is measured

USER, PASSPHRASE = "bench", "bench-passphrase"
MIB = 1 << 20


def _make_sources(folder: Path, total: int) -> list[Path]:
    """One item of half the total, middle-sized ones (8 MiB) for most of the rest, 200 small ones (4–64 KiB)."""
    folder.mkdir()
    sizes = [total // 2]
    rest = total - sizes[0] - 200 * 34 * 1024
    sizes += [8 * MIB] * max(0, rest // (8 * MIB))
    sizes += [4096 + (n * 997) % (60 * 1024) for n in range(200)]
    paths = []
    block = os.urandom(8 * MIB)
    for n, size in enumerate(sizes):
        path = folder / f"item-{n:04d}.bin"
        with open(path, "wb") as handle:
            remaining = size
            while remaining:
                part = min(remaining, len(block))
                handle.write(block[:part] if n % 2 else os.urandom(part))
                remaining -= part
        paths.append(path)
    return paths


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _timed(fn: Callable[[], object], runs: int, cleanup: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        cleanup()
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench backup")
    parser.add_argument("--size-mib", type=int, default=1024, help="evidence in the vault (default 1024)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="icspa-bench-backup-") as tmp:
        base = Path(tmp)
        os.environ["ICSPA_WITNESS_DIR"] = str(base / "witness")
        vault = base / "vault"
        init_vault(vault, USER, PASSPHRASE)
        sources = _make_sources(base / "sources", args.size_mib * MIB)
        with unlock(vault, USER, PASSPHRASE) as session:
            cases.create_case(session, CaseFields("BENCH-1", "backup benchmark"))
            evidence.add_files(session, "BENCH-1", sources)
        shutil.rmtree(base / "sources")
        vault_bytes = _tree_bytes(vault)
        blobs = sum(1 for _ in (vault / "blobs").glob("*/*"))
        print(f"vault: {vault_bytes / MIB:,.0f} MiB in {blobs} evidence files; median of {args.runs} runs; "
              "page cache warm")
        out = base / "out"
        out.mkdir()

        def clear_out() -> None:
            for child in out.iterdir():
                shutil.rmtree(child)

        def cp() -> None:
            subprocess.run(["cp", "-a", str(vault), str(out / "copy")], check=True)

        def cp_sync() -> None:
            cp()
            subprocess.run(["sync", "-f", str(out / "copy")], check=True)

        results: dict[str, list[float]] = {}
        made: list[backup.BackupResult] = []
        with unlock(vault, USER, PASSPHRASE) as session:
            results["cp -a"] = _timed(cp, args.runs, clear_out)
            results["cp -a + sync -f"] = _timed(cp_sync, args.runs, clear_out)
            results["vault backup"] = _timed(lambda: made.append(backup.backup(session, out)), args.runs, clear_out)
            results["vault backup --read-back"] = _timed(
                lambda: backup.backup(session, out, read_back=True), args.runs, clear_out)
            kept = backup.backup(session, base)  # the source of the restores below
        restore_target = base / "restored"
        results["vault restore (check + copy)"] = _timed(
            lambda: restore_service.restore(kept.path, restore_target), args.runs,
            lambda: shutil.rmtree(restore_target))
        copied = made[-1].total_bytes
        median = {name: statistics.median(times) for name, times in results.items()}
        print(f"{'':32} {'seconds':>8} {'MB/s':>8} {'vs cp -a':>9} {'vs cp -a + sync':>16}")
        for name, seconds in median.items():
            rate = copied / seconds / 1e6
            print(f"{name:32} {seconds:8.2f} {rate:8.0f} {median['cp -a'] / seconds:8.2f}x "
                  f"{median['cp -a + sync -f'] / seconds:15.2f}x")
        for name in ("vault backup", "vault restore (check + copy)"):
            report("backup", f"{name}, {copied / MIB:,.0f} MiB", [copied / t / 1e6 for t in results[name]], "MB/s",
                   ratio=median["cp -a + sync -f"] / median[name], baseline="cp -a + sync -f")
        print(f"(a speed ratio below 1 means slower than cp; the backup copies {copied / MIB:,.0f} MiB: the vault "
              f"without its lock file, WAL or staging, and hashes every byte)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
