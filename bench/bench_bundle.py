"""Bundle writing: ``write_bundle`` (tar + BagIt + CMS + age + seal + read-back) against tar | age.

    python -m bench bundle [--size-mib 1024] [--small 1000] [--small-kib 4] [--runs 3] [--dir DIR]

One large payload and many small ones, from synthetic chunk generators (the vault's blob decryption is
NOT included). Baseline measured in the same run on the same plaintext, written to the same disk:
``tar -cf - DIR | age -r R > OUT`` (as is, and followed by ``sync OUT`` since we fsync). The writer runs in
a child process so its peak RSS (getrusage) is its own. Goals (issue 9): ratio >= 1.0, RSS < 200 MB.
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import median_time

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

    import pyrage

    from icspa_desktop.bundle import media
    from icspa_desktop.bundle.format import BagSpec, PayloadFile, write_bundle
    from icspa_desktop.crypto import cms, x509

    out, size, small, small_size, recipient = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    key = x509.generate_key()
    cert = x509.self_signed(key, "Bench Agency", "NL")
    big_hash = hashlib.sha256()
    for piece in _chunks(size):
        big_hash.update(piece)
    files = [PayloadFile("big.bin", size, big_hash.hexdigest(), lambda: _chunks(size))]
    for i in range(small):
        data = _small(i, small_size)
        files.append(PayloadFile(f"small-{i:05d}.bin", small_size, hashlib.sha256(data).hexdigest(),
                                 functools.partial(iter, [data])))
    spec = BagSpec("ICSPA-BENCH", [("Source-Organization", "Bench")], {"metadata/custody.json": b"{}\n"}, files)
    read_back: list[float] = []
    real_read_back = media.read_back_sha256

    def timed_read_back(*args: Any, **kwargs: Any) -> str:
        started = time.perf_counter()
        result = real_read_back(*args, **kwargs)
        read_back.append(time.perf_counter() - started)
        return result

    media.read_back_sha256 = timed_read_back
    pyrage.x25519.Recipient.from_str(recipient)
    started = time.perf_counter()
    written = write_bundle(spec, lambda data: cms.sign_detached(data, cert, key), [recipient], out)
    total = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"total": total, "read_back": sum(read_back), "size": written.size, "rss": rss}))
    return 0


def _prepare_plaintext(folder: Path, size: int, small: int, small_size: int) -> int:
    (folder / "data").mkdir(parents=True)
    with open(folder / "data" / "big.bin", "wb") as handle:
        for piece in _chunks(size):
            handle.write(piece)
    for i in range(small):
        (folder / "data" / f"small-{i:05d}.bin").write_bytes(_small(i, small_size))
    return size + small * small_size


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench bundle")
    parser.add_argument("--size-mib", type=int, default=1024, help="the large payload (MiB)")
    parser.add_argument("--small", type=int, default=1000, help="number of small payloads")
    parser.add_argument("--small-kib", type=int, default=4, help="size of each small payload (KiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir under /tmp)")
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
        print(f"# plaintext {plain / 1e6:.0f} MB: one {args.size_mib} MiB payload + {args.small} x "
              f"{args.small_kib} KiB; synthetic payload chunks (the vault's blob decryption is not included)")
        out = base / "baseline.age"

        def baseline(sync: bool) -> None:
            command = f"tar -cf - -C {base / 'plain'} data | age -r {recipient} > {out}"
            subprocess.run(["bash", "-o", "pipefail", "-c", command + (f" && sync {out}" if sync else "")], check=True)
            out.unlink()

        plain_time = median_time(lambda: baseline(False), args.runs)
        synced_time = median_time(lambda: baseline(True), args.runs)
        runs = []
        for i in range(args.runs):
            target = base / f"b{i}.icspa"
            child = subprocess.run([sys.executable, "-m", "bench.bench_bundle", "--child", str(target), str(size),
                                    str(args.small), str(small_size), recipient],
                                   capture_output=True, text=True, check=False)
            if child.returncode != 0:
                print(child.stderr, file=sys.stderr)
                return 1
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            for path in base.glob(f"b{i}.icspa*"):
                path.unlink()
        total = statistics.median(run["total"] for run in runs)
        read_back = statistics.median(run["read_back"] for run in runs)
        write = statistics.median(run["total"] - run["read_back"] for run in runs)
        rss = max(run["rss"] for run in runs)

        def rate(seconds: float) -> str:
            return f"{plain / seconds / 1e6:7.0f} MB/s ({seconds:.2f} s)"

        print(f"tar | age > OUT                    {rate(plain_time)}")
        print(f"tar | age > OUT && sync OUT        {rate(synced_time)}")
        print(f"write_bundle, without read-back    {rate(write)}   ratio {plain_time / write:.2f} "
              f"(vs synced baseline {synced_time / write:.2f}; goal >= 1.0)")
        print(f"write_bundle, read-back alone      {rate(read_back)}")
        print(f"write_bundle, end to end           {rate(total)}   ratio {plain_time / total:.2f}")
        print(f"peak RSS of the writer process     {rss / 1e6:7.0f} MB (goal < 200 MB)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
