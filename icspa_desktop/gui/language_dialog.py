"""Help → Language…: choose the language of the program (applied at the next start), and Qt's own texts in it."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QObject, QTranslator
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from icspa_desktop import i18n
from icspa_desktop.i18n import _

_QT_TRANSLATOR = "icspaQtTranslator"


def install_qt_translations(language: str | None = None) -> bool:
    """Translate Qt's own texts (standard buttons, the wizard's Back/Next, a text box's context menu) into
    ``language`` (default: the program's); an earlier one is taken out first, so English shows Qt's English.
    The translator is a child of the application: it lives as long as the application does."""
    app = QCoreApplication.instance()
    if app is None:
        return False
    for old in app.findChildren(QTranslator, _QT_TRANSLATOR):
        QCoreApplication.removeTranslator(old)
        old.deleteLater()
    code = language or i18n.current_language()
    if code == i18n.SOURCE_LANGUAGE:
        return False
    translator = QTranslator(app)
    translator.setObjectName(_QT_TRANSLATOR)
    if not translator.load(f"qtbase_{code}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        translator.deleteLater()
        return False
    return QCoreApplication.installTranslator(translator)


class LanguageDialog(QDialog):
    """A list of the languages under their own names, and "as the system"; the choice is saved on OK."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("languageDialog")
        self.setWindowTitle(_("Language"))
        self.choice = QComboBox()
        self.choice.setObjectName("languageCombo")
        system = i18n.system_language() or i18n.SOURCE_LANGUAGE
        self.choice.addItem(_("As the system ({language})", language=i18n.LANGUAGES[system]), None)
        for code, name in i18n.LANGUAGES.items():
            self.choice.addItem(name, code)
        saved = i18n.saved_language()
        self.choice.setCurrentIndex(max(0, self.choice.findData(saved)) if saved else 0)
        label = QLabel(_("&Language of the program"))
        label.setBuddy(self.choice)
        form = QFormLayout()
        form.addRow(label, self.choice)
        hint = QLabel(_("The new language is used from the next start of the program."))
        hint.setObjectName("hintLabel")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(buttons)

    def accept(self) -> None:
        data = self.choice.currentData()
        i18n.save_language(data if isinstance(data, str) else None)
        super().accept()


class LanguageAction(QObject):
    """Help → Language… (also reachable before any vault is unlocked: it touches no vault data)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.dialog: LanguageDialog | None = None
        self.action = QAction(_("&Language…"), window)
        self.action.setStatusTip(_("Choose the language of the program"))
        self.action.triggered.connect(lambda _checked=False: self.open())

    def open(self) -> LanguageDialog:
        if self.dialog is None:
            self.dialog = LanguageDialog(self._window)
            self.dialog.finished.connect(self._closed)
        self.dialog.open()
        return self.dialog

    def _closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None
