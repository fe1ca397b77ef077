"""I/O faults: ENOSPC, EIO, EROFS and EFBIG at each write, fsync and rename of an operation, once or from then on.

The fault points are the crash points of crash.py (the same counting run, through the LD_PRELOAD shim). For
each point the operation runs in a fresh copy of the template scene with the shim failing that call (and,
persistently, every later call of its kind) with an errno; the errnos take turns over the points, so each
meets every kind of call. A fault is *handled* when:

- the command fails with exit 5 (4 for refused input) and one clear line on stderr: starting ``icspa:``, no
  traceback, not the error boundary's "unexpected error", naming the cause (the errno's text or, for
  ENOSPC, "full") — or it succeeds (exit 0) because the failed call was not needed, with the complete result;
- after a failure the vault is unchanged: the same files with the same bytes (``-wal``, ``-shm`` and the lock
  file aside, as in tests/bundle/exchange.py ``tree_digest``) and the same rows (read through the WAL);
  operations that record a failed attempt by design (``RECORDS_FAILURE``) are compared on their rows only;
- nothing is under a final name on the media, and no temporary file is left (the command was not killed:
  it had every chance to clean up);
- the next unlock finds everything as crash.py's ``check_scene`` wants it.
"""

from __future__ import annotations

import errno as errno_module
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.agency.conftest import PASS
from tests.bundle.exchange import tree_digest
from tests.reliability import crash, known, shim
from tests.reliability.crash import Counted, Harness, Point, check_scene
from tests.reliability.scenes import ADMIN, Operation

ERRNOS = ("ENOSPC", "EIO", "EROFS", "EFBIG")
_TEXT = {name: os.strerror(getattr(errno_module, name)) for name in ERRNOS}
# Operations that record a failed attempt in the custody log by design (DESIGN §3: every action is recorded):
# their database may change after a failure, their files may not.
RECORDS_FAILURE = {"bundle-export", "extract"}
_TEMP_NAME = re.compile(r"(^|/)\.[^/]+\.tmp-\d+$")


@dataclass(frozen=True)
class FaultPoint:
    point: Point
    errno: str
    persist: bool

    def label(self) -> str:
        return f"{self.point.label()} {self.errno} {'persistent' if self.persist else 'once'}"


@dataclass
class FaultOutcome:
    fault: FaultPoint
    returncode: int
    stderr: str
    injected: bool
    problems: list[str] = field(default_factory=list)  # "category: detail" (tests/reliability/known.py)

    @property
    def handled(self) -> bool:
        return not self.problems


@dataclass
class FaultReport:
    operation: str
    outcomes: list[FaultOutcome] = field(default_factory=list)

    @property
    def injected(self) -> int:
        return sum(o.injected for o in self.outcomes)

    @property
    def handled(self) -> int:
        return sum(o.injected and o.handled for o in self.outcomes)

    def failures(self) -> list[FaultOutcome]:
        return [o for o in self.outcomes if not o.handled]

    def line(self) -> str:
        hit = [o for o in self.outcomes if o.injected]
        new = sum(bool(known.unknown(o.problems)) for o in hit)
        lost = sum(known.data_lost(o.problems) for o in hit)
        by_errno = " ".join(f"{e}={sum(o.fault.errno == e for o in hit)}" for e in ERRNOS)
        return (f"{self.operation:15} faults injected {self.injected:4} ({by_errno}): handled cleanly "
                f"{self.handled:4}, known bug {self.injected - self.handled - new:4}, new problem {new}, data lost "
                f"{lost}; the command still succeeded {sum(o.returncode == 0 for o in hit)}")


_CAUSE_WORDS = {"ENOSPC": ("full", "no space left", " free"), "EIO": ("input/output error", "i/o error"),
                "EROFS": ("read-only",), "EFBIG": ("too large", "file size limit")}
_WITNESS_WARNING = "Your witness of the custody log could not be written"


