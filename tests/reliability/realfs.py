"""Real file-system limits without root: a tiny tmpfs in a private mount namespace (``unshare -Urm``) gives a real
ENOSPC, and ``RLIMIT_FSIZE`` a real EFBIG at a chosen size (FAT32's 4 GiB - 1 cap, scaled down).

CPython ignores SIGXFSZ at start, so a write past ``RLIMIT_FSIZE`` fails with EFBIG instead of killing the process.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.reliability import crash
from tests.reliability.scenes import Operation

# Inside the namespace: mount the tmpfs, fill it with the vault to use (when asked), run the command, then copy
# out what the command left, since the mount vanishes with the namespace.
_SCRIPT = r"""
target=$1 size=$2 report=$3; shift 3
mount -t tmpfs -o "size=$size,mode=0700" tmpfs "$target" || exit 97
if [ -d "$report/seed" ]; then cp -a "$report/seed/." "$target/" || exit 98; fi
"$@"; rc=$?
ls -A "$target" > "$report/listing"
mkdir -p "$report/after" && cp -a "$target/." "$report/after/"
exit $rc
"""


def unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                          capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def run_on_tmpfs(op: Operation, root: Path, target: Path, size: str, report: Path,
                 seed: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``op`` in scene ``root`` with a fresh tmpfs of ``size`` (e.g. ``1m``) mounted on ``target``; with
    ``seed``, the tmpfs starts with a copy of that directory. ``report/listing`` and ``report/after/`` hold what
    the tmpfs held when the command ended."""
    report.mkdir()
    if seed is not None:
        shutil.copytree(seed, report / "seed", symlinks=True)
    return crash.run(op, root, prefix=["unshare", "-Urm", "sh", "-c", _SCRIPT, "sh", str(target), size, str(report)])


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply
