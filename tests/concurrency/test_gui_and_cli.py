"""Issue 13 item 5: the desktop app and the CLI on one vault at once.

The real main window (offscreen) unlocked on a real vault holds it: ``icspa`` is refused with one line naming the
vault and this process, exit 5, and changes nothing; once the window is locked (Ctrl+L), the same command works.
The other way round, a real ``icspa`` holding the vault at a prompt makes the desktop's unlock say who holds it, and
the desktop unlocks once that process has ended.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QThreadPool
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.services import users
from tests.concurrency.conftest import snapshot
from tests.concurrency.test_two_processes import NEW_PASS, PROMPT, TerminalCli
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli
from tests.gui.conftest import unlock_as


def cli_env(vault: VaultInfo) -> dict[str, str]:
    return {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}


def idle(qtbot: QtBot) -> None:
    """The window's background reads have ended (a reader may update the WAL index, not the refused CLI)."""
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=20_000)


def test_the_cli_is_refused_while_the_desktop_holds_the_vault_and_works_after_lock(
        qtbot: QtBot, desktop: DesktopApp, vault: VaultInfo) -> None:
    unlock_as(qtbot, desktop)
    idle(qtbot)
    before = snapshot(vault.path)
    for args in (["case", "list"], ["case", "create", "--number", "2026/099", "--title", "Refused"]):
        refused = run_cli(*args, env=cli_env(vault))
        assert refused.returncode == 5 and refused.stdout == ""
        assert refused.stderr.splitlines() == [
            f"icspa: The vault {vault.path} is open in another ICSPA process (process {os.getpid()}); "
            "close it there first."]
        assert snapshot(vault.path) == before
    assert desktop.session is not None and desktop.session.is_open  # the desktop was not disturbed

    with qtbot.waitSignal(desktop.locked, timeout=10_000):
        desktop.window.lock_action.trigger()  # Ctrl+L
    listed = run_cli("case", "list", env=cli_env(vault))
    assert listed.returncode == 0, listed.stderr
    assert "2026/001" in listed.stdout and "2026/099" not in listed.stdout


def test_the_desktop_unlock_names_the_cli_holding_the_vault_then_unlocks_after_it(
        qtbot: QtBot, desktop: DesktopApp, vault: VaultInfo) -> None:
    holder = TerminalCli(["user", "add", "bob", "--role", "investigator"], cli_env(vault))
    try:
        holder.wait_for(PROMPT)
        dialog = desktop.unlock_dialog
        assert dialog is not None
        dialog.user.setText(ADMIN)
        dialog.passphrase.setText(ADMIN_PASS)
        dialog.unlock_button.click()
        qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
        assert desktop.session is None and dialog.isVisible()
        assert dialog.error_label.text() == (f"The vault {vault.path} is open in another ICSPA process "
                                             f"(process {holder.pid}); close it there first.")
        holder.answer(NEW_PASS)
        holder.wait_for(b"Repeat the passphrase")
        holder.answer(NEW_PASS)
        assert holder.finish() == 0, holder.seen
    finally:
        holder.kill()
    unlock_as(qtbot, desktop)
    assert desktop.session is not None
    assert "bob" in {user.name for user in users.list_users(desktop.session)}  # the CLI's work is there
