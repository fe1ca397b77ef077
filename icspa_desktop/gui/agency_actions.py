"""The main window's Agency menu: "Agency identity…" and "Partners…" (both close when the vault locks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from icspa_desktop.gui.agency_dialog import AgencyDialog
from icspa_desktop.gui.partners_dialog import PartnersDialog
from icspa_desktop.i18n import _

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow


class AgencyActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.identity_action = QAction(_("Agency &identity…"), window)
        self.identity_action.setStatusTip(_("This agency's certificate, fingerprint and card"))
        self.identity_action.triggered.connect(lambda _checked=False: self.open_identity())
        self.partners_action = QAction(_("&Partners…"), window)
        self.partners_action.setStatusTip(_("Partner agencies you exchange bundles with"))
        self.partners_action.triggered.connect(lambda _checked=False: self.open_partners())

    def menu(self) -> QMenu:
        menu = QMenu(_("A&gency"), self._window)
        menu.addActions([self.identity_action, self.partners_action])
        return menu

    def update_actions(self) -> None:
        unlocked = self._window.session is not None
        self.identity_action.setEnabled(unlocked)
        self.partners_action.setEnabled(unlocked)

    def open_identity(self) -> AgencyDialog | None:
        session = self._window.session
        if session is None:
            return None
        dialog = AgencyDialog(session, self._window)  # a child of the window: locking deletes it
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_partners(self) -> PartnersDialog | None:
        session = self._window.session
        if session is None:
            return None
        dialog = PartnersDialog(session, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog
