"""The export wizard (Case → Send to partner agency), offscreen on a real vault with a real partner agency."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from cryptography.hazmat.primitives import serialization
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWizard
from pytestqt.qtbot import QtBot

from icspa_desktop.bundle.mounts import MountTarget
from icspa_desktop.domain.enums import HandlingCode, Role
from icspa_desktop.domain.errors import Cancelled
from icspa_desktop.domain.evidence import ItemFields, Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.bundle_wizard import BundleWizard
from icspa_desktop.gui.export_pages import ItemsPage, safe_file_name
from icspa_desktop.services import agency, bundles, cases, evidence, partners
from icspa_desktop.services.session import unlock
from tests.agency.conftest import PASS, make_agency_vault
from tests.conftest import VaultInfo
from tests.gui.conftest import unlock_as, wait_loaded

NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
BACK = QWizard.WizardButton.BackButton


@pytest.fixture
def usb(vault: VaultInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Case 2026/041 with a text file and 3 MiB of random data, a partner BKA (another vault's agency), a target."""
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    bka_vault = make_agency_vault(tmp_path / "de", "Bundeskriminalamt", "DE")
    with unlock(bka_vault, "admin", PASS) as bka:
        bka_identity = agency.agency_identity(bka)
    files = tmp_path / "seized"
    files.mkdir()
    (files / "chat export.txt").write_text("meeting at the harbour, 23:00\n" * 500)
    (files / "image.bin").write_bytes(os.urandom(3 << 20))
    restricted = tmp_path / "restricted.txt"
    restricted.write_text("JIT members only\n")
    with vault.session() as nl:
        partners.add_partner(nl, "BKA", "DE", bka_identity.age_recipient,
                             bka_identity.certificate.public_bytes(serialization.Encoding.PEM))
        case = cases.create_case(nl, CaseFields("2026/041", "Operation Nightjar"))
        evidence.add_files(nl, case.id, [files])
        h3 = cases.create_case(nl, CaseFields("2026/042", "Restricted"))
        evidence.add_files(nl, h3.id, [restricted], fields=ItemFields(markings=Markings(
            handling_code=HandlingCode.H3, handling_text="JIT members only")))
    target = tmp_path / "usb"
    target.mkdir()
    return target


def open_wizard(qtbot: QtBot, app: DesktopApp, number: str) -> BundleWizard:
    session = app.session
    assert session is not None
    assert app.window.browser.select_case(cases.get_case(session, number).id)
    action = app.window.send_bundle.action
    assert action.isEnabled() and action.shortcut().toString() == "Ctrl+Shift+E"
    app.window.send_bundle.targets = list  # no removable media here: the folder is typed
    action.trigger()
    wizard = app.window.send_bundle.last_wizard
    assert isinstance(wizard, BundleWizard)
    qtbot.waitExposed(wizard)
    qtbot.waitUntil(lambda: wizard.items.loaded)  # read in the background
    return wizard


def enter(qtbot: QtBot, wizard: BundleWizard) -> None:
    """Press Enter where the focus is (the page's first field on every page)."""
    focused = wizard.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, Qt.Key.Key_Return)


def to_target_page(qtbot: QtBot, wizard: BundleWizard, folder: Path) -> None:
    assert wizard.currentPage() is wizard.items and wizard.focusWidget() is wizard.items.list
    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.recipients and wizard.focusWidget() is wizard.recipients.list
    assert not wizard.button(NEXT).isEnabled()  # no partner checked yet
    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.recipients  # Enter does nothing while the page is incomplete
    qtbot.keyClick(wizard.recipients.list, Qt.Key.Key_Space)  # check BKA
    qtbot.keyClick(wizard.recipients.list, Qt.Key.Key_Tab)
    assert wizard.focusWidget() is wizard.recipients.purpose
    qtbot.keyClicks(wizard.recipients.purpose, "JIT Nightjar")
    qtbot.keyClick(wizard.recipients.purpose, Qt.Key.Key_Tab)
    assert wizard.focusWidget() is wizard.recipients.authority
    qtbot.keyClicks(wizard.recipients.authority, "MLA 2026/17")
    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.preview and wizard.focusWidget() is wizard.preview.text
    assert not wizard.button(NEXT).isEnabled()  # the plan is checked in the background first
    qtbot.waitUntil(lambda: wizard.preview.plan is not None)
    assert wizard.button(NEXT).isEnabled()
    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.target and wizard.focusWidget() is wizard.target.folder
    assert "No removable medium" in wizard.target.notice.text() and not wizard.button(COMMIT).isEnabled()
    assert wizard.target.name.text() == "2026-041"
    wizard.target.folder.setText(str(folder))
    assert wizard.button(COMMIT).isEnabled() and wizard.button(COMMIT).text().replace("&", "") == "Write bundle"


