"""Ingest, verify and peak-RSS benchmark against ``openssl dgst -sha256`` of the same file, in one run.

    .venv/bin/python -m bench.bench_ingest [--size-mib 1024] [--rss-size-mib 2048] [--runs 3]

Goals (issue #3): ingest with SHA-256, written and fsynced, ≥ 0.7× openssl; with SHA-256+MD5+SHA-1
≥ 0.4 GB/s; peak RSS of a 2 GiB ingest < 200 MB. The source file is read once beforehand so that
openssl and the ingest both read it from the page cache: the comparison is CPU work, not the disk.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from icspa_desktop.crypto import kdf, stream
from icspa_desktop.domain.evidence import HashAlgorithm
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence, fixity
from icspa_desktop.services.ingest import new_hashers
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.services.vault_service import init_vault
from icspa_desktop.vault.blobs import BlobStore, new_blob_key

kdf.use_insecure_test_profile()  # vault creation is not what is measured here

USER, PASSPHRASE = "bench", "bench-passphrase"
MIB = 1 << 20


def _make_file(path: Path, size: int, sparse: bool = False) -> None:
    with open(path, "wb") as handle:
        if sparse:  # random blocks every 256 MiB in a sparse file: cheap to create, same code path
            for offset in range(0, size, 256 * MIB):
                handle.seek(offset)
                handle.write(os.urandom(min(MIB, size - offset)))
            handle.truncate(size)
            return
        remaining = size
        while remaining:
            block = os.urandom(min(8 * MIB, remaining))
            handle.write(block)
            remaining -= len(block)


def _warm(path: Path) -> None:
    buf = bytearray(8 * MIB)
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buf):
            pass


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _median_seconds(runs: int, action: Callable[[], object], before: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _openssl(path: Path) -> None:
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, capture_output=True)


def _single_thread_ingest(session: Session, path: Path) -> None:
    """The same work as the pipeline, in one thread: the comparison that justifies the second thread."""
    store = BlobStore(session.vault.layout)
    writer = store.create_writer(new_blob_key())
    hashers = new_hashers([HashAlgorithm.SHA256])
    buf = bytearray(stream.DEFAULT_CHUNK_SIZE)
    size = path.stat().st_size
    done = 0
    try:
        with open(path, "rb", buffering=0) as handle:
            while True:
                n = handle.readinto(buf)
                done += n
                view = memoryview(buf)[:n]
                for hasher in hashers.values():
                    hasher.update(view)
                writer.write_chunk(view, done >= size)
                if done >= size:
                    break
        writer.finish()
    finally:
        writer.discard()


_MEASURE_RSS = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)

# ``icspa`` with the same cheap KDF as this benchmark's vaults (the installed app would refuse them).
_ICSPA_TEST_PROFILE = ("from icspa_desktop.crypto import kdf; kdf.use_insecure_test_profile(); "
                       "import sys; from icspa_desktop.cli.main import main; sys.exit(main())")


def _peak_rss_mb(vault: Path, case_number: str, path: Path) -> float:
    env = {**os.environ, "ICSPA_VAULT": str(vault), "ICSPA_USER": USER, "ICSPA_PASSPHRASE": PASSPHRASE}
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE_RSS, sys.executable, "-c", _ICSPA_TEST_PROFILE, "evidence", "add",
         case_number, str(path), "--hash", "md5,sha1"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    if out[0] != "0":
        raise RuntimeError("the RSS ingest failed")
    return int(out[1]) * 1024 / 1e6  # MB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the test file (default 1024)")
    parser.add_argument("--rss-size-mib", type=int, default=2048, help="file size for the peak-RSS run")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)
    if shutil.which("openssl") is None:
        print("openssl is needed for the baseline", file=sys.stderr)
        return 2
    size = args.size_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="icspa-bench-ingest-"))
    rows: list[tuple[str, float, float | None, str]] = []
    try:
        source = work / "source.bin"
        _make_file(source, size)
        _warm(source)
        vault_path = work / "vault"
        init_vault(vault_path, USER, PASSPHRASE)
        with unlock(vault_path, USER, PASSPHRASE) as session:
            case = cases.create_case(session, CaseFields(number="BENCH-1", title="Ingest benchmark"))
            _openssl(source)
            base = _median_seconds(args.runs, lambda: _openssl(source))
            rows.append(("openssl dgst -sha256 (baseline)", base, size / base / 1e9, "1.00x"))

            def ingest(algorithms: list[HashAlgorithm]) -> Callable[[], object]:
                return lambda: evidence.add_files(session, case.id, [source], algorithms=algorithms)

            t = _median_seconds(args.runs, ingest([HashAlgorithm.SHA256]))
            rows.append(("ingest SHA-256, 2 threads, fsynced", t, size / t / 1e9, f"{base / t:.2f}x (goal >= 0.70x)"))
            report("ingest", f"ingest SHA-256, {args.size_mib} MiB", [size / t / 1e6], "MB/s", ratio=base / t,
                   baseline="openssl dgst -sha256", goal="ratio >= 0.70", met=base / t >= 0.70)
            t1 = _median_seconds(args.runs, lambda: _single_thread_ingest(session, source))
            rows.append(("  same work in one thread (blob only)", t1, size / t1 / 1e9, f"{base / t1:.2f}x"))
            t3 = _median_seconds(args.runs, ingest([HashAlgorithm.SHA256, HashAlgorithm.MD5, HashAlgorithm.SHA1]))
            rows.append(("ingest SHA-256+MD5+SHA-1, fsynced", t3, size / t3 / 1e9,
                         f"{base / t3:.2f}x (goal >= 0.4 GB/s)"))

            item = evidence.list_items(session, case.id)[0]
            blob = session.vault.layout.blobs / str(item.blob_id)[:2] / str(item.blob_id)
            tv = _median_seconds(args.runs, lambda: fixity.verify_item(session, item.id))
            rows.append(("verify (decrypt + SHA-256), cached", tv, size / tv / 1e9, f"{base / tv:.2f}x"))
            tc = _median_seconds(args.runs, lambda: fixity.verify_item(session, item.id), lambda: _drop_cache(blob))
            rows.append(("verify, blob dropped from page cache", tc, size / tc / 1e9, f"{base / tc:.2f}x"))
        rss_source = work / "rss.bin"
        _make_file(rss_source, args.rss_size_mib * MIB, sparse=True)
        source.unlink()
        peak = _peak_rss_mb(vault_path, "BENCH-1", rss_source)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Ingest benchmark: {args.size_mib} MiB random file, median of {args.runs} runs, {os.cpu_count()} CPUs")
    print(f"{'measurement':<40} {'seconds':>8} {'GB/s':>6}  ratio to openssl")
    for name, seconds, rate, ratio in rows:
        print(f"{name:<40} {seconds:>8.3f} {rate or 0:>6.2f}  {ratio}")
    verdict = "ok" if peak < 200 else "OVER LIMIT"  # MB
    report("ingest", f"peak RSS, evidence add of {args.rss_size_mib} MiB", [peak], "MB", goal="< 200 MB",
           met=peak < 200)
    print(f"peak RSS, `icspa evidence add` of {args.rss_size_mib} MiB with 3 digests: {peak:.1f} MB "
          f"(limit 200 MB: {verdict})")
    print(f"(this process: max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
