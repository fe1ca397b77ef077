"""Evidence actions of the main window (menu Evidence, the Evidence tab's buttons, the search box).

Slow work (ingest, verify, extract) runs with ``gui/ops.py`` behind a progress dialog with Cancel; the
services guarantee that a cancelled or failed action leaves nothing behind. Quick record changes
(physical items, check-out/in, annotations) run directly; their errors are shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu, QMessageBox, QWidget

from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.domain.errors import Cancelled, IcspaError
from icspa_desktop.domain.evidence import FixityReport, Item, ItemKind
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.evidence_dialogs import (
    AnnotateDialog,
    CheckoutDialog,
    ExtractDialog,
    FixityResultDialog,
    IngestDialog,
    PhysicalItemDialog,
    SubmitDialog,
)
from icspa_desktop.gui.evidence_tab import EvidenceTab
from icspa_desktop.gui.folders import remember_folder, start_folder
from icspa_desktop.gui.models import selected_rows
from icspa_desktop.gui.ops import BackgroundOp, load_in_background, run_with_progress_dialog, show_error
from icspa_desktop.gui.role_hints import gate
from icspa_desktop.gui.search_panel import SearchBox, SearchResultsDialog
from icspa_desktop.i18n import _, format_size, ngettext
from icspa_desktop.services import evidence, fixity, gui_queries, item_pages, physical, search
from icspa_desktop.services.item_pages import ItemQuery
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.search import SearchResults
from icspa_desktop.services.session import Session

_DERIVED_CHOICES = 1000  # items offered as "derived from" in the ingest dialog (a 100,000-item case: the first)

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow


def ingest_message(label: str, done: int, total: int, started: float) -> str:
    """``evidence.img — 120.0 MiB of 1.0 GiB · 410.2 MiB/s`` for the progress dialog."""
    elapsed = time.monotonic() - started
    if elapsed > 0.2 and done:
        return _("Adding {name}\n{done} of {total} · {rate}/s", name=label, done=format_size(done),
                 total=format_size(total), rate=format_size(int(done / elapsed)))
    return _("Adding {name}\n{done} of {total}", name=label, done=format_size(done), total=format_size(total))


_D = TypeVar("_D", bound=SubmitDialog)

class EvidenceActions(QObject):
    """Owns the evidence actions; emits ``items_changed`` after an action changed items of a case."""

    items_changed = Signal()
    searched = Signal(object)  # the SearchResultsDialog just opened

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last_op: BackgroundOp | None = None  # the latest background op (tests wait on it)
        self.last_dialog: QDialog | None = None  # the latest dialog opened (tests fill it in)
        self.last_fixity_dialog: FixityResultDialog | None = None
        self.last_outcome: object = None  # the latest successful result (IngestOutcome, Extraction, …)
        self._search_op: BackgroundOp | None = None

        def action(text: str, slot: Callable[[], object], tip: str, shortcut: str | None = None) -> QAction:
            act = QAction(text, window)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.setToolTip(_("{tip} ({shortcut})", tip=tip, shortcut=shortcut) if shortcut else tip)
            act.triggered.connect(lambda _checked=False: slot())
            window.addAction(act)
            return act

        self.add_files_action = action(_("Add &files…"), self.add_files, _("Ingest files into the selected case"),
                                       "Ctrl+Shift+A")
        self.add_folder_action = action(_("Add f&older…"), self.add_folder,
                                        _("Ingest every file of a folder into the selected case"))
        self.add_physical_action = action(_("Add &physical item…"), self.add_physical,
                                          _("Record a seized object (phone, disk, document)"))
        self.verify_action = action(_("&Verify items"), self.verify_selected,
                                    _("Re-read and re-hash the selected items (all items when none is selected)"))
        self.extract_action = action(_("E&xtract…"), self.extract,
                                     _("Decrypt the selected item to a file, with a reason"))
        self.checkout_action = action(_("Chec&k out…"), self.check_out, _("Hand the selected physical item over"))
        self.checkin_action = action(_("Check &in…"), self.check_in, _("Take the selected physical item back"))
        self.annotate_action = action(_("&Annotate…"), self.annotate,
                                      _("Edit the selected item's description, notes, tags and markings"))
        self.search_box = SearchBox(window)
        self.search_box.search_requested.connect(self.search)
        self.search_action = action(_("&Search…"), self.search_box.focus, _("Search by hash or text across cases"),
                                    "Ctrl+K")
        self._all = (self.add_files_action, self.add_folder_action, self.add_physical_action, self.verify_action,
                     self.extract_action, self.checkout_action, self.checkin_action, self.annotate_action,
                     self.search_action)

    # ---- wiring (called by the main window) ----------------------------------------------------
    def menu(self) -> QMenu:
        menu = QMenu(_("&Evidence"), self._window)
        menu.addActions([self.add_files_action, self.add_folder_action, self.add_physical_action])
        menu.addSeparator()
        menu.addActions([self.verify_action, self.extract_action, self.checkout_action, self.checkin_action,
                         self.annotate_action])
        menu.addSeparator()
        menu.addAction(self.search_action)
        return menu

    def tab_factory(self, session: Session, case: Case) -> EvidenceTab:
        tab = EvidenceTab(session, case, [self.add_files_action, self.add_folder_action, self.add_physical_action,
                                          None, self.verify_action, self.extract_action, None,
                                          self.checkout_action, self.checkin_action, self.annotate_action])
        tab.selection_changed.connect(self.update_actions)
        tab.loaded.connect(self.update_actions)
        self._window.browser.current_case_changed.connect(tab.case_changed)  # ends with the tab
        tab.files_dropped.connect(self.ingest)
        return tab

    def current_tab(self) -> EvidenceTab | None:
        tab = self._window.browser.case_tab(EvidenceTab)
        return tab if tab is not None and tab.case is not None else None

    def update_actions(self) -> None:
        session = self._window.session
        case = self._window.browser.current_case()
        tab = self.current_tab()
        if session is None:  # the browser has cleared its tabs
            self.search_box.clear()
            for act in self._all:
                act.setEnabled(False)
            return

        role = session.user.role
        open_case = case is not None and case.status is CaseStatus.OPEN
        closed = "" if case is None or open_case else _("Case {number} is closed: it must be reopened first.",
                                                        number=case.number)
        for act in (self.add_files_action, self.add_folder_action, self.add_physical_action):
            gate(act, open_case, role, Permission.ADD_EVIDENCE, why_not=closed)
        if tab is not None:
            tab.set_drops_enabled(open_case and allowed(role, Permission.ADD_EVIDENCE))
        one = tab.current_item() if tab is not None else None  # one row read, not every selected one (Ctrl+A)
        gate(self.verify_action, tab is not None, role, Permission.VERIFY)
        gate(self.extract_action, one is not None and one.kind is ItemKind.DIGITAL, role, Permission.EXTRACT_EVIDENCE)
        is_physical = one is not None and one.kind is ItemKind.PHYSICAL
        gate(self.checkout_action, is_physical and one is not None and not one.checked_out, role, Permission.CHECK_OUT)
        gate(self.checkin_action, is_physical and one is not None and one.checked_out, role, Permission.CHECK_OUT)
        gate(self.annotate_action, one is not None, role, Permission.EDIT_EVIDENCE)
        self.search_action.setEnabled(True)

    # ---- helpers -----------------------------------------------------------------------------
    def busy(self) -> bool:
        """A background op of the window is using the session (the GUI must not touch it meanwhile)."""
        running = any(op.running and op.exclusive for op in self._window.findChildren(BackgroundOp))
        if running:
            self._window.statusBar().showMessage(_("Please wait until the running operation has finished."), 5000)
        return running

    def _context(self) -> tuple[Session, Case, EvidenceTab] | None:
        session, case, tab = self._window.session, self._window.browser.current_case(), self.current_tab()
        if session is None or case is None or tab is None or self.busy():
            return None
        return session, case, tab

    def _open(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_dialog = dialog
        dialog.open()
        return dialog

    def _changed(self, tab: EvidenceTab, case_id: str | None, select: list[str] | None = None,
                 item: Item | None = None) -> None:
        """Show a change made in case ``case_id`` in ``tab``, if the tab still shows that case (the browser keeps
        a case tab for the next case selected: ``case_browser``)."""
        if _alive(tab) and tab.case is not None and tab.case.id == case_id:
            if item is not None:
                tab.update_item(item)
            else:
                tab.reload(select)
        self.update_actions()
        self.items_changed.emit()

    def _submit_form(self, dialog: _D, tab: EvidenceTab, change: Callable[[], Item], *, new: bool = False) -> _D:
        """Open ``dialog``; on submit run ``change``: errors keep the dialog open, success updates the tab."""
        case_id = tab.case.id if tab.case is not None else None

        def save() -> bool:
            try:
                item = change()
            except IcspaError as exc:
                show_error(dialog, exc)
                return False
            self.last_outcome = item
            if new:
                self._changed(tab, case_id, [item.id])
            else:
                self._changed(tab, case_id, item=item)
            return True

        dialog.submit = save
        self._open(dialog)
        return dialog

    def _info(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self._window)
        box.setObjectName("evidenceDoneDialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self._window.statusBar().showMessage(_("Cancelled; nothing was changed."), 8000)
            return
        show_error(self._window, exc)

    # ---- ingest ------------------------------------------------------------------------------
    def add_files(self) -> QFileDialog | None:
        return self._pick(QFileDialog.FileMode.ExistingFiles, _("Add files"))

    def add_folder(self) -> QFileDialog | None:
        return self._pick(QFileDialog.FileMode.Directory, _("Add a folder"))

    def _pick(self, mode: QFileDialog.FileMode, title: str) -> QFileDialog | None:
        if self._context() is None or not self.add_files_action.isEnabled():
            return None
        dialog = QFileDialog(self._window, title, str(start_folder(self._window)))
        dialog.filesSelected.connect(lambda names: remember_folder(self._window, names[0]) if names else None)
        dialog.setObjectName("evidenceFileDialog")
        dialog.setFileMode(mode)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.filesSelected.connect(lambda names: self.ingest([Path(n) for n in names]) if names else None)
        dialog.open()
        return dialog

    def ingest(self, paths: list[Path]) -> IngestDialog | None:
        """Ask for the description, digests and markings of ``paths``; Add ingests them in the background."""
        context = self._context()
        if context is None or not paths or not self.add_files_action.isEnabled():
            return None
        session, case, tab = context
        try:
            defaults = evidence.default_algorithms(session)
            # "Derived from" offers the case's items: the first ones in exhibit order (the table holds only the
            # pages looked at), the selected ones first.
            few = len(selected_rows(tab.table)) <= _DERIVED_CHOICES  # not Ctrl+A over 100,000
            chosen = tab.selected_items() if few else []
            first = item_pages.item_page(session, ItemQuery(case.id), 0, _DERIVED_CHOICES)
        except IcspaError as exc:
            show_error(self._window, exc)
            return None
        seen = {item.id for item in chosen}
        existing = [*chosen, *(item for item in first if item.id not in seen)]
        dialog = IngestDialog(case, paths, defaults, existing, self._window)
        dialog.accepted.connect(lambda: self._start_ingest(session, case, tab, dialog))
        self._open(dialog)
        return dialog

    def _start_ingest(self, session: Session, case: Case, tab: EvidenceTab, dialog: IngestDialog) -> None:
        paths, fields, algorithms = dialog.paths, dialog.fields(), dialog.algorithms()

        def work(progress: ProgressCallback, cancel: CancelToken) -> evidence.IngestOutcome:
            started = time.monotonic()

            def report(done: int, total: int, label: str) -> None:
                progress(done, total, ingest_message(label, done, total, started))

            return evidence.add_files(session, case.id, paths, fields, algorithms, report, cancel)

        def done(outcome: evidence.IngestOutcome) -> None:
            self.last_outcome = outcome
            self._changed(tab, case.id, [item.id for item in outcome.items])
            total = sum(item.size or 0 for item in outcome.items)
            self._window.statusBar().showMessage(
                ngettext("Added {n} item, {size}, to case {number}.", "Added {n} items, {size}, to case {number}.",
                         len(outcome.items), size=format_size(total), number=case.number), 8000)
            if outcome.skipped:
                self._info(_("Some paths were not added"), _("Not added:\n{paths}", paths="\n".join(
                    f"{path}: {reason}" for path, reason in outcome.skipped[:20])))
            if outcome.duplicates:
                self._info(_("Same content added again"), _(
                    "These items have the same content (SHA-256) as items already in the case:\n{pairs}",
                    pairs="\n".join(f"{new} = {earlier}" for new, earlier in outcome.duplicates[:20])))

        self.last_op = run_with_progress_dialog(self._window, _("Adding evidence"), work, done, self._failed)

    # ---- physical items, check-out/in, annotations ---------------------------------------------
    def add_physical(self) -> PhysicalItemDialog | None:
        context = self._context()
        if context is None or not self.add_physical_action.isEnabled():
            return None
        session, case, tab = context
        dialog = PhysicalItemDialog(case, self._window)

        return self._submit_form(
            dialog, tab, lambda: physical.add_physical(session, case.id, dialog.name.text(), dialog.fields()),
            new=True)

    def _one(self) -> tuple[Session, EvidenceTab, Item] | None:
        context = self._context()
        if context is None:
            return None
        session, _case, tab = context
        item = tab.current_item()
        return None if item is None else (session, tab, item)

    def check_out(self) -> CheckoutDialog | None:
        return self._checkout(False, self.checkout_action)

    def check_in(self) -> CheckoutDialog | None:
        return self._checkout(True, self.checkin_action)

    def _checkout(self, checking_in: bool, act: QAction) -> CheckoutDialog | None:
        chosen = self._one()
        if chosen is None or not act.isEnabled():
            return None
        session, tab, item = chosen
        dialog = CheckoutDialog(item, checking_in, session.user.display_name, self._window)

        def change() -> Item:
            other, me, purpose = dialog.other.text(), dialog.me.text(), dialog.purpose.text()
            if checking_in:
                return physical.check_in(session, item.id, other, received_by=me, storage_location=purpose,
                                         notes=dialog.notes.text())
            return physical.check_out(session, item.id, other, purpose, released_by=me, notes=dialog.notes.text())

        return self._submit_form(dialog, tab, change)

    def annotate(self) -> AnnotateDialog | None:
        chosen = self._one()
        if chosen is None or not self.annotate_action.isEnabled():
            return None
        session, tab, item = chosen
        dialog = AnnotateDialog(item, self._window)

        return self._submit_form(dialog, tab, lambda: evidence.annotate(
            session, item.id, description=dialog.description.toPlainText(), notes=dialog.notes.toPlainText(),
            tags=dialog.tag_list(), markings=dialog.markings_editor.markings(item.markings),
            reason=dialog.reason.text()))

    # ---- verify and extract --------------------------------------------------------------------
    def verify_selected(self) -> BackgroundOp | None:
        context = self._context()
        if context is None or not self.verify_action.isEnabled():
            return None
        session, case, tab = context
        selected = tab.selected_items_reader()  # the rows never shown are read in the worker

        def work(progress: ProgressCallback, cancel: CancelToken) -> tuple[list[Item], list[FixityReport]]:
            chosen = selected()
            items = chosen or evidence.list_items(session, case.id)  # none selected: all, read here, not on the GUI
            return chosen, fixity.verify_items(session, items, lambda d, t, label: progress(
                d, t, _("Verifying {name}…", name=label)), cancel)

        def done(result: tuple[list[Item], list[FixityReport]]) -> None:
            chosen, reports = result
            skipped = sum(item.kind is not ItemKind.DIGITAL for item in chosen)
            dialog = FixityResultDialog(reports, self._window, case_number="" if chosen else case.number,
                                        skipped=skipped)
            self._open(dialog)
            self.last_fixity_dialog = dialog
            self.items_changed.emit()

        self.last_op = run_with_progress_dialog(self._window, _("Verifying evidence"), work, done, self._failed)
        return self.last_op

    def extract(self) -> ExtractDialog | None:
        chosen = self._one()
        if chosen is None or not self.extract_action.isEnabled():
            return None
        session, _tab, item = chosen
        dialog = ExtractDialog(item, start_folder(self._window) / item.original_name, self._window)

        def start() -> None:
            out, reason = Path(dialog.path.text().strip()), dialog.reason.text().strip()
            remember_folder(self._window, out)

            def work(progress: ProgressCallback, cancel: CancelToken) -> fixity.Extraction:
                return fixity.extract(session, item.id, out, reason,
                                      lambda d, t, label: progress(d, t, _("Extracting {name}…", name=label)), cancel)

            def done(result: fixity.Extraction) -> None:
                self.last_outcome = result
                self.items_changed.emit()
                self._info(_("Extracted"), _(
                    "Exhibit {exhibit} was written to {path} ({size}); its SHA-256 was checked after writing:\n"
                    "{sha256}", exhibit=item.exhibit_number, path=result.path, size=format_size(result.size),
                    sha256=result.sha256))

            self.last_op = run_with_progress_dialog(self._window, _("Extracting evidence"), work, done, self._failed)

        dialog.accepted.connect(start)
        self._open(dialog)
        return dialog

    # ---- search ------------------------------------------------------------------------------
    def search(self, text: str) -> BackgroundOp | None:
        """Search in the background; the results dialog opens when it is done (``searched`` carries it)."""
        session = self._window.session
        if session is None or not text.strip() or self.busy():
            return None
        if self._search_op is not None and self._search_op.running:
            self._search_op.cancel()  # the newer query wins

        def work(cancel: CancelToken) -> tuple[SearchResults, dict[str, str]]:
            results = search.search(session, text)
            cancel.check()
            numbers = {case.id: case.number for case in results.cases}
            missing = [item.case_id for item in results.items if item.case_id not in numbers]
            return results, numbers | gui_queries.case_numbers(session, missing)

        def done(found: tuple[SearchResults, dict[str, str]]) -> None:
            results, numbers = found
            for old in self._window.findChildren(SearchResultsDialog):
                old.close()
            dialog = SearchResultsDialog(results, numbers, self._window)
            dialog.case_chosen.connect(self.show_case)
            dialog.item_chosen.connect(self.show_item)
            self._open(dialog)
            self.searched.emit(dialog)

        self._window.statusBar().showMessage(_("Searching for {query}…", query=repr(text.strip())), 3000)
        self._search_op = load_in_background(self._window, work, done)
        return self._search_op

    def show_case(self, case_id: str) -> bool:
        from icspa_desktop.domain.ids import CaseId

        return self._window.browser.select_case(CaseId(case_id))

    def show_item(self, case_id: str, item_id: str) -> bool:
        """Select the item's case, bring the Evidence tab forward and select the item."""
        if not self.show_case(case_id):
            return False
        tab = self.current_tab()
        if tab is None:
            return False
        tabs = self._window.browser.tabs
        tabs.setCurrentIndex(tabs.indexOf(tab))
        tab.select_items([item_id])  # now, or when the tab has read its items
        return True


def _alive(widget: QWidget) -> bool:
    return shiboken6.isValid(widget)