def test_walk_every_page_with_the_keyboard_and_write_a_verified_bundle(qtbot: QtBot, desktop: DesktopApp,
                                                                      usb: Path) -> None:
    unlock_as(qtbot, desktop)
    wizard = open_wizard(qtbot, desktop, "2026/041")
    assert wizard.items.model.rowCount() == 2 and wizard.items.isComplete()
    assert "H0 · TLP:AMBER" in wizard.items.model.index(0).data()
    # Preview first, to check exactly what it says leaves.
    to_target_page(qtbot, wizard, usb)
    preview = wizard.preview.text.toPlainText()
    session = desktop.session
    assert session is not None
    bka = partners.get_partner(session, "BKA")
    assert bka.fingerprint in preview and "chat export.txt" in preview and "image.bin" in preview
    assert "Purpose: JIT Nightjar" in preview and "Legal authority: MLA 2026/17" in preview
    assert wizard.preview.error.isHidden()
    with qtbot.waitSignal(wizard.bundle_written, timeout=60_000) as written:
        enter(qtbot, wizard)  # Write bundle
    result: bundles.ExportResult = written.args[0]
    assert wizard.currentPage() is wizard.done_page and wizard.focusWidget() is wizard.done_page.bundle_id
    assert sorted(p.name for p in usb.iterdir()) == ["2026-041.icspa", "2026-041.icspa.sha256",
                                                     "2026-041.icspa.sha256.p7s"]
    (sent,) = bundles.list_sent(session)
    assert sent.status == "written" and sent.id == result.bundle_id
    assert wizard.done_page.sha256.text() == sent.sha256 == result.sha256
    assert wizard.done_page.bundle_id.text() == sent.id
    assert "Read back and verified" in wizard.done_page.verified.text()
    opened: list[QUrl] = []
    wizard.done_page.open_url = opened.append
    wizard.done_page.findChild(type(wizard.button(NEXT)), "showFolderButton").click()
    assert opened == [QUrl.fromLocalFile(str(usb))]
    wizard.done_page.findChild(type(wizard.button(NEXT)), "copyShaButton").click()
    assert QGuiApplication.clipboard().text() == sent.sha256
    assert not wizard.button(BACK).isVisible()
    with qtbot.waitSignal(wizard.finished, timeout=5_000):
        enter(qtbot, wizard)  # Finish
    assert wizard.result() == 1


def test_the_items_selected_in_the_evidence_tab_are_the_ones_checked(qtbot: QtBot, desktop: DesktopApp,
                                                                      usb: Path) -> None:
    """Select in the Evidence tab, then Send: only the selection is checked (not the whole case to uncheck)."""
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    case = cases.get_case(session, "2026/041")
    assert desktop.window.browser.select_case(case.id)
    tab = desktop.window.evidence.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab, desktop)
    image = next(i for i in evidence.list_items(session, case.id) if i.original_name == "image.bin")
    assert tab.select_items([image.id])
    wizard = open_wizard(qtbot, desktop, "2026/041")
    assert [i.id for i in wizard.items.chosen()] == [image.id]
    assert "The item selected in the Evidence tab is checked" in wizard.items.intro.text()
    assert wizard.items.list.currentIndex().data().startswith(image.exhibit_number)
    assert wizard.focusWidget() is wizard.items.list
    wizard.reject()
    # Every row selected (Ctrl+A) is the whole case: every item checked, as with nothing selected.
    assert tab.select_items([i.id for i in tab.model.records()])
    wizard = open_wizard(qtbot, desktop, "2026/041")
    assert len(wizard.items.chosen()) == 2 and "Every stored item" in wizard.items.intro.text()


