"""The import wizard (Case → Import partner bundle), the "Bundles sent and received" dialog and the partners'
events in the timeline, offscreen, on two real agency vaults (NL sends, DE receives) and real bundles."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWizard
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import Cancelled, RefusedInput
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.custody_model import EventColumn
from icspa_desktop.gui.custody_tab import ItemCustodyDialog
from icspa_desktop.gui.import_wizard import ImportWizard, bundle_path
from icspa_desktop.gui.received_dialog import ReceivedDialog
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.gui.wizard_parts import PROGRESS_STEPS
from icspa_desktop.services import bundle_import, bundles, cases, receipts, users
from icspa_desktop.services.bundle_import import ImportResult, PreparedImport
from icspa_desktop.services.received import PartnerEventView
from tests.agency.conftest import PASS
from tests.bundle.exchange import CASE, Exchange, make_exchange
from tests.gui.conftest import make_app, wait_loaded

NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
BACK = QWizard.WizardButton.BackButton
FINISH = QWizard.WizardButton.FinishButton
IVAN_PASS = "ivan-investigates-2026"


@pytest.fixture
def exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exchange:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    ex = make_exchange(tmp_path)
    with ex.open_de() as de:
        users.add_user(de, "ivan", Role.INVESTIGATOR, IVAN_PASS)
    return ex


@pytest.fixture
def bundle(exchange: Exchange) -> bundles.ExportResult:
    return exchange.export()


@pytest.fixture
def de_app(qtbot: QtBot, qapp: QApplication, exchange: Exchange, settings: AppSettings) -> Iterator[DesktopApp]:
    """BKA's desktop (the recipient), showing its unlock dialog."""
    yield from make_app(qtbot, qapp, exchange.de, settings)


def unlock(qtbot: QtBot, app: DesktopApp, name: str = "admin", passphrase: str = PASS) -> None:
    dialog = app.unlock_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.user.setText(name)
    dialog.passphrase.setText(passphrase)
    with qtbot.waitSignal(app.unlocked, timeout=20_000):
        dialog.unlock_button.click()
    assert app.session is not None


def staged(vault: Path) -> list[Path]:
    folder = vault / "staging"
    return sorted(folder.iterdir()) if folder.exists() else []


def case_numbers(app: DesktopApp) -> list[str]:
    assert app.session is not None
    return sorted(c.number for c in cases.list_cases(app.session))


def open_wizard(qtbot: QtBot, app: DesktopApp) -> ImportWizard:
    action = app.window.import_bundle.action
    assert action.isEnabled() and action.shortcut().toString() == "Ctrl+Shift+I"
    app.window.import_bundle.targets = list  # no removable media here
    action.trigger()
    wizard = app.window.import_bundle.last_wizard
    assert isinstance(wizard, ImportWizard)
    qtbot.waitExposed(wizard)
    return wizard


def enter(qtbot: QtBot, wizard: ImportWizard) -> None:
    """Press Enter where the focus is (each page puts it in its first field)."""
    focused = wizard.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, Qt.Key.Key_Return)


def to_report(qtbot: QtBot, wizard: ImportWizard, path: Path) -> PreparedImport:
    """Type the path on the file page and press Enter; wait for the verification report."""
    assert wizard.currentPage() is wizard.file and wizard.focusWidget() is wizard.file.path
    assert not wizard.button(NEXT).isEnabled()
    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.file  # Enter does nothing while no file is chosen
    qtbot.keyClicks(wizard.file.path, str(path))
    assert wizard.button(NEXT).isEnabled()
    with qtbot.waitSignal(wizard.checked, timeout=60_000) as checked:
        enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.check
    prepared: PreparedImport = checked.args[0]
    return prepared


