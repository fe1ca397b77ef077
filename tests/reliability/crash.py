"""Crash points: SIGKILL a real ``icspa`` command at each write, fsync, rename and custody record, then check.

For one operation (tests/reliability/scenes.py) the harness

1. runs it once to the end in a copy of the template scene, counting its calls: the LD_PRELOAD shim
   (faultshim.c) counts writes, fsyncs and renames — SQLite's own included — and ``killer.py`` counts
   custody records (``Session.record``, after the INSERTs, before COMMIT);
2. for each point (kind, n), runs it again in a fresh copy and SIGKILLs it there: writes and renames before
   they take effect, fsyncs right after the data became durable, records before COMMIT;
3. after each kill, checks the scene as the next user would find it (``check_scene``): the vault opens and
   ``icspa vault check`` (``cipher_integrity_check`` and ``integrity_check``) and ``icspa custody verify``
   exit 0; every item row has its blob file and every blob file a row (what unlock moved into
   ``quarantine/`` is counted and reported, as DESIGN's "opening never destroys" wants); every stored item
   decrypts to its hash; ``staging/`` is empty; no stray temporary file in the vault, the witness directory,
   the temp dir or beside the target on the media (a bundle's hidden ``.partial-`` file is reported
   separately: bundle/media.py documents it); nothing under a final name unless complete; and the
   database holds the state before or after the operation (row counts of every table), never a mix.

Without a C compiler only the Python-level points run (killer.py's os.write/os.fsync/os.replace/os.rename
and records; SQLite's writes are then not crash points).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from tests.agency.conftest import PASS
from tests.reliability import known, scenes, shim
from tests.reliability.scenes import Operation

KILLER = Path(__file__).resolve().parents[1] / "evidence" / "killer.py"
KINDS = ("write", "fsync", "rename", "record")
VAULT_NAMES = {"vault.json", "keyslots.json", "metadata.db", "metadata.db-wal", "metadata.db-shm", "vault.lock",
               "blobs", "staging", "quarantine"}
SCENE_NAMES = {"nl", "de", "witness", "home", "tmp", "usb", "out", "new", "secrets", "seized", "restricted.txt"}
_PARTIAL_MARK = ".partial-"


@dataclass(frozen=True)
class Point:
    kind: str  # write | fsync | rename | record
    nth: int
    where: str = ""  # the file the call was on in the counting run (shim points), relative to the scene
    call: str = ""  # the libc function (pwrite64, fdatasync, syncfs, renameat, ...)

    def label(self) -> str:
        return f"{self.kind} #{self.nth}" + (f" ({self.call} {self.where})" if self.where else "")


@dataclass
class SceneCheck:
    problems: list[str] = field(default_factory=list)
    quarantined: int = 0  # files the unlock after the crash moved into quarantine/
    partials: list[str] = field(default_factory=list)  # hidden .partial- files of a bundle left on the media
    state: str = "?"  # "old", "new" or the row counts that are neither


@dataclass
class Outcome:
    point: Point
    returncode: int
    check: SceneCheck

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    @property
    def survived(self) -> bool:
        return not self.check.problems


@dataclass
class Counted:
    counts: dict[str, int]
    where: dict[tuple[str, int], tuple[str, str]]  # (kind, n) → (libc call, path relative to the scene)
    old: tuple[tuple[str, int], ...]
    new: tuple[tuple[str, int], ...]


@dataclass
class OperationReport:
    operation: str
    counts: dict[str, int]
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def exercised(self) -> int:
        return sum(o.killed for o in self.outcomes)

    @property
    def survived(self) -> int:
        return sum(o.killed and o.survived for o in self.outcomes)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.survived]

    def line(self) -> str:
        total = sum(self.counts.get(k, 0) for k in KINDS)
        killed = [o for o in self.outcomes if o.killed]
        new = sum(bool(known.unknown(o.check.problems)) for o in killed)
        lost = sum(known.data_lost(o.check.problems) for o in killed)
        states = {"old": 0, "new": 0, "between": 0}
        for o in killed:
            states[o.check.state if o.check.state in ("old", "new") else "between"] += 1
        kinds = " ".join(f"{k}={self.counts.get(k, 0)}" for k in KINDS)
        return (f"{self.operation:15} points {total:4} ({kinds}): exercised {self.exercised:4}, survived "
                f"{self.survived:4}, known bug {self.exercised - self.survived - new:4}, new problem {new}, data "
                f"lost {lost}; state after: old {states['old']}, new {states['new']}, between {states['between']}; "
                f"quarantine used {sum(o.check.quarantined > 0 for o in killed)}, .partial- left "
                f"{sum(bool(o.check.partials) for o in killed)}")


# ---- running icspa in a scene -----------------------------------------------------------------------------


def run(op: Operation, root: Path, extra_env: dict[str, str] | None = None, killer_op: str = "none",
        nth: int = 0, timeout: float = 300, prefix: Sequence[str] = (),
        preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """``icspa`` with the operation's arguments in scene ``root``, through killer.py (test KDF profile);
    ``prefix`` wraps the command (e.g. ``unshare``), ``preexec`` runs in the child before it (e.g. a limit)."""
    env = {**scenes.child_env(root), **(extra_env or {})}
    argv = [*prefix, sys.executable, str(KILLER), killer_op, str(nth), *op.argv(root)]
    return subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=preexec)


def cli_in_process(root: Path, vault: str, *args: str) -> tuple[int, str, str]:
    """``icspa`` in this process (fast: no interpreter start) as the scene's administrator.

    As in tests/cli/conftest.py, main() does not turn core dumps off here: the test process must keep its core
    limit, or no child could start with core dumps allowed (test_secrets.py watches a child turn them off)."""
    from icspa_desktop.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    argv = ["--vault", str(root / vault), "--user", scenes.ADMIN, "--passphrase-file", str(root / "secrets/pass"),
            "--witness-dir", str(root / "witness"), *args]
    main = cli_main.main
    with scenes.scene_environ(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(cli_main, "disable_core_dumps", return_value=[]):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def row_counts(root: Path, vault: str) -> tuple[tuple[str, int], ...]:
    """Rows of every table of the vault's database (its own tables, not SQLite's or FTS5's internals)."""
    from icspa_desktop.services.session import unlock

    with scenes.scene_environ(root), unlock(root / vault, scenes.ADMIN, PASS) as session:
        conn = session.conn
        tables = [str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name").fetchall()]
        shadow = {t for t in tables for v in tables if t != v and t.startswith(v + "_")
                  and t.rsplit("_", 1)[1] in ("data", "idx", "content", "docsize", "config")}
        return tuple((t, int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]))
                     for t in tables if t not in shadow)


