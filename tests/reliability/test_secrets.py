"""Issue 13 item 6: secrets hygiene, seen from outside the process.

tests/foundation/test_process_hardening.py and tests/gui/test_app_entry.py read the core limit and the dumpable
flag from *inside* a child after main() ran. These tests look at a *running* ``icspa`` and ``icspa-desktop`` from
another process, as another program of the same user would: ``/proc/PID/limits`` (and ``prlimit``) show a core
limit of 0, ``/proc/PID/mem`` cannot be opened (not dumpable; a control child of the same kind can be), and
``/proc/PID/cmdline`` and ``environ`` hold no passphrase.

The canary tests run the main CLI flows with a canary passphrase, canary evidence content and a canary
description, then scan every output, the crash log, the temp dir, the home and witness directories and the vault
for them: passphrases and the recovery key never (the recovery key only in the one output that shows it),
evidence content never (outside the extracted copy the user asked for), the description only in the outputs of
the commands that display records (lists, shows, search) — never on disk in plaintext, in a log or on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agency.conftest import PASS
from tests.conftest import icspa_command
from tests.reliability import crash, scenes, shim
from tests.reliability.crash import Harness

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux")
# As root, a process may read any other's memory (CAP_SYS_PTRACE): the children and the observer run without
# that capability, as two programs of one ordinary user would.
_AS_USER: list[str] = (["setpriv", "--bounding-set", "-sys_ptrace"]
                       if os.geteuid() == 0 and shutil.which("setpriv") else [])
_OBSERVE = ("import json, os, sys\n"
            "pid = sys.argv[1]\n"
            "try:\n"
            "    os.close(os.open(f'/proc/{pid}/mem', os.O_RDONLY)); mem = 'opened'\n"
            "except OSError as exc:\n"
            "    mem = exc.strerror\n"
            "limits = [l for l in open(f'/proc/{pid}/limits') if l.startswith('Max core file size')][0].split()[4:6]\n"
            "print(json.dumps({'mem': mem, 'core': limits,\n"
            "                  'cmdline': open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace'),\n"
            "                  'environ': open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace')}))\n")


def _observe(pid: int) -> dict[str, object]:
    """What another process of the same user (without CAP_SYS_PTRACE) sees of ``pid``."""
    done = subprocess.run([*_AS_USER, sys.executable, "-c", _OBSERVE, str(pid)], capture_output=True, text=True,
                          timeout=60, check=True)
    found: dict[str, object] = json.loads(done.stdout)
    prlimit = shutil.which("prlimit")
    if prlimit:
        found["prlimit"] = subprocess.run([prlimit, "--pid", str(pid), "--core", "--raw", "--noheadings",
                                           "--output", "SOFT,HARD"], capture_output=True, text=True,
                                          timeout=60, check=False).stdout.split()
    return found


def _core_unlimited() -> None:
    import resource

    # Not possible once this test process lowered its own hard limit (an in-process main() of another test, on a
    # machine without CAP_SYS_RESOURCE): the children then start at 0 and only the dumpable check tells.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _core_limit_observable() -> bool:
    import resource

    return resource.getrlimit(resource.RLIMIT_CORE)[1] != 0


@contextlib.contextmanager
def _running(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child started with core dumps allowed (so that turning them off is the code under test), killed after."""
    child = subprocess.Popen([*_AS_USER, *argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_core_unlimited)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def _wait_for(pid: int, ready: object, what: str, timeout: float = 60) -> dict[str, object]:
    """Observe ``pid`` until ``ready(observation)``: a child process has no signal to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        seen = _observe(pid)
        if ready(seen):  # type: ignore[operator]
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never observed; last {seen}")
        time.sleep(0.05)


_MEM_READABLE: list[bool] = []


def _mem_check_works() -> bool:
    """Whether this machine lets the observer open a *dumpable* child's memory (a control child): as root without
    setpriv, or as a user under Yama ptrace_scope >= 1, it cannot tell a dumpable process from another."""
    if not _MEM_READABLE:
        with _running([sys.executable, "-c", "import time; time.sleep(60)"], {"PATH": "/usr/bin:/bin"},
                      Path("/")) as control:
            _MEM_READABLE.append(_observe(control.pid)["mem"] == "opened")
    return _MEM_READABLE[0] and (os.geteuid() != 0 or bool(_AS_USER))


def _hardened(seen: dict[str, object]) -> bool:
    return seen["core"] == ["0", "0"] and (seen["mem"] != "opened" or not _mem_check_works())


@linux_only
def test_a_running_cli_is_not_dumpable_has_no_core_limit_and_no_secret_in_cmdline_or_environ(
        template: Path, tmp_path: Path) -> None:
    root = scenes.copy_scene(template, tmp_path / "scene")
    fifo = tmp_path / "passphrase.fifo"
    os.mkfifo(fifo, 0o600)
    env = {k: v for k, v in scenes.child_env(root).items() if k not in ("ICSPA_PASSPHRASE", "ICSPA_NEW_PASSPHRASE")}
    # A control: the same interpreter blocked on the same FIFO, without icspa's main().
    control_code = f"open({str(fifo)!r}).read()"
    with _running([sys.executable, "-c", control_code], env, root) as control:
        seen = _observe(control.pid)
        assert seen["mem"] == "opened" or not _mem_check_works(), seen  # the check can tell the difference
        assert seen["core"] != ["0", "0"] or not _core_limit_observable(), seen
        with open(fifo, "w") as unblock:
            unblock.write("x")
    # The CLI waits for its passphrase from a FIFO (as with --passphrase-file <(…)): main() has started.
    argv = icspa_command("--vault", str(root / "nl"), "--user", "admin", "--passphrase-file", str(fifo),
                         "--witness-dir", str(root / "witness"), "case", "list")
    with _running(argv, env, root) as cli:
        seen = _wait_for(cli.pid, _hardened, "core limit 0 and no memory access on the running icspa")
        if "prlimit" in seen:
            assert seen["prlimit"] == ["0", "0"], seen["prlimit"]
        assert scenes.ADMIN in str(seen["cmdline"]) and str(fifo) in str(seen["cmdline"])
        assert PASS not in str(seen["cmdline"]) and PASS not in str(seen["environ"])
        with open(fifo, "w") as feed:
            feed.write(PASS)
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err
        assert PASS.encode() not in out + err
    if not _mem_check_works():
        pytest.skip("the rest held; whether icspa is dumpable cannot be seen from outside on this machine")


@linux_only
def test_the_running_desktop_app_is_not_dumpable_and_has_no_core_limit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_STATE_HOME": str(home / ".local/state"),
           "XDG_RUNTIME_DIR": str(tmp_path), "TMPDIR": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONDONTWRITEBYTECODE": "1"}
    boot = ("from icspa_desktop.crypto import kdf; kdf.use_insecure_test_profile(); import sys; "
            "from icspa_desktop.gui.app import main; sys.exit(main())")
    # No vault yet: the first-run wizard opens and waits for the user.
    with _running([sys.executable, "-c", boot, "--vault", str(tmp_path / "vault")], env, tmp_path) as gui:
        seen = _wait_for(gui.pid, _hardened, "core limit 0 and no memory access on the running icspa-desktop")
        assert gui.poll() is None, "the app ended before it was observed running"
        if "prlimit" in seen:
            assert seen["prlimit"] == ["0", "0"], seen["prlimit"]
    assert not (tmp_path / "vault").exists()
    if not _mem_check_works():
        pytest.skip("the core limit held; whether the app is dumpable cannot be seen from outside on this machine")


# ---- canaries -------------------------------------------------------------------------------------------------


@dataclass
class Canaries:
    passphrase: str = "Canary-Pass-" + secrets.token_hex(6)
    second_passphrase: str = "Canary-Bob-" + secrets.token_hex(6)
    wrong_passphrase: str = "Canary-Wrong-" + secrets.token_hex(6)
    content: str = "CANARY-CONTENT-" + secrets.token_hex(8)
    description: str = "Canary-Desc-" + secrets.token_hex(6) + " (statement of Jan Jansen)"


# icspa with a bug planted in the custody recording: every action fails with an unexpected exception.
_FAILING_BOOT = ("from icspa_desktop.crypto import kdf; kdf.use_insecure_test_profile()\n"
                 "from icspa_desktop.services.session import Session\n"
                 "def record(self, draft):\n"
                 "    raise RuntimeError('planted bug while recording a ' + type(draft).__name__)\n"
                 "Session.record = record\n"
                 "import sys\nfrom icspa_desktop.cli.main import main\nsys.exit(main())")
# Commands that display records: the description may be in their stdout (the user asked for it).
_DISPLAYING = {"evidence list", "evidence show", "case show", "case list", "search", "custody show", "report custody"}


@dataclass
class Ran:
    what: str
    returncode: int
    stdout: str
    stderr: str


def _scan_files(base: Path, needles: dict[str, str], skip: tuple[Path, ...] = ()) -> list[str]:
    hits: list[str] = []
    for path in sorted(base.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip):
            continue
        data = path.read_bytes()
        hits.extend(f"{name} in {path.relative_to(base)}" for name, needle in needles.items()
                    if needle.encode() in data)
    return hits


def test_canaries_never_reach_outputs_logs_temp_files_or_the_disk(tmp_path: Path,
                                                                 shim_library: Path | None) -> None:
    c = Canaries()
    home, tmp, vault, out, private = (tmp_path / n for n in ("home", "tmp", "vault", "out", "private"))
    for d in (home, tmp, out, private):
        d.mkdir()
    (private / "alice").write_text(c.passphrase + "\n")
    (private / "bob").write_text(c.second_passphrase + "\n")
    (private / "wrong").write_text(c.wrong_passphrase + "\n")
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "statement.txt").write_text(("lorem ipsum " * 500 + c.content + "\n") * 3)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_STATE_HOME": str(home / ".local/state"),
           "XDG_CACHE_HOME": str(home / ".cache"), "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    ran: list[Ran] = []

    def icspa(*args: str, passphrase: str = "alice", extra_env: dict[str, str] | None = None,
              boot: str | None = None) -> Ran:
        argv = icspa_command("--vault", str(vault), "--user", "alice", "--passphrase-file",
                             str(private / passphrase), *args)
        if boot is not None:
            argv[2] = boot
        done = subprocess.run(argv, env={**env, **(extra_env or {})}, capture_output=True, text=True,
                              timeout=120, check=False)
        words = [a for a in args if not a.startswith("-")][:2]
        result = Ran(" ".join(words), done.returncode, done.stdout, done.stderr)
        ran.append(result)
        return result

    init = icspa("vault", "init", "--new-passphrase-file", str(private / "alice"), "--agency-name", "Canary Police",
                 "--country", "NL", "--json")
    assert init.returncode == 0, init.stderr
    recovery_key = json.loads(init.stdout)["recovery_key"]
    steps = [
        ("case", "create", "--number", "C-1", "--title", "Nightjar", "--description", c.description),
        ("evidence", "add", "C-1", str(seized / "statement.txt"), "--description", c.description, "--hash", "md5"),
        ("evidence", "list", "C-1"),
        ("evidence", "list", "C-1", "--json"),
        ("evidence", "show", "C-1-001"),
        ("case", "show", "C-1"),
        ("search", "Jansen"),
        ("evidence", "verify", "C-1"),
        ("evidence", "annotate", "C-1-001", "--notes", "checked"),
        ("custody", "show", "C-1"),
        ("custody", "verify"),
        ("custody", "checkpoint", "--reason", "canary"),
        ("user", "add", "bob", "--role", "investigator", "--new-passphrase-file", str(private / "bob")),
        ("evidence", "extract", "C-1-001", "--out", str(out / "statement.txt"), "--reason", "examination"),
        ("report", "custody", "C-1", "--out", str(out / "custody.pdf")),
        ("vault", "check"),
        ("vault", "status", "--json"),
    ]
    for step in steps:
        done = icspa(*step)
        assert done.returncode == 0, (step, done.stderr)
    refused = icspa("case", "list", passphrase="wrong")
    assert refused.returncode == 3, refused.stderr
    # An unexpected error while the description is being recorded: its traceback goes to the private crash log.
    broken = icspa("evidence", "annotate", "C-1-001", "--description", c.description + " again", boot=_FAILING_BOOT)
    assert broken.returncode == 5 and "Details: " in broken.stderr, broken.stderr
    assert list((home / ".local/state").rglob("icspa-errors.log")), "no crash log was written"
    if shim_library is not None:  # a disk I/O error inside SQLite (today also an unexpected error: db-io-message)
        fault = shim.Fault("fsync", 1, "EIO", path_prefix=str(vault / "metadata.db-wal"))
        failed = icspa("evidence", "annotate", "C-1-001", "--description", c.description + " again",
                       extra_env=fault.env(shim_library))
        assert failed.returncode == 5, failed.stderr
    assert (out / "statement.txt").read_text().count(c.content) == 3  # the extraction the user asked for

    secret = {"passphrase": c.passphrase, "second passphrase": c.second_passphrase,
              "wrong passphrase": c.wrong_passphrase, "recovery key": recovery_key, "content": c.content}
    leaks = []
    for r in ran:
        for name, needle in secret.items():
            if name == "recovery key" and r is init:
                continue  # shown once, on purpose
            if needle in r.stdout or needle in r.stderr:
                leaks.append(f"{name} in the output of {r.what}")
        if c.description in r.stderr or (c.description in r.stdout and r.what not in _DISPLAYING):
            leaks.append(f"description in the {'stderr' if c.description in r.stderr else 'stdout'} of {r.what}")
    everywhere = {**secret, "description": c.description}
    leaks += [f"on disk: {hit}" for hit in _scan_files(vault, everywhere)]
    leaks += [f"home (witnesses, crash log, settings): {hit}" for hit in _scan_files(home, everywhere)]
    leaks += [f"temp dir: {hit}" for hit in _scan_files(tmp, everywhere)]
    leaks += [f"beside the outputs: {hit}" for hit in _scan_files(out, secret, skip=(out / "statement.txt",))]
    assert not leaks, leaks
    assert not any(tmp.iterdir()), f"left in the temp dir: {sorted(p.name for p in tmp.iterdir())}"
    displayed = {r.what for r in ran if c.description in r.stdout}
    assert {"evidence list", "evidence show"} <= displayed  # the canary was really on its way through


def test_bundle_flows_keep_passphrases_and_content_off_the_media_and_out_of_logs(harness: Harness) -> None:
    """Export, import, receipt and receipt-import through the CLI: the media carry ciphertext and signed
    metadata only; no passphrase or evidence text in any output, file or temp dir."""
    root = harness.fresh("canary-bundles")
    content = "meeting at the harbour"  # the chat export of the template (tests/bundle/exchange.py)
    for name in ("bundle-export", "bundle-import", "receipt", "receipt-import"):
        # The passphrase from its file (harness_op); the variable, empty, is not used then.
        done = crash.run(harness_op(name), root, {"ICSPA_PASSPHRASE": ""})
        assert done.returncode == 0, (name, done.stderr)
        assert PASS not in done.stdout + done.stderr and content not in done.stdout + done.stderr
    needles = {"passphrase": PASS, "content": content}
    leaks = [hit for base in ("usb", "witness", "home", "tmp", "nl", "de") for hit in
             _scan_files(root / base, needles)]
    assert not leaks, leaks


def harness_op(name: str) -> scenes.Operation:
    """The scene's operation with the passphrase from its file instead of the environment."""
    op = scenes.OPERATIONS[name]
    return scenes.Operation(op.name, op.vault, ("--passphrase-file", "{root}/secrets/pass", *op.args), op.outputs,
                            op.media, op.check_output)