def test_import_by_keyboard_report_commit_receipt(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                                 bundle: bundles.ExportResult, tmp_path: Path) -> None:
    unlock(qtbot, de_app)
    before = case_numbers(de_app)
    wizard = open_wizard(qtbot, de_app)
    assert wizard.file.case.currentData() is None  # automatic placement by default
    prepared = to_report(qtbot, wizard, bundle.path)
    page = wizard.check

    # The report, before anything is committed.
    assert wizard.focusWidget() is page.checks and wizard.button(NEXT).isEnabled()
    assert page.verdict.isVisibleTo(wizard) and page.verdict.property("intact") == "true"
    assert "Nothing has been imported yet" in page.verdict.text()
    assert page.report.isVisibleTo(wizard) and not page.refusal.isVisibleTo(wizard)
    shown = [(page.checks.item(r, 0).text(), page.checks.item(r, 1).text()) for r in range(page.checks.rowCount())]
    assert [name for _mark, name in shown] == [c.name for c in prepared.checks]
    assert {"Outer seal", "Decryption", "Signature", "Recipients", "Manifests", "Custody"} <= {n for _m, n in shown}
    assert all(mark == "✔ passed" for mark, _name in shown)
    facts = {key: label.text() for key, label in page.facts.items()}
    assert "Politie NL (NL)" in facts["sender"] and prepared.partner.fingerprint in facts["sender"]
    assert facts["bundle"] == bundle.bundle_id and facts["sha256"] == bundle.sha256
    assert f"{bundle.size:,} bytes" in facts["size"]
    assert facts["case"] == f"{CASE} — Operation Nightjar"
    assert facts["target"].startswith(f"a new case {CASE}")
    assert "UTC" in facts["signed"] and "event(s) of theirs" in facts["custody"]
    assert page.items_model.rowCount() == 3
    rows = [[page.items_model.text(r, c) for c in range(7)] for r in range(3)]
    assert {r[1] for r in rows} == {"chat export.txt", "image-1.bin", "restricted.txt"}
    assert all(r[6] == "new" for r in rows)
    assert ["H2", "TLP:RED"] in [r[4:6] for r in rows]
    assert page.already.isHidden()
    assert staged(exchange.de)  # staged, encrypted, not yet in the vault
    assert case_numbers(de_app) == before

    enter(qtbot, wizard)
    assert wizard.currentPage() is wizard.confirm and wizard.focusWidget() is wizard.confirm.summary
    assert wizard.button(COMMIT).text().replace("&", "") == "Import"
    assert "3 new item(s)" in wizard.confirm.summary.toPlainText()
    with qtbot.waitSignal(wizard.imported, timeout=60_000) as imported:
        enter(qtbot, wizard)
    result: ImportResult = imported.args[0]
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.done_page)
    # The transaction showed its steps (items, the partner's events, ours, the commit) and ended full.
    importing = wizard.importing
    qtbot.waitUntil(lambda: importing.status.text() == "Committing")
    assert importing.bar.maximum() == PROGRESS_STEPS and importing.bar.value() == PROGRESS_STEPS
    done = wizard.done_page
    assert wizard.focusWidget() is done.case and done.case.text().startswith(CASE)
    assert "3 item(s) added" in done.added.text()
    assert staged(exchange.de) == []
    assert case_numbers(de_app) == sorted([*before, CASE])  # the case list was refreshed
    assert not wizard.button(BACK).isVisible()

    # The receipt: the save dialog proposes receipt-<id prefix>.txt; the signed file is accepted at NL.
    assert done.receipt_button.isEnabled()
    done.receipt_button.click()
    dialog = wizard.findChild(QFileDialog, "receiptSaveDialog")
    assert isinstance(dialog, QFileDialog)
    assert Path(dialog.selectedFiles()[0]).name == f"receipt-{bundle.bundle_id[:8]}.txt"
    out = tmp_path / f"receipt-{bundle.bundle_id[:8]}.txt"
    with qtbot.waitSignal(wizard.receipt_written, timeout=30_000):
        dialog.selectFile(str(out))
        dialog.accept()
    assert out.is_file() and "Receipt written" in done.receipt_hint.text()
    with exchange.open_nl() as nl:
        stored = receipts.import_receipt(nl, out)
        assert stored.partner_name == "BKA" and not stored.already
        (sent,) = bundles.list_sent(nl)
        assert sent.receipts and sent.receipts[0]["partner"] == "BKA"

    # Open case: the wizard closes on the imported case.
    with qtbot.waitSignal(wizard.finished, timeout=5_000):
        done.open_case.click()
    current = de_app.window.browser.current_case()
    assert current is not None and current.id == result.case.id


def test_timeline_and_details_show_the_partners_record(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                                      bundle: bundles.ExportResult) -> None:
    with exchange.open_de() as de:
        prepared = bundle_import.prepare_import(de, bundle.path)
        result = bundle_import.commit_import(de, prepared)
    unlock(qtbot, de_app)
    window = de_app.window
    assert window.browser.select_case(result.case.id)
    details = window.browser.details.values["provenance"]
    assert "Politie NL (NL), their case 2026/041" in details.text() and "read-only" in details.text()
    assert details.isVisibleTo(window)

    tab = window.custody.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab, de_app)
    shown = tab.timeline.visible_events()
    theirs = [e for e in shown if isinstance(e, PartnerEventView)]
    ours = [e for e in shown if not isinstance(e, PartnerEventView)]
    assert theirs and ours and "recorded by partners" in tab.timeline.count_label.text()
    assert theirs[0].action == "case_created" and shown.index(theirs[-1]) < shown.index(ours[0])  # time order
    model = tab.timeline.model
    row = shown.index(theirs[1])
    assert model.index(row, EventColumn.SOURCE).data().startswith("Politie NL #")
    assert model.index(shown.index(ours[0]), EventColumn.SOURCE).data() == "this agency"
    assert model.index(row, EventColumn.INDEX).data() == ""  # their number is not one of ours
    assert model.index(row, EventColumn.SOURCE).data(Qt.ItemDataRole.BackgroundRole) is not None
    tab.timeline.select_row(row)
    assert "Recorded by Politie NL" in tab.timeline.details.toPlainText()

    # The item: provenance in its details, the partner's events in its own timeline.
    evidence_tab = window.evidence.current_tab()
    assert evidence_tab is not None
    wait_loaded(qtbot, evidence_tab, de_app)
    item = next(i for i in result.added if i.original_name == "chat export.txt")
    assert evidence_tab.select_items([item.id])
    text = evidence_tab.details.text()
    assert "Received from" in text and "their exhibit 2026/041-001" in text and bundle.bundle_id in text
    assert "read-only" in text
    session = de_app.session
    assert session is not None
    dialog = ItemCustodyDialog(session, item.id, window)
    qtbot.addWidget(dialog)
    actions = [(type(e).__name__, e.action) for e in dialog.timeline.visible_events()]
    assert ("PartnerEventView", "acquired") in actions and ("StoredEvent", "imported") in actions
    assert [a for _kind, a in actions].index("acquired") < [a for _kind, a in actions].index("imported")


