"""The main window: actions, menus, status bar, and the case browser (layout and wiring only)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.domain.enums import CaseStatus, Role
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.ids import CaseId, ItemId
from icspa_desktop.domain.models import Case, CaseFields
from icspa_desktop.gui.agency_actions import AgencyActions
from icspa_desktop.gui.backup_action import BackupAction
from icspa_desktop.gui.bundle_wizard import SendBundleAction
from icspa_desktop.gui.card_import_dialog import CardImportDialog
from icspa_desktop.gui.case_browser import CaseBrowser, CaseTabFactory
from icspa_desktop.gui.case_dialog import CaseDialog
from icspa_desktop.gui.case_status_dialog import CaseStatusDialog
from icspa_desktop.gui.clipboard import forget_copied
from icspa_desktop.gui.evidence_actions import EvidenceActions
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.folders import forget_folder
from icspa_desktop.gui.help_dialog import HelpAction
from icspa_desktop.gui.import_wizard import ImportBundleAction, ImportWizard
from icspa_desktop.gui.language_dialog import LanguageAction, install_qt_translations
from icspa_desktop.gui.ops import show_error, show_notice
from icspa_desktop.gui.received_dialog import ReceivedAction
from icspa_desktop.gui.report_actions import CustodyActions
from icspa_desktop.gui.restore_dialog import RestoreAction
from icspa_desktop.gui.role_hints import gate, role_denial
from icspa_desktop.i18n import N_, _
from icspa_desktop.services import cases, received, users
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session

# The role as the status bar names it (translated when shown).
ROLE_NAMES = {Role.ADMINISTRATOR: N_("administrator"), Role.SUPERVISOR: N_("supervisor"),
              Role.INVESTIGATOR: N_("investigator"), Role.AUDITOR: N_("auditor")}


class MainWindow(QMainWindow):
    """Shows the unlocked session's cases; ``show_locked()`` empties every view of vault data."""

    lock_requested = Signal()
    settings_requested = Signal()
    closing = Signal()  # the window is closing: lock the vault, the app ends

    def __init__(self, vault_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        install_qt_translations()  # Qt's own texts (standard buttons, text-box menus) in the UI's language
        self.resize(1180, 720)
        self._vault_path = vault_path
        self.setWindowTitle(_("{vault} (locked) — {tool}", vault=vault_path.name, tool=TOOL_NAME))
        self.session: Session | None = None

        self.browser = CaseBrowser()
        self.browser.current_case_changed.connect(lambda _case: self._update_actions())
        self.browser.activated.connect(self.edit_case)
        locked = QLabel(_("The vault is locked."))
        locked.setObjectName("lockedBanner")
        locked.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(locked)
        self.stack.addWidget(self.browser)
        self.setCentralWidget(self.stack)

        self._build_actions()
        self.evidence = EvidenceActions(self)  # Evidence menu, tab and search box (gui/evidence_actions.py)
        self.add_case_tab(_("Evidence"), self._evidence_tab)
        self.custody = CustodyActions(self)  # Custody menu, reports, users (gui/report_actions.py)
        self.add_case_tab(_("Custody"), self.custody.tab_factory)
        self.agency = AgencyActions(self)  # Agency menu: identity and partners (gui/agency_actions.py)
        self.send_bundle = SendBundleAction(self)  # Case → Send to partner agency (gui/bundle_wizard.py)
        self.import_bundle = ImportBundleAction(self)  # Case → Import partner bundle (gui/import_wizard.py)
        self.bundle_lists = ReceivedAction(self)  # Case → Bundles sent and received (gui/received_dialog.py)
        self.help = HelpAction(self)  # Help → User guide (F1, gui/help_dialog.py)
        self.language = LanguageAction(self)  # Help → Language… (gui/language_dialog.py)
        self._build_menus()
        self._build_status_bar()
        self.show_locked()

    # ---- construction --------------------------------------------------------------
    def _action(self, text: str, shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
                slot: object, tip: str) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        self.new_case_action = self._action(_("&New case…"), "Ctrl+N", self.new_case, _("Create a new case"))
        self.edit_case_action = self._action(_("&Edit case…"), "Ctrl+E", self.edit_case,
                                             _("Edit the selected case"))
        self.close_case_action = self._action(_("&Close case…"), None, self.toggle_case_status,
                                              _("Close or reopen the selected case"))
        self.refresh_action = self._action(_("Re&load"), QKeySequence.StandardKey.Refresh, self.refresh,
                                           _("Reload the case list"))
        self.find_action = self._action(_("&Find"), "Ctrl+F", self.browser.focus_filter, _("Filter the case list"))
        self.lock_action = self._action(_("&Lock"), "Ctrl+L", self.lock_requested.emit,
                                        _("Lock the vault: close the database and forget the keys"))
        self.settings_action = self._action(_("&Settings…"), None, self.settings_requested.emit,
                                            _("Preferences of this workstation's program"))
        self.quit_action = self._action(_("&Quit"), "Ctrl+Q", self.close, _("Lock the vault and quit"))
        self.about_action = self._action(_("&About"), None, self._about, _("About this program"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self._session_actions = (self.new_case_action, self.edit_case_action, self.close_case_action,
                                 self.refresh_action, self.find_action, self.lock_action)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        vault_menu = menu.addMenu(_("&Vault"))
        vault_menu.addActions([self.lock_action, self.settings_action])
        vault_menu.addActions(self.custody.vault_actions())
        self.backup = BackupAction(self, vault_menu, lambda: self.session)  # Vault → Back up… (gui/backup_action.py)
        self.restore = RestoreAction(self, vault_menu, lambda: self.session, self.lock_requested.emit,
                                     lambda: self.custody.witness_dir)  # Vault → Restore (gui/restore_dialog.py)
        vault_menu.addSeparator()
        vault_menu.addAction(self.quit_action)
        case_menu = menu.addMenu(_("&Case"))
        case_menu.addActions([self.new_case_action, self.edit_case_action, self.close_case_action])
        case_menu.addSeparator()
        case_menu.addActions([self.send_bundle.action, self.import_bundle.action, self.bundle_lists.action])
        case_menu.addSeparator()
        case_menu.addActions([self.find_action, self.refresh_action])
        menu.addMenu(self.evidence.menu())
        menu.addMenu(self.custody.menu())
        menu.addMenu(self.agency.menu())
        help_menu = menu.addMenu(_("&Help"))
        help_menu.addAction(self.help.action)
        help_menu.addAction(self.language.action)
        help_menu.addAction(self.about_action)
        for entry in menu.actions():  # hovering an item shows its tooltip: why it is off, when it is
            submenu = entry.menu()
            if isinstance(submenu, QMenu):
                submenu.setToolTipsVisible(True)
        toolbar = self.addToolBar(_("Main toolbar"))
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.new_case_action, self.edit_case_action, self.close_case_action])
        toolbar.addSeparator()
        toolbar.addAction(self.lock_action)
        toolbar.addSeparator()
        toolbar.addWidget(self.evidence.search_box)

    def _build_status_bar(self) -> None:
        self.vault_label = QLabel()
        self.vault_label.setObjectName("vaultLabel")
        self.user_label = QLabel()
        self.user_label.setObjectName("userLabel")
        self.state_label = QLabel()
        self.state_label.setObjectName("stateLabel")
        bar = self.statusBar()
        bar.addWidget(self.vault_label, 1)
        bar.addPermanentWidget(self.user_label)
        bar.addPermanentWidget(self.state_label)
        # A temporary message is drawn where the vault label is; Qt does not hide the label, so the two texts
        # overlapped (issue 11). The label steps aside while a message shows.
        bar.messageChanged.connect(lambda text: self.vault_label.setVisible(not text))

    # ---- session -------------------------------------------------------------------
    def show_session(self, session: Session) -> None:
        """Show the unlocked vault's cases (after unlock)."""
        self.session = session
        self.browser.set_session(session)
        self.browser.details.set_user_names({user.id: user.display_name for user in users.list_users(session)})
        self.browser.details.set_provenance_lookup(lambda case_id: received.get_case_provenance(session,
                                                                                                CaseId(case_id)))
        self.browser.load_cases(session)  # in a worker: the window is up at once, the list follows
        self.stack.setCurrentWidget(self.browser)
        self.vault_label.setText(_("Vault: {path}", path=session.vault_path))
        self.user_label.setText(_("{display_name} ({user}) · {role}", display_name=session.user.display_name,
                                  user=session.user.name, role=_(ROLE_NAMES[session.user.role])))
        self.state_label.setText(_("Unlocked"))
        # Which vault and who, where the taskbar and the window switcher show it (several vaults may be open).
        self.setWindowTitle(_("{vault} — {user} — {tool}", vault=session.vault_path.name, user=session.user.name,
                              tool=TOOL_NAME))
        self._update_actions()
        self.browser.table.setFocus()
        self.custody.checkpoint_if_due()

    def show_locked(self) -> None:
        """Drop every trace of vault data from the window and its dialogs (the session is locked)."""
        for dialog in self.findChildren(QDialog):
            if dialog.objectName() not in ("unlockDialog", "createVaultWizard"):
                dialog.reject()
                dialog.deleteLater()  # its widgets still hold what the user saw or typed
        self.session = None
        forget_folder(self)  # a folder name can name a case
        forget_copied()  # a hash or fingerprint we copied (gui/clipboard.py)
        self.browser.clear()
        self.stack.setCurrentIndex(0)
        self.vault_label.setText(_("Vault: {path}", path=self._vault_path))
        self.user_label.setText("")
        self.state_label.setText(_("Locked"))
        self.setWindowTitle(_("{vault} (locked) — {tool}", vault=self._vault_path.name, tool=TOOL_NAME))
        self._update_actions()

    def set_vault_path(self, path: Path) -> None:
        self._vault_path = path
        if self.session is None:
            self.vault_label.setText(_("Vault: {path}", path=path))
            self.setWindowTitle(_("{vault} (locked) — {tool}", vault=path.name, tool=TOOL_NAME))

    def add_case_tab(self, title: str, factory: CaseTabFactory) -> None:
        """Add a tab to the case pane; ``factory(session, case)`` builds its widget for each selected case."""
        self.browser.add_case_tab(title, factory)

    def _evidence_tab(self, session: Session, case: Case) -> EvidenceTab:
        """The Evidence tab, whose item details say where an imported item came from."""
        tab = self.evidence.tab_factory(session, case)
        tab.details.provenance = lambda item_id: received.get_item_provenance(session, ItemId(item_id))
        return tab

    def _update_actions(self) -> None:
        unlocked = self.session is not None
        case = self.browser.current_case()
        for action in self._session_actions:
            action.setEnabled(unlocked)
        role = self.session.user.role if self.session is not None else None
        gate(self.new_case_action, unlocked, role, Permission.CREATE_CASE)
        gate(self.edit_case_action, case is not None, role, Permission.EDIT_CASE)
        gate(self.close_case_action, case is not None, role, Permission.CLOSE_CASE)
        closed = case is not None and case.status is CaseStatus.CLOSED
        self.close_case_action.setText(_("&Reopen case…") if closed else _("&Close case…"))
        self.evidence.update_actions()
        self.custody.update_actions()
        self.agency.update_actions()
        self.send_bundle.update()
        self.import_bundle.update()
        self.bundle_lists.update()

    # ---- case actions --------------------------------------------------------------
    def refresh(self) -> None:
        if self.session is not None:
            self.browser.set_cases(cases.list_cases(self.session))

    def new_case(self) -> CaseDialog | None:
        """Open the create-case dialog (returned for tests)."""
        session = self.session
        if session is None or not self.new_case_action.isEnabled():
            return None
        return self._open_case_dialog(CaseDialog(lambda fields, _reason: cases.create_case(session, fields),
                                                 parent=self))

    def edit_case(self) -> CaseDialog | None:
        session, case = self.session, self.browser.current_case()
        if session is None or case is None or not self.edit_case_action.isEnabled():
            return None

        def submit(fields: CaseFields, reason: str) -> Case:
            return cases.edit_case(session, case.id, fields, reason)

        return self._open_case_dialog(CaseDialog(submit, case, parent=self))

    def _open_case_dialog(self, dialog: CaseDialog) -> CaseDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._case_saved)
        dialog.open()
        return dialog

    def _case_saved(self, case: Case) -> None:
        self.browser.update_case(case)
        self._update_actions()

    def toggle_case_status(self) -> CaseStatusDialog | None:
        """Close or reopen the selected case: confirmed, with a reason (recorded in the custody event)."""
        session, case = self.session, self.browser.current_case()
        if session is None or case is None or not self.close_case_action.isEnabled():
            return None
        target = CaseStatus.OPEN if case.status is CaseStatus.CLOSED else CaseStatus.CLOSED
        dialog = CaseStatusDialog(case, target, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def apply(reason: str) -> None:
            try:
                updated = cases.set_status(session, case.id, target, reason)
            except IcspaError as exc:
                show_error(self, exc)
                return
            self._case_saved(updated)

        dialog.confirmed.connect(apply)
        dialog.open()
        return dialog

    # ---- files opened from the desktop (``icspa-desktop FILE``, gui/app.py) ----------------------
    def open_bundle_file(self, path: Path) -> ImportWizard | None:
        """Case → Import partner bundle with ``path`` filled in (a double-clicked NAME.icspa or NAME.icspa.001)."""
        session = self.session
        if session is None:
            return None
        wizard = self.import_bundle.open()
        if wizard is None:
            self._not_opened(path, role_denial(session.user.role, Permission.IMPORT_BUNDLE))
            return None
        wizard.file.path.setText(str(path))
        return wizard

    def open_card_file(self, path: Path) -> CardImportDialog | None:
        """Agency → Partners → Import card, reading ``path`` (a double-clicked NAME.icspa-card)."""
        session = self.session
        partners = self.agency.open_partners()
        if session is None or partners is None:
            return None
        dialog = partners.import_card()
        if dialog is None:
            self._not_opened(path, role_denial(session.user.role, Permission.MANAGE_PARTNERS))
            return None
        dialog.load_file(path)  # a card it refuses is named in the dialog, its path still there
        return dialog

    def _not_opened(self, path: Path, why: str) -> None:
        show_notice(self, _("File not opened"), [_("{path} was not opened.", path=path), why], "openFileProblem")

    def _about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, _("About {program}", program=TOOL_NAME),
                          _("{program} {version}\nSecure, offline handling of digital evidence.",
                            program=TOOL_NAME, version=__version__),
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        # Ctrl+Q and the window manager's close button both end here: the vault is locked on the way out.
        self.closing.emit()
        event.accept()