# ---- what the next user finds -------------------------------------------------------------------------------


def _walk(path: Path) -> Iterable[Path]:
    if path.is_dir():
        yield from sorted(path.rglob("*"))


def stray_files(root: Path, op: Operation, known_media: set[str]) -> tuple[list[str], list[str]]:
    """(strays, bundle partials) in the scene: temp files left in the vaults, witness dir, temp dir, on the
    media (beside the target) and in the scene root."""
    strays: list[str] = []
    partials: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name not in SCENE_NAMES:
            strays.append(entry.name)
    for vault in ("nl", "de"):
        base = root / vault
        for entry in sorted(base.iterdir()):
            if entry.name not in VAULT_NAMES:
                strays.append(f"{vault}/{entry.name}")
        for path in _walk(base / "blobs"):
            rel = path.relative_to(base / "blobs")
            ok = (path.is_dir() and len(rel.parts) == 1 and len(rel.name) == 2) or (
                path.is_file() and len(rel.parts) == 2 and rel.name.startswith(rel.parts[0]) and "." not in rel.name)
            if not ok:
                strays.append(f"{vault}/blobs/{rel}")
        strays.extend(f"{vault}/staging/{p.relative_to(base / 'staging')}" for p in _walk(base / "staging"))
    for path in _walk(root / "witness"):
        if path.name.startswith(".") or not path.name.endswith((".head", ".checkpoint")):
            strays.append(f"witness/{path.name}")
    strays.extend(f"tmp/{p.relative_to(root / 'tmp')}" for p in _walk(root / "tmp"))
    for media in ("usb", "out"):
        for path in _walk(root / media):
            name = f"{media}/{path.relative_to(root / media)}"
            if name in known_media:
                continue
            if media == "usb" and path.name.startswith(".") and _PARTIAL_MARK in path.name:
                partials.append(name)
            elif path.name.startswith(".") or name not in set(op.outputs) | _seal_names(op):
                strays.append(name)
    return strays, partials


