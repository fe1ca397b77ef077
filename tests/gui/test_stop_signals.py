"""SIGTERM (a logout, a shutdown, ``kill``), SIGHUP and Ctrl+C end the real desktop as Quit does: the work under
way stops and cleans up, the vault is locked, the process ends with 0. Before, SIGTERM killed it where it stood
(-15), an add's staged files left for the next unlock to quarantine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence
from tests.conftest import NAMES, PASSPHRASES, VaultInfo

# The real main() in a fresh interpreter: unlock as a user would, start adding a big file, and when its first
# staged file is there, send the signal to this very process.
SCRIPT = """
import faulthandler, json, os, signal, sys
faulthandler.dump_traceback_later(50, exit=True)  # a hang shows every thread's stack instead of a bare timeout
from pathlib import Path
from icspa_desktop.crypto import kdf
kdf.use_insecure_test_profile()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox
app = QApplication([sys.argv[0]])
user, passphrase, case_id, big, number = sys.argv[1:6]
staging = Path(os.environ["ICSPA_VAULT"]) / "staging"
seen = {}

def stage(text):
    print("stage:", text, file=sys.stderr, flush=True)  # where a hang stopped, in the failure's stderr

def named(name):
    return next((w for w in app.topLevelWidgets() if type(w).__name__ == name and w.isVisible()), None)

def unlock():
    dialog = named("UnlockDialog")
    if dialog is None:
        return QTimer.singleShot(20, unlock)
    dialog.user.setText(user)
    dialog.passphrase.setText(passphrase)
    dialog.unlock_button.click()
    stage("unlock clicked")
    QTimer.singleShot(20, add)

def add():
    window = named("MainWindow")
    seen["tries"] = seen.get("tries", 0) + 1
    if seen["tries"] % 100 == 0:
        dialog = named("UnlockDialog")
        stage(f"waiting: window {window is not None}, session {window is not None and window.session is not None}, "
              f"unlock dialog {dialog is not None and dialog.error_label.text()!r}, "
              f"cases {window is not None and window.browser.model.rowCount()}, "
              f"add {window is not None and window.evidence.add_files_action.isEnabled()}")
    if window is None or not window.evidence.add_files_action.isEnabled() and not window.browser.select_case(case_id):
        return QTimer.singleShot(20, add)
    if not window.evidence.add_files_action.isEnabled():
        return QTimer.singleShot(20, add)
    dialog = window.evidence.ingest([Path(big)])
    if dialog is None:  # "Please wait until the running operation has finished" (what runs after an unlock)
        return QTimer.singleShot(20, add)
    stage("case selected")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    stage("add started")
    seen["op"] = window.evidence.last_op
    QTimer.singleShot(5, signal_when_staging)

def signal_when_staging():
    if not (staging.is_dir() and any(staging.iterdir())):
        return QTimer.singleShot(5, signal_when_staging)
    seen["running"] = seen["op"].running
    stage("signalling")
    os.kill(os.getpid(), int(number))

QTimer.singleShot(0, unlock)
from icspa_desktop.gui.app import main
code = main(["--vault", os.environ["ICSPA_VAULT"]])
print(json.dumps({"code": code, "running_when_signalled": seen.get("running"),
                  "staged_after": sorted(p.name for p in staging.iterdir())}))
"""


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_while_adding_ends_like_quit(vault: VaultInfo, tmp_path: Path, number: int) -> None:
    with vault.session() as session:
        case = cases.create_case(session, CaseFields("2026/077", "Signals"))
    big = tmp_path / "disk.img"
    with open(big, "wb") as handle:  # mostly sparse: cheap to make, still read and sealed byte by byte
        handle.write(os.urandom(1 << 20))
        handle.truncate(1 << 30)
    env = dict(os.environ, ICSPA_VAULT=str(vault.path), QT_QPA_PLATFORM="offscreen",
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    role = Role.ADMINISTRATOR
    done = subprocess.run([sys.executable, "-c", SCRIPT, NAMES[role], PASSPHRASES[role], case.id, str(big),
                           str(int(number))], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr}"
    state = json.loads(done.stdout.strip().splitlines()[-1])
    # The add was still under way when the signal came (1 GiB takes seconds), and it cleaned up its staging.
    assert state == {"code": 0, "running_when_signalled": True, "staged_after": []}, state
    assert "Traceback" not in done.stderr
    with vault.session() as session:
        assert not session.vault.quarantined
        assert evidence.list_items(session, case.id) == []
