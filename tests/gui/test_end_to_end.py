"""Issue 11's end-to-end run, offscreen, through the windows a user works with: a vault made with the first-run
wizard → unlock → a case from the New case dialog → evidence dropped on the table → verified → sent with the export
wizard → imported into a second agency's vault with the import wizard, its receipt written → the receipt recorded
back home → both timelines show both agencies' events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QWizard
from pytestqt.qtbot import QtBot

from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.evidence_dialogs import IngestDialog
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.services import agency, bundles, cases, partners, receipts
from icspa_desktop.services.bundle_import import ImportResult
from icspa_desktop.services.received import PartnerEventView
from icspa_desktop.services.session import unlock
from tests.agency.conftest import PASS as DE_PASS
from tests.agency.conftest import make_agency_vault
from tests.gui import test_bundle_wizard as export_ui
from tests.gui import test_import_wizard as import_ui
from tests.gui.conftest import make_app, wait_loaded
from tests.gui.test_evidence_gui import drop_event
from tests.gui.test_wizard import PASS as NL_PASS
from tests.gui.test_wizard import _fill_until_passphrase

CASE = "2026/041"


def _create_and_unlock(qtbot: QtBot, app: DesktopApp, location: Path) -> None:
    wizard = app.wizard
    assert wizard is not None and wizard.isVisible()
    _fill_until_passphrase(wizard, location)
    wizard.passphrase_page.passphrase.setText(NL_PASS)
    wizard.passphrase_page.repeat.setText(NL_PASS)
    wizard.button(QWizard.WizardButton.CommitButton).click()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.recovery_page, timeout=30_000)
    wizard.recovery_page.confirm.setChecked(True)
    wizard.button(QWizard.WizardButton.FinishButton).click()
    import_ui.unlock(qtbot, app, "alice", NL_PASS)


def _finish(run: Iterator[DesktopApp]) -> None:
    """Quit the app as make_app's teardown does (runs the rest of the generator)."""
    for _app in run:
        raise AssertionError("make_app yields one app")


def _timeline(qtbot: QtBot, app: DesktopApp, case_id: str) -> list[object]:
    window = app.window
    assert window.browser.select_case(case_id)
    tab = window.custody.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab, app)
    return list(tab.timeline.visible_events())