def test_tampered_bundle_is_refused_and_nothing_stays(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                                     bundle: bundles.ExportResult) -> None:
    data = bytearray(bundle.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    bundle.path.write_bytes(bytes(data))
    unlock(qtbot, de_app)
    before = case_numbers(de_app)
    wizard = open_wizard(qtbot, de_app)
    qtbot.keyClicks(wizard.file.path, str(bundle.path))
    with qtbot.waitSignal(wizard.check_failed, timeout=60_000) as failed:
        enter(qtbot, wizard)
    assert isinstance(failed.args[0], RefusedInput)
    page = wizard.check
    assert page.title() == "Bundle refused"
    assert page.verdict.property("intact") == "false" and "nothing was imported" in page.verdict.text()
    assert page.refusal.isVisibleTo(wizard) and not page.report.isVisibleTo(wizard)
    assert str(failed.args[0]) in page.refusal.toPlainText()  # the service's message, in full
    assert wizard.focusWidget() is page.refusal
    assert not wizard.button(NEXT).isEnabled() and wizard.button(BACK).isEnabled()
    enter(qtbot, wizard)
    assert wizard.currentPage() is page  # no way forward
    assert staged(exchange.de) == [] and case_numbers(de_app) == before
    wizard.back()
    assert wizard.currentPage() is wizard.file
    wizard.reject()
    assert not wizard.isVisible()


def test_cancel_or_back_after_the_report_discards_the_staged_payload(qtbot: QtBot, de_app: DesktopApp,
                                                                    exchange: Exchange,
                                                                    bundle: bundles.ExportResult) -> None:
    unlock(qtbot, de_app)
    before = case_numbers(de_app)
    wizard = open_wizard(qtbot, de_app)
    to_report(qtbot, wizard, bundle.path)
    assert staged(exchange.de)
    wizard.back()  # Back discards too
    assert wizard.currentPage() is wizard.file and staged(exchange.de) == []
    with qtbot.waitSignal(wizard.checked, timeout=60_000):
        enter(qtbot, wizard)
    assert staged(exchange.de)
    with qtbot.waitSignal(wizard.finished, timeout=5_000):
        qtbot.keyClick(wizard.check.checks, Qt.Key.Key_Escape)  # not working any more: no question
    assert staged(exchange.de) == [] and case_numbers(de_app) == before
    session = de_app.session
    assert session is not None
    assert bundle_import.list_received(session) == []


def test_stop_while_checking_asks_first_and_leaves_nothing(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                                          bundle: bundles.ExportResult) -> None:
    unlock(qtbot, de_app)
    gate = threading.Event()

    def gated_prepare(*args: Any, progress: Any, cancel: Any) -> PreparedImport:
        def report(done: int, total: int, message: str) -> None:
            progress(done, total, message)
            if done and not gate.is_set():
                assert gate.wait(30)  # hold the check mid-bundle until the GUI has stopped it

        return bundle_import.prepare_import(*args, progress=report, cancel=cancel)

    de_app.window.import_bundle.prepare = gated_prepare
    wizard = open_wizard(qtbot, de_app)
    qtbot.keyClicks(wizard.file.path, str(bundle.path))
    with qtbot.waitSignal(wizard.progressed, timeout=30_000):
        enter(qtbot, wizard)
    page = wizard.check
    assert page.checking() and wizard.focusWidget() is page.bar and not wizard.button(NEXT).isEnabled()
    qtbot.keyClick(page.bar, Qt.Key.Key_Escape)  # asks; Escape on the question keeps checking
    question = wizard.findChild(QMessageBox, "stopCheckingQuestion")
    assert isinstance(question, QMessageBox) and wizard.isVisible()
    assert question.defaultButton().text().replace("&", "") == "Continue checking"
    qtbot.keyClick(question, Qt.Key.Key_Escape)
    assert page.checking() and page.op is not None and not page.op.cancel_token.cancelled
    with qtbot.waitSignal(wizard.check_failed, timeout=30_000) as failed:
        page.stop.click()
        gate.set()
    assert isinstance(failed.args[0], Cancelled)
    assert "Stopped by you" in page.verdict.text() and staged(exchange.de) == []
    assert wizard.button(BACK).isEnabled() and not wizard.button(NEXT).isEnabled()


def test_back_while_checking_waits_for_the_check_to_end_before_another(qtbot: QtBot, de_app: DesktopApp,
                                                                      exchange: Exchange,
                                                                      bundle: bundles.ExportResult) -> None:
    unlock(qtbot, de_app)
    gate = threading.Event()

    def gated_prepare(*args: Any, progress: Any, cancel: Any) -> PreparedImport:
        def report(done: int, total: int, message: str) -> None:
            progress(done, total, message)
            if done and not gate.is_set():
                assert gate.wait(30)

        return bundle_import.prepare_import(*args, progress=report, cancel=cancel)

    de_app.window.import_bundle.prepare = gated_prepare
    wizard = open_wizard(qtbot, de_app)
    qtbot.keyClicks(wizard.file.path, str(bundle.path))
    with qtbot.waitSignal(wizard.progressed, timeout=30_000):
        enter(qtbot, wizard)
    stopping = wizard.check.op
    assert stopping is not None and stopping.running
    wizard.back()  # the check is cancelled, but it still holds the session until it ends
    assert wizard.currentPage() is wizard.file and stopping.cancel_token.cancelled
    assert not wizard.button(NEXT).isEnabled() and "Stopping the previous check" in wizard.file.hint.text()
    gate.set()
    qtbot.waitUntil(lambda: wizard.button(NEXT).isEnabled(), timeout=30_000)
    assert staged(exchange.de) == [] and wizard.check.prepared is None
    with qtbot.waitSignal(wizard.checked, timeout=60_000):
        enter(qtbot, wizard)
    assert wizard.check.prepared is not None and wizard.button(NEXT).isEnabled()
    wizard.reject()
    assert staged(exchange.de) == []


def test_an_already_imported_bundle_changes_nothing(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                                   bundle: bundles.ExportResult) -> None:
    with exchange.open_de() as de:
        first = bundle_import.commit_import(de, bundle_import.prepare_import(de, bundle.path))
    unlock(qtbot, de_app)
    before = case_numbers(de_app)
    session = de_app.session
    assert session is not None
    events = int(session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0])
    wizard = open_wizard(qtbot, de_app)
    to_report(qtbot, wizard, bundle.path)
    page = wizard.check
    assert page.already.isVisibleTo(wizard)
    assert f"into case {first.case.number}" in page.already.text() and "changes nothing" in page.already.text()
    assert all(page.items_model.text(r, 6) == "already held" for r in range(3))
    assert page.facts["target"].text().startswith(f"case {first.case.number}")
    enter(qtbot, wizard)
    assert "Nothing will change" in wizard.confirm.summary.toPlainText()
    assert wizard.button(COMMIT).text().replace("&", "") == "Continue"
    with qtbot.waitSignal(wizard.imported, timeout=60_000) as imported:
        enter(qtbot, wizard)
    assert imported.args[0].already_imported
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.done_page)
    assert wizard.done_page.title() == "Nothing changed"
    assert case_numbers(de_app) == before and staged(exchange.de) == []
    assert int(session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0]) == events
    with qtbot.waitSignal(wizard.finished, timeout=5_000):
        enter(qtbot, wizard)  # Finish


