"""Two real agency vaults that trust each other, the sender holding one large and many small items: the setting
of the export and import benchmarks (cheap test KDF: unlocking is not what they measure)."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PASS = "bench-import-passphrase"
CASE = "BENCH/1"
PARTNER = "BKA"  # the recipient's name in the sender's partner list


@dataclass(frozen=True)
class PartnerVaults:
    sender: Path  # NL's vault: case BENCH/1 with the items
    recipient: Path  # DE's vault
    files: Path  # the ingested plaintext, as files (big.bin, small-00000.bin, …)
    recipient_secret: str  # DE's age identity (AGE-SECRET-KEY-1…)
    recipient_public: str  # DE's age recipient (age1…)


def build(base: Path, size: int, small: int, small_size: int) -> PartnerVaults:
    from cryptography.hazmat.primitives import serialization

    from icspa_desktop.crypto import kdf
    from icspa_desktop.domain.models import CaseFields
    from icspa_desktop.services import agency, cases, evidence, partners
    from icspa_desktop.services.session import unlock
    from icspa_desktop.services.vault_service import AgencyInfo, init_vault

    kdf.use_insecure_test_profile()
    files = base / "files"
    files.mkdir()
    block = os.urandom(1 << 20)
    with open(files / "big.bin", "wb") as handle:
        for _ in range(size >> 20):
            handle.write(block)
    for i in range(small):
        (files / f"small-{i:05d}.bin").write_bytes(os.urandom(small_size))
    nl, de = base / "nl", base / "de"
    init_vault(nl, "admin", PASS, agency=AgencyInfo("Bench Politie", "NL", "", ""))
    init_vault(de, "admin", PASS, agency=AgencyInfo("Bench BKA", "DE", "", ""))
    with unlock(nl, "admin", PASS) as s_nl, unlock(de, "admin", PASS) as s_de:
        for one, other, name, country in ((s_nl, s_de, PARTNER, "DE"), (s_de, s_nl, "Politie", "NL")):
            identity = agency.agency_identity(other)
            partners.add_partner(one, name, country, identity.age_recipient,
                                 identity.certificate.public_bytes(serialization.Encoding.PEM))
        secret = str(agency.age_identity(s_de))
        public = agency.agency_identity(s_de).age_recipient
        case = cases.create_case(s_nl, CaseFields(CASE, "Export and import benchmark"))
        evidence.add_files(s_nl, case.id, [files])
    return PartnerVaults(nl, de, files, secret, public)


def parse_args(prog: str, argv: Sequence[str]) -> argparse.Namespace:
    """The options of the export and import benchmarks (the same case on both sides)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--size-mib", type=int, default=1024, help="the large item (MiB)")
    parser.add_argument("--small", type=int, default=1000, help="number of small items")
    parser.add_argument("--small-kib", type=int, default=4, help="size of each small item (KiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: a temp dir under /tmp)")
    return parser.parse_args(list(argv))


def missing_tool(prog: str) -> bool:
    """Says so (and True) when the baselines' tools are not installed."""
    for tool in ("tar", "age", "sync"):
        if shutil.which(tool) is None:
            print(f"{prog}: {tool} is required", file=sys.stderr)
            return True
    return False


def work_dir(prefix: str, parent: Path | None) -> tuple[Path, dict[str, str]]:
    """A fresh folder to work in, and the environment (its own custody witnesses) for this process and children."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.environ["ICSPA_WITNESS_DIR"] = str(base / "witness")
    return base, dict(os.environ)


def children_cpu() -> float:
    """User + system CPU seconds of the waited-for children so far (a pipeline's processes included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Baseline:
    """The baseline's shell pipeline, timed in a fresh folder ``out`` that is then put aside (``set_aside``: synced
    first, so the next measurement starts without its dirty pages); the CPU seconds of the runs without
    ``then`` are kept."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.cpu: list[float] = []

    def __call__(self, command: str, then: str = "") -> float:
        self.out.mkdir()
        started, cpu = time.perf_counter(), children_cpu()
        subprocess.run(["bash", "-o", "pipefail", "-c", command + (f" && {then}" if then else "")], check=True)
        seconds = time.perf_counter() - started
        if not then:
            self.cpu.append(children_cpu() - cpu)
        set_aside(self.out)
        return seconds


def room_for(base: Path, runs: int, per_run: int, prog: str) -> bool:
    """Whether the work folder's file system has room for every run's files kept aside (``set_aside``), plus the
    vaults; if not, says so (use fewer --runs, or --dir on a larger disk)."""
    need = (runs + 2) * per_run
    free = shutil.disk_usage(base).free
    if free >= need:
        return True
    print(f"{prog}: {runs} runs keep ~{need / 1e9:.1f} GB of output until the end (see set_aside), but "
          f"{base} has {free / 1e9:.1f} GB free: use fewer --runs, or --dir on a larger disk.", file=sys.stderr)
    return False


def set_aside(path: Path) -> None:
    """Move what a measurement wrote into ``aside/`` beside it (removed with the work folder at the end), written
    out and dropped from the page cache.

    Not deleted between measurements: on this machine's ext4 (mounted with ``discard``), writing right after a
    deletion is slow — creating files right after thousands were deleted cost ~0.6 ms each (the allocator
    passes over recently freed inodes) against ~0.02 ms in a quiet folder (1,000 creates: 0.59 s against
    0.02 s), and writing 1 GiB right after deleting a 1 GiB file took 0.97 s against 0.20 s — so whichever
    side followed a deletion paid for the other's clean-up (the baseline, writing through the page cache,
    most: ``tar | age`` took 1.0 s or 3.7 s by what came before it). Dropped from the page cache, as a
    deletion would drop it, so the cache holds for the next measurement what it held before this one.
    """
    aside = path.parent / "aside"
    aside.mkdir(exist_ok=True)
    moved = aside / f"{path.name}-{len(os.listdir(aside))}"
    path.rename(moved)
    os.sync()
    for folder, _dirs, files in os.walk(moved):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def required_crypto_seconds(plain: int, sealed: int) -> float:
    """One core's seconds, measured now on 256 MiB and scaled, for the hashing and ciphers a bundle's bytes need
    whatever program moves them: SHA-256 of the plaintext (the manifest) and of the file (the seal), ChaCha20-
    Poly1305 (age's payload, in its 64 KiB chunks) and AES-256-GCM (the vault's blobs, 1 MiB chunks).

    Divided by the cores, a floor: no export or import of ``plain`` bytes into or out of an encrypted vault, however
    well spread over the cores, takes less — before any I/O, parsing, signing, custody or report."""
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    sample = 256 << 20
    block = bytearray(os.urandom(1 << 20))
    out = bytearray(len(block) + 16)
    chacha, gcm = ChaCha20Poly1305(os.urandom(32)), AESGCM(os.urandom(32))
    nonce = bytes(12)
    view, chunk = memoryview(block), 64 << 10

    def sha256() -> None:
        digest = hashlib.sha256()
        for _ in range(sample >> 20):
            digest.update(block)

    def age_payload() -> None:
        for _ in range(sample // chunk):
            chacha.encrypt_into(nonce, view[:chunk], None, memoryview(out)[:chunk + 16])

    def vault_blobs() -> None:
        for _ in range(sample >> 20):
            gcm.encrypt_into(nonce, block, None, out)

    def seconds(work: Callable[[], None]) -> float:
        started = time.perf_counter()
        work()
        return (time.perf_counter() - started) / sample

    per_byte_sha = seconds(sha256)
    return per_byte_sha * (plain + sealed) + (seconds(age_payload) + seconds(vault_blobs)) * plain