def test_the_filter_narrows_the_items_and_the_buttons_check_what_it_shows(qtbot: QtBot, desktop: DesktopApp,
                                                                         usb: Path) -> None:
    unlock_as(qtbot, desktop)
    wizard = open_wizard(qtbot, desktop, "2026/041")
    page = wizard.items
    assert len(page.chosen()) == 2
    wizard.activateWindow()
    qtbot.waitUntil(wizard.isActiveWindow)
    # Tab goes from the list (where the focus starts) to the filter and its buttons, then to Next.
    tabbed = []
    for _ in range(4):
        focused = wizard.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
        tabbed.append(wizard.focusWidget())
    assert tabbed == [page.filter, page.check_shown, page.uncheck_shown, wizard.button(NEXT)]
    qtbot.keyClick(page.list, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert wizard.focusWidget() is page.filter
    qtbot.keyClicks(page.filter, "CHAT")  # exhibit number or name, any case
    shown = [page.model.index(r).data() for r in range(page.model.rowCount())]
    assert len(shown) == 1 and "chat export.txt" in shown[0]
    assert page.summary.text().endswith("1 shown by the filter")
    # Space on the list toggles the row the filter left (the view's own key handling, through the model).
    page.list.setFocus()
    qtbot.keyClick(page.list, Qt.Key.Key_Space)
    assert [i.original_name for i in page.chosen()] == ["image.bin"]
    qtbot.keyClick(page.list, Qt.Key.Key_Space)
    assert len(page.chosen()) == 2
    qtbot.mouseClick(page.uncheck_shown, Qt.MouseButton.LeftButton)
    assert [i.original_name for i in page.chosen()] == ["image.bin"]  # the hidden row kept its check
    qtbot.mouseClick(page.check_shown, Qt.MouseButton.LeftButton)
    assert len(page.chosen()) == 2
    page.filter.clear()
    qtbot.mouseClick(page.uncheck_shown, Qt.MouseButton.LeftButton)
    assert page.chosen() == [] and not page.isComplete() and not wizard.button(NEXT).isEnabled()
    assert page.summary.text().startswith("0 of 2 items")


def test_the_items_page_of_a_case_of_thousands_filters_checks_and_counts(qtbot: QtBot, desktop: DesktopApp,
                                                                         usb: Path) -> None:
    """The page over 5,000 items (the model behind it; a case of 100,000 took seconds as widget items): the filter
    shows exactly the rows it matches, the buttons act on those rows only, and the counts follow."""
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    template = evidence.list_items(session, cases.get_case(session, "2026/041").id)[0]
    many = [dataclasses.replace(template, id=f"item-{n:05d}", exhibit_number=f"BIG/1-{n}", original_name=f"IMG_{n}.jpg",
                                size=1000) for n in range(5000)]
    page = ItemsPage(checked={"item-00042", "item-04999"})
    qtbot.addWidget(page)
    page.show()
    assert not page.isComplete() and page.intro.text() == "Reading the case's items…" and page.reading.isVisible()
    assert not page.filter.isEnabled()
    page.set_items(many)
    assert not page.reading.isVisible() and page.filter.isEnabled()
    assert [i.id for i in page.chosen()] == ["item-00042", "item-04999"]
    assert page.list.currentIndex().data().startswith("BIG/1-42 ")  # the first one checked is the current row
    assert page.summary.text().startswith("2 of 5000 items")
    page.filter.setText("img_49")  # IMG_49, IMG_490-499, IMG_4900-4999
    shown = [page.model.index(r).data(Qt.ItemDataRole.UserRole) for r in range(page.model.rowCount())]
    assert shown == [f"item-{n:05d}" for n in (49, *range(490, 500), *range(4900, 5000))]
    assert page.summary.text().endswith("111 shown by the filter") and page.list.currentIndex().row() == 0
    page.check_shown.click()
    assert len(page.chosen()) == 112  # the 111 shown, and item 42 that the filter hides
    page.uncheck_shown.click()
    assert [i.id for i in page.chosen()] == ["item-00042"] and page.isComplete()
    page.filter.setText("no such exhibit")
    assert page.model.rowCount() == 0 and page.summary.text().endswith("0 shown by the filter")
    page.uncheck_shown.click()  # nothing shown: nothing changes
    assert [i.id for i in page.chosen()] == ["item-00042"]
    page.filter.clear()
    assert page.model.rowCount() == 5000
    page.model.setData(page.model.index(42), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert page.chosen() == [] and not page.isComplete()


def test_stop_while_writing_leaves_nothing_under_the_final_name(qtbot: QtBot, desktop: DesktopApp,
                                                               usb: Path) -> None:
    unlock_as(qtbot, desktop)
    gate = threading.Event()

    def gated_export(*args: Any, progress: Any, cancel: Any) -> bundles.ExportResult:
        def report(done: int, total: int, message: str) -> None:
            progress(done, total, message)
            if done and not gate.is_set():
                assert gate.wait(30)  # hold the write mid-payload until the GUI has stopped it

        return bundles.export(*args, progress=report, cancel=cancel)

    desktop.window.send_bundle.export = gated_export
    wizard = open_wizard(qtbot, desktop, "2026/041")
    to_target_page(qtbot, wizard, usb)
    with qtbot.waitSignal(wizard.progressed, timeout=30_000):
        enter(qtbot, wizard)
    page = wizard.writing
    assert wizard.currentPage() is page and page.writing() and wizard.focusWidget() is page.bar
    assert not wizard.button(BACK).isEnabled()
    # Escape asks first; Escape on the question keeps writing.
    qtbot.keyClick(page.bar, Qt.Key.Key_Escape)
    question = wizard.findChild(QMessageBox, "stopWritingQuestion")
    assert isinstance(question, QMessageBox) and wizard.isVisible()
    assert question.defaultButton().text().replace("&", "") == "Continue writing"
    qtbot.keyClick(question, Qt.Key.Key_Escape)
    assert page.writing() and not page.op.cancel_token.cancelled  # type: ignore[union-attr]
    qtbot.keyClick(page.bar, Qt.Key.Key_Escape)  # asked again, left open: the end of the write closes it
    question = wizard.question
    assert question is not None and question.isVisible()
    with qtbot.waitSignal(wizard.export_failed, timeout=30_000) as failed:
        page.stop.click()
        gate.set()
    assert isinstance(failed.args[0], Cancelled)
    assert not (shiboken6.isValid(question) and question.isVisible()) and wizard.question is None
    assert list(usb.iterdir()) == []  # no bundle, no seal, no temporary file
    assert "Cancelled" in page.error.text() and page.error.isVisibleTo(wizard)
    assert wizard.button(BACK).isEnabled()
    session = desktop.session
    assert session is not None
    (sent,) = bundles.list_sent(session)
    assert sent.status == "failed" and sent.sha256 is None
    wizard.back()
    assert wizard.currentPage() is wizard.target and wizard.target.isComplete()
    wizard.reject()  # not writing: closes without a question
    assert not wizard.isVisible()


def test_h3_item_needs_an_override_reason_before_next(qtbot: QtBot, desktop: DesktopApp, usb: Path) -> None:
    unlock_as(qtbot, desktop)
    wizard = open_wizard(qtbot, desktop, "2026/042")
    enter(qtbot, wizard)
    page = wizard.recipients
    assert page.h3.isVisibleTo(wizard) and page.h3_label.isVisibleTo(wizard)
    page.list.item(0).setCheckState(Qt.CheckState.Checked)
    assert not wizard.button(NEXT).isEnabled()
    qtbot.keyClick(page.purpose, Qt.Key.Key_Return)
    assert wizard.currentPage() is page
    qtbot.keyClicks(page.h3, "JIT agreement art. 4")
    assert wizard.button(NEXT).isEnabled()
    qtbot.keyClick(page.h3, Qt.Key.Key_Return)
    assert wizard.currentPage() is wizard.preview
    qtbot.waitUntil(lambda: wizard.preview.plan is not None)
    assert "H3 override: JIT agreement art. 4" in wizard.preview.text.toPlainText()
    assert "H3 items sent under the override" in wizard.preview.warnings.text()
    # Back, clear the reason, forward again: the plan is refused and the error shown on the page.
    wizard.back()
    page.h3.clear()
    assert not wizard.button(NEXT).isEnabled()


def test_preview_shows_the_services_refusal_and_keeps_next_disabled(qtbot: QtBot, desktop: DesktopApp,
                                                                    usb: Path) -> None:
    unlock_as(qtbot, desktop)
    wizard = open_wizard(qtbot, desktop, "2026/041")
    enter(qtbot, wizard)
    wizard.recipients.list.item(0).setCheckState(Qt.CheckState.Checked)
    session = desktop.session
    assert session is not None
    partners.revoke_partner(session, "BKA", "key compromised")  # between the pages, as another user might
    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.preview
    qtbot.waitUntil(lambda: not wizard.preview.checking)
    assert wizard.preview.plan is None
    assert wizard.preview.error.isVisibleTo(wizard) and "BKA" in wizard.preview.error.text()
    assert wizard.preview.error.objectName() == "errorLabel" and not wizard.button(NEXT).isEnabled()


def test_target_page_warns_about_several_media_and_refuses_too_little_space(qtbot: QtBot, desktop: DesktopApp,
                                                                            usb: Path, tmp_path: Path) -> None:
    unlock_as(qtbot, desktop)
    sticks = [tmp_path / "STICK1", tmp_path / "STICK2"]
    for stick in sticks:
        stick.mkdir()
    fakes = [MountTarget(s, f"/dev/sd{c}1", "exfat", 8 << 30, 16 << 30, True, False)
             for s, c in zip(sticks, "bc", strict=True)]
    desktop.window.send_bundle.targets = lambda: fakes
    session = desktop.session
    assert session is not None
    assert desktop.window.browser.select_case(cases.get_case(session, "2026/041").id)
    wizard = desktop.window.send_bundle.open()
    assert isinstance(wizard, BundleWizard)
    qtbot.waitUntil(lambda: wizard.items.loaded)
    enter(qtbot, wizard)
    wizard.recipients.list.item(0).setCheckState(Qt.CheckState.Checked)
    enter(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.preview.plan is not None)
    enter(qtbot, wizard)
    page = wizard.target
    assert wizard.currentPage() is page and wizard.focusWidget() is page.mounts
    assert page.mounts.count() == 2 and "2 removable media" in page.notice.text()
    page.mounts.setCurrentRow(1)
    assert page.folder.text() == str(sticks[1]) and wizard.button(COMMIT).isEnabled()
    page.free_space = lambda _folder: 1 << 20
    page.name.setText("nightjar")
    assert not wizard.button(COMMIT).isEnabled() and "Not enough free space" in page.error.text()
    page.free_space = lambda _folder: 1 << 40
    page.name.setText("../x")
    assert not wizard.button(COMMIT).isEnabled()
    (sticks[1] / "taken.icspa").write_bytes(b"x")
    page.name.setText("taken")
    assert "already exists" in page.error.text()
    page.name.setText("fresh")
    assert wizard.button(COMMIT).isEnabled()


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.AUDITOR])
def test_roles_without_the_agency_key_do_not_get_the_action(qtbot: QtBot, desktop: DesktopApp, role: Role) -> None:
    unlock_as(qtbot, desktop, role)
    session = desktop.session
    assert session is not None
    assert desktop.window.browser.select_case(cases.get_case(session, "2026/001").id)
    assert not desktop.window.send_bundle.action.isEnabled()
    assert desktop.window.send_bundle.open() is None


