"""Help → User guide (F1): the guides of ``docs/`` shown in the app, readable offline (issue 11, issue 14).

The guides are the Markdown files the project keeps in ``docs/``; a source checkout has them beside the
package, an installed wheel under ``<prefix>/share/icspa-desktop/docs`` (pyproject.toml data-files).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QAction, QImage, QKeySequence, QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QListWidget, QTextBrowser, QVBoxLayout, QWidget

from icspa_desktop import TOOL_NAME
from icspa_desktop.i18n import N_, _

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_CANDIDATES = (_PACKAGE_DIR.parent / "docs", Path(sys.prefix) / "share" / "icspa-desktop" / "docs")
# (title, file) in the order a reader needs them; the titles are translated when shown. The guides themselves
# are in English (docs/translations.md).
GUIDES = (
    (N_("An investigator's day"), "user-guide.md"),
    (N_("The sharing bundle (for partners)"), "bundle-format.md"),
    (N_("What one insider can still do"), "SECURITY.md"),
    (N_("The vault and its keys"), "vault-format.md"),
    (N_("The chain of custody format"), "custody-format.md"),
    (N_("Agency cards"), "agency-card.md"),
    (N_("Administrator's guide"), "admin-guide.md"),
)
IMAGE_MARGIN = 48  # px left free beside a picture, so that no guide scrolls sideways


def docs_dir() -> Path | None:
    return next((c for c in _CANDIDATES if (c / GUIDES[0][1]).is_file()), None)


class GuideBrowser(QTextBrowser):
    """A guide's text with its pictures (``docs/screenshots/*.png``, relative to the guide) scaled down to the
    width of the view; nothing outside the guides' folder is read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None

    def loadResource(self, kind: int, url: QUrl | str) -> object:  # Qt calls it for each picture
        if kind != QTextDocument.ResourceType.ImageResource.value or self.folder is None:
            return super().loadResource(kind, url)
        name = url.path() if isinstance(url, QUrl) else str(url)
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder.resolve()) or not path.is_file():
            return None
        image = QImage(str(path))
        width = max(200, self.viewport().width() - IMAGE_MARGIN)
        if image.width() > width:
            image = image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        return image


class HelpDialog(QDialog):
    """A list of guides and the chosen one, rendered from Markdown; links to other guides open in place."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpDialog")
        self.setWindowTitle(_("User guide — {program}", program=TOOL_NAME))
        self.resize(980, 700)
        self.folder = docs_dir()
        self.guides = QListWidget()
        self.guides.setObjectName("guideList")
        self.guides.setMaximumWidth(260)
        available = [(title, name) for title, name in GUIDES if self.folder and (self.folder / name).is_file()]
        for title, name in available:
            self.guides.addItem(_(title))
            self.guides.item(self.guides.count() - 1).setData(Qt.ItemDataRole.UserRole, name)
        self.text = GuideBrowser()
        self.text.folder = self.folder
        self.text.setObjectName("guideText")
        self.text.setOpenLinks(False)  # links between guides open here; nothing is fetched from anywhere
        self.text.anchorClicked.connect(lambda url: self.show_guide(Path(url.path()).name))
        self.guides.currentRowChanged.connect(self._chosen)
        row = QHBoxLayout()
        row.addWidget(self.guides)
        row.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(buttons)
        if available:
            self.guides.setCurrentRow(0)
        else:
            self.text.setPlainText(_("The guides were not installed with this copy of the program (docs/ is "
                                     "missing). They are in the project's docs/ folder."))
        self.guides.setFocus()

    def _chosen(self, row: int) -> None:
        if row >= 0:
            self.show_guide(str(self.guides.item(row).data(Qt.ItemDataRole.UserRole)))

    def show_guide(self, name: str) -> bool:
        """Show ``name`` (a file of docs/); False when it is not one of the guides."""
        if self.folder is None or name not in {n for _t, n in GUIDES} or not (self.folder / name).is_file():
            return False
        self.text.setMarkdown((self.folder / name).read_text(encoding="utf-8"))
        for row in range(self.guides.count()):
            if self.guides.item(row).data(Qt.ItemDataRole.UserRole) == name and self.guides.currentRow() != row:
                self.guides.setCurrentRow(row)
        return True


class HelpAction(QObject):
    """Help → User guide… (F1)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.dialog: HelpDialog | None = None
        self.action = QAction(_("&User guide…"), window)
        self.action.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.action.setStatusTip(_("How to work with the program: an investigator's day, bundles, security"))
        self.action.triggered.connect(lambda _checked=False: self.open())
        window.addAction(self.action)

    def open(self) -> HelpDialog:
        if self.dialog is None:
            self.dialog = HelpDialog(self._window)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog
