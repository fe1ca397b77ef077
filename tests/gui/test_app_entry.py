"""The ``icspa-desktop`` entry point, its options, settings and resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp, build_parser, resolve_vault_path
from icspa_desktop.gui.resources import resource_dir, stylesheet
from icspa_desktop.gui.settings import DEFAULT_AUTO_LOCK_MINUTES, AppSettings, settings_path
from icspa_desktop.gui.settings_dialog import SettingsDialog
from tests.conftest import VaultInfo

# Runs the real main() in a fresh interpreter; a timer inspects the first window, then closes it.
ENTRY_SCRIPT = """
import ctypes, json, os, resource, sys
from icspa_desktop.crypto import kdf
kdf.use_insecure_test_profile()  # as in the tests' own process (tests/conftest.py)
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([sys.argv[0]])

def inspect():
    windows = [w for w in app.topLevelWidgets() if w.isVisible()]
    mask = os.umask(0o077)
    os.umask(mask)
    print(json.dumps({"windows": [type(w).__name__ for w in windows], "umask": mask,
                      "styled": "QTableView" in app.styleSheet(),
                      "core_limit": resource.getrlimit(resource.RLIMIT_CORE),
                      "dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
                      "texts": [getattr(w, "vault_path", None) and str(w.vault_path) for w in windows]}))
    sys.stdout.flush()
    for window in windows:
        window.reject()  # the wizard's Cancel / the unlock dialog's Quit ends the app

QTimer.singleShot(0, inspect)
from icspa_desktop.gui.app import main
sys.exit(main(sys.argv[1:]))
"""


def run_entry(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    result = subprocess.run([sys.executable, "-c", ENTRY_SCRIPT, *args], capture_output=True, text=True,
                            env=full_env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_first_run_opens_the_wizard_with_a_private_umask_and_no_core_dumps(tmp_path: Path) -> None:
    state = run_entry("--vault", str(tmp_path / "new-vault"))
    assert state["windows"] == ["CreateVaultWizard"]
    assert state["umask"] == 0o077
    assert state["styled"] is True
    assert state["core_limit"] == [0, 0] and state["dumpable"] == 0  # no core dump can hold keys or evidence
    assert state["texts"] == [str(tmp_path / "new-vault")]
    assert not (tmp_path / "new-vault").exists()


def test_existing_vault_from_icspa_vault_opens_the_unlock_dialog(vault: VaultInfo) -> None:
    state = run_entry(env={"ICSPA_VAULT": str(vault.path)})
    assert state["windows"] == ["UnlockDialog"]


def test_options() -> None:
    parser = build_parser()
    assert parser.parse_args(["--auto-lock-minutes", "2.5"]).auto_lock_minutes == 2.5
    assert parser.parse_args([]).auto_lock_minutes is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--auto-lock-minutes", "-1"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--auto-lock-minutes", "soon"])


def test_vault_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vault: VaultInfo) -> None:
    settings = AppSettings(tmp_path / "s.ini")
    assert resolve_vault_path(str(tmp_path / "x"), settings) == tmp_path / "x"
    default = resolve_vault_path(None, settings)
    assert default == Path(os.environ["XDG_DATA_HOME"]) / "icspa" / "vault"
    settings.vault_path = str(vault.path)  # the wizard created one elsewhere last time
    assert resolve_vault_path(None, settings) == vault.path
    monkeypatch.setenv("ICSPA_VAULT", str(tmp_path / "from-env"))
    assert resolve_vault_path(None, settings) == tmp_path / "from-env"


@pytest.fixture
def app_with_settings(qtbot: QtBot, qapp: QApplication, vault: VaultInfo,
                      tmp_path: Path) -> Iterator[tuple[DesktopApp, AppSettings]]:
    settings = AppSettings(tmp_path / "desktop.ini")
    app = DesktopApp(qapp, vault.path, settings)
    qtbot.addWidget(app.window)
    yield app, settings
    app.quit()


def test_auto_lock_setting_default_option_and_dialog(qapp: QApplication,
                                                     app_with_settings: tuple[DesktopApp, AppSettings]) -> None:
    app, settings = app_with_settings
    assert settings.auto_lock_minutes == DEFAULT_AUTO_LOCK_MINUTES
    assert app.idle.timeout_ms == 10 * 60_000
    override = DesktopApp(qapp, app.vault_path, settings, auto_lock_minutes=0.5)
    assert override.idle.timeout_ms == 30_000
    override.quit()

    dialog = app.open_settings()
    assert dialog.isVisible()
    assert isinstance(dialog, SettingsDialog)
    dialog.auto_lock.setValue(3)
    dialog.accept()
    assert settings.auto_lock_minutes == 3.0
    assert app.idle.timeout_ms == 3 * 60_000
    assert AppSettings(settings.file).auto_lock_minutes == 3.0  # stored in the INI file


def test_settings_live_in_the_isolated_config_dir() -> None:
    assert settings_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "icspa" / "desktop.ini"


def test_stylesheet_is_found_beside_the_package() -> None:
    assert (resource_dir() / "style.qss").is_file()
    assert "QTableView" in stylesheet()
