"""Case → Import partner bundle: the import wizard (issue 10 item 6) over ``services.bundle_import``.

File → checking (``prepare_import`` in the background: every layer verified, the payload staged) and the
verification report → confirm → importing (``commit_import``, one transaction) → done (open the case, write
the signed receipt). Nothing enters the vault before "Import"; leaving the wizard any other way — Back, Cancel,
Escape, closing it, a lock — throws the staged payload away (``PreparedImport.discard``). A refused bundle is
shown on the checking page in full, with no way forward. As in the export wizard: every page puts the focus in
its first field, Enter is Next only when the page is complete, no button of a page is an auto-default, and
while the bundle is being checked Escape, Cancel and closing the window ask first. The GUI does not touch the
session while a service call runs in the background.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QWidget,
    QWizard,
)

from icspa_desktop.bundle.mounts import MountTarget, list_targets
from icspa_desktop.domain.enums import CaseStatus
from icspa_desktop.gui.feedback import hint_label, show_message
from icspa_desktop.gui.folders import start_folder
from icspa_desktop.gui.import_check import (
    CheckPage,
    CommitFn,
    PrepareFn,
    ReceiptFn,
    bundle_path,
    target_text,
    volumes_of,
)
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_in_background, run_with_progress
from icspa_desktop.gui.received_dialog import SIGNING_ROLES_ONLY, receipt_save_dialog
from icspa_desktop.gui.role_hints import gate
from icspa_desktop.gui.wizard_parts import (
    PROGRESS_STEPS,
    Page,
    Wizard,
    ask,
    button,
    choose_path,
    field_named,
    plain,
    reading,
    show_share,
    window_action,
)
from icspa_desktop.i18n import _, format_size
from icspa_desktop.services import bundle_import, cases, receipts
from icspa_desktop.services.bundle_import import ImportResult, PreparedImport
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow



class FilePage(Page):
    def __init__(self, session: Session, targets: Callable[[], list[MountTarget]]) -> None:
        super().__init__(_("Bundle to import"), _("Choose the bundle file a partner agency sent (NAME.icspa; a "
                                                  "bundle split into volumes on FAT media: choose NAME.icspa.001). "
                                                  "It is checked completely before anything enters the vault."))
        self._targets = targets
        self.path = self.first = field_named(QLineEdit(), "bundlePathEdit")
        self.path.setPlaceholderText(_("/media/…/NAME.icspa"))
        self.path.textChanged.connect(lambda _text: self.refresh())
        browse = button(_("&Browse…"), "browseButton", self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        path_label = QLabel(_("Bundle &file*"))
        path_label.setBuddy(self.path)  # a row holding a layout gets no buddy by itself
        self.case = field_named(QComboBox(), "targetCaseCombo")
        self.case.addItem(_("Automatic: the case that holds this partner case, else a new case"), None)
        for case in cases.list_cases(session, CaseStatus.OPEN):
            self.case.addItem(f"{case.number} — {case.title}", case.id)
        form = QFormLayout()
        form.addRow(path_label, row)
        form.addRow(_("Add to &case"), self.case)
        self.hint = hint_label()
        self.hint.setWordWrap(True)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.hint)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(1)

    def start_folder(self) -> Path:
        """Where the file dialog opens: beside the path typed, else the removable medium, else home."""
        typed = bundle_path(self.path.text()) if self.path.text().strip() else None
        if typed is not None and typed.parent.is_dir() and typed.is_absolute():
            return typed.parent
        removable = [t for t in self._targets() if t.removable]
        return removable[0].mount_point if removable else start_folder(self)

    def _browse(self) -> None:
        choose_path(self, _("Partner bundle"), str(self.start_folder()), "bundleFileDialog", self.path.setText,
                    filters=[_("ICSPA bundles (*.icspa *.icspa.001)"), _("All files (*)")])

    def chosen(self) -> Path:
        return bundle_path(self.path.text())

    def case_ref(self) -> str | None:
        data = self.case.currentData()
        return str(data) if data else None

    def problem(self) -> str:
        """Why the path cannot be checked ('' when it can)."""
        if not self.path.text().strip():
            return _("Choose the bundle file.")
        path = self.chosen()
        if not path.is_absolute():
            return _("Give the full path of the bundle file.")
        if path.is_dir():
            return _("{path} is a folder; choose the bundle file in it.", path=path)
        if path.is_file() or volumes_of(path):
            return ""
        return _("{path} does not exist (nor its volumes {name}.001, …).", path=path, name=path.name)

    def what(self) -> str:
        """What will be read: the file, or its volumes."""
        path = self.chosen()
        if path.is_file():
            return f"{path.name}: {format_size(path.stat().st_size)}."
        volumes = volumes_of(path)
        if volumes:
            return _("{n} volume(s) {first} … {last}, {size}, read as the one bundle {name}.", n=len(volumes),
                     first=volumes[0].name, last=volumes[-1].name,
                     size=format_size(sum(v.stat().st_size for v in volumes)), name=path.name)
        return ""

    def _busy(self) -> bool:
        wizard = self.wizard()
        return isinstance(wizard, ImportWizard) and wizard.check.stopping is not None

    def refresh(self) -> None:
        problem = self.problem()
        show_message(self.error, problem)
        self.hint.setText(_("Stopping the previous check …") if self._busy() else "" if problem else self.what())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.problem() == "" and not self._busy()


class ConfirmPage(Page):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__(_("Import"), _("Nothing has changed in the vault yet. Import writes everything below in "
                                        "one transaction: all of it, or nothing."))
        self._wizard = wizard
        self.summary = self.first = reading("confirmText")
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(1)
        self.setCommitPage(True)

    def initializePage(self) -> None:
        p = self._wizard.check.prepared
        assert p is not None
        self.summary.setPlainText(confirm_text(p))
        self.intro.setText(_("Nothing changes in the vault: Continue shows the case that holds this bundle.")
                           if p.already_imported else _("Nothing has changed in the vault yet. Import writes "
                                                        "everything below in one transaction: all of it, or "
                                                        "nothing."))
        self.setButtonText(QWizard.WizardButton.CommitButton, _("&Continue") if p.already_imported else _("&Import"))


def confirm_text(p: PreparedImport) -> str:
    if p.already_imported:
        return _("Bundle {bundle} from {partner} was already {when}.\n\nNothing will change: no item, no event, no "
                 "record is added.", bundle=p.bundle_id, partner=p.partner.name, when=p.already_imported)
    new = [i for i in p.items if i.id not in p.known_items]
    lines = [_("From {partner} ({country}), bundle {bundle}:", partner=p.partner.name, country=p.partner.country,
               bundle=p.bundle_id), "",
             _("• into {target}", target=target_text(p)),
             _("• {n} new item(s), {size}, stored encrypted in the vault", n=len(new),
               size=format_size(sum(i.size for i in new)))]
    if p.known_items:
        lines.append(_("• {n} item(s) already held from an earlier bundle: not stored twice", n=len(p.known_items)))
    lines += [_("• the partner's {n} custody event(s), kept exactly as they signed them", n=p.verdict.events),
              _("• our own 'imported' custody event for each item, and the bundle recorded as received"), "",
              _("The items' descriptions and markings stay the partner's (read-only here); notes and tags are "
                "yours.")]
    return "\n".join(lines)


class ImportingPage(Page):
    def __init__(self, wizard: ImportWizard, commit: CommitFn) -> None:
        super().__init__(_("Importing"), _("The payload already checked is moved into the vault and the records "
                                           "are written in one transaction."))
        self._wizard = wizard
        self._commit = commit
        self.op: BackgroundOp | None = None
        self.result: ImportResult | None = None
        self.bar = self.first = field_named(QProgressBar(), "importProgress")
        self.bar.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.bar.setRange(0, 0)
        self.status = plain(name="importStatus")  # which step of the transaction: items, events, commit
        self.layout_.addWidget(self.bar)
        self.layout_.addWidget(self.status)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(1)

    def importing(self) -> bool:
        return self.op is not None and self.op.running

    def initializePage(self) -> None:
        w = self._wizard
        prepared, session, commit = w.check.prepared, w.session, self._commit
        assert prepared is not None
        self.result = None
        self.bar.setRange(0, 0)
        self.status.setText("")
        show_message(self.error, "")
        # Not cancellable: the transaction cannot stop halfway (``reject`` says so); its steps show how far it is.
        self.op = run_with_progress(self, lambda report, _cancel: commit(session, prepared, progress=report),
                                    self._done, self._progress, self._failed)

    def _progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.bar.setRange(0, PROGRESS_STEPS)
            show_share(self.bar, done, total)
        self.status.setText(message)

    def _done(self, result: ImportResult) -> None:
        self.result = result
        self._wizard.check.prepared = None  # committed: nothing staged is left to discard
        self.completeChanged.emit()
        self._wizard.imported.emit(result)
        self._wizard.next()

    def _failed(self, exc: BaseException) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self._wizard.check.discard()
        show_message(self.error, _("The import failed: {error} Nothing was imported: the transaction was rolled "
                                   "back and the staged payload removed.", error=error_text(exc)))
        self._wizard.import_failed.emit(exc)

    def isComplete(self) -> bool:
        return self.result is not None


class DonePage(Page):
    def __init__(self, wizard: ImportWizard, write_receipt: ReceiptFn) -> None:
        super().__init__(_("Imported"), "")
        self._wizard = wizard
        self._write_receipt = write_receipt
        self.op: BackgroundOp | None = None
        self.receipt: receipts.Receipt | None = None
        self.case = self.first = field_named(QLineEdit(), "caseField")
        self.case.setReadOnly(True)
        self.open_case = button(_("&Open case"), "openCaseButton", self._open_case)
        row = QHBoxLayout()
        row.addWidget(self.case, 1)
        row.addWidget(self.open_case)
        case_label = QLabel(_("&Case"))
        case_label.setBuddy(self.case)
        form = QFormLayout()
        form.addRow(case_label, row)
        self.added = plain(name="addedLabel")
        self.receipt_button = button(_("&Write receipt…"), "writeReceiptButton", self.choose_receipt_file)
        self.receipt_hint = plain(name="hintLabel")
        self.receipt_hint.setAccessibleName("receiptHint")
        receipt_row = QHBoxLayout()
        receipt_row.addWidget(self.receipt_button)
        receipt_row.addWidget(self.receipt_hint, 1)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.added)
        self.layout_.addLayout(receipt_row)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(1)
        self.setFinalPage(True)

    def initializePage(self) -> None:
        result = self._wizard.importing.result
        prepared_from = self._wizard.partner_name
        assert result is not None
        self.case.setText(f"{result.case.number} — {result.case.title}")
        if result.already_imported:
            self.setTitle(_("Nothing changed"))
            self.intro.setText(result.already_imported)
            self.added.setText("")
        else:
            self.setTitle(_("Imported"))
            self.intro.setText(_("The bundle from {partner} is in the vault, with its custody.", partner=prepared_from))
            counts = {"n": len(result.added), "held": result.already_present, "events": result.partner_events_added}
            self.added.setText(_("{n} item(s) added, {held} already held; {events} custody event(s) of the partner "
                                 "kept.", **counts) if result.already_present else
                               _("{n} item(s) added; {events} custody event(s) of the partner kept.", **counts))
        can_sign = allowed(self._wizard.session.user.role, Permission.SIGN_AS_AGENCY)
        self.receipt_button.setEnabled(can_sign)
        why = _("{signers} One of them can, later: Case → Bundles sent and received…", signers=_(SIGNING_ROLES_ONLY))
        self.receipt_button.setToolTip("" if can_sign else why)
        self.receipt_hint.setText(_("Return the signed receipt to {partner}: it closes the transfer in their "
                                    "custody.", partner=prepared_from) if can_sign else why)

    def _open_case(self) -> None:
        result = self._wizard.importing.result
        if result is not None:
            self._wizard.open_case_requested.emit(str(result.case.id))
            self._wizard.accept()

    def choose_receipt_file(self) -> QFileDialog | None:
        """The save dialog, in the bundle's folder when it is writable (else home)."""
        result = self._wizard.importing.result
        if result is None or not self.receipt_button.isEnabled():
            return None
        folder = self._wizard.file.chosen().parent
        if not (folder.is_dir() and os.access(folder, os.W_OK)):
            folder = Path.home()
        return receipt_save_dialog(self, result.bundle_id, folder, self.write_receipt)

    def writing(self) -> bool:
        return self.op is not None and self.op.running

    def write_receipt(self, path: Path) -> BackgroundOp | None:
        result = self._wizard.importing.result
        if result is None or self.writing():
            return None
        session, write = self._wizard.session, self._write_receipt
        self.receipt_button.setEnabled(False)
        show_message(self.error, "")
        self.receipt_hint.setText(_("Signing and writing {name} …", name=path.name))
        self.op = run_in_background(self, lambda: write(session, result.bundle_id, path), self._written,
                                    self._receipt_failed)
        return self.op

    def _written(self, receipt: receipts.Receipt) -> None:
        self.receipt = receipt
        self.receipt_button.setEnabled(True)
        self.receipt_hint.setText(_("Receipt written to {path}. Return it to {partner}; they record it with "
                                    "'Record a receipt…'.", path=receipt.path, partner=self._wizard.partner_name))
        self._wizard.receipt_written.emit(receipt)

    def _receipt_failed(self, exc: BaseException) -> None:
        self.receipt_button.setEnabled(True)
        self.receipt_hint.setText("")
        show_message(self.error, _("No receipt was written: {error}", error=error_text(exc)))


