"""The Evidence tab, its dialogs and the search box, offscreen on a real vault (real ingest, real blobs)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QLineEdit, QMessageBox, QProgressDialog, QPushButton
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import CaseStatus, Role
from icspa_desktop.domain.evidence import Item, ItemKind
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.evidence_actions import EvidenceActions, ingest_message
from icspa_desktop.gui.evidence_dialogs import (
    AnnotateDialog,
    CheckoutDialog,
    ExtractDialog,
    FixityResultDialog,
    IngestDialog,
    PhysicalItemDialog,
)
from icspa_desktop.gui.evidence_model import ItemColumn
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.search_panel import SearchResultsDialog
from icspa_desktop.services import cases, custody, evidence
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.vault.blobs import BlobStore
from icspa_desktop.vault.layout import VaultLayout
from tests.conftest import NAMES, PASSPHRASES
from tests.gui.conftest import unlock_as, wait_loaded


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ok(dialog: IngestDialog | PhysicalItemDialog | CheckoutDialog | ExtractDialog | AnnotateDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def parts(app: DesktopApp) -> tuple[Session, EvidenceActions]:
    assert app.session is not None
    return app.session, app.window.evidence


def select(qtbot: QtBot, app: DesktopApp, number: str) -> tuple[Case, EvidenceTab]:
    session, actions = parts(app)
    case = cases.get_case(session, number)
    assert app.window.browser.select_case(case.id)
    tab = actions.current_tab()
    assert tab is not None and tab.case is not None and tab.case.id == case.id
    wait_loaded(qtbot, tab, app)
    return case, tab


def ingest_via_dialog(qtbot: QtBot, actions: EvidenceActions, paths: list[Path], description: str = "") -> None:
    actions.last_outcome = None
    dialog = actions.ingest(paths)
    assert isinstance(dialog, IngestDialog)
    dialog.description.setPlainText(description)
    ok(dialog)
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    tab = actions.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab)  # the tab reads the new items in the background


def vault_files(app: DesktopApp) -> set[str]:
    """Every file under the vault's blobs/ and staging/ folders."""
    layout = VaultLayout(app.vault_path)
    found: set[str] = set()
    for folder in (layout.blobs, layout.staging):
        if folder.is_dir():
            found |= {str(p) for p in folder.rglob("*") if p.is_file()}
    return found


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    first = tmp_path / "src" / "chat-export.txt"
    second = tmp_path / "src" / "photo.jpg"
    first.parent.mkdir()
    first.write_text("meet at the harbour at 23:00\n" * 50)
    second.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(70_000))
    return [first, second]


@pytest.fixture
def admin_app(qtbot: QtBot, desktop: DesktopApp) -> DesktopApp:
    unlock_as(qtbot, desktop)
    return desktop