def test_a_chosen_case_receives_the_bundle(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                           bundle: bundles.ExportResult) -> None:
    with exchange.open_de() as de:
        ours = cases.create_case(de, CaseFields("DE-2026-7", "Hafen"))
    unlock(qtbot, de_app)
    wizard = open_wizard(qtbot, de_app)
    combo = wizard.file.case
    combo.setCurrentIndex(combo.findData(ours.id))
    assert wizard.file.case_ref() == ours.id
    to_report(qtbot, wizard, bundle.path)
    assert wizard.check.facts["target"].text() == "case DE-2026-7 — Hafen"
    enter(qtbot, wizard)
    with qtbot.waitSignal(wizard.imported, timeout=60_000) as imported:
        enter(qtbot, wizard)
    assert imported.args[0].case.id == ours.id and len(imported.args[0].added) == 3
    assert CASE not in case_numbers(de_app)


def test_investigator_imports_but_cannot_sign_the_receipt(qtbot: QtBot, de_app: DesktopApp,
                                                         bundle: bundles.ExportResult) -> None:
    unlock(qtbot, de_app, "ivan", IVAN_PASS)
    wizard = open_wizard(qtbot, de_app)
    to_report(qtbot, wizard, bundle.path)
    enter(qtbot, wizard)
    with qtbot.waitSignal(wizard.imported, timeout=60_000):
        enter(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.done_page)
    button = wizard.done_page.receipt_button
    assert not button.isEnabled() and "an administrator or a supervisor" in button.toolTip()
    assert "administrator or a supervisor" in wizard.done_page.receipt_hint.text()
    assert wizard.done_page.choose_receipt_file() is None