def test_a_case_goes_from_one_agency_to_another_and_back_through_the_windows(
        qtbot: QtBot, qapp: QApplication, tmp_path: Path, settings: AppSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    nl_path = tmp_path / "nl" / "vault"
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "chat export.txt").write_text("meeting at the harbour, 23:00\n" * 200)
    (seized / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)
    usb = tmp_path / "usb"
    usb.mkdir()
    de_path = make_agency_vault(tmp_path / "de", "Bundeskriminalamt", "DE")

    # NL: the first-run wizard makes the vault; unlocked, the agency cards are exchanged (the partner dialogs
    # have their own tests); a case from the New case dialog; the seized files dropped on its evidence table.
    nl_app_run = make_app(qtbot, qapp, nl_path, settings)
    nl = next(nl_app_run)
    _create_and_unlock(qtbot, nl, nl_path)
    nl_session = nl.session
    assert nl_session is not None
    with unlock(de_path, "admin", DE_PASS) as de:
        de_identity = agency.agency_identity(de)
        nl_identity = agency.agency_identity(nl_session)
        partners.add_partner(de, "Politie Rotterdam", "NL", nl_identity.age_recipient,
                             nl_identity.certificate.public_bytes(serialization.Encoding.PEM))
    partners.add_partner(nl_session, "BKA", "DE", de_identity.age_recipient,
                         de_identity.certificate.public_bytes(serialization.Encoding.PEM))
    window = nl.window
    dialog = window.new_case()
    assert dialog is not None
    dialog.number.setText(CASE)
    dialog.title.setText("Operation Nightjar")
    with qtbot.waitSignal(dialog.saved):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    case = cases.get_case(nl_session, CASE)
    assert window.browser.select_case(case.id)
    actions = window.evidence
    tab = actions.current_tab()
    assert tab is not None
    wait_loaded(qtbot, tab, nl)
    enter_event, drop, _mime = drop_event([seized])
    QCoreApplication.sendEvent(tab.table.viewport(), enter_event)
    QCoreApplication.sendEvent(tab.table.viewport(), drop)
    ingest = actions.last_dialog
    assert isinstance(ingest, IngestDialog) and ingest.paths == [seized]
    actions.last_outcome = None
    ingest.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: actions.last_outcome is not None, timeout=30_000)
    wait_loaded(qtbot, tab)
    assert tab.model.rowCount() == 2

    # Verified, then sent to BKA with the export wizard.
    tab.table.clearSelection()
    actions.last_fixity_dialog = None
    actions.verify_action.trigger()
    qtbot.waitUntil(lambda: actions.last_fixity_dialog is not None, timeout=30_000)
    result = actions.last_fixity_dialog
    assert result is not None and result.summary.property("intact") == "true"
    result.reject()
    wizard = export_ui.open_wizard(qtbot, nl, CASE)
    export_ui.to_target_page(qtbot, wizard, usb)
    with qtbot.waitSignal(wizard.bundle_written, timeout=60_000) as written:
        export_ui.enter(qtbot, wizard)
    sent: bundles.ExportResult = written.args[0]
    assert "Read back and verified" in wizard.done_page.verified.text()
    with qtbot.waitSignal(wizard.finished, timeout=5_000):
        export_ui.enter(qtbot, wizard)
    _finish(nl_app_run)

    # BKA: the import wizard checks and imports the bundle, and writes the signed receipt.
    de_app_run = make_app(qtbot, qapp, de_path, settings)
    de_app = next(de_app_run)
    import_ui.unlock(qtbot, de_app)
    importer = import_ui.open_wizard(qtbot, de_app)
    import_ui.to_report(qtbot, importer, sent.path)
    assert importer.check.verdict.property("intact") == "true"
    import_ui.enter(qtbot, importer)
    with qtbot.waitSignal(importer.imported, timeout=60_000) as imported:
        import_ui.enter(qtbot, importer)
    received: ImportResult = imported.args[0]
    qtbot.waitUntil(lambda: importer.currentPage() is importer.done_page)
    importer.done_page.receipt_button.click()
    save = importer.findChild(QFileDialog, "receiptSaveDialog")
    assert isinstance(save, QFileDialog)
    receipt = tmp_path / "receipt.txt"
    with qtbot.waitSignal(importer.receipt_written, timeout=30_000):
        save.selectFile(str(receipt))
        save.accept()
    with qtbot.waitSignal(importer.finished, timeout=5_000):
        importer.done_page.open_case.click()
    # BKA's timeline: Politie's events as they signed them, and BKA's own (the import, the receipt).
    shown = _timeline(qtbot, de_app, received.case.id)
    theirs = [e for e in shown if isinstance(e, PartnerEventView)]
    ours = [e for e in shown if not isinstance(e, PartnerEventView)]
    assert {"case_created", "acquired", "bundled"} <= {e.action for e in theirs}
    assert {"imported", "receipt_issued"} <= {str(getattr(e, "action", "")) for e in ours}
    _finish(de_app_run)

    # Back at NL: the receipt recorded; NL's timeline holds its own events and BKA's receipt of the transfer.
    nl_app_run = make_app(qtbot, qapp, nl_path, settings)
    nl = next(nl_app_run)
    import_ui.unlock(qtbot, nl, "alice", NL_PASS)
    assert nl.session is not None
    stored = receipts.import_receipt(nl.session, receipt)
    assert stored.partner_name == "BKA"
    actions_nl = [str(getattr(e, "action", "")) for e in _timeline(qtbot, nl, case.id)]
    assert {"case_created", "acquired", "verified", "bundled", "transferred", "receipt_received"} <= set(actions_nl)
    _finish(nl_app_run)