class ImportWizard(Wizard):
    """The import wizard. ``checked(PreparedImport)`` once the report shows, ``check_failed(exc)`` for a refusal,
    ``imported(ImportResult)`` after the commit, ``open_case_requested(case id)``, ``receipt_written(Receipt)``."""

    checked = Signal(object)
    check_failed = Signal(object)
    imported = Signal(object)
    import_failed = Signal(object)
    receipt_written = Signal(object)
    open_case_requested = Signal(str)
    progressed = Signal(int, int)

    def __init__(self, session: Session, parent: QWidget | None = None, *,
                 prepare: PrepareFn = bundle_import.prepare_import, commit: CommitFn = bundle_import.commit_import,
                 write_receipt: ReceiptFn = receipts.write_receipt,
                 targets: Callable[[], list[MountTarget]] = list_targets) -> None:
        super().__init__("importWizard", _("Import a partner agency's bundle"), 900, 640, parent)
        self.session = session
        self.closed = False
        self.file = FilePage(session, targets)
        self.check = CheckPage(self, prepare)
        self.confirm = ConfirmPage(self)
        self.importing = ImportingPage(self, commit)
        self.done_page = DonePage(self, write_receipt)
        self.add_pages([self.file, self.check, self.confirm, self.importing, self.done_page])
        self.partner_name = ""  # the sender, for the done page (the prepared import is gone by then)

    def _stopped_by_lock(self, op: BackgroundOp | None) -> bool:
        return op is not None and op.cancel_token.cancelled

    def reject(self) -> None:
        """Escape, Cancel and the window's close button: while checking, ask first; while the transaction runs,
        wait for it. A lock cancels every op first and then closes every dialog: no question then."""
        if self.check.checking() and not self._stopped_by_lock(self.check.op):
            self.question = ask(self, "stopCheckingQuestion", _("Stop checking?"), _("The bundle is being checked. "
                                "Stop, and remove what was staged so far? Nothing has been imported."),
                                _("&Stop checking"), _("&Continue checking"), self.check.cancel)
            return
        if self.importing.importing() and not self._stopped_by_lock(self.importing.op):
            box = QMessageBox(QMessageBox.Icon.Information, _("Importing"), _("The import is being written in one "
                              "transaction and cannot be stopped halfway; it ends in a moment."),
                              QMessageBox.StandardButton.Ok, self)
            box.setObjectName("importingNotice")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            return
        if self.done_page.writing() and not self._stopped_by_lock(self.done_page.op):
            return  # the receipt is being signed: a moment
        super().reject()

    def done(self, result: int) -> None:
        """Every way out: whatever was staged and not imported is thrown away."""
        if self.done_page.writing() and not self._stopped_by_lock(self.done_page.op):
            return
        self.closed = True
        self.close_question()
        if not self.importing.importing():
            self.check.discard()
        if self.check.op is not None and self.check.op.running:
            self.check.op.cancel()  # its result is discarded when it arrives (``closed``)
        super().done(result)


