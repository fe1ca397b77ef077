"""Desktop start and a big case list (issue 11): cold start to an interactive unlock dialog, and the first paint of
a 10,000-case list after the unlock.

    python -m bench startup [--runs 5] [--cases 10000] [--vault PATH]

**Cold start**: a fresh ``icspa-desktop`` process (offscreen) until its unlock dialog is shown and the event loop
has turned once with it on screen (the moment a user can type), against the baseline measured in the same run:
``python -c "import PySide6.QtWidgets"``, a process that only loads Qt. Goal < 1.0 s.

**First paint of the case list**: in this process, the unlock of a vault of ``--cases`` cases (built through the
services in a temporary folder unless ``--vault`` names one) until the list holds every case and the window has
painted, and the longest stall of the event loop meanwhile (a 2 ms timer). Baseline: ``cases.list_cases`` on the
same session. Goal < 200 ms (issue 11).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import report

COLD_GOAL_S = 1.0
PAINT_GOAL_MS = 200.0
USER, PASSPHRASE = "alice", "alice-passphrase"

# The child: the real main(), told to print the wall-clock time once its unlock dialog can take input.
_CHILD = r"""
import sys, time
from PySide6.QtCore import QTimer
from icspa_desktop.gui import app as app_module

real_show_unlock = app_module.DesktopApp.show_unlock

def show_unlock(self):
    dialog = real_show_unlock(self)
    def ready():
        print(f"READY {time.time():.6f}", flush=True)
        self.quit()
    QTimer.singleShot(0, ready)  # after the dialog's show and paint events: the next turn of the loop
    return dialog

app_module.DesktopApp.show_unlock = show_unlock
sys.exit(app_module.main(["--vault", sys.argv[1]]))
"""


def _child_env(home: Path) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "ICSPA_LANG": "en"}


def _cold_start(vault: Path, home: Path, runs: int) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    baseline: list[float] = []
    env = _child_env(home)
    for _ in range(runs):
        started = time.time()
        subprocess.run([sys.executable, "-c", "import PySide6.QtWidgets"], env=env, check=True)
        baseline.append(time.time() - started)
        started = time.time()
        done = subprocess.run([sys.executable, "-c", _CHILD, str(vault)], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        line = next((x for x in done.stdout.splitlines() if x.startswith("READY ")), None)
        if line is None:
            raise RuntimeError(f"the desktop did not show its unlock dialog: {done.stderr[-800:]}")
        ours.append(float(line.split()[1]) - started)
    return ours, baseline


def _build(path: Path, count: int) -> float:
    from icspa_desktop.crypto import kdf
    from icspa_desktop.domain.enums import Tlp
    from icspa_desktop.domain.models import CaseFields
    from icspa_desktop.services import cases
    from icspa_desktop.services.session import unlock
    from icspa_desktop.services.vault_service import AgencyInfo, init_vault

    kdf.use_insecure_test_profile()
    started = time.perf_counter()
    init_vault(path, USER, PASSPHRASE, display_name="Alice Admin",
               agency=AgencyInfo("Test Police", "NL", "Digital Forensics", "lab@example.org"))
    tlps = list(Tlp)
    with unlock(path, USER, PASSPHRASE) as session:
        for n in range(count):
            cases.create_case(session, CaseFields(f"2026/{n:05d}", f"Case {n}: stolen vehicles, harbour district",
                                                  lead_investigator="Alice Admin", tlp=tlps[n % len(tlps)]))
    return time.perf_counter() - started


TYPING_S = 1.0  # seconds the unlock dialog is up before Unlock is pressed (a passphrase takes longer to type)


def _paint_once(app: Any, vault: Path) -> tuple[float, float, float, int]:
    """(ms from the unlock's hand-over to the painted list, longest stall in ms, list_cases in ms, rows)."""
    from PySide6.QtCore import QEventLoop

    from bench.bench_gui import _run_until, _settle, _stall_meter
    from icspa_desktop.gui.app import DesktopApp
    from icspa_desktop.gui.settings import AppSettings
    from icspa_desktop.services import cases

    controller = DesktopApp(app, vault, AppSettings(), auto_lock_minutes=0)
    controller.start()
    dialog = controller.unlock_dialog
    assert dialog is not None
    dialog.user.setText(USER)
    dialog.passphrase.setText(PASSPHRASE)
    window = controller.window
    window.resize(1366, 768)
    marks: dict[str, float] = {}
    real_show_session = window.show_session

    def timed_show_session(session: Any) -> None:  # the GUI thread takes over from the background unlock here
        marks["start"] = time.perf_counter()
        real_show_session(session)

    window.show_session = timed_show_session  # type: ignore[method-assign]
    _settle(app, TYPING_S)  # the unlock dialog waits while the user types (what the app does meanwhile counts)
    meter = _stall_meter(app)
    loop = QEventLoop()
    window.browser.cases_loaded.connect(loop.quit)
    meter.start()
    dialog.unlock_button.click()
    loop.exec()  # ends when the window has the session and the list (the daily checkpoint may still be signed)
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)  # the paint of what arrived
    shown = (time.perf_counter() - marks["start"]) * 1000
    _run_until(app, lambda: controller.session is not None and not window.custody.daily_pending)
    _settle(app, 0.15)
    stall = meter.stop() * 1000  # the daily checkpoint (in a worker) included
    session = controller.session
    assert session is not None
    rows = window.browser.model.rowCount()
    started = time.perf_counter()
    cases.list_cases(session)
    service = (time.perf_counter() - started) * 1000
    controller.quit()
    _settle(app, 0.2)
    return shown, stall, service, rows


