"""The bundle wizards, the Agency pages and the Vault dialogs in German and French: real widgets offscreen on a
real vault. Every page and dialog keeps its mnemonics unique (with Qt's own buttons in the language), the
texts are the translations, and dates are the reader's (``i18n.format_moment``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QWidget, QWizard
from pytestqt.qtbot import QtBot

from icspa_desktop import i18n
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.gui.agency_dialog import AgencyDialog
from icspa_desktop.gui.agency_forms import ImportCertificateDialog, ReplaceIdentityDialog
from icspa_desktop.gui.bundle_wizard import BundleWizard
from icspa_desktop.gui.card_import_dialog import AddPartnerDialog, CardImportDialog
from icspa_desktop.gui.import_wizard import ImportWizard
from icspa_desktop.gui.language_dialog import install_qt_translations
from icspa_desktop.gui.partners_dialog import PartnersDialog
from icspa_desktop.gui.passphrase_dialog import ChangePassphraseDialog
from icspa_desktop.gui.received_dialog import ReceivedDialog
from icspa_desktop.gui.recovery_dialog import RecoveryDialog
from icspa_desktop.gui.restore_dialog import RestoreDialog
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.gui.settings_dialog import SettingsDialog
from icspa_desktop.gui.users_dialog import AddUserDialog, UsersDialog
from icspa_desktop.gui.wizard_parts import Wizard
from icspa_desktop.services import agency, cases, partners
from icspa_desktop.services.session import Session
from tests.gui.test_agency_gui import OtherAgency, other_agency
from tests.i18n.test_gui_language import clashes, screen_texts

TRANSLATED = ["de", "fr"]
MNEMONICS_IN = [*TRANSLATED, "en"]  # English too: its own mnemonics are unique as well
W = QWizard.WizardButton


def in_language(language: str, use_language: Callable[[str], None]) -> None:
    use_language(language)
    install_qt_translations(language)  # Qt's own buttons (Cancel, Back, Next…) in the language, as the app does


def wizard_pages(wizard: Wizard) -> list[tuple[str, list[str]]]:
    """Each page's title and what carries a mnemonic on it, with the wizard's buttons shown there."""
    found = []
    for index, page in enumerate(wizard.pages):
        if page.isFinalPage():
            shown = {W.FinishButton}
        elif page.isCommitPage():
            shown = {W.BackButton, W.CommitButton, W.CancelButton}
        else:
            shown = {W.BackButton, W.NextButton, W.CancelButton}
        if index == 0:
            shown -= {W.BackButton}  # disabled on the first page: its mnemonic does nothing
        found.append((page.title(), screen_texts(page) + [page.buttonText(which) for which in shown]))
    return found


@pytest.fixture
def bka(tmp_path: Path) -> OtherAgency:
    return other_agency(tmp_path, "Bundeskriminalamt", "DE")


@pytest.mark.parametrize("language", MNEMONICS_IN)
def test_each_page_of_both_bundle_wizards_has_unique_mnemonics(language: str, qtbot: QtBot, admin: Session,
                                                              use_language: Callable[[str], None]) -> None:
    in_language(language, use_language)
    case = cases.create_case(admin, CaseFields("2026/501", "Nightjar"))
    export = BundleWizard(admin, case, targets=list)
    qtbot.addWidget(export)
    importer = ImportWizard(admin, targets=list)
    qtbot.addWidget(importer)
    pages = wizard_pages(export) + wizard_pages(importer)
    for title, texts in pages:
        assert clashes(texts) == [], f"{language} {title}: {texts}"
    assert sum(len(texts) for _title, texts in pages) >= 30  # the check really meets the pages' fields
    for commit in (i18n._("&Import"), i18n._("&Continue")):  # the confirm page's button, new or already held
        importer.confirm.setButtonText(W.CommitButton, commit)
        texts = [*screen_texts(importer.confirm), commit, importer.confirm.buttonText(W.BackButton)]
        assert clashes(texts) == [], f"{language}: {texts}"
    assert export.windowTitle() == {"de": "Fall 2026/501 an eine Partnerbehörde senden",
                                    "fr": "Envoyer l'affaire 2026/501 à un service partenaire",
                                    "en": "Send case 2026/501 to a partner agency"}[language]
    assert importer.windowTitle() == {"de": "Bundle einer Partnerbehörde importieren",
                                      "fr": "Importer le paquet d'échange d'un service partenaire",
                                      "en": "Import a partner agency's bundle"}[language]
    assert export.target.buttonText(W.CommitButton) == {"de": "Bundle &schreiben", "fr": "&Écrire le paquet",
                                                        "en": "&Write bundle"}[language]


@pytest.mark.parametrize("language", MNEMONICS_IN)
def test_the_agency_partner_and_vault_dialogs_have_unique_mnemonics(language: str, qtbot: QtBot, admin: Session,
                                                                   tmp_path: Path, bka: OtherAgency,
                                                                   use_language: Callable[[str], None]) -> None:
    in_language(language, use_language)
    identity = agency.agency_identity(admin)
    card_import = CardImportDialog(admin)
    dialogs: list[QWidget] = [
        AgencyDialog(admin), ReplaceIdentityDialog(admin, identity), ImportCertificateDialog(admin),
        AddPartnerDialog(admin), PartnersDialog(admin), UsersDialog(admin), AddUserDialog(admin),
        ChangePassphraseDialog(admin), RecoveryDialog(lambda user, key, new: admin, "alice"),
        SettingsDialog(AppSettings(tmp_path / "desktop.ini")),
        RestoreDialog(admin.vault_path, admin.vault.header.vault_id, admin.user.name), card_import]
    for dialog in dialogs:
        qtbot.addWidget(dialog)
        # The certificate import has two file fields, each with its Browse… (one text: Alt cycles between them,
        # in English too); any other repeated letter is a clash.
        texts = list(dict.fromkeys(screen_texts(dialog)))
        assert texts and clashes(texts) == [], f"{language} {dialog.objectName()}: {texts}"
    agency_dialog = dialogs[0]
    assert isinstance(agency_dialog, AgencyDialog)
    create_page = agency_dialog.stack.widget(1)  # shown to an administrator of a vault without identity
    assert clashes(screen_texts(create_page)) == [], screen_texts(create_page)
    restore = dialogs[10]
    assert isinstance(restore, RestoreDialog)
    restore.ok.setText(i18n._("&Restore"))  # the same button once the backup is checked
    assert clashes(screen_texts(restore)) == [], screen_texts(restore)
    # The card import, step by step: the card read, its fingerprint compared (after a mismatch, side by side).
    assert card_import.load_file(bka.card_path)
    card_import.side_button.show()
    assert clashes(screen_texts(card_import)) == [], screen_texts(card_import)
    card_import.typed.setText(bka.fingerprint)
    assert card_import.compare()
    assert clashes(screen_texts(card_import)) == [], screen_texts(card_import)
    received = ReceivedDialog(admin)
    qtbot.addWidget(received)
    for tab in range(received.tabs.count()):
        received.tabs.setCurrentIndex(tab)
        texts = screen_texts(received) + [received.tabs.tabText(i) for i in range(received.tabs.count())]
        assert clashes(texts) == [], f"{language}: {texts}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_partner_and_its_card_show_the_readers_dates_and_words(language: str, qtbot: QtBot, admin: Session,
                                                                bka: OtherAgency,
                                                                use_language: Callable[[str], None]) -> None:
    in_language(language, use_language)
    card_import = CardImportDialog(admin)
    qtbot.addWidget(card_import)
    assert card_import.load_file(bka.card_path)
    card = partners.read_card(bka.card)
    assert card_import.card_values["Card expires"].text() == i18n.format_moment(card.expires)
    assert card_import.next_button.text() == {"de": "&Vergleichen", "fr": "&Comparer"}[language]
    partners.import_card(admin, bka.card, bka.fingerprint)
    dialog = PartnersDialog(admin)
    qtbot.addWidget(dialog)
    partner = partners.list_partners(admin)[0]
    assert dialog.table.horizontalHeaderItem(2).text() == {"de": "Status", "fr": "Statut"}[language]
    assert dialog.table.item(0, 2).text() == {"de": "aktiv", "fr": "actif"}[language]
    assert dialog.table.item(0, 4).text() == i18n.format_local(partner.expires)
    assert dialog.table.item(0, 4).toolTip() == i18n.format_moment(partner.expires)
    assert dialog.table.item(0, 5).text() == {"de": "Karte", "fr": "carte"}[language]
    details = dialog.details.toPlainText()
    assert i18n.format_moment(partner.created_at) in details
    assert {"de": "Vertraut seit", "fr": "De confiance depuis"}[language] in details
    identity = AgencyDialog(admin)
    qtbot.addWidget(identity)
    certificate = agency.agency_identity(admin).certificate
    valid = identity.values["Valid"].text()
    assert valid.startswith({"de": "", "fr": "du "}[language] + i18n.format_moment(certificate.not_valid_before_utc))
    assert valid.endswith(i18n.format_moment(certificate.not_valid_after_utc))
    assert identity.copy_button.text() == {"de": "&Fingerabdruck kopieren", "fr": "&Copier l'empreinte"}[language]
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None and buttons.button(QDialogButtonBox.StandardButton.Close).text() == {
        "de": "Schließen", "fr": "Fermer"}[language]  # Qt's own, installed in the language


def test_in_english_the_dates_are_the_readers_too(qtbot: QtBot, admin: Session, bka: OtherAgency,
                                                  use_language: Callable[[str], None]) -> None:
    """English keeps its words; the partner's expiry is a moment in the reader's zone with UTC beside it."""
    use_language("en")
    partners.import_card(admin, bka.card, bka.fingerprint)
    dialog = PartnersDialog(admin)
    qtbot.addWidget(dialog)
    partner = partners.list_partners(admin)[0]
    assert dialog.table.item(0, 2).text() == "active"
    assert dialog.table.item(0, 4).text() == i18n.format_local(partner.expires, "en")
    assert dialog.table.item(0, 4).toolTip() == i18n.format_moment(partner.expires, "en")
    assert "UTC" in dialog.table.item(0, 4).toolTip()
    dialog.show()
    qtbot.waitExposed(dialog)
    name = dialog.table.item(0, 0).text()  # the partner's whole name, not "Bundeskriminala…" (issue 11)
    assert dialog.table.columnWidth(0) >= dialog.table.fontMetrics().horizontalAdvance(name)


def test_the_import_checks_are_named_in_the_readers_language(use_language: Callable[[str], None]) -> None:
    """The checks' names are --json keys and stored as they are (English); the wizard shows them translated."""
    from icspa_desktop.gui.import_check import check_name
    from icspa_desktop.services import bundle_import
    from icspa_desktop.services.bundle_import import CHECK_NAMES

    source = Path(bundle_import.__file__).read_text(encoding="utf-8")
    assert set(re.findall(r'Check\("([A-Za-z ]+)"', source)) == set(CHECK_NAMES.templates)  # every check made
    use_language("de")
    assert check_name("Outer seal") == "Äußeres Siegel" and check_name("Decryption") == "Entschlüsselung"
    assert check_name("A check of a later version") == "A check of a later version"
