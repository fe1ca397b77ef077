"""First run: the create-vault wizard makes a real vault that then unlocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWizard
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.gui.vault_wizard import CreateVaultWizard
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import recover
from icspa_desktop.vault.store import vault_exists
from tests.gui.conftest import make_app

PASS = "correct horse battery staple"


@pytest.fixture
def first_run(qtbot: QtBot, qapp: QApplication, tmp_path: Path, settings: AppSettings) -> Iterator[DesktopApp]:
    yield from make_app(qtbot, qapp, tmp_path / "fresh" / "vault", settings)


def _fill_until_passphrase(wizard: CreateVaultWizard, location: Path) -> None:
    wizard.location_page.path_edit.setText(str(location))
    wizard.next()
    assert wizard.currentPage() is wizard.agency_page
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # name and country required
    wizard.agency_page.name_edit.setText("Politie Rotterdam")
    wizard.agency_page.country_edit.setText("nl")
    wizard.next()
    assert wizard.currentPage() is wizard.admin_page
    wizard.admin_page.name_edit.setText("alice")
    wizard.admin_page.display_edit.setText("Alice Admin")
    wizard.next()
    assert wizard.currentPage() is wizard.passphrase_page


def test_wizard_creates_vault_shows_recovery_key_once_and_unlocks(qtbot: QtBot, first_run: DesktopApp,
                                                                  tmp_path: Path) -> None:
    wizard = first_run.wizard
    assert wizard is not None
    assert wizard.isVisible()
    assert first_run.unlock_dialog is None
    location = tmp_path / "fresh" / "vault"
    _fill_until_passphrase(wizard, location)

    page = wizard.passphrase_page
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    page.passphrase.setText("short")
    page.repeat.setText("short")
    assert not commit.isEnabled()
    assert "Too short" in page.strength.text()
    page.passphrase.setText(PASS)
    page.repeat.setText(PASS + "x")
    assert not commit.isEnabled()
    assert "differ" in page.strength.text()
    page.repeat.setText(PASS)
    assert commit.isEnabled()
    assert not vault_exists(location)

    commit.click()  # creation runs in the background; the wizard moves on when it is done
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.recovery_page, timeout=20_000)
    assert vault_exists(location)
    recovery_key = wizard.recovery_page.key_label.text()
    assert len(recovery_key) >= 20
    assert page.passphrase.text() == ""  # not kept in the widget after use

    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert not finish.isEnabled()
    wizard.reject()  # Escape cannot skip the recovery key
    assert wizard.isVisible()
    wizard.recovery_page.confirm.setChecked(True)
    assert finish.isEnabled()
    finish.click()
    assert not wizard.isVisible()
    assert wizard.recovery_page.key_label.text() == ""

    dialog = first_run.unlock_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.user.text() == "alice"
    dialog.passphrase.setText(PASS)
    with qtbot.waitSignal(first_run.unlocked, timeout=20_000):
        dialog.unlock_button.click()
    session = first_run.session
    assert session is not None
    assert session.user.display_name == "Alice Admin"
    assert session.agency_name == "Politie Rotterdam"
    assert first_run.window.isVisible()
    assert "Alice Admin" in first_run.window.user_label.text()
    assert "administrator" in first_run.window.user_label.text()

    first_run.quit()
    assert not session.is_open
    # The key the wizard showed really is the vault's recovery key.
    recover(location, recovery_key, "alice", "a brand new passphrase").lock()
    unlock(location, "alice", "a brand new passphrase").lock()


def test_wizard_refuses_a_non_empty_location(first_run: DesktopApp, tmp_path: Path) -> None:
    wizard = first_run.wizard
    assert wizard is not None
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("x")
    wizard.location_page.path_edit.setText(str(occupied))
    wizard.next()
    assert wizard.currentPage() is wizard.location_page
    assert "not empty" in wizard.location_page.error_label.text()


def test_wizard_shows_a_service_refusal_inline_and_creates_nothing(qtbot: QtBot, first_run: DesktopApp,
                                                                   tmp_path: Path) -> None:
    wizard = first_run.wizard
    assert wizard is not None
    location = tmp_path / "fresh" / "vault"
    _fill_until_passphrase(wizard, location)
    # Someone fills the chosen folder after the location page was checked: the service refuses.
    location.mkdir(parents=True)
    (location / "other.txt").write_text("x")
    wizard.passphrase_page.passphrase.setText(PASS)
    wizard.passphrase_page.repeat.setText(PASS)
    wizard.button(QWizard.WizardButton.CommitButton).click()
    label = wizard.passphrase_page.error_label
    qtbot.waitUntil(label.isVisible, timeout=20_000)
    assert "already exists and is not empty" in label.text()
    assert wizard.currentPage() is wizard.passphrase_page
    assert not vault_exists(location)


def test_cancelling_the_wizard_quits(qtbot: QtBot, first_run: DesktopApp) -> None:
    wizard = first_run.wizard
    assert wizard is not None
    with qtbot.waitSignal(first_run.finished, timeout=5_000):
        wizard.reject()
    assert first_run.unlock_dialog is None


def test_the_suggested_location_lets_next_through(first_run: DesktopApp) -> None:
    wizard = first_run.wizard
    assert wizard is not None
    assert wizard.currentPage().path_edit.text()  # type: ignore[attr-defined]
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # the suggestion counts as filled in


def test_capitals_in_the_admin_name_are_lower_cased_not_dropped(qtbot: QtBot, first_run: DesktopApp) -> None:
    wizard = first_run.wizard
    assert wizard is not None
    edit = wizard.admin_page.name_edit
    edit.setFocus()
    qtbot.keyClicks(edit, "Alice")
    assert edit.text() == "alice"
