"""The daily custody checkpoint is signed when the app is unlocked (in a worker: "unlocked" follows once it is
settled), and not again the same day."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.services import custody, custody_verify
from tests.gui.conftest import unlock_as


def test_unlock_signs_the_daily_checkpoint_once(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    stored = custody.list_checkpoints(session)
    assert len(stored) == 1
    assert stored[0].reason == "daily"
    assert custody_verify.verify(session).ok
    assert "Daily custody checkpoint signed" in desktop.window.statusBar().currentMessage()
    actions = desktop.window.custody
    with qtbot.waitSignal(actions.daily_settled, timeout=10_000):
        assert actions.checkpoint_if_due() is not None  # looked at in a worker: not due again within the day
    assert len(custody.list_checkpoints(session)) == 1