def _seal_names(op: Operation) -> set[str]:
    return {f"{o}{suffix}" for o in op.outputs if o.endswith(".icspa") for suffix in (".sha256", ".sha256.p7s")}


def media_files(root: Path) -> set[str]:
    return {f"{m}/{p.relative_to(root / m)}" for m in ("usb", "out") for p in _walk(root / m)}


_TEMP = re.compile(r"(^|/)\.[^/]+\.tmp-\d+$")  # icspa_desktop/files.py's temporary names


def _stray(path: str) -> str:
    return f"stray-temp: {path}" if _TEMP.search(path) else f"stray: {path}"


def _op_state_problems(op: Operation, conn: Any, vault_check_stderr: str) -> list[str]:
    """What a half-done operation must not leave unsaid (op-specific; categories of known.py)."""
    found: list[str] = []
    if op.name == "user-disable":
        active = conn.execute("SELECT active FROM users WHERE name = 'ivan'").fetchone()[0]
        rotations = conn.execute("SELECT count(*) FROM custody_events WHERE action = 'vault_key_rotated'").fetchone()[0]
        if not active and not rotations and "rotat" not in vault_check_stderr and "rekey" not in vault_check_stderr:
            found.append("unrotated-disable: ivan is disabled, the master key was not rotated, and the next unlock "
                         "and vault check say nothing")
    if op.name == "bundle-export":
        sent = {str(r[0]) for r in conn.execute("SELECT id FROM bundles_sent").fetchall()}
        bundled = {json.loads(bytes(r[0]))["details"]["bundle_id"] for r in conn.execute(
            "SELECT body FROM custody_events WHERE action = 'bundled'").fetchall()}
        if bundled - sent:
            found.append(f"export-unrecorded: 'bundled' events for {len(bundled - sent)} bundle(s) without an outcome "
                         "(bundle list does not show it)")
    return found


