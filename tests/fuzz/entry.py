"""One entry point of untrusted files, run in a child process on a path the test prepared (a FIFO, a device, a
huge sparse file); prints one JSON line: what happened, how long it took, the child's peak RSS.

    python -m tests.fuzz.entry ENTRY PATH [VAULT]

The child has an address-space limit (set by the parent) and gives itself ``HANG_SECONDS`` with SIGALRM: a
blocking open or read is interrupted and reported as "hang" instead of waiting forever.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from icspa_desktop.crypto import kdf

HANG_SECONDS = int(os.environ.get("FUZZ_ENTRY_SECONDS", "3"))  # more for what must read a whole file


class Hang(Exception):
    pass


def _read_bounded(path: Path, vault: Path | None) -> object:
    from icspa_desktop.files import read_bounded

    return read_bounded(path, "card")


def _bundle(path: Path, vault: Path | None) -> object:
    from icspa_desktop.bundle import reader
    from icspa_desktop.crypto import agev1

    check = reader.check_bundle(path, [agev1.generate_identity()[0]], [])
    return {"ok": check.ok, "seal": check.seal, "problems": check.problems[:2], "size": check.size}


def _witness(path: Path, vault: Path | None) -> object:
    from icspa_desktop.custody import checkpoints

    return checkpoints.read_witness(path)


def _receipt(path: Path, vault: Path | None) -> object:
    from icspa_desktop.services import receipts
    from icspa_desktop.services.session import unlock
    from tests.agency.conftest import PASS

    assert vault is not None
    with unlock(vault, "admin", PASS) as session:
        signal.alarm(HANG_SECONDS)  # from here: the unlock took its own time
        return receipts.import_receipt(session, path)


def _keyslots(path: Path, vault: Path | None) -> object:
    from icspa_desktop.vault.keyslots import KeySlotFile

    return KeySlotFile.load(path, "vault-id")  # type: ignore[arg-type]


def _vault_header(path: Path, vault: Path | None) -> object:
    from icspa_desktop.vault.layout import VaultLayout
    from icspa_desktop.vault.store import VaultHeader

    return VaultHeader.load(VaultLayout(path.parent))


ENTRIES: dict[str, Callable[[Path, Path | None], object]] = {
    "read-bounded": _read_bounded, "bundle": _bundle, "witness": _witness, "receipt": _receipt,
    "keyslots": _keyslots, "vault-header": _vault_header,
}


def _alarm(signum: int, frame: object) -> None:
    raise Hang(f"still running after {HANG_SECONDS} s")


def main(argv: list[str]) -> int:
    kdf.use_insecure_test_profile()
    from icspa_desktop.domain.errors import IcspaError

    entry, path = ENTRIES[argv[0]], Path(argv[1])
    vault = Path(argv[2]) if len(argv) > 2 else None
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    signal.alarm(HANG_SECONDS)
    result: dict[str, Any]
    try:
        result = {"outcome": "result", "value": repr(entry(path, vault))[:300]}
    except Hang as exc:
        result = {"outcome": "hang", "type": "Hang", "message": str(exc)}
    except IcspaError as exc:
        result = {"outcome": "refused", "type": type(exc).__name__, "message": str(exc)[:300]}
    except BaseException as exc:
        result = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)[:300]}
    signal.alarm(0)
    result["seconds"] = round(time.monotonic() - started, 2)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))
    return 0


def peak_rss_mib() -> int:
    """This process image's peak resident set (VmHWM), in MiB. Not getrusage's ru_maxrss: Linux carries the parent's
    high-water mark over a fork and exec, so a child of a grown pytest reported 352 MiB for a 0.01 s refusal."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # no /proc: the upper bound


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
