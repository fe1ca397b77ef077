"""The desktop in German and French: real widgets offscreen, the language chosen as a user would (ICSPA_LANG,
or Help → Language… and a new start)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QAbstractButton, QApplication, QDialogButtonBox, QLabel, QMenu, QWidget, QWizard
from pytestqt.qtbot import QtBot

from icspa_desktop import i18n
from icspa_desktop.gui.language_dialog import LanguageDialog
from icspa_desktop.gui.main_window import MainWindow
from icspa_desktop.gui.settings import AppSettings
from icspa_desktop.gui.unlock_dialog import UnlockDialog
from icspa_desktop.gui.vault_wizard import CreateVaultWizard
from icspa_desktop.services.session import MIN_PASSPHRASE_LEN, unlock
from tests.conftest import VaultInfo
from tests.gui.conftest import make_app, unlock_as

ALL_LANGUAGES = sorted(i18n.LANGUAGES)
# The menus the covered code builds (main_window.py): their titles per language.
MENU_TITLES = {"en": ["&Vault", "&Case", "&Help"], "de": ["&Tresor", "&Fall", "&Hilfe"],
               "fr": ["&Coffre-fort", "A&ffaire", "&Aide"]}


def accelerator(text: str) -> str | None:
    """The mnemonic of ``text`` ("Fall b&earbeiten…" → "e"); "&&" is a literal ampersand."""
    index = 0
    while (index := text.find("&", index)) != -1 and index + 1 < len(text):
        if text[index + 1] != "&":
            return text[index + 1].lower()
        index += 2
    return None


def clashes(texts: list[str]) -> list[str]:
    """The texts whose mnemonic another of ``texts`` has too."""
    keys = [accelerator(text) for text in texts]
    return [text for text, key in zip(texts, keys, strict=True) if key is not None and keys.count(key) > 1]


def test_the_mnemonic_reader_and_the_clash_check() -> None:
    assert accelerator("Fall b&earbeiten…") == "e" and accelerator("Save && &quit") == "q"
    assert accelerator("Cancel") is None and accelerator("Tom && Jerry") is None
    assert clashes(["&Sperren", "Fall &schließen", "&Filtern", "Cancel"]) == ["&Sperren", "Fall &schließen"]


def window_in(language: str, use_language: Callable[[str], None], qtbot: QtBot, tmp_path: Path) -> MainWindow:
    use_language(language)
    window = MainWindow(tmp_path / "vault")
    qtbot.addWidget(window)
    return window


def menus(window: MainWindow) -> dict[str, QMenu]:
    found = {}
    for entry in window.menuBar().actions():
        menu = entry.menu()
        if isinstance(menu, QMenu):
            found[entry.text()] = menu
    return found


@pytest.mark.parametrize(("language", "status"), [("de", "Gesperrt"), ("fr", "Verrouillé")])
def test_the_main_window_starts_in_the_language_of_icspa_lang(language: str, status: str, qtbot: QtBot,
                                                              tmp_path: Path,
                                                              use_language: Callable[[str], None]) -> None:
    window = window_in(language, use_language, qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    titles = list(menus(window))
    assert all(title in titles for title in MENU_TITLES[language]), titles
    assert not {"&Vault", "&Case", "&Help"} & set(titles)
    assert window.state_label.text() == status
    assert window.findChild(QLabel, "lockedBanner").text() == i18n._("The vault is locked.")
    assert window.lock_action.text() == {"de": "&Sperren", "fr": "&Verrouiller"}[language]
    assert str(tmp_path / "vault") in window.vault_label.text()
    assert window.vault_label.text().startswith({"de": "Tresor: ", "fr": "Coffre-fort : "}[language])


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_every_menu_of_the_main_window_has_unique_mnemonics(language: str, qtbot: QtBot, tmp_path: Path,
                                                            use_language: Callable[[str], None]) -> None:
    """The menu bar, and the menus built by the covered code — with the entries other modules add to them,
    still in English, so that a translation does not take a letter they use."""
    window = window_in(language, use_language, qtbot, tmp_path)
    assert clashes(list(menus(window))) == []
    for title in MENU_TITLES[language]:
        entries = [action.text() for action in menus(window)[title].actions() if not action.isSeparator()]
        assert len(entries) >= 3
        assert clashes(entries) == [], f"{language} {title}"
    case_menu = menus(window)[MENU_TITLES[language][1]]
    window.close_case_action.setText(i18n._("&Reopen case…"))  # the same entry when the case is closed
    assert clashes([action.text() for action in case_menu.actions() if not action.isSeparator()]) == []


def screen_texts(widget: QWidget) -> list[str]:
    """What carries a mnemonic on ``widget``: visible buttons and the labels of fields."""
    texts = [button.text() for button in widget.findChildren(QAbstractButton) if button.isVisibleTo(widget)]
    return texts + [label.text() for label in widget.findChildren(QLabel)
                    if label.buddy() is not None and label.isVisibleTo(widget)]


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_the_unlock_dialog_and_each_wizard_page_have_unique_mnemonics(language: str, qtbot: QtBot, tmp_path: Path,
                                                                     use_language: Callable[[str], None]) -> None:
    window = window_in(language, use_language, qtbot, tmp_path)  # it installs Qt's own translations
    dialog = UnlockDialog(tmp_path, lambda user, passphrase: unlock(tmp_path, user, passphrase), "",
                          window, recover=lambda user, key, new: None)
    dialog.show()
    texts = screen_texts(dialog)
    assert len(texts) >= 5 and clashes(texts) == [], texts
    wizard = CreateVaultWizard(tmp_path / "new", parent=window)
    buttons = {QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton, QWizard.WizardButton.CancelButton}
    last = {QWizard.WizardButton.FinishButton}
    commit = {QWizard.WizardButton.BackButton, QWizard.WizardButton.CommitButton, QWizard.WizardButton.CancelButton}
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        shown = last if page is wizard.recovery_page else commit if page.isCommitPage() else buttons
        if page_id == wizard.startId():  # Back is disabled on the first page: its mnemonic does nothing
            shown = shown - {QWizard.WizardButton.BackButton}
        texts = screen_texts(page) + [wizard.buttonText(which) for which in shown]
        assert clashes(texts) == [], f"{language} {page.title()}: {texts}"
    if language != "en":  # Qt's own wizard buttons speak the language too
        assert wizard.buttonText(QWizard.WizardButton.NextButton) == {"de": "&Weiter >", "fr": "&Suivant >"}[language]
    dialog.deleteLater()
    wizard.deleteLater()


@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_first_run_wizard_and_the_unlock_dialog_speak_the_language(language: str, qtbot: QtBot, tmp_path: Path,
                                                                       use_language: Callable[[str], None]) -> None:
    window = window_in(language, use_language, qtbot, tmp_path)
    wizard = CreateVaultWizard(tmp_path / "new", parent=window)
    assert wizard.windowTitle() == {"de": "Tresor anlegen — ICSPA Evidence Desktop",
                                    "fr": "Créer un coffre-fort — ICSPA Evidence Desktop"}[language]
    assert wizard.recovery_page.title() == {"de": "Ihr Wiederherstellungsschlüssel",
                                            "fr": "Votre clé de récupération"}[language]
    assert wizard.passphrase_page.buttonText(QWizard.WizardButton.CommitButton) == i18n._("&Create vault")
    intro = wizard.passphrase_page.findChildren(QLabel)[0].text()
    assert intro.startswith({"de": "Mindestens ", "fr": "Au moins "}[language] + str(MIN_PASSPHRASE_LEN))
    wizard.location_page.path_edit.setText("relative/folder")
    assert not wizard.location_page.validatePage()
    assert wizard.location_page.error_label.text() == {
        "de": "Geben Sie den vollständigen Pfad des Tresorordners an (beginnend mit /).",
        "fr": "Indiquez le chemin complet du dossier du coffre-fort (commençant par /)."}[language]
    dialog = UnlockDialog(tmp_path, lambda user, passphrase: unlock(tmp_path, user, passphrase), "", window)
    dialog.attempt()  # nothing typed
    assert dialog.error_label.text() == {"de": "Geben Sie Ihren Benutzernamen und Ihre Passphrase ein.",
                                         "fr": "Saisissez votre nom d'utilisateur et votre phrase secrète."}[language]
    wizard.deleteLater()
    dialog.deleteLater()


def test_help_language_saves_the_choice_for_the_next_start(qtbot: QtBot, tmp_path: Path,
                                                          use_language: Callable[[str], None],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    window = window_in("en", use_language, qtbot, tmp_path)
    monkeypatch.delenv(i18n.ENV_VAR)
    assert window.language.action in menus(window)["&Help"].actions()
    window.language.action.trigger()
    dialog = window.language.dialog
    assert isinstance(dialog, LanguageDialog)
    qtbot.waitExposed(dialog)
    assert dialog.choice.itemText(0) == "As the system (Français)"
    assert [dialog.choice.itemText(i) for i in range(1, dialog.choice.count())] == ["English", "Deutsch", "Français"]
    assert any("next start" in label.text() for label in dialog.findChildren(QLabel))
    dialog.choice.setCurrentIndex(dialog.choice.findData("de"))
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert i18n.saved_language() == "de"
    assert window.lock_action.text() == "&Lock"  # this run keeps its language
    i18n.reset()  # a new start
    assert i18n.current_language() == "de"
    window.language.action.trigger()
    dialog = window.language.dialog
    assert isinstance(dialog, LanguageDialog)
    assert dialog.choice.currentData() == "de"
    assert dialog.windowTitle() == "Sprache"
    dialog.choice.setCurrentIndex(0)  # back to the system's language
    dialog.accept()
    assert i18n.saved_language() is None
    i18n.reset()
    assert i18n.current_language() == "fr"


def test_unlocked_in_german_the_status_bar_names_user_and_role(qtbot: QtBot, qapp: QApplication, vault: VaultInfo,
                                                              tmp_path: Path,
                                                              use_language: Callable[[str], None]) -> None:
    use_language("de")
    for app in make_app(qtbot, qapp, vault.path, AppSettings(tmp_path / "config" / "desktop.ini")):
        assert app.unlock_dialog is not None
        assert app.unlock_dialog.windowTitle() == "Tresor entsperren — ICSPA Evidence Desktop"
        unlock_as(qtbot, app)
        assert app.window.state_label.text() == "Entsperrt"
        assert app.window.user_label.text().endswith(" · Administrator")
        tabs = app.window.browser.tabs
        assert [tabs.tabText(i) for i in range(tabs.count())][1:3] == ["Beweismittel", "Beweismittelkette"]