def test_supervisor_gets_the_action_only_with_a_case_selected(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop, Role.SUPERVISOR)
    session = desktop.session
    assert session is not None
    assert not desktop.window.send_bundle.action.isEnabled() or desktop.window.browser.current_case() is not None
    assert desktop.window.browser.select_case(cases.get_case(session, "2026/001").id)
    assert desktop.window.send_bundle.action.isEnabled()


def test_safe_file_name() -> None:
    assert safe_file_name("2026/041 A") == "2026-041-A"
    assert safe_file_name("../..") == "bundle" and safe_file_name(".hidden") == "hidden"
    assert safe_file_name("Zürich") == "Z-rich"


def test_progress_shows_bytes_as_sizes_and_steps_as_a_share_only(qtbot: QtBot) -> None:
    """An export first reports its custody report's steps (0-1000), then the bytes it writes: the steps were shown
    as "499 B of 1000 B" (seen on the real wizard exporting a 1,001-item case)."""
    from icspa_desktop.domain.progress import Steps
    from icspa_desktop.gui.wizard_parts import PROGRESS_STEPS, ProgressSection

    section = ProgressSection("bar", "status", "Stop", "stop", lambda: None)
    qtbot.addWidget(section.bar)
    qtbot.addWidget(section.status)
    section.show_bytes(499, 1000, Steps("Making the custody report for the partner"))
    assert section.status.text() == "Making the custody report for the partner"
    assert section.bar.value() == 499 * PROGRESS_STEPS // 1000
    section.show_bytes(3 << 20, 4 << 20, "Encrypting and writing the bundle")
    assert section.status.text() == "Encrypting and writing the bundle — 3.0 MiB of 4.0 MiB"
