"""The case, evidence and custody parts of the desktop in German and French: real widgets offscreen on a real
vault, the language chosen as a user would (ICSPA_LANG)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from icspa_desktop import i18n
from icspa_desktop.custody.verify import Damage, DamageKind
from icspa_desktop.domain.enums import CaseStatus, Role
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.gui.case_dialog import CaseDialog
from icspa_desktop.gui.case_status_dialog import CaseStatusDialog
from icspa_desktop.gui.custody_model import EventColumn
from icspa_desktop.gui.custody_tab import CustodyTab
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
from icspa_desktop.gui.models import CaseColumn
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.gui.verify_dialog import VerifyResultDialog
from icspa_desktop.services import cases, evidence, physical
from icspa_desktop.services.custody_verify import VerifyReport
from tests.conftest import VaultInfo
from tests.gui.conftest import make_app, unlock_as, wait_loaded
from tests.i18n.test_gui_language import ALL_LANGUAGES, clashes, menus, screen_texts

CASE_NUMBER = "2026/017"


@pytest.fixture
def app_in(qtbot: QtBot, qapp: QApplication, vault: VaultInfo, tmp_path: Path,
           use_language: Callable[[str], None]) -> Iterator[Callable[[str, Role], DesktopApp]]:
    """``app_in("de", role)``: the app started in that language on a vault with one case and one physical item,
    unlocked as ``role``."""
    with vault.session() as session:
        case = cases.create_case(session, CaseFields(CASE_NUMBER, "Harbour ransomware"))
        physical.add_physical(session, case.id, "Phone", ItemFields(storage_location="Room 2"))
    started: list[Iterator[DesktopApp]] = []

    def start(language: str, role: Role = Role.ADMINISTRATOR) -> DesktopApp:
        use_language(language)
        apps = make_app(qtbot, qapp, vault.path, AppSettings(tmp_path / "config" / "desktop.ini"))
        started.append(apps)
        app = next(apps)
        unlock_as(qtbot, app, role)
        return app

    yield start
    for apps in started:
        next(apps, None)  # the app's own clean-up (lock, close)


def the_case(app: DesktopApp) -> Case:
    assert app.session is not None
    case = cases.get_case(app.session, CASE_NUMBER)
    assert app.window.browser.select_case(case.id)
    return case


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_the_evidence_and_custody_menus_and_dialogs_have_unique_mnemonics(
        language: str, app_in: Callable[[str, Role], DesktopApp], tmp_path: Path) -> None:
    """Each menu this part builds, and each of its forms, in every language — the entries still in English
    counted too."""
    app = app_in(language, Role.ADMINISTRATOR)
    window = app.window
    found = menus(window)
    assert clashes(list(found)) == []
    for title in (i18n._("&Evidence"), i18n._("C&ustody")):
        entries = [action.text() for action in found[title].actions() if not action.isSeparator()]
        assert len(entries) >= 6 and clashes(entries) == [], \
            f"{language} {title}: {entries}"
    case = the_case(app)
    assert app.session is not None
    item = evidence.list_items(app.session, case.id)[0]
    dialogs: list[QDialog] = [
        CaseDialog(lambda fields, reason: case, None, window), CaseDialog(lambda fields, reason: case, case, window),
        CaseStatusDialog(case, CaseStatus.CLOSED, window), CaseStatusDialog(case, CaseStatus.OPEN, window),
        IngestDialog(case, [tmp_path], (), [item], window), PhysicalItemDialog(case, window),
        CheckoutDialog(item, False, "Alice Admin", window), CheckoutDialog(item, True, "Alice Admin", window),
        ExtractDialog(item, tmp_path / "copy.bin", window), AnnotateDialog(item, window),
    ]
    for dialog in dialogs:
        dialog.show()
        texts = screen_texts(dialog)
        assert len(texts) >= 2 and clashes(texts) == [], f"{language} {dialog.windowTitle()}: {texts}"
        dialog.close()
        dialog.deleteLater()


@pytest.mark.parametrize(("language", "words"), [
    ("de", {"status": "Geschlossen", "count": "1 Asservat", "kind": "physisch", "in storage": "eingelagert",
            "header": "Zeit", "created": "Fall angelegt", "time": r"^\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d",
            "heading": f"Beweismittelkette des Falls {CASE_NUMBER}"}),
    ("fr", {"status": "Close", "count": "1 scellé", "kind": "physique", "in storage": "en conservation",
            "header": "Heure", "created": "affaire créée", "time": r"^\d\d/\d\d/\d{4} \d\d:\d\d:\d\d",
            "heading": f"Chaîne de possession de l'affaire {CASE_NUMBER}"}),
])
def test_the_case_list_the_evidence_tab_and_the_timeline_speak_the_language(
        language: str, words: dict[str, str], qtbot: QtBot, app_in: Callable[[str, Role], DesktopApp]) -> None:
    app = app_in(language, Role.ADMINISTRATOR)
    assert app.session is not None
    case = the_case(app)
    cases.set_status(app.session, case.id, CaseStatus.CLOSED, "concluded")
    case = cases.get_case(app.session, case.id)
    app.window.browser.update_case(case)
    browser = app.window.browser
    row = browser.model.row_of(case.id)
    assert row is not None
    assert browser.model.text_at(row, CaseColumn.STATUS) == words["status"]
    assert browser.details.values["status"].text() == words["status"]
    assert "UTC" in browser.details.values["created"].text()  # the details give UTC beside the local time
    assert re.match(words["time"], browser.model.text_at(row, CaseColumn.UPDATED))
    assert "UTC" in str(browser.model.index(row, CaseColumn.UPDATED).data(Qt.ItemDataRole.ToolTipRole))

    tab = browser.case_tab(EvidenceTab)
    assert tab is not None
    browser.tabs.setCurrentWidget(tab)
    wait_loaded(qtbot, tab, app)
    assert tab.count_label.text() == words["count"]
    assert tab.model.text_at(0, ItemColumn.KIND) == words["kind"]
    assert tab.model.text_at(0, ItemColumn.STATUS) == words["in storage"]
    assert re.match(words["time"], tab.model.text_at(0, ItemColumn.ACQUIRED))

    custody = browser.case_tab(CustodyTab)
    assert custody is not None
    browser.tabs.setCurrentWidget(custody)
    wait_loaded(qtbot, custody, app)
    timeline = custody.timeline
    assert custody.heading.text() == words["heading"]
    assert timeline.model.headerData(EventColumn.TIME, Qt.Orientation.Horizontal) == words["header"]
    actions = [timeline.model.text_at(row, EventColumn.ACTION) for row in range(timeline.model.rowCount())]
    assert words["created"] in actions
    time_cell = timeline.model.index(0, EventColumn.TIME)
    assert re.match(words["time"], str(time_cell.data()))
    assert "UTC" in str(time_cell.data(Qt.ItemDataRole.ToolTipRole))
    # The time column sorts by the events' order, not by the text (a German date text sorts by day first).
    with qtbot.waitSignal(custody.loaded):  # read again in the background, in the new order
        timeline.table.sortByColumn(EventColumn.TIME, Qt.SortOrder.DescendingOrder)
    moments = [event.at for event in timeline.visible_events()]
    assert moments == sorted(moments, reverse=True) and len(moments) >= 3
    timeline.select_row(0)
    assert "UTC" in timeline.details.toPlainText()


@pytest.mark.parametrize(("language", "denial"), [
    ("de", "Nicht für Ihre Rolle (Prüfer): Nur Administratoren, Vorgesetzte und Ermittler dürfen Beweismittel "
           "hinzufügen."),
    ("fr", "Pas pour votre rôle (auditeur) : seuls les administrateurs, les superviseurs et les enquêteurs peuvent "
           "ajouter des scellés."),
])
def test_an_action_off_for_the_role_says_why_in_the_language(language: str, denial: str,
                                                            app_in: Callable[[str, Role], DesktopApp]) -> None:
    app = app_in(language, Role.AUDITOR)
    the_case(app)
    action = app.window.evidence.add_files_action
    assert not action.isEnabled()
    assert action.toolTip().endswith(denial), action.toolTip()
    assert action.statusTip().startswith(i18n._("Ingest files into the selected case"))


@pytest.mark.parametrize(("language", "intact", "damaged", "fixity"), [
    ("de", "Die Beweismittelkette ist intakt: alle 12 Ereignisse geprüft.",
     "Die Beweismittelkette ist beschädigt: 1 Problem gefunden.",
     "Unter den Asservaten von Fall 2026/017 gab es keinen gespeicherten Inhalt zum Prüfen"),
    ("fr", "La chaîne de possession est intacte : les 12 événements ont été vérifiés.",
     "La chaîne de possession est endommagée : 1 problème trouvé.",
     "Il n'y avait aucun contenu stocké à vérifier parmi les scellés de l'affaire 2026/017"),
])
def test_the_verification_results_speak_the_language(language: str, intact: str, damaged: str, fixity: str,
                                                     qtbot: QtBot, use_language: Callable[[str], None]) -> None:
    use_language(language)
    good = VerifyResultDialog(VerifyReport("v", "full", tree_size=12, events_checked=12))
    qtbot.addWidget(good)
    assert good.summary.text() == intact
    assert good.windowTitle() == i18n._("Custody verification") != "Custody verification"
    bad = VerifyResultDialog(VerifyReport("v", "incremental", tree_size=12, damages=[
        Damage(DamageKind.GAP, "events 4-5 are missing", event_index=4)]))
    qtbot.addWidget(bad)
    assert bad.summary.text() == damaged
    details = bad.details.toPlainText()
    assert i18n._("Events are missing from the log: some were deleted.") in details
    assert "events 4-5 are missing" in details  # the service's own message, as it is
    result = FixityResultDialog([], case_number=CASE_NUMBER)
    qtbot.addWidget(result)
    assert result.summary.text().startswith(fixity)