def check_scene(root: Path, op: Operation, counted: Counted | None, known_media: set[str]) -> SceneCheck:
    """Everything the next user of the scene must find after ``op`` was killed (or failed) somewhere.

    Problems are ``"category: detail"`` strings (categories: tests/reliability/known.py)."""
    from icspa_desktop.services import evidence, fixity
    from icspa_desktop.services.session import unlock

    found = SceneCheck()
    code, out, check_err = cli_in_process(root, op.vault, "--json", "vault", "check")
    if code != 0:
        again, out, _ = cli_in_process(root, op.vault, "--json", "vault", "check")
        if again != 0:
            found.problems.append(f"vault-check: exit {code}: {check_err.strip()[:300]}")
            return found  # nothing else can be trusted
        # The first unlock finished something (an interrupted rotation's rekey) and its check saw damage that
        # a fresh connection does not: a false alarm, but the user was told the database is damaged.
        found.problems.append(f"false-alarm: the first vault check exits {code} ({check_err.strip()[:120]}), "
                              "a second one passes")
    found.quarantined = len(json.loads(out).get("quarantine", []))
    code, out, err = cli_in_process(root, op.vault, "custody", "verify")
    if code != 0:
        found.problems.append(f"custody-verify: exit {code}: {(err or out).strip()[:300]}")
    with scenes.scene_environ(root), unlock(root / op.vault, scenes.ADMIN, PASS) as session:
        layout = session.vault.layout
        rows = {str(r[0]) for r in session.conn.execute("SELECT id FROM blobs").fetchall()}
        files = {p.name for p in layout.blobs.rglob("*") if p.is_file()}
        if rows - files:
            found.problems.append(f"half-item: {len(rows - files)} blob row(s) without a file")
        if files - rows:
            found.problems.append(f"orphan: {len(files - rows)} blob file(s) without a row, not quarantined")
        unowned = session.conn.execute("SELECT count(*) FROM blobs WHERE id NOT IN "
                                       "(SELECT blob_id FROM items WHERE blob_id IS NOT NULL)").fetchone()[0]
        if unowned:
            found.problems.append(f"half-item: {unowned} blob row(s) that no item names")
        cases = [str(r[0]) for r in session.conn.execute("SELECT id FROM cases").fetchall()]
        items = [i for c in cases for i in evidence.list_items(session, c)]
        bad = [r for r in fixity.verify_items(session, items) if not r.ok]
        if bad:
            found.problems.append(f"fixity: {len(bad)} stored item(s) no longer verify")
        found.problems.extend(_op_state_problems(op, session.conn, check_err))
    strays, found.partials = stray_files(root, op, known_media)
    found.problems.extend(_stray(s) for s in strays)
    if op.outputs and all((root / o).exists() for o in op.outputs) and op.check_output is not None:
        problem = op.check_output(root)
        if problem:
            found.problems.append(f"incomplete-output: {problem}")
    if counted is not None:
        state = row_counts(root, op.vault)
        if state == counted.old:
            found.state = "old"
        elif state == counted.new:
            found.state = "new"
        else:
            old = dict(counted.old)
            found.state = ", ".join(f"{t} {old.get(t, 0)}→{n}" for t, n in state if old.get(t, 0) != n)
    return found


# ---- the harness -------------------------------------------------------------------------------------------