class ImportBundleAction(QObject):
    """Case → Import partner bundle… (Ctrl+Shift+I): roles that may import bundles."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last_wizard: ImportWizard | None = None
        self.prepare: PrepareFn = bundle_import.prepare_import  # tests wrap these
        self.targets: Callable[[], list[MountTarget]] = list_targets
        self.action = window_action(window, _("&Import partner bundle…"), "Ctrl+Shift+I", _("Check a partner "
                                    "agency's bundle completely, then import it into a case"), self.open)

    def update(self) -> None:
        session = self._window.session
        gate(self.action, session is not None, session.user.role if session is not None else None,
             Permission.IMPORT_BUNDLE)

    def open(self) -> ImportWizard | None:
        session = self._window.session
        if session is None or not self.action.isEnabled():
            return None
        wizard = ImportWizard(session, self._window, prepare=self.prepare, targets=self.targets)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.imported.connect(self._imported)
        wizard.receipt_written.connect(lambda _receipt: self._window.custody.log_changed.emit())
        wizard.open_case_requested.connect(self._open_case)
        self.last_wizard = wizard
        wizard.open()
        return wizard

    def _imported(self, result: ImportResult) -> None:
        self._window.refresh()
        self._window.custody.log_changed.emit()
        if not result.already_imported:
            self._window.statusBar().showMessage(_("Imported {n} item(s) into case {number}", n=len(result.added),
                                                   number=result.case.number), 8000)

    def _open_case(self, case_id: str) -> None:
        session = self._window.session
        if session is None:
            return
        self._window.refresh()
        self._window.browser.select_case(cases.get_case(session, case_id).id)