def message_problems(stderr: str, returncode: int, errno: str) -> list[str]:
    """Why stderr is not one clear line for a failure caused by ``errno`` (categories of known.py)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if "Traceback" in stderr:
        return ["message: a traceback reached stderr"]
    found: list[str] = []
    if returncode not in (4, 5):
        found.append(f"message: exit {returncode} (5, or 4 for refused input, expected)")
    errors = [line for line in lines if not line.startswith(("icspa: warning", _WITNESS_WARNING))]
    if len(errors) != 1 or not errors[0].startswith("icspa: "):
        return [*found, f"message: {len(errors)} error lines: {errors[:3]}"]
    line = errors[0]
    if "unexpected error" in line:
        kind = "db-io-message" if "(OperationalError)" in line else "message"
        return [*found, f"{kind}: {line[:160]!r}"]
    if "syncfs failed" in line:
        found.append(f"syncfs-message: {line!r}")
    elif "does not open with this vault's key" in line:
        found.append(f"open-misreported: {line[:200]!r}")
    elif not any(word in line.lower() for word in _CAUSE_WORDS[errno]):
        found.append(f"message: the line does not name the cause ({_TEXT[errno]}): {line!r}")
    return found


def witness_warning(stderr: str) -> list[str]:
    """A witness that could not be written is a warning (the command's work is done): one line, 'icspa:' first,
    the path the user knows (never a temporary name)."""
    return [f"witness-warning: {line[:200]}" for line in stderr.splitlines()
            if line.startswith(_WITNESS_WARNING) or ("witness" in line and ".tmp-" in line)]


def _changed_category(op: Operation, name: str) -> str:
    if name == "keyslots.json":
        return "slots-after-failure"
    return {"receipt": "receipt-recorded-unwritten", "user-disable": "unrotated-disable"}.get(
        op.name, "changed-after-failure")


def rekey_swallowed(root: Path, op: Operation) -> str | None:
    """After a rotation that reported success: does the database on disk open with the newest master key (before
    any later unlock could finish a rekey)?"""
    from icspa_desktop.crypto import keys
    from icspa_desktop.vault import db
    from icspa_desktop.vault.keyslots import KeySlotFile
    from icspa_desktop.vault.layout import VaultLayout
    from icspa_desktop.vault.store import VaultHeader

    layout = VaultLayout(root / op.vault)
    masters = KeySlotFile.load(layout.keyslots, VaultHeader.load(layout).vault_id).unlock(ADMIN, PASS).masters
    try:
        db.open_database(layout.database, keys.derive_subkey(masters[0], keys.PURPOSE_SQLCIPHER)).close()
    except db.KeyMismatch:
        return ("rekey-swallowed: the command reported the master key rotated (exit 0), but the database on disk "
                "still opens only with the old key")
    return None


class FaultHarness:
    """Fault points of the operations, in copies of the crash harness's template scene."""

    def __init__(self, harness: Harness) -> None:
        if harness.library is None:
            raise ValueError("I/O faults need the LD_PRELOAD shim (a C compiler)")
        self.harness = harness
        self.library = harness.library
        self._digests: dict[str, dict[str, str]] = {}

    def digest_before(self, vault: str) -> dict[str, str]:
        if vault not in self._digests:
            self._digests[vault] = tree_digest(self.harness.template / vault)
        return self._digests[vault]

    @staticmethod
    def faults(counted: Counted, every: int = 1, both: bool = True) -> list[FaultPoint]:
        """Every write/fsync/rename point (or every ``every``-th), once and persistently (``both``; else the
        two modes take turns over the points), the errnos taking turns too."""
        points = [p for p in Harness.points(counted, every) if p.kind in shim.KINDS]
        if both:
            return [FaultPoint(p, ERRNOS[(i + mode) % len(ERRNOS)], bool(mode))
                    for i, p in enumerate(points) for mode in (0, 1)]
        return [FaultPoint(p, ERRNOS[i % len(ERRNOS)], bool(i % 2)) for i, p in enumerate(points)]

    def inject(self, op: Operation, fault: FaultPoint, counted: Counted) -> FaultOutcome:
        h = self.harness
        root = h.fresh(f"{op.name}-{fault.point.kind}-{fault.point.nth}-{fault.errno}-{int(fault.persist)}")
        counts_file = h.work / f"{root.name}.counts"
        spec = shim.Fault(fault.point.kind, fault.point.nth, fault.errno, fault.persist, str(root) + "/")
        done = crash.run(op, root, {**spec.env(self.library), "FAULT_COUNT_FILE": str(counts_file)})
        injected = shim.read_counts(counts_file).get("injected", 0) > 0
        counts_file.unlink(missing_ok=True)
        outcome = FaultOutcome(fault, done.returncode, done.stderr.strip(), injected)
        problems = outcome.problems
        problems.extend(witness_warning(done.stderr))
        # A command may fail after its change was committed if its message says so (custody checkpoint: "The
        # checkpoint was stored in the vault, but the witness file … could not be written").
        # A master-key rotation whose commit is done but whose database rekey failed says so, and the next unlock
        # finishes it (checked below: the database then opens with the newest key).
        # A disable whose rotation failed says the disable is recorded (and every admin unlock says to rekey).
        said_stored = any(words in done.stderr for words in (
            "was stored in the vault", "finished at the next unlock", "is disabled (recorded in the custody log)"))
        # An output left under its final name is its own bug (published-then-failed); the record of it is not another.
        published = bool(op.outputs) and all((root / name).exists() for name in op.outputs)
        if done.returncode != 0:
            problems.extend(message_problems(done.stderr, done.returncode, fault.errno))
            before = self.digest_before(op.vault)
            after = tree_digest(root / op.vault)
            changed = sorted(k for k in after.keys() | before.keys()
                             if after.get(k) != before.get(k) and not _TEMP_NAME.search(k))  # strays: below
            if op.name not in RECORDS_FAILURE and not said_stored and not published:
                problems.extend(f"{_changed_category(op, name)}: {op.vault}/{name} changed after the failure"
                                for name in changed)
            problems.extend(f"published-then-failed: {name} is under its final name after the failure"
                            for name in op.outputs if (root / name).exists())
        elif op.name in ("rekey", "user-disable"):
            problem = rekey_swallowed(root, op)
            if problem:
                problems.append(problem)
        check = check_scene(root, op, counted, h.known_media)
        problems.extend(check.problems)
        if done.returncode != 0 and "finished at the next unlock" in done.stderr:
            problem = rekey_swallowed(root, op)  # a recorded rotation: after the check's unlock, finished
            if problem:
                problems.append(f"rekey-unfinished: {problem}")
        problems.extend(f"stray: hidden partial file left after a handled error: {p}" for p in check.partials)
        if (done.returncode != 0 and check.state != "old" and op.name not in RECORDS_FAILURE and not said_stored
                and not published):
            kind = _changed_category(op, "metadata.db").replace("changed-after-failure", "not-old-after-failure")
            problems.append(f"{kind}: the database is not in its old state after the failure ({check.state})")
        if done.returncode == 0 and check.state != "new":
            problems.append(f"not-new-after-success: the command succeeded but the database is not in the new "
                            f"state ({check.state})")
        if not known.unknown(problems):  # a known bug has its own test to reproduce it
            shutil.rmtree(root)
        return outcome

    def sweep(self, op: Operation, every: int = 1, progress: bool = False, both: bool = True) -> FaultReport:
        counted = self.harness.count(op)
        report = FaultReport(op.name)
        for fault in self.faults(counted, every, both):
            outcome = self.inject(op, fault, counted)
            report.outcomes.append(outcome)
            if progress and known.unknown(outcome.problems):
                print(f"  NEW {op.name} {fault.label()}: exit {outcome.returncode}; {'; '.join(outcome.problems)}",
                      flush=True)
        if progress:
            print(f"  {report.line()}", flush=True)
        return report

