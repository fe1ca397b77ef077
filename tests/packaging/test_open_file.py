"""``icspa-desktop FILE`` (a double-click in the file manager): a bundle opens the import wizard and a card the
card import, once the vault is unlocked; a path that cannot be opened is told at once. Real widgets, offscreen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.gui.app import DesktopApp, FileKind, file_kind, open_problem
from icspa_desktop.gui.card_import_dialog import CardImportDialog
from icspa_desktop.gui.import_wizard import ImportWizard
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import agency
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import AgencyInfo, init_vault
from tests.conftest import VaultInfo
from tests.gui.conftest import make_app, unlock_as


@pytest.fixture
def desktop(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, tmp_path: Path) -> Iterator[DesktopApp]:
    """The app on a vault with one user per role, showing its unlock dialog."""
    yield from make_app(qtbot, qapp, vault.path, AppSettings(tmp_path / "config" / "desktop.ini"))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """Stands for a partner's bundle on a medium: the wizard only takes its path until the user goes on."""
    path = tmp_path / "media" / "bka-0412.icspa"
    path.parent.mkdir()
    path.write_bytes(b"not checked before the user presses Next")
    return path


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """The real card another installation (its own vault) exports."""
    other = tmp_path / "vault-bka"
    init_vault(other, "admin", "bka-admin-pass", agency=AgencyInfo("Bundeskriminalamt", "DE", "Cyber", "desk@bka.de"))
    with unlock(other, "admin", "bka-admin-pass") as session:
        data = agency.make_card(session)
    path = tmp_path / "bka.icspa-card"
    path.write_bytes(data)
    return path


def wizards(app: DesktopApp) -> list[ImportWizard]:
    return [w for w in app.window.findChildren(ImportWizard) if w.isVisible()]


