"""Issue 13 item 6: a hash or fingerprint we copy leaves the clipboard after a while and at lock — ours only.

The real ``QClipboard`` of the offscreen platform, the real main window on a real vault; the clear timer is
shortened on the guard itself and the tests wait on its ``expired`` signal and the app's ``locked``, never sleep.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QToolButton
from pytestqt.qtbot import QtBot

import icspa_desktop.gui
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.clipboard import CLEAR_AFTER_MS, SensitiveClipboard, copy_text
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import cases, evidence
from tests.conftest import VaultInfo
from tests.gui.conftest import make_app, unlock_as, wait_loaded

USERS_TEXT = "the user's own note, copied from another program"
SHORT_MS = 30


@pytest.fixture
def guard(qapp: QApplication) -> Iterator[SensitiveClipboard]:
    """The app's clipboard guard, its timer shortened for the test and restored after it; the clipboard emptied."""
    found = SensitiveClipboard.of()
    found.forget()
    QGuiApplication.clipboard().clear()
    yield found
    found.forget()
    found.clear_after_ms = CLEAR_AFTER_MS


@pytest.fixture
def app_with_item(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, settings: AppSettings,
                  tmp_path: Path) -> Iterator[tuple[DesktopApp, str]]:
    """The app unlocked as the administrator on a case with one item, its details shown; the item's SHA-256."""
    source = tmp_path / "chat-export.txt"
    source.write_text("meet at the harbour at 23:00\n")
    with vault.session() as session:
        case = cases.create_case(session, CaseFields("2026/077", "Operation Bittern"))
        (item,) = evidence.add_files(session, case.id, [source], ItemFields()).items
    for app in make_app(qtbot, qapp, vault.path, settings):
        unlock_as(qtbot, app)
        assert app.window.browser.select_case(case.id)
        tab = app.window.evidence.current_tab()
        assert tab is not None
        wait_loaded(qtbot, tab, app)
        assert tab.select_items([item.id])
        yield app, item.sha256


def copy_button(app: DesktopApp) -> QToolButton:
    tab = app.window.evidence.current_tab()
    assert tab is not None
    button = tab.details.findChild(QToolButton, "copy_sha256")
    assert button is not None
    return button


def test_copy_then_lock_empties_the_clipboard(qtbot: QtBot, guard: SensitiveClipboard,
                                              app_with_item: tuple[DesktopApp, str]) -> None:
    app, sha256 = app_with_item
    copy_button(app).click()
    assert QGuiApplication.clipboard().text() == sha256 and guard.holds_our_copy and guard.pending
    with qtbot.waitSignal(app.locked, timeout=10_000):
        app.window.lock_action.trigger()  # Ctrl+L
    assert QGuiApplication.clipboard().text() == ""
    assert not guard.holds_our_copy and not guard.pending


def test_lock_leaves_what_the_user_copied_after_us(qtbot: QtBot, guard: SensitiveClipboard,
                                                  app_with_item: tuple[DesktopApp, str]) -> None:
    app, sha256 = app_with_item
    copy_button(app).click()
    assert QGuiApplication.clipboard().text() == sha256
    QGuiApplication.clipboard().setText(USERS_TEXT)  # the user copies something else
    with qtbot.waitSignal(app.locked, timeout=10_000):
        app.window.lock_action.trigger()
    assert QGuiApplication.clipboard().text() == USERS_TEXT


def test_the_timer_clears_our_copy(qtbot: QtBot, guard: SensitiveClipboard) -> None:
    guard.clear_after_ms = SHORT_MS
    copy_text("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    with qtbot.waitSignal(guard.expired, timeout=5_000) as expired:
        pass
    assert expired.args == [True]
    assert QGuiApplication.clipboard().text() == ""


def test_the_timer_does_not_clear_what_the_user_copied_since(qtbot: QtBot, guard: SensitiveClipboard) -> None:
    guard.clear_after_ms = SHORT_MS
    copy_text("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    QGuiApplication.clipboard().setText(USERS_TEXT)
    with qtbot.waitSignal(guard.expired, timeout=5_000) as expired:
        pass
    assert expired.args == [False]
    assert QGuiApplication.clipboard().text() == USERS_TEXT


def test_the_same_text_copied_by_the_user_is_theirs(qtbot: QtBot, guard: SensitiveClipboard) -> None:
    """Our copy is told by its token, not its text: the user copying the same hash elsewhere keeps it."""
    value = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    copy_text(value)
    QGuiApplication.clipboard().setText(value)
    assert not guard.forget()
    assert QGuiApplication.clipboard().text() == value


def test_a_new_copy_restarts_the_timer_and_one_guard_serves_every_site(guard: SensitiveClipboard) -> None:
    copy_text("first")
    copy_text("second")
    assert SensitiveClipboard.of() is guard and guard.pending
    assert QGuiApplication.clipboard().text() == "second"
    mime = QGuiApplication.clipboard().mimeData()
    assert mime is not None and bytes(mime.data("x-kde-passwordManagerHint").data()) == b"secret"
    assert guard.forget() and QGuiApplication.clipboard().text() == ""


def test_every_copy_site_goes_through_the_helper() -> None:
    """Only gui/clipboard.py touches the clipboard: a new copy site calling ``clipboard()`` directly fails here."""
    package = Path(icspa_desktop.gui.__file__).parent
    direct = []
    for path in sorted(package.glob("*.py")):
        if path.name == "clipboard.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "clipboard":
                direct.append(f"{path.name}:{node.lineno}")
    assert direct == []