def _first_paint(vault: Path, runs: int) -> tuple[list[float], list[float], list[float], int]:
    from PySide6.QtWidgets import QApplication

    from icspa_desktop.crypto import kdf
    from icspa_desktop.gui import app as app_module

    kdf.use_insecure_test_profile()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([])
    tune = getattr(app_module, "tune_interpreter", None)  # absent before issue 11's fixes
    if tune is not None:
        tune()  # as main() does before the unlock dialog: start-up objects out of the collector's walk
    results = [_paint_once(app, vault) for _ in range(runs)]
    return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results], results[-1][3]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--vault", type=Path, help="a vault of USER alice / alice-passphrase (else one is built)")
    args, _unknown = parser.parse_known_args(argv)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        os.environ["XDG_CONFIG_HOME"] = str(home / "config")  # the app's settings stay out of $HOME
        vault = args.vault
        if vault is None:
            vault = Path(scratch) / "vault"
            seconds = _build(vault, args.cases)
            print(f"# vault of {args.cases} cases built through the services in {seconds:.0f} s")
        ours, baseline = _cold_start(vault, home, args.runs)
        cold, base = statistics.median(ours), statistics.median(baseline)
        print(f"cold start to an interactive unlock dialog: {cold:.2f} s (min {min(ours):.2f}, max {max(ours):.2f}); "
              f"baseline python -c 'import PySide6.QtWidgets' {base:.2f} s; ratio {cold / base:.1f}x; "
              f"goal < {COLD_GOAL_S:.1f} s: {'pass' if cold < COLD_GOAL_S else 'MISS'}")
        report("startup", "cold start to the unlock dialog", ours, "s", ratio=cold / base,
               baseline="import PySide6.QtWidgets", goal=f"< {COLD_GOAL_S:.1f} s", met=cold < COLD_GOAL_S)
        shown, stalls, service, count = _first_paint(vault, args.runs)
        paint, stall = statistics.median(shown), statistics.median(stalls)
        base_ms = statistics.median(service)
        print(f"first paint of the {count}-case list after the unlock: {paint:.0f} ms (max {max(shown):.0f}); "
              f"longest stall {stall:.0f} ms (max {max(stalls):.0f}); baseline cases.list_cases {base_ms:.0f} ms; "
              f"goal < {PAINT_GOAL_MS:.0f} ms: {'pass' if paint < PAINT_GOAL_MS else 'MISS'}")
        print(f"# each run: shown {', '.join(f'{v:.0f}' for v in shown)} ms; "
              f"stall {', '.join(f'{v:.0f}' for v in stalls)} ms")
        report("startup", f"first paint, {count}-case list", shown, "ms", ratio=paint / base_ms if base_ms else None,
               baseline="cases.list_cases", goal=f"< {PAINT_GOAL_MS:.0f} ms", met=paint < PAINT_GOAL_MS)
        report("startup", f"longest stall, {count}-case list", stalls, "ms", goal="< 50 ms", met=stall < 50)
    return 0


if __name__ == "__main__":
    sys.exit(main())