def test_received_and_sent_lists_and_recording_a_receipt(qtbot: QtBot, exchange: Exchange,
                                                         bundle: bundles.ExportResult, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.txt"
    with exchange.open_de() as de:
        bundle_import.commit_import(de, bundle_import.prepare_import(de, bundle.path))
        dialog = ReceivedDialog(de)
        qtbot.addWidget(dialog)
        assert dialog.received.rowCount() == 1 and dialog.sent.rowCount() == 0
        cells = [dialog.received.item(0, c).text() for c in range(dialog.received.columnCount())]
        assert cells[1] == "Politie NL" and cells[2] == CASE and cells[3] == "3" and cells[7] == bundle.bundle_id
        assert cells[6] == "not yet"
        assert cells[5] == bundle.sha256[:16] + "…"
        assert dialog.write_button.isEnabled()
        with qtbot.waitSignal(dialog.receipt_written, timeout=30_000):
            dialog.write_receipt(bundle.bundle_id, receipt)
        assert receipt.is_file() and dialog.outcome.property("intact") == "true"
        dialog.close()
    broken = tmp_path / "broken.txt"
    broken.write_bytes(receipt.read_bytes().replace(b"verified and imported", b"verified and Imported"))
    with exchange.open_nl() as nl:
        dialog = ReceivedDialog(nl)
        qtbot.addWidget(dialog)
        assert dialog.sent.rowCount() == 1 and dialog.sent.item(0, 5).text() == "no receipt yet"
        assert dialog.sent.item(0, 2).text() == "BKA" and dialog.sent.item(0, 4).text() == "written"
        with qtbot.waitSignal(dialog.failed, timeout=30_000) as failed:
            dialog.record_receipt(broken)
        assert isinstance(failed.args[0], RefusedInput)
        assert dialog.outcome.property("intact") == "false" and "signature" in dialog.outcome.text()
        assert dialog.tabs.currentIndex() == 1 and dialog.sent.item(0, 5).text() == "no receipt yet"
        with qtbot.waitSignal(dialog.receipt_recorded, timeout=30_000):
            dialog.record_receipt(receipt)
        assert dialog.outcome.property("intact") == "true" and "Transfer completed" in dialog.outcome.text()
        assert dialog.sent.item(0, 5).text().startswith("receipt from BKA on ")
        with qtbot.waitSignal(dialog.receipt_recorded, timeout=30_000):
            dialog.record_receipt(receipt)
        assert "recorded before; nothing changed" in dialog.outcome.text()
        dialog.close()


def test_volume_names_are_read_as_the_bundle(tmp_path: Path) -> None:
    assert bundle_path(f"{tmp_path}/x.icspa.001") == tmp_path / "x.icspa"
    assert bundle_path(f" {tmp_path}/x.icspa ") == tmp_path / "x.icspa"
    assert bundle_path("~/b.icspa.002") == Path.home() / "b.icspa"


def test_file_page_accepts_volumes_and_opens_on_the_removable_medium(qtbot: QtBot, de_app: DesktopApp,
                                                                    tmp_path: Path) -> None:
    unlock(qtbot, de_app)
    stick = tmp_path / "STICK"
    stick.mkdir()
    from icspa_desktop.bundle.mounts import MountTarget

    de_app.window.import_bundle.targets = lambda: [MountTarget(stick, "/dev/sdb1", "vfat", 1 << 30, 2 << 30, True,
                                                               True)]
    de_app.window.import_bundle.action.trigger()
    wizard = de_app.window.import_bundle.last_wizard
    assert isinstance(wizard, ImportWizard)
    page = wizard.file
    assert page.start_folder() == stick
    for n in (1, 2):
        (stick / f"big.icspa.{n:03d}").write_bytes(b"x" * 10)
    page.path.setText(str(stick / "big.icspa.001"))
    assert wizard.button(NEXT).isEnabled() and page.chosen() == stick / "big.icspa"
    assert "2 volume(s)" in page.hint.text()
    page.path.setText(str(stick / "missing.icspa"))
    assert not wizard.button(NEXT).isEnabled() and "does not exist" in page.error.text()
    page.path.setText(str(stick))
    assert "is a folder" in page.error.text()
    wizard.reject()


def test_lock_while_on_the_report_discards_and_closes(qtbot: QtBot, de_app: DesktopApp, exchange: Exchange,
                                                     bundle: bundles.ExportResult) -> None:
    unlock(qtbot, de_app)
    wizard = open_wizard(qtbot, de_app)
    to_report(qtbot, wizard, bundle.path)
    assert staged(exchange.de)
    with qtbot.waitSignal(de_app.locked, timeout=10_000):
        de_app.lock()
    assert staged(exchange.de) == []
    with exchange.open_de() as de:
        assert CASE not in [c.number for c in cases.list_cases(de)]
        assert bundle_import.list_received(de) == []
