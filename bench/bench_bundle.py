"""Bundle writing: ``write_bundle`` (tar + BagIt + CMS + age + seal + read-back) against tar | age.

    python -m bench bundle [--size-mib 1024] [--small 1000] [--small-kib 4] [--runs 3] [--dir DIR]
                           [--crypto-mib 1024] [--authenticated]

One large payload and many small ones, from synthetic chunk generators (the vault's blob decryption is
NOT included). Baseline measured in the same run on the same plaintext, written to the same disk:
``tar -cf - DIR | age -r R > OUT`` (as is, and followed by ``sync OUT`` since we fsync); each run does the
baselines and then ours, so a machine busy with something else slows both alike, and the ratios are the
medians of the runs' own ratios. CPU seconds (getrusage, all threads / all processes) are printed too: they
hardly depend on what else the machine does. The writer runs in a child process so its peak RSS and CPU
time are its own. Goals (issue 9): ratio >= 1.0, RSS < 200 MB. ``--authenticated`` marks the payloads as the
export may mark the vault's blobs (``PayloadFile.authenticated``): their plaintext is then not hashed again.

Then the age layer alone (``--crypto-mib``, 0 to skip): our ``agev1`` against the ``age`` CLI and pyrage,
encrypting and decrypting the same file (read from the page cache) to nowhere, as GB/s and ratios.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import median_time, peak_rss, report

BLOCK = hashlib.sha512(b"bench-bundle").digest() * (1 << 14)  # 1 MiB, repeated: the payload generator


def _chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // len(BLOCK)):
        yield BLOCK
    if size % len(BLOCK):
        yield BLOCK[: size % len(BLOCK)]


def _small(index: int, size: int) -> bytes:
    return (f"{index:06d}".encode() * (size // 6 + 1))[:size]


def _child(argv: Sequence[str]) -> int:
    """Write one bundle; print the phases and the peak RSS as JSON."""
    import resource

    from icspa_desktop.bundle import media
    from icspa_desktop.bundle.format import BagSpec, PayloadFile, write_bundle
    from icspa_desktop.crypto import agev1, cms, x509

    out, size, small, small_size, recipient = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    authenticated = argv[5:6] == ["authenticated"]
    key = x509.generate_key()
    cert = x509.self_signed(key, "Bench Agency", "NL")
    big_hash = hashlib.sha256()
    for piece in _chunks(size):
        big_hash.update(piece)
    files = [PayloadFile("big.bin", size, big_hash.hexdigest(), lambda: _chunks(size), authenticated)]
    for i in range(small):
        data = _small(i, small_size)
        files.append(PayloadFile(f"small-{i:05d}.bin", small_size, hashlib.sha256(data).hexdigest(),
                                 functools.partial(iter, [data]), authenticated))
    spec = BagSpec("ICSPA-BENCH", [("Source-Organization", "Bench")], {"metadata/custody.json": b"{}\n"}, files)
    read_back: list[float] = []
    read_back_cpu: list[float] = []
    real_read_back = media.read_back_sha256

    def timed_read_back(*args: Any, **kwargs: Any) -> str:
        started, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
        result = real_read_back(*args, **kwargs)
        read_back.append(time.perf_counter() - started)
        read_back_cpu.append(_cpu(resource.RUSAGE_SELF) - cpu)
        return result

    media.read_back_sha256 = timed_read_back
    agev1.parse_recipient(recipient)
    started, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    written = write_bundle(spec, lambda data: cms.sign_detached(data, cert, key), [recipient], out)
    total = time.perf_counter() - started
    cpu = _cpu(resource.RUSAGE_SELF) - cpu
    rss = peak_rss()
    print(json.dumps({"total": total, "read_back": sum(read_back), "size": written.size, "rss": rss,
                      "cpu": cpu, "read_back_cpu": sum(read_back_cpu)}))
    return 0


def _cpu(who: int) -> float:
    import resource

    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _prepare_plaintext(folder: Path, size: int, small: int, small_size: int) -> int:
    (folder / "data").mkdir(parents=True)
    with open(folder / "data" / "big.bin", "wb") as handle:
        for piece in _chunks(size):
            handle.write(piece)
    for i in range(small):
        (folder / "data" / f"small-{i:05d}.bin").write_bytes(_small(i, small_size))
    return size + small * small_size


class _Nowhere:
    """A writer that drops everything (pyrage wants ``write`` and ``flush``)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _crypto(base: Path, mib: int, runs: int, recipient: str, identity: str) -> None:
    """agev1 vs the age CLI vs pyrage on the same file, encryption and decryption."""
    import pyrage

    from icspa_desktop.crypto import agev1

    plain, sealed, id_file = base / "crypto.bin", base / "crypto.age", base / "crypto-id.txt"
    with open(plain, "wb") as handle:
        for piece in _chunks(mib << 20):
            handle.write(piece)
    id_file.write_text(identity + "\n")
    subprocess.run(["bash", "-c", f"age -r {recipient} < {plain} > {sealed}"], check=True)
    size = mib << 20

    def ours_encrypt() -> None:
        encryptor = agev1.Encryptor(lambda data: None, [recipient])
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        with open(plain, "rb", buffering=0) as handle:
            while n := handle.readinto(buf):
                encryptor.write(view[:n])
        encryptor.finish()

    def ours_decrypt() -> None:
        with open(sealed, "rb", buffering=0) as handle:
            agev1.decrypt_io(handle.read, lambda view: None, [identity])

    def pyrage_encrypt() -> None:
        with open(plain, "rb") as handle:
            pyrage.encrypt_io(handle, _Nowhere(), [pyrage.x25519.Recipient.from_str(recipient)])

    def pyrage_decrypt() -> None:
        with open(sealed, "rb") as handle:
            pyrage.decrypt_io(handle, _Nowhere(), [pyrage.x25519.Identity.from_str(identity)])

    def cli(command: str) -> Callable[[], object]:
        return lambda: subprocess.run(["bash", "-c", command], check=True)

    # Warm the page cache so every contender reads memory, not the disk.
    for path in (plain, sealed):
        path.read_bytes()
    times = {
        ("encrypt", "agev1"): median_time(ours_encrypt, runs),
        ("encrypt", "age CLI"): median_time(cli(f"age -r {recipient} < {plain} > /dev/null"), runs),
        ("encrypt", "pyrage"): median_time(pyrage_encrypt, runs),
        ("decrypt", "agev1"): median_time(ours_decrypt, runs),
        ("decrypt", "age CLI"): median_time(cli(f"age -d -i {id_file} < {sealed} > /dev/null"), runs),
        ("decrypt", "pyrage"): median_time(pyrage_decrypt, runs),
    }
    print(f"# age layer alone: {mib} MiB from the page cache to nowhere")
    for op in ("encrypt", "decrypt"):
        ours = times[(op, "agev1")]
        line = "   ".join(f"{who} {size / times[(op, who)] / 1e9:5.2f} GB/s" for who in ("agev1", "age CLI", "pyrage"))
        print(f"{op:8} {line}   agev1/age {times[(op, 'age CLI')] / ours:4.1f}x   "
              f"agev1/pyrage {times[(op, 'pyrage')] / ours:4.1f}x")
    for path in (plain, sealed, id_file):
        path.unlink()


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench bundle")
    parser.add_argument("--size-mib", type=int, default=1024, help="the large payload (MiB)")
    parser.add_argument("--small", type=int, default=1000, help="number of small payloads")
    parser.add_argument("--small-kib", type=int, default=4, help="size of each small payload (KiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir under /tmp)")
    parser.add_argument("--crypto-mib", type=int, default=1024,
                        help="input of the age-layer comparison (MiB); 0 skips it")
    parser.add_argument("--authenticated", action="store_true",
                        help="mark the payloads as the vault's blobs are marked when exported (PayloadFile."
                             "authenticated: their decryption authenticates every chunk, so the plaintext is not "
                             "hashed again); without it every payload is hashed on the way out")
    args = parser.parse_args(list(argv))
    for tool in ("tar", "age", "age-keygen", "sync"):
        if shutil.which(tool) is None:
            print(f"bench bundle: {tool} is required", file=sys.stderr)
            return 1
    base = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir=args.dir))
    try:
        size, small_size = args.size_mib << 20, args.small_kib << 10
        plain = _prepare_plaintext(base / "plain", size, args.small, small_size)
        keygen = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True)
        recipient = next(line.split(": ")[1] for line in keygen.stderr.splitlines() + keygen.stdout.splitlines()
                         if line.startswith("Public key: ") or line.startswith("# public key: "))
        identity = next(line for line in keygen.stdout.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
        print(f"# plaintext {plain / 1e6:.0f} MB: one {args.size_mib} MiB payload + {args.small} x "
              f"{args.small_kib} KiB; synthetic payload chunks (the vault's blob decryption is not included); "
              + ("payloads marked authenticated (not hashed again)" if args.authenticated
                 else "every payload hashed on the way out"))
        out = base / "baseline.age"

        def baseline(sync: bool) -> tuple[float, float]:
            """(wall, CPU seconds of tar, age and the shell)."""
            import resource

            command = f"tar -cf - -C {base / 'plain'} data | age -r {recipient} > {out}"
            started, cpu = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
            subprocess.run(["bash", "-o", "pipefail", "-c", command + (f" && sync {out}" if sync else "")], check=True)
            wall, cpu = time.perf_counter() - started, _cpu(resource.RUSAGE_CHILDREN) - cpu
            out.unlink()
            return wall, cpu

        runs = []
        plain_runs: list[tuple[float, float]] = []
        synced_runs: list[tuple[float, float]] = []
        for i in range(args.runs):
            plain_runs.append(baseline(False))
            synced_runs.append(baseline(True))
            target = base / f"b{i}.icspa"
            child = subprocess.run([sys.executable, "-m", "bench.bench_bundle", "--child", str(target), str(size),
                                    str(args.small), str(small_size), recipient,
                                    "authenticated" if args.authenticated else "hashed"],
                                   capture_output=True, text=True, check=False)
            if child.returncode != 0:
                print(child.stderr, file=sys.stderr)
                return 1
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            for path in base.glob(f"b{i}.icspa*"):
                path.unlink()
        med = statistics.median
        plain_time, synced_time = med(w for w, _ in plain_runs), med(w for w, _ in synced_runs)
        total = med(run["total"] for run in runs)
        read_back = med(run["read_back"] for run in runs)
        writes = [run["total"] - run["read_back"] for run in runs]
        write = med(writes)
        rss = max(run["rss"] for run in runs)
        # Each run's own ratio (baseline and ours measured back to back), then the median.
        ratio = med(b[0] / w for b, w in zip(plain_runs, writes, strict=True))
        ratio_synced = med(b[0] / w for b, w in zip(synced_runs, writes, strict=True))
        ratio_total = med(b[0] / run["total"] for b, run in zip(plain_runs, runs, strict=True))
        base_cpu = med(c for _, c in plain_runs)
        write_cpu = med(run["cpu"] - run["read_back_cpu"] for run in runs)

        def rate(seconds: float) -> str:
            return f"{plain / seconds / 1e6:7.0f} MB/s ({seconds:.2f} s)"

        print(f"tar | age > OUT                    {rate(plain_time)}")
        print(f"tar | age > OUT && sync OUT        {rate(synced_time)}")
        print(f"write_bundle, without read-back    {rate(write)}   ratio {ratio:.2f} "
              f"(vs synced baseline {ratio_synced:.2f}; goal >= 1.0)")
        print(f"write_bundle, read-back alone      {rate(read_back)}")
        print(f"write_bundle, end to end           {rate(total)}   ratio {ratio_total:.2f}")
        print(f"CPU seconds: tar | age {base_cpu:.2f}, write_bundle without read-back {write_cpu:.2f} "
              f"(ratio {base_cpu / write_cpu:.2f}), read-back {med(run['read_back_cpu'] for run in runs):.2f}")
        print(f"peak RSS of the writer process     {rss / 1e6:7.0f} MB (goal < 200 MB)")
        size = f"{args.size_mib} MiB + {args.small} small"
        report("bundle", f"export without read-back, {size}", [plain / w / 1e6 for w in writes], "MB/s",
               ratio=ratio, baseline="tar | age", goal="ratio >= 1.0", met=ratio >= 1.0)
        report("bundle", f"export end to end (with read-back), {size}", [plain / r["total"] / 1e6 for r in runs],
               "MB/s", ratio=ratio_total, baseline="tar | age")
        report("bundle", f"peak RSS of the export, {size}", [r["rss"] / 1e6 for r in runs], "MB",
               goal="< 200 MB", met=rss < 200e6)
        if args.crypto_mib > 0:
            _crypto(base, args.crypto_mib, args.runs, recipient, identity)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
