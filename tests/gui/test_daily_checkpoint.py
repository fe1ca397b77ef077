"""The daily custody checkpoint is signed when the app is unlocked, and not again the same day."""

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
    assert desktop.window.custody.checkpoint_if_due() is None  # not due again within the day
    assert len(custody.list_checkpoints(session)) == 1
