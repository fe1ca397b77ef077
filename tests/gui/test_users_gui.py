"""User administration and passphrase change through the GUI, offscreen on a real vault."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import AuthenticationError
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.passphrase_dialog import ChangePassphraseDialog
from icspa_desktop.gui.users_dialog import AddUserDialog, UsersDialog
from icspa_desktop.services import users
from icspa_desktop.services.session import unlock
from tests.conftest import NAMES, PASSPHRASES
from tests.gui.conftest import unlock_as


def unlock_with(qtbot: QtBot, app: DesktopApp, name: str, passphrase: str) -> None:
    dialog = app.unlock_dialog
    assert dialog is not None
    dialog.user.setText(name)
    dialog.passphrase.setText(passphrase)
    with qtbot.waitSignal(app.unlocked, timeout=20_000):
        dialog.unlock_button.click()


def open_users(app: DesktopApp) -> UsersDialog:
    dialog = app.window.custody.open_users()
    assert dialog is not None
    assert dialog.isVisible()
    return dialog


def test_admin_adds_a_user_who_can_then_unlock(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    dialog = open_users(desktop)
    assert dialog.user_names() == sorted(NAMES.values())
    add = dialog.add_user()
    assert isinstance(add, AddUserDialog)
    add.name.setText("k.mueller")
    add.display_name.setText("Karin Müller")
    add.role.setCurrentIndex(add.role.findData(Role.SUPERVISOR))
    add.passphrase.setText("karin-passphrase-1")
    add.repeat.setText("karin-passphrase-2")
    add.add_button.click()
    assert add.error_label.text() == "The passphrase and its repetition differ."
    add.name.setText("Bad Name")
    add.repeat.setText("karin-passphrase-1")
    add.add_button.click()
    assert "is not valid" in add.error_label.text()
    add.name.setText("k.mueller")
    with qtbot.waitSignal(add.added, timeout=20_000):
        add.add_button.click()
    assert "k.mueller" in dialog.user_names()
    selected = dialog.selected_user()
    assert selected is not None
    assert (selected.name, selected.display_name, selected.role) == ("k.mueller", "Karin Müller", Role.SUPERVISOR)

    desktop.lock()
    assert not dialog.isVisible()
    unlock_with(qtbot, desktop, "k.mueller", "karin-passphrase-1")
    assert desktop.session is not None
    assert desktop.session.user.name == "k.mueller"
    # A supervisor is not an administrator: Users… is disabled, the passphrase change is not.
    assert not desktop.window.custody.users_action.isEnabled()
    assert desktop.window.custody.passphrase_action.isEnabled()


def test_disable_and_enable_a_user(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    dialog = open_users(desktop)
    dialog.select_user(NAMES[Role.INVESTIGATOR])
    assert dialog.toggle_button.text() == "&Disable"
    dialog.toggle_button.click()
    assert not users.get_user(session, NAMES[Role.INVESTIGATOR]).active
    assert dialog.toggle_button.text() == "&Enable"
    assert dialog.result_hint.isVisible() and "master key was replaced" in dialog.result_hint.text()
    dialog.toggle_button.click()
    assert users.get_user(session, NAMES[Role.INVESTIGATOR]).active
    # Disabling yourself is refused by the service and shown; nothing changes.
    dialog.select_user(NAMES[Role.ADMINISTRATOR])
    dialog.toggle_button.click()
    assert users.get_user(session, NAMES[Role.ADMINISTRATOR]).active
    error = dialog.findChild(QMessageBox, "errorDialog")
    assert error is not None
    assert error.text() == "You cannot disable your own account."


def test_change_my_passphrase(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop, Role.INVESTIGATOR)
    name, old, new = NAMES[Role.INVESTIGATOR], PASSPHRASES[Role.INVESTIGATOR], "ivan-new-passphrase"
    dialog = desktop.window.custody.change_passphrase()
    assert isinstance(dialog, ChangePassphraseDialog)
    dialog.current.setText("not my passphrase")
    dialog.new.setText(new)
    dialog.repeat.setText(new)
    dialog.change_button.click()
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=20_000)
    assert dialog.error_label.text() == "The current passphrase is wrong; nothing was changed."
    assert dialog.isVisible()

    dialog.current.setText(old)
    with qtbot.waitSignal(dialog.changed, timeout=20_000):
        dialog.change_button.click()
    assert not dialog.isVisible()
    assert dialog.new.text() == ""

    desktop.lock()
    with pytest.raises(AuthenticationError):
        unlock(desktop.vault_path, name, old)
    unlock_with(qtbot, desktop, name, new)
    assert desktop.session is not None
    assert desktop.session.user.name == name


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.INVESTIGATOR, Role.AUDITOR])
def test_non_administrators_cannot_open_users(qtbot: QtBot, desktop: DesktopApp, role: Role) -> None:
    unlock_as(qtbot, desktop, role)
    actions = desktop.window.custody
    assert not actions.users_action.isEnabled()
    assert actions.open_users() is None
    assert actions.passphrase_action.isEnabled()