class Harness:
    """Crash points of the operations in copies of one template scene under ``work``."""

    def __init__(self, template: Path, work: Path, library: Path | None) -> None:
        self.template = template
        self.work = work
        self.library = library
        self.known_media = media_files(template)
        self._serial = 0
        self._old: dict[str, tuple[tuple[str, int], ...]] = {}
        self._counted: dict[str, Counted] = {}

    def fresh(self, label: str) -> Path:
        self._serial += 1
        return scenes.copy_scene(self.template, self.work / f"{self._serial:05d}-{label}")

    def old_state(self, vault: str) -> tuple[tuple[str, int], ...]:
        if vault not in self._old:
            root = self.fresh(f"state-{vault}")
            # Through the same checks as every crashed scene, so that whatever they add counts in both states.
            check_scene(root, next(op for op in scenes.OPERATIONS.values() if op.vault == vault), None,
                        self.known_media)
            self._old[vault] = row_counts(root, vault)
            shutil.rmtree(root)
        return self._old[vault]

    def count(self, op: Operation) -> Counted:
        """Run ``op`` to the end once, counting its points; the run must succeed and leave a clean scene
        (once per operation and harness)."""
        if op.name not in self._counted:
            self._counted[op.name] = self._count(op)
        return self._counted[op.name]

    def find(self, op: Operation, kind: str, where: str, which: int = 0, call: str = "") -> Point:
        """The point of ``kind`` (and libc ``call``) on the file ``where`` (relative to the scene, an fnmatch
        pattern): the first (``which`` 0), the last (-1), … — for tests aimed at one step, whatever the counts."""
        counted = self.count(op)
        matching = [p for p in self.points(counted) if p.kind == kind and fnmatch.fnmatch(p.where, where)
                    and (not call or p.call == call)]
        if not matching:
            raise AssertionError(f"{op.name}: no {kind} on {where} in {sorted(set(counted.where.values()))}")
        return matching[which]

    def _count(self, op: Operation) -> Counted:
        root = self.fresh(f"{op.name}-count")
        counts_dir = self.work / f"{root.name}-counts"
        counts_dir.mkdir()
        env = {"KILLER_COUNT_FILE": str(counts_dir / "python.json")}
        if self.library is not None:
            env |= shim.counting_env(self.library, counts_dir / "shim", counts_dir / "trace")
            env["FAULT_PATH"] = str(root) + "/"
        old = self.old_state(op.vault)
        done = run(op, root, env)
        if done.returncode != 0:
            raise AssertionError(f"{op.name}: the counting run failed ({done.returncode}): {done.stderr[-500:]}")
        python = json.loads((counts_dir / "python.json").read_text())
        counts = {"record": int(python["record"])}
        where: dict[tuple[str, int], tuple[str, str]] = {}
        if self.library is not None:
            counts |= {k: v for k, v in shim.read_counts(counts_dir / "shim").items() if k in shim.KINDS}
            where = {key: (call, path.replace(str(root) + "/", "")) for key, (call, path) in
                     shim.read_trace(counts_dir / "trace").items()}
        else:  # Python-level points only
            counts |= {"write": python["write"], "fsync": python["fsync"],
                       "rename": python["replace"] + python["rename"]}
        check = check_scene(root, op, None, self.known_media)
        if check.problems:
            raise AssertionError(f"{op.name}: the uninterrupted run leaves problems: {check.problems}")
        new = row_counts(root, op.vault)
        shutil.rmtree(root)
        shutil.rmtree(counts_dir)
        return Counted(counts, where, old, new)

    @staticmethod
    def points(counted: Counted, every: int = 1) -> list[Point]:
        """Every point of the counting run, or every ``every``-th of each kind (starting with the first)."""
        found: list[Point] = []
        for kind in KINDS:
            found.extend(Point(kind, n, *reversed(counted.where.get((kind, n), ("", ""))))
                         for n in range(1, counted.counts.get(kind, 0) + 1) if (n - 1) % every == 0)
        return found

    def crash(self, op: Operation, point: Point, counted: Counted, keep: bool = False) -> Outcome:
        root = self.fresh(f"{op.name}-{point.kind}-{point.nth}")
        if point.kind == "record" or self.library is None:
            killer_op = {"rename": "replace"}.get(point.kind, point.kind)
            done = run(op, root, killer_op=killer_op, nth=point.nth)
        else:
            fault = shim.Fault(point.kind, point.nth, path_prefix=str(root) + "/")
            done = run(op, root, fault.env(self.library))
        if done.returncode not in (0, -signal.SIGKILL):
            check = SceneCheck([f"command-exit: {done.returncode}: {done.stderr.strip()[-300:]}"])
        else:
            check = check_scene(root, op, counted, self.known_media)
        if not keep and not known.unknown(check.problems):  # a known bug has its own test to reproduce it
            shutil.rmtree(root)
        return Outcome(point, done.returncode, check)

    def sweep(self, op: Operation, every: int = 1, progress: bool = False) -> OperationReport:
        """Kill ``op`` at every (``every``-th) point; with ``progress``, print problems not known as they come."""
        counted = self.count(op)
        report = OperationReport(op.name, counted.counts)
        for point in self.points(counted, every):
            outcome = self.crash(op, point, counted)
            report.outcomes.append(outcome)
            if progress and known.unknown(outcome.check.problems):
                print(f"  NEW {op.name} {point.label()}: {'; '.join(outcome.check.problems)}", flush=True)
        if progress:
            print(f"  {report.line()}", flush=True)
        return report