def notice(app: DesktopApp) -> QMessageBox:
    boxes = [box for box in app.window.findChildren(QMessageBox, "openFileProblem") if box.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


def test_kinds_by_name(tmp_path: Path) -> None:
    assert file_kind(Path("/m/x.icspa")) is FileKind.BUNDLE
    assert file_kind(Path("/m/x.icspa.001")) is FileKind.BUNDLE
    assert file_kind(Path("/m/x.icspa-card")) is FileKind.CARD
    assert file_kind(Path("/m/x.icspa.1")) is None
    assert file_kind(Path("/m/x.pdf")) is None
    assert "does not exist" in open_problem(tmp_path / "gone.icspa")
    (tmp_path / "folder.icspa").mkdir()
    assert "is a folder" in open_problem(tmp_path / "folder.icspa")
    assert "not a file this program opens" in open_problem(tmp_path / "notes.txt")


def test_a_bundle_opens_the_import_wizard_with_its_path_after_the_unlock(
        qtbot: QtBot, desktop: DesktopApp, bundle: Path) -> None:
    assert desktop.open_when_unlocked(bundle) is None  # nothing to tell
    assert wizards(desktop) == []  # nothing of the vault before the unlock
    unlock_as(qtbot, desktop, Role.INVESTIGATOR)
    [wizard] = wizards(desktop)
    assert wizard.file.path.text() == str(bundle)
    assert wizard.file.problem() == ""
    assert wizard.file.isComplete()  # Next goes on to the check
    desktop.lock()
    qtbot.waitUntil(lambda: desktop.unlock_dialog is not None, timeout=10_000)
    unlock_as(qtbot, desktop, Role.INVESTIGATOR)
    assert wizards(desktop) == []  # opened once, not at every unlock


def test_the_first_volume_of_a_split_bundle_opens_the_wizard(qtbot: QtBot, desktop: DesktopApp,
                                                               tmp_path: Path) -> None:
    first = tmp_path / "nightjar.icspa.001"
    first.write_bytes(b"volume 1")
    desktop.open_when_unlocked(first)
    unlock_as(qtbot, desktop)
    [wizard] = wizards(desktop)
    assert wizard.file.path.text() == str(first)
    assert wizard.file.chosen() == tmp_path / "nightjar.icspa"  # the wizard reads it as the bundle of volumes
    assert wizard.file.problem() == ""


def test_a_bundle_for_a_role_that_may_not_import_says_why(qtbot: QtBot, desktop: DesktopApp, bundle: Path) -> None:
    desktop.open_when_unlocked(bundle)
    unlock_as(qtbot, desktop, Role.AUDITOR)
    assert wizards(desktop) == []
    text = notice(desktop).text()
    assert str(bundle) in text and "Not for your role (auditor)" in text


def test_a_card_opens_the_card_import_at_the_fingerprint_comparison(qtbot: QtBot, desktop: DesktopApp,
                                                                    card: Path) -> None:
    desktop.open_when_unlocked(card)
    unlock_as(qtbot, desktop)
    [dialog] = [d for d in desktop.window.findChildren(CardImportDialog) if d.isVisible()]
    assert dialog.file.edit.text() == str(card)
    assert dialog.page() == CardImportDialog.COMPARE  # read and checked; the user types the fingerprint told
    assert dialog.card_heading.text() == "Bundeskriminalamt"


def test_a_damaged_card_is_refused_in_the_dialog_with_its_path(qtbot: QtBot, desktop: DesktopApp,
                                                               tmp_path: Path) -> None:
    damaged = tmp_path / "x.icspa-card"
    damaged.write_bytes(b"{}")
    desktop.open_when_unlocked(damaged)
    unlock_as(qtbot, desktop)
    [dialog] = [d for d in desktop.window.findChildren(CardImportDialog) if d.isVisible()]
    assert dialog.page() == CardImportDialog.FILE
    assert dialog.file.edit.text() == str(damaged)
    assert dialog.error.isVisible() and dialog.error.text()


def test_a_card_for_a_role_that_may_not_manage_partners_says_why(qtbot: QtBot, desktop: DesktopApp,
                                                                 card: Path) -> None:
    desktop.open_when_unlocked(card)
    unlock_as(qtbot, desktop, Role.INVESTIGATOR)
    assert not [d for d in desktop.window.findChildren(CardImportDialog) if d.isVisible()]
    assert "Not for your role (investigator)" in notice(desktop).text()


def test_a_missing_file_is_told_before_the_unlock_and_then_forgotten(qtbot: QtBot, desktop: DesktopApp,
                                                                     tmp_path: Path) -> None:
    gone = tmp_path / "media" / "bka-0412.icspa"
    box = desktop.open_when_unlocked(gone)
    assert box is not None and box.isVisible()
    assert box.objectName() == "openFileProblem"
    assert box.parent() is desktop.unlock_dialog  # in front of the dialog the user is looking at
    assert f"{gone} does not exist" in box.text()
    box.accept()
    unlock_as(qtbot, desktop)
    assert wizards(desktop) == []


def test_a_file_of_another_type_is_told(desktop: DesktopApp, tmp_path: Path) -> None:
    other = tmp_path / "report.pdf"
    other.write_bytes(b"%PDF")
    box = desktop.open_when_unlocked(other)
    assert box is not None
    assert "is not a file this program opens" in box.text()


def test_a_file_given_while_unlocked_opens_at_once(qtbot: QtBot, desktop: DesktopApp, bundle: Path) -> None:
    unlock_as(qtbot, desktop)
    desktop.open_when_unlocked(bundle)
    [wizard] = wizards(desktop)
    assert wizard.file.path.text() == str(bundle)


def test_the_window_has_the_icon_set(desktop: DesktopApp) -> None:
    icon = desktop.window.windowIcon()
    assert not icon.isNull()
    sizes = {size.width() for size in icon.availableSizes()}
    assert {16, 32, 48, 256} <= sizes
    assert not icon.pixmap(QSize(64, 64)).isNull()


# main() in a fresh interpreter: Qt takes its own options out of argv, FILE is what is left. A timer reports the
# windows shown, then answers them as a user would, which ends the app.
ENTRY = """
import json, sys
from icspa_desktop.crypto import kdf
kdf.use_insecure_test_profile()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
import icspa_desktop.gui.app as gui_app

def inspect():
    app = QApplication.instance()
    boxes = [w for w in app.allWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    print(json.dumps({"arguments": app.arguments()[1:], "boxes": [[b.objectName(), b.text()] for b in boxes],
                      "windows": [type(w).__name__ for w in app.topLevelWidgets() if w.isVisible()]}))
    sys.stdout.flush()
    for box in boxes:
        box.accept()
    for window in app.topLevelWidgets():
        if type(window).__name__ == "UnlockDialog":
            window.reject()

start = gui_app.DesktopApp.start  # main() makes the QApplication itself: the report is scheduled after start()

def start_then_inspect(self):
    start(self)
    QTimer.singleShot(200, inspect)

gui_app.DesktopApp.start = start_then_inspect
sys.exit(gui_app.main(sys.argv[1:]))
"""


def test_main_opens_the_file_left_after_qts_own_options(vault: VaultInfo, tmp_path: Path) -> None:
    gone = tmp_path / "gone.icspa"
    result = subprocess.run([sys.executable, "-c", ENTRY, "--vault", str(vault.path), "-style", "fusion", str(gone)],
                            capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["arguments"] == [str(gone)]  # Qt took "-style fusion"; FILE is what was left
    assert state["boxes"] == [["openFileProblem", f"{gone} does not exist (was the removable medium taken out?)."]]
    assert "UnlockDialog" in state["windows"]


def test_main_refuses_unknown_options_and_two_files(tmp_path: Path) -> None:
    for extra in (["--bogus"], [str(tmp_path / "a.icspa"), str(tmp_path / "b.icspa")]):
        result = subprocess.run([sys.executable, "-m", "icspa_desktop.gui.app", "--vault", str(tmp_path / "v"),
                                 *extra], capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 2
        assert "unrecognized arguments: --bogus" in result.stderr or "one FILE at most" in result.stderr


def test_self_test_builds_the_first_windows_and_exits_0() -> None:
    result = subprocess.run([sys.executable, "-m", "icspa_desktop.gui.app", "--self-test"], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "self-test: OK" in result.stdout
    assert "platform offscreen" in result.stdout
