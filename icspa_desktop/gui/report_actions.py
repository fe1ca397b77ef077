"""Custody, report and user-administration actions of the main window (menus Custody and Vault).

The window keeps layout; this controller owns the actions and runs the slow work with ``ops``.
Checkpoint signing, verification and the witness location default to the services' own (the
agency key); ``signer``, ``verifier`` and ``witness_dir`` can be set (tests, or a future setting).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox

from icspa_desktop.custody.checkpoints import CheckpointSigner, SignatureVerifier
from icspa_desktop.custody.events import StoredEvent
from icspa_desktop.domain.errors import Cancelled, IcspaError, NotFound
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.custody_tab import CustodyTab, ItemCustodyDialog, show_item_timeline
from icspa_desktop.gui.folders import remember_choice, start_folder
from icspa_desktop.gui.ops import BackgroundOp, run_in_background, run_with_progress_dialog, show_error
from icspa_desktop.gui.passphrase_dialog import ChangePassphraseDialog
from icspa_desktop.gui.role_hints import gate
from icspa_desktop.gui.users_dialog import UsersDialog
from icspa_desktop.gui.verify_dialog import VerifyResultDialog
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import custody, custody_reports, custody_verify, evidence
from icspa_desktop.services.custody_verify import VerifyReport
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow


def _safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text).strip("-") or "case"


class CustodyActions(QObject):
    """Emits ``log_changed`` after an action of its own appended to the custody log."""

    log_changed = Signal()
    daily_settled = Signal()  # the daily checkpoint of an unlock was signed, failed, or was not due

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.signer: CheckpointSigner | None = None  # None = the agency key
        self.verifier: SignatureVerifier | None = None  # None = the agency certificates
        self.witness_dir: Path | None = None
        self.last_verify_dialog: VerifyResultDialog | None = None  # the latest result shown (tests read it)
        self.daily_pending = False  # the daily checkpoint of this unlock is still being settled

        def action(text: str, slot: Callable[[], object], tip: str, shortcut: str | None = None) -> QAction:
            act = QAction(text, window)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.triggered.connect(lambda _checked=False: slot())
            window.addAction(act)
            return act

        self.verify_action = action(_("&Verify custody…"), self.verify, _("Check every custody event, the Merkle "
                                    "tree, the checkpoints and the witness"), "Ctrl+Shift+V")
        self.item_custody_action = action(_("Custody of selected &item…"), self.item_custody,
                                          _("Show the chain of custody of one item of the selected case"))
        self.checkpoint_action = action(_("Make &checkpoint"), self.make_checkpoint,
                                        _("Sign the current state of the custody log with the agency key"))
        self.export_pdf_action = action(_("Export custody &report (PDF)…"), self.export_case_pdf,
                                        _("PDF chain-of-custody report of the selected case"))
        self.export_item_pdf_action = action(_("Export i&tem custody report (PDF)…"), self.export_item_pdf,
                                             _("PDF chain-of-custody report of one item of the selected case"))
        self.export_uco_action = action(_("Export CASE/&UCO JSON-LD…"), self.export_case_uco,
                                        _("CASE/UCO JSON-LD of the selected case"))
        self.users_action = action(_("&Users…"), self.open_users,
                                   _("Add users, enable or disable them (administrators)"))
        self.passphrase_action = action(_("Change my &passphrase…"), self.change_passphrase,
                                        _("Change the passphrase you unlock the vault with"))
        self._case_actions = (self.item_custody_action, self.export_pdf_action, self.export_item_pdf_action,
                              self.export_uco_action)

    # ---- wiring (called by the main window) ----------------------------------------------------
    def menu(self) -> QMenu:
        menu = QMenu(_("C&ustody"), self._window)
        menu.addActions([self.verify_action, self.checkpoint_action])
        menu.addSeparator()
        menu.addAction(self.item_custody_action)
        menu.addSeparator()
        menu.addActions([self.export_pdf_action, self.export_item_pdf_action, self.export_uco_action])
        return menu

    def vault_actions(self) -> list[QAction]:
        return [self.users_action, self.passphrase_action]

    def update_actions(self) -> None:
        session = self._window.session
        case = self._window.browser.current_case()
        unlocked = session is not None

        role = session.user.role if session is not None else None
        gate(self.verify_action, unlocked, role, Permission.VERIFY)
        self.checkpoint_action.setEnabled(unlocked)
        # A PDF report is sealed by a checkpoint signed with the agency key (unless a signer is set).
        signs = (Permission.REPORT,) if self.signer is not None else (Permission.REPORT, Permission.SIGN_AS_AGENCY)
        gate(self.export_pdf_action, case is not None, role, *signs)
        gate(self.export_item_pdf_action, case is not None, role, *signs)
        gate(self.export_uco_action, case is not None, role, Permission.REPORT)
        self.item_custody_action.setEnabled(case is not None and unlocked)
        gate(self.users_action, unlocked, role, Permission.MANAGE_USERS)
        self.passphrase_action.setEnabled(unlocked)

    def tab_factory(self, session: Session, case: Case) -> CustodyTab:
        """The "Custody" case tab; it reloads after edits of its case and after this controller's actions."""
        tab = CustodyTab(session, case, self.verify)
        self._window.browser.current_case_changed.connect(tab.case_changed)
        self.log_changed.connect(tab.reload)
        return tab

    def current_tab(self) -> CustodyTab | None:
        tab = self._window.browser.case_tab(CustodyTab)
        return tab if tab is not None and tab.case is not None else None

    # ---- helpers -----------------------------------------------------------------------------
    def _context(self) -> tuple[Session, Case] | tuple[None, None]:
        session, case = self._window.session, self._window.browser.current_case()
        if session is None or case is None:
            return None, None
        return session, case

    def _done(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self._window)
        box.setObjectName("reportDoneDialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def _save_dialog(self, title: str, suggested: str, name_filter: str,
                     start: Callable[[Path], object]) -> QFileDialog:
        where = str(start_folder(self._window) / suggested)
        dialog = remember_choice(self._window, QFileDialog(self._window, title, where, name_filter))
        dialog.setObjectName("reportFileDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        # Reports never overwrite a file (the services refuse and say so): no "replace?" question.
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: start(Path(name)) if name else None)
        dialog.open()
        return dialog

    # ---- verify and checkpoints ----------------------------------------------------------------
    def verify(self) -> BackgroundOp | None:
        session = self._window.session
        if session is None or not self.verify_action.isEnabled():
            return None

        def work(progress: ProgressCallback, _cancel: CancelToken) -> tuple[VerifyReport, dict[int, str]]:
            report = custody_verify.verify(session, verifier=self.verifier, witness_dir=self.witness_dir,
                                           progress=lambda done, total: progress(done, total,
                                                                                 _("Checking custody events…")))
            wanted = {d.event_index for d in report.damages if d.event_index is not None and not d.event_id}
            return report, custody_verify.event_ids(session, wanted)

        return run_with_progress_dialog(self._window, _("Verifying the chain of custody"), work,
                                        lambda result: self._show_report(*result))

    def _show_report(self, report: VerifyReport, ids: dict[int, str]) -> None:
        dialog = VerifyResultDialog(report, ids, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.last_verify_dialog = dialog

    def checkpoint_if_due(self) -> BackgroundOp | None:
        """The daily checkpoint when the app is used (at unlock), in a worker: over a big log it is the whole Merkle
        tree (0.4 s for 200,000 events), which froze the window that had just appeared. ``daily_settled`` follows
        once it is signed, not due, or failed (a failure only shows in the status bar)."""
        session = self._window.session
        if session is None:
            return None
        self.daily_pending = True

        def settled() -> None:
            self.daily_pending = False
            self.daily_settled.emit()

        def done(stored: custody.StoredCheckpoint | None) -> None:
            if stored is not None:
                self._window.statusBar().showMessage(ngettext(
                    "Daily custody checkpoint signed ({n} event).", "Daily custody checkpoint signed ({n} events).",
                    stored.size), 8000)
                self.log_changed.emit()
            settled()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, IcspaError):
                self._window.statusBar().showMessage(_("Daily custody checkpoint not made: {error}", error=exc),
                                                     15000)
            else:
                show_error(self._window, exc)
            settled()

        return run_in_background(self._window, lambda: custody.checkpoint_if_due(
            session, signer=self.signer, witness_dir=self.witness_dir), done, failed)

    def make_checkpoint(self) -> BackgroundOp | None:
        session = self._window.session
        if session is None:
            return None
        case = self._window.browser.current_case()
        if self.signer is None and not allowed(session.user.role, Permission.SIGN_AS_AGENCY):
            def signed_own(event: StoredEvent) -> None:
                self.log_changed.emit()
                self._done(_("Checkpoint signed"), _(
                    "The custody log's first {size} events, signed with your own key (event #{index}); your role may "
                    "not use the agency key.", size=event.body["details"]["tree_size"], index=event.index))

            return run_in_background(self._window, lambda: custody.user_checkpoint(
                session, "on demand (desktop)", case_id=case.id if case is not None else None),
                                     signed_own)

        def done(stored: custody.StoredCheckpoint) -> None:
            self.log_changed.emit()
            self._done(_("Checkpoint signed"), _("Checkpoint {id} signed: the custody log's first {size} events "
                                                 "(root {root}).", id=stored.id, size=stored.size,
                                                 root=stored.checkpoint.root_b64))

        return run_in_background(self._window, lambda: custody.make_checkpoint(
            session, "on demand (desktop)", signer=self.signer, witness_dir=self.witness_dir,
            case_id=case.id if case is not None else None), done)

    # ---- items ---------------------------------------------------------------------------------
    def selected_item_id(self) -> str | None:
        """The item selected in a case tab that offers ``current_item()`` (the Evidence tab), if any."""
        tabs = self._window.browser.tabs
        for index in range(tabs.count()):
            widget = tabs.widget(index)
            getter = getattr(widget, "current_item", None)
            if callable(getter):
                item = getter()
                if item is not None:
                    return str(getattr(item, "id", item))
        return None

    def _choose_item(self, title: str, then: Callable[[str], object]) -> QInputDialog | None:
        """The selected item, else a list of the case's items to choose from."""
        session, case = self._context()
        if session is None or case is None:
            return None
        selected = self.selected_item_id()
        if selected is not None:
            then(selected)
            return None
        try:
            items = evidence.list_items(session, case.id)
        except IcspaError as exc:
            show_error(self._window, exc)
            return None
        if not items:
            show_error(self._window, NotFound(_("Case {number} has no items yet.", number=case.number)))
            return None
        labels = [f"{item.exhibit_number} — {item.original_name}" for item in items]
        prompt = QInputDialog(self._window)
        prompt.setObjectName("chooseItemDialog")
        prompt.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        prompt.setWindowTitle(title)
        prompt.setLabelText(_("Item of case {number}:", number=case.number))
        prompt.setComboBoxItems(labels)
        prompt.setComboBoxEditable(False)
        prompt.textValueSelected.connect(lambda text: then(items[labels.index(text)].id) if text in labels else None)
        prompt.open()
        return prompt

    def item_custody(self) -> QInputDialog | None:
        return self._choose_item(_("Custody of an item"), self.show_item_timeline)

    def show_item_timeline(self, item_id: str) -> ItemCustodyDialog | None:
        session = self._window.session
        return None if session is None else show_item_timeline(self._window, session, item_id)

    # ---- reports -------------------------------------------------------------------------------
    def export_case_pdf(self, item_id: str | None = None) -> QFileDialog | None:
        session, case = self._context()
        if session is None or case is None:
            return None
        suffix = ""
        if item_id is not None:
            try:
                suffix = "-" + _safe_name(evidence.get_item(session, item_id).exhibit_number)
            except IcspaError as exc:
                show_error(self._window, exc)
                return None

        def start(path: Path) -> BackgroundOp:
            def work(progress: ProgressCallback, cancel: CancelToken) -> custody_reports.ReportContext:
                return custody_reports.custody_report_pdf(
                    session, case.id, path, item_ref=item_id, signer=self.signer, verifier=self.verifier,
                    witness_dir=self.witness_dir, progress=progress, cancel=cancel)

            def done(ctx: custody_reports.ReportContext) -> None:
                self.log_changed.emit()
                late = op.cancel_token.cancelled  # Cancel came after the last point where the report could stop
                written = _("Custody report {id} written to {path} ({items} items, {events} events, checkpoint "
                            "{checkpoint}).", id=ctx.report_id, path=path, items=len(ctx.items),
                            events=len(ctx.events), checkpoint=ctx.checkpoint.id)
                self._done(_("Report written"), _("It could not be stopped in time. {outcome}", outcome=written)
                           if late else written)

            def failed(exc: BaseException) -> None:
                self.log_changed.emit()  # its checkpoint may have been signed before the stop
                self._failed(_("Custody report"), path, exc)

            op = run_with_progress_dialog(self._window, _("Producing the custody report"), work, done, failed,
                                          stopping=_("Stopping: nothing will be written."))
            return op

        return self._save_dialog(_("Export custody report"), f"custody-{_safe_name(case.number)}{suffix}.pdf",
                                 _("PDF documents (*.pdf)"), start)

    def export_item_pdf(self) -> QInputDialog | None:
        return self._choose_item(_("Custody report of an item"), self.export_case_pdf)

    def export_case_uco(self) -> QFileDialog | None:
        session, case = self._context()
        if session is None or case is None:
            return None

        def start(path: Path) -> BackgroundOp:
            def work(progress: ProgressCallback, cancel: CancelToken) -> dict[str, Any]:
                return custody_reports.case_uco_export(session, case.id, path, progress=progress, cancel=cancel)

            def done(doc: dict[str, Any]) -> None:
                self.log_changed.emit()
                late = op.cancel_token.cancelled  # Cancel came while the export was being recorded and written
                written = _("CASE/UCO JSON-LD of case {number} written to {path} ({nodes} nodes).",
                            number=case.number, path=path, nodes=len(doc.get("@graph", [])))
                self._done(_("Export written"), _("It could not be stopped in time. {outcome}", outcome=written)
                           if late else written)

            op = run_with_progress_dialog(self._window, _("Exporting CASE/UCO"), work, done,
                                          lambda exc: self._failed(_("CASE/UCO export"), path, exc),
                                          stopping=_("Stopping: nothing will be written."))
            return op

        return self._save_dialog(_("Export CASE/UCO JSON-LD"), f"case-{_safe_name(case.number)}.jsonld",
                                 _("JSON-LD (*.jsonld *.json)"), start)

    def _failed(self, what: str, path: Path, exc: BaseException) -> None:
        """A report that failed: its own error box; one that was cancelled: a status line (nothing was written)."""
        if isinstance(exc, Cancelled):
            self._window.statusBar().showMessage(_("{what} cancelled: {name} was not written.", what=what,
                                                   name=path.name), 8000)
        else:
            show_error(self._window, exc)

    # ---- users ---------------------------------------------------------------------------------
    def open_users(self) -> UsersDialog | None:
        session = self._window.session
        if session is None or not self.users_action.isEnabled():
            return None
        dialog = UsersDialog(session, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def change_passphrase(self) -> ChangePassphraseDialog | None:
        session = self._window.session
        if session is None:
            return None
        dialog = ChangePassphraseDialog(session, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