def test_ingest_two_files_through_the_dialog(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    session, actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/001")
    assert tab.model.rowCount() == 0
    assert "drop files here" in tab.count_label.text()
    ingest_via_dialog(qtbot, actions, files, "Seized from the suspect's laptop")

    shown = {item.original_name: item for item in tab.visible_items()}
    assert set(shown) == {"chat-export.txt", "photo.jpg"}
    stored = {item.original_name: item for item in evidence.list_items(session, case.id)}
    for path in files:
        assert stored[path.name].sha256 == sha256(path)
        assert shown[path.name].sha256 == sha256(path)
        assert stored[path.name].description == "Seized from the suspect's laptop"
    # The table shows short hashes and human sizes; the new items are selected.
    photo_row = tab.model.row_of(stored["photo.jpg"].id)
    assert photo_row is not None
    assert tab.model.index(photo_row, ItemColumn.SHA256).data() == sha256(files[1])[:16]
    assert tab.model.index(photo_row, ItemColumn.SIZE).data() == "68.4 KiB"
    assert tab.model.index(photo_row, ItemColumn.MIME).data() == "image/jpeg"
    assert len(tab.selected_items()) == 2
    # Filtering by a full hash or by text; sorting by size.
    # (each change is read in the background: ``loaded`` follows it)
    with qtbot.waitSignal(tab.loaded):
        tab.filter_edit.setText(sha256(files[0]))
    assert [i.original_name for i in tab.visible_items()] == ["chat-export.txt"]
    with qtbot.waitSignal(tab.loaded):
        tab.filter_edit.setText("JPEG")
    assert [i.original_name for i in tab.visible_items()] == ["photo.jpg"]
    assert tab.count_label.text() == "1 of 2 items"
    with qtbot.waitSignal(tab.loaded):
        tab.filter_edit.clear()
    with qtbot.waitSignal(tab.loaded):
        tab.table.sortByColumn(ItemColumn.SIZE, Qt.SortOrder.DescendingOrder)
    assert [i.original_name for i in tab.visible_items()] == ["photo.jpg", "chat-export.txt"]
    # The detail pane shows every digest of the one selected item, copyable.
    tab.select_items([stored["chat-export.txt"].id])
    assert tab.details.hash_fields["sha256"].text() == sha256(files[0])
    tab.details.findChild(object, "copy_sha256").click()  # type: ignore[union-attr]
    assert QCoreApplication.instance().clipboard().text() == sha256(files[0])  # type: ignore[union-attr]
    assert "Seized from the suspect's laptop" in tab.details.text()


def test_ingest_with_md5_and_sha1(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    dialog = actions.ingest(files[:1])
    assert isinstance(dialog, IngestDialog)
    assert not dialog.md5.isChecked() and not dialog.sha1.isChecked()  # agency default: SHA-256 only
    dialog.md5.setChecked(True)
    dialog.sha1.setChecked(True)
    actions.last_outcome = None
    ok(dialog)
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    wait_loaded(qtbot, tab)
    item = tab.current_item()
    assert item is not None
    data = files[0].read_bytes()
    assert item.hashes == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),
                           "sha1": hashlib.sha1(data).hexdigest()}
    assert tab.details.hash_fields["md5"].text() == hashlib.md5(data).hexdigest()


def test_cancelled_ingest_leaves_nothing(qtbot: QtBot, admin_app: DesktopApp, tmp_path: Path) -> None:
    session, actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/001")
    big = tmp_path / "disk.img"
    with open(big, "wb") as handle:  # mostly sparse: cheap to create, still read and sealed byte by byte
        handle.write(os.urandom(1 << 20))
        handle.truncate(512 << 20)
    before_files = vault_files(admin_app)
    events_before = session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0]

    dialog = actions.ingest([big])
    assert isinstance(dialog, IngestDialog)
    ok(dialog)
    op = actions.last_op
    assert op is not None and op.running
    progress = admin_app.window.findChildren(QProgressDialog)[-1]
    qtbot.waitUntil(lambda: " of " in progress.labelText(), timeout=30_000)
    assert "disk.img" in progress.labelText()
    with qtbot.waitSignal(op.finished, timeout=30_000):
        cancel_button = progress.findChild(QPushButton)
        assert cancel_button is not None and cancel_button.text() == "Cancel"
        cancel_button.click()

    assert actions.last_outcome is None
    assert "Cancelled" in admin_app.window.statusBar().currentMessage()
    assert tab.model.rowCount() == 0
    assert evidence.list_items(session, case.id) == []
    assert session.conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0
    assert vault_files(admin_app) == before_files
    assert session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0] == events_before


def drop_event(paths: list[Path]) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    return enter, drop, mime


def test_drop_files_and_folder_on_the_table(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    session, actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/001")
    enter, drop, _mime = drop_event([files[0].parent])  # the folder holding both files
    QCoreApplication.sendEvent(tab.table.viewport(), enter)
    assert enter.isAccepted()
    actions.last_dialog = None
    QCoreApplication.sendEvent(tab.table.viewport(), drop)
    assert drop.isAccepted()
    dialog = actions.last_dialog
    assert isinstance(dialog, IngestDialog)
    assert dialog.paths == [files[0].parent]
    actions.last_outcome = None
    ok(dialog)
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    assert sorted(i.original_name for i in evidence.list_items(session, case.id)) == ["chat-export.txt",
                                                                                      "photo.jpg"]
    wait_loaded(qtbot, tab)
    assert tab.model.rowCount() == 2


def test_verify_ok_then_names_the_damaged_item(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files)
    tab.table.clearSelection()

    def run_verify() -> FixityResultDialog:
        actions.last_fixity_dialog = None
        actions.verify_action.trigger()
        qtbot.waitUntil(lambda: actions.last_fixity_dialog is not None, timeout=30_000)
        assert actions.last_fixity_dialog is not None
        return actions.last_fixity_dialog

    result = run_verify()
    assert result.summary.property("intact") == "true"
    assert "All 2 items of case 2026/001 verified" in result.summary.text()
    result.reject()
    # One selected item: named, not "All 1 items" (issue 11).
    photo = next(i for i in tab.model.records() if i.original_name == "photo.jpg")
    tab.select_items([photo.id])
    result = run_verify()
    assert result.summary.text().startswith(f"Exhibit {photo.exhibit_number} verified: content intact")
    result.reject()
    tab.select_items([i.id for i in tab.model.records()])
    result = run_verify()
    assert "All 2 selected items verified" in result.summary.text()
    result.reject()
    tab.table.clearSelection()

    assert photo.blob_id is not None
    blob = BlobStore(VaultLayout(admin_app.vault_path)).path(photo.blob_id)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))

    result = run_verify()
    assert result.summary.property("intact") == "false"
    assert photo.exhibit_number in result.summary.text()
    assert result.summary.text().startswith("1 of the 2 items of case 2026/001 FAILED verification")
    assert result.table.item(0, 0).text() == photo.exhibit_number
    assert result.table.item(0, 1).text() == "MISMATCH"
    assert result.table.item(1, 1).text() == "OK"


def test_extract_needs_a_reason_and_writes_the_right_bytes(qtbot: QtBot, admin_app: DesktopApp,
                                                           files: list[Path], tmp_path: Path) -> None:
    session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files[1:])
    item = tab.current_item()
    assert item is not None and actions.extract_action.isEnabled()
    dialog = actions.extract()
    assert isinstance(dialog, ExtractDialog)
    out = tmp_path / "out" / "photo-copy.jpg"
    out.parent.mkdir()
    dialog.path.setText(str(out))
    assert not dialog.ok.isEnabled()  # no reason yet
    dialog.reason.setText("   ")
    assert not dialog.ok.isEnabled()
    dialog.accept()  # refused: still open, nothing written
    assert dialog.isVisible() and not out.exists()

    dialog.reason.setText("examination with the lab's image viewer")
    actions.last_outcome = None
    ok(dialog)
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    assert sha256(out) == item.sha256 == sha256(files[1])
    _label, events = custody.timeline(session, item.id)
    assert events[-1].action == "exported"
    assert events[-1].body["purpose"] == "examination with the lab's image viewer"


def test_physical_item_check_out_and_in(qtbot: QtBot, admin_app: DesktopApp) -> None:
    session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    dialog = actions.add_physical()
    assert isinstance(dialog, PhysicalItemDialog)
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.name.setText("iPhone 12, black")
    dialog.storage.setText("Evidence room 2, shelf B4")
    dialog.serial.setText("IMEI 356938035643809")
    with qtbot.waitSignal(tab.loaded):  # the tab reads the new item in the background
        ok(dialog)
    item = tab.current_item()
    assert item is not None and item.kind is ItemKind.PHYSICAL
    assert tab.model.index(0, ItemColumn.KIND).data() == "physical"
    assert "Evidence room 2, shelf B4" in tab.details.text()
    assert actions.checkout_action.isEnabled() and not actions.checkin_action.isEnabled()
    assert not actions.extract_action.isEnabled()

    out = actions.check_out()
    assert isinstance(out, CheckoutDialog)
    assert not out.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    out.other.setText("Dr. Lena Forensics")
    out.purpose.setText("chip-off examination")
    ok(out)
    current = tab.current_item()
    assert current is not None and current.checked_out and current.holder == "Dr. Lena Forensics"
    assert tab.model.index(0, ItemColumn.STATUS).data() == "checked out to Dr. Lena Forensics"
    assert "Dr. Lena Forensics" in tab.details.text()
    assert actions.checkin_action.isEnabled() and not actions.checkout_action.isEnabled()

    back = actions.check_in()
    assert isinstance(back, CheckoutDialog)
    assert back.other.text() == "Dr. Lena Forensics"
    back.purpose.setText("Evidence room 1, safe")
    ok(back)
    stored = evidence.get_item(session, item.id)
    assert not stored.checked_out and stored.storage_location == "Evidence room 1, safe"
    assert tab.model.index(0, ItemColumn.STATUS).data() == "in storage"
    _label, events = custody.timeline(session, item.id)
    assert [e.action for e in events][-2:] == ["checked_out", "checked_in"]
    assert events[-2].body["details"]["receiving"] == "Dr. Lena Forensics"


def test_annotate_changes_notes_and_tags(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files[:1])
    dialog = actions.annotate()
    assert isinstance(dialog, AnnotateDialog)
    dialog.notes.setPlainText("Mentions the harbour meeting")
    dialog.tags.setText("chat, harbour")
    dialog.reason.setText("first review")
    ok(dialog)
    item = tab.current_item()
    assert item is not None and item.tags == ("chat", "harbour")
    assert evidence.get_item(session, item.id).notes == "Mentions the harbour meeting"
    with qtbot.waitSignal(tab.loaded):
        tab.filter_edit.setText("harbour")
    assert len(tab.visible_items()) == 1


def test_search_by_hash_selects_the_item_in_its_case(qtbot: QtBot, admin_app: DesktopApp,
                                                     files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/002")
    ingest_via_dialog(qtbot, actions, files)
    target = next(i for i in tab.model.records() if i.original_name == "photo.jpg")
    select(qtbot, admin_app, "2026/001")

    assert actions.search_action.isEnabled()
    actions.search_action.trigger()  # Ctrl+K
    box = actions.search_box
    box.setText(target.sha256 or "")
    with qtbot.waitSignal(actions.searched) as searched:  # the search runs in the background
        qtbot.keyClick(box, Qt.Key.Key_Return)
    results = searched.args[0]
    assert isinstance(results, SearchResultsDialog) and results is actions.last_dialog
    assert results.list.count() == 1
    assert "photo.jpg" in results.list.item(0).text()
    results.list.itemActivated.emit(results.list.item(0))

    current = admin_app.window.browser.current_case()
    assert current is not None and current.number == "2026/002"
    tab = actions.current_tab()
    assert tab is not None
    assert admin_app.window.browser.tabs.currentWidget() is tab
    wait_loaded(qtbot, tab)  # the item is selected once the tab has read the case's items
    chosen = tab.current_item()
    assert isinstance(chosen, Item) and chosen.id == target.id
    # Text search finds it too.
    results.close()
    with qtbot.waitSignal(actions.searched) as searched:
        assert actions.search("chat-export") is not None
    results = searched.args[0]
    assert any("chat-export.txt" in results.list.item(i).text() for i in range(results.list.count()))


def test_auditor_cannot_add_or_extract(qtbot: QtBot, desktop: DesktopApp, vault_with_item: None) -> None:
    unlock_as(qtbot, desktop, Role.AUDITOR)
    _session, actions = parts(desktop)
    _case, tab = select(qtbot, desktop, "2026/001")
    assert tab.model.rowCount() == 1
    tab.select_items([tab.model.record_at(0).id])
    assert not actions.add_files_action.isEnabled()
    assert not actions.add_folder_action.isEnabled()
    assert not actions.add_physical_action.isEnabled()
    assert not actions.extract_action.isEnabled()
    assert not actions.annotate_action.isEnabled()
    assert actions.verify_action.isEnabled()
    assert actions.add_files() is None and actions.extract() is None
    enter, _drop, _mime = drop_event([Path(__file__)])
    QCoreApplication.sendEvent(tab.table.viewport(), enter)
    assert not enter.isAccepted()
    assert actions.ingest([Path(__file__)]) is None


@pytest.fixture
def vault_with_item(desktop: DesktopApp, tmp_path: Path) -> None:
    source = tmp_path / "seized.bin"
    source.write_bytes(b"evidence " * 100)
    with unlock(desktop.vault_path, NAMES[Role.ADMINISTRATOR], PASSPHRASES[Role.ADMINISTRATOR]) as session:
        evidence.add_files(session, "2026/001", [source])


def test_lock_clears_every_evidence_widget(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files)
    photo = next(i for i in tab.model.records() if i.original_name == "photo.jpg")
    tab.select_items([photo.id])
    actions.search_box.setText(photo.sha256 or "")
    with qtbot.waitSignal(actions.searched):
        qtbot.keyClick(actions.search_box, Qt.Key.Key_Return)
    assert isinstance(actions.last_dialog, SearchResultsDialog)

    with qtbot.waitSignal(admin_app.locked):
        admin_app.window.lock_action.trigger()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert tab.model.rowCount() == 0 and tab.details.item is None and tab.session is None
    assert actions.current_tab() is None
    assert actions.search_box.text() == ""
    window = admin_app.window
    secrets = (photo.sha256 or "", "photo.jpg", "chat-export.txt", (photo.sha256 or "")[:16])
    texts = [w.text() for w in window.findChildren(QLabel)] + [w.text() for w in window.findChildren(QLineEdit)]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert not any(d.isVisible() for d in window.findChildren(SearchResultsDialog))
    for table in window.findChildren(EvidenceTab):
        assert table.model.rowCount() == 0
    assert not actions.add_files_action.isEnabled() and not actions.search_action.isEnabled()


def test_failed_ingest_shows_the_error_and_adds_nothing(qtbot: QtBot, admin_app: DesktopApp,
                                                        files: list[Path]) -> None:
    session, actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/001")
    before = vault_files(admin_app)
    dialog = actions.ingest(files)
    assert isinstance(dialog, IngestDialog)
    files[1].unlink()  # gone between choosing and adding
    ok(dialog)
    qtbot.waitUntil(lambda: any(box.isVisible() for box in admin_app.window.findChildren(QMessageBox)
                                if box.objectName() == "errorDialog"), timeout=30_000)
    box = next(b for b in admin_app.window.findChildren(QMessageBox) if b.objectName() == "errorDialog")
    assert "photo.jpg" in box.text()
    assert actions.last_outcome is None
    assert tab.model.rowCount() == 0 and evidence.list_items(session, case.id) == []
    assert vault_files(admin_app) == before


def test_no_second_use_of_the_session_while_an_ingest_runs(qtbot: QtBot, admin_app: DesktopApp,
                                                            files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    select(qtbot, admin_app, "2026/001")
    dialog = actions.ingest(files)
    assert isinstance(dialog, IngestDialog)
    ok(dialog)
    op = actions.last_op
    assert op is not None and op.running
    assert actions.search("harbour") is None
    assert actions.add_physical() is None
    assert "wait" in admin_app.window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    assert actions.search("harbour") is not None


def test_progress_message_names_file_bytes_and_throughput() -> None:
    started = time.monotonic() - 2.0
    text = ingest_message("disk.img", 512 << 20, 1 << 30, started)
    assert text.startswith("Adding disk.img\n512.0 MiB of 1.0 GiB · ")
    assert text.endswith("MiB/s") and "25" in text  # ~256 MiB/s over the two seconds


def test_refused_input_keeps_the_dialog_open(qtbot: QtBot, admin_app: DesktopApp, files: list[Path],
                                             tmp_path: Path) -> None:
    session, actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/001")
    dialog = actions.add_physical()
    assert isinstance(dialog, PhysicalItemDialog)
    dialog.name.setText("Samsung S21")
    dialog.markings_editor.handling.setCurrentIndex(3)  # H3 needs its restriction stated
    ok(dialog)
    assert dialog.isVisible() and dialog.name.text() == "Samsung S21"
    error = next(b for b in dialog.findChildren(QMessageBox) if b.objectName() == "errorDialog")
    assert "H3" in error.text()
    assert evidence.list_items(session, case.id) == []
    error.accept()
    dialog.markings_editor.handling_text.setText("Only for the joint investigation team")
    with qtbot.waitSignal(tab.loaded):
        ok(dialog)
        assert not dialog.isVisible()
    assert [i.original_name for i in tab.model.records()] == ["Samsung S21"]

    ingest_via_dialog(qtbot, actions, files[1:])
    existing = tmp_path / "exists.jpg"
    existing.write_bytes(b"do not overwrite")
    extract = actions.extract()
    assert isinstance(extract, ExtractDialog)
    extract.path.setText(str(existing))
    extract.reason.setText("court copy")
    ok(extract)
    assert extract.isVisible() and "already exists" in extract.problem.text()
    assert existing.read_bytes() == b"do not overwrite"


def test_ingest_derived_from_an_existing_item(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    session, actions = parts(admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files[1:])
    image = tab.model.record_at(0)
    dialog = actions.ingest(files[:1])
    assert isinstance(dialog, IngestDialog)
    dialog.derived_from.setCurrentIndex(dialog.derived_from.findData(image.id))
    actions.last_outcome = None
    ok(dialog)
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    wait_loaded(qtbot, tab)
    carved = tab.current_item()
    assert carved is not None and carved.parent_id == image.id
    assert evidence.get_item(session, carved.id).parent_id == image.id
    assert f"{image.exhibit_number} — photo.jpg" in tab.details.text()


def test_an_empty_closed_case_does_not_invite_drops(qtbot: QtBot, admin_app: DesktopApp) -> None:
    session, _actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/002")
    assert "drop files here" in tab.count_label.text()
    admin_app.window.browser.update_case(cases.set_status(session, case.id, CaseStatus.CLOSED, "trial over"))
    assert tab.count_label.text() == "No items. The case is closed: it must be reopened before evidence is added."
    admin_app.window.browser.update_case(cases.set_status(session, case.id, CaseStatus.OPEN, "new lead"))
    assert "drop files here" in tab.count_label.text()


def test_closed_case_takes_no_new_evidence_and_unlock_shows_items_again(qtbot: QtBot, admin_app: DesktopApp,
                                                                        files: list[Path]) -> None:
    session, actions = parts(admin_app)
    case, tab = select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files[:1])
    assert actions.add_files_action.isEnabled() and tab.table.drops_enabled
    admin_app.window.browser.update_case(cases.set_status(session, case.id, CaseStatus.CLOSED, "trial over"))
    assert not actions.add_files_action.isEnabled() and not actions.add_physical_action.isEnabled()
    assert not tab.table.drops_enabled
    assert actions.ingest(files[1:]) is None

    with qtbot.waitSignal(admin_app.locked):
        admin_app.lock()
    unlock_as(qtbot, admin_app)
    _case, tab = select(qtbot, admin_app, "2026/001")
    assert [i.original_name for i in tab.model.records()] == ["chat-export.txt"]


def test_tab_leaves_the_ingest_description_instead_of_typing_a_tab(qtbot: QtBot, admin_app: DesktopApp,
                                                                   files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    select(qtbot, admin_app, "2026/001")
    dialog = actions.ingest(files)
    assert isinstance(dialog, IngestDialog)
    dialog.description.setFocus()
    qtbot.keyClicks(dialog.description, "laptop")
    qtbot.keyClick(dialog.description, Qt.Key.Key_Tab)
    assert dialog.description.toPlainText() == "laptop"
    dialog.reject()


def test_the_same_content_added_again_is_pointed_out(qtbot: QtBot, admin_app: DesktopApp, files: list[Path]) -> None:
    _session, actions = parts(admin_app)
    select(qtbot, admin_app, "2026/001")
    ingest_via_dialog(qtbot, actions, files[:1], "first copy")
    ingest_via_dialog(qtbot, actions, files[:1], "same file again")
    assert actions.last_outcome is not None and len(actions.last_outcome.duplicates) == 1
    boxes = [b for b in admin_app.window.findChildren(QMessageBox, "evidenceDoneDialog") if b.isVisible()]
    assert any(b.windowTitle() == "Same content added again" for b in boxes)


def test_search_by_the_shown_hash_prefix_and_a_capped_result_is_said(qtbot: QtBot, admin_app: DesktopApp,
                                                                    tmp_path: Path) -> None:
    session, actions = parts(admin_app)
    select(qtbot, admin_app, "2026/001")
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(55):
        (folder / f"log-{i:02d}.txt").write_text(f"quay log {i}\n")
    ingest_via_dialog(qtbot, actions, [folder], "quay logs")
    actions.search_action.trigger()
    actions.search_box.setText("quay")
    with qtbot.waitSignal(actions.searched) as searched:
        qtbot.keyClick(actions.search_box, Qt.Key.Key_Return)
    results = searched.args[0]
    assert isinstance(results, SearchResultsDialog)
    assert "The first 50 of 55" in results.summary.text()
    results.close()
    item = evidence.list_items(session, "2026/001")[0]
    assert item.sha256 is not None
    prefix = next(item.sha256[:n] for n in range(16, 64) if any(ch.isdigit() for ch in item.sha256[:n]))
    actions.search_box.setText(prefix)
    with qtbot.waitSignal(actions.searched) as searched:
        qtbot.keyClick(actions.search_box, Qt.Key.Key_Return)
    results = searched.args[0]
    assert isinstance(results, SearchResultsDialog)
    assert results.list.count() == 1 and "starts like this" in results.summary.text()
