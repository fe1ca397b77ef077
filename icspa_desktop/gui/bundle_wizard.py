"""Case → Send to partner agency: the export wizard (issue 9 item 8) over ``services.bundles``.

Items → recipients → preview (``plan_export``: exactly what leaves, nothing written) → target medium →
writing (``export`` in the background, progress, cancel) → done. Every page puts the focus in its first
field; Enter is Next only when the page is complete (the wizard's default button is disabled otherwise)
and no button of a page is an auto-default. While writing, Escape, Cancel and closing the window ask
first; "Stop writing" cancels at once. The GUI does not touch the session while the export runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from icspa_desktop.bundle.mounts import MountTarget, list_targets
from icspa_desktop.domain.errors import Cancelled, IcspaError
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.clipboard import copy_text
from icspa_desktop.gui.export_pages import ItemsPage, PreviewPage, RecipientsPage, TargetPage
from icspa_desktop.gui.feedback import show_message
from icspa_desktop.gui.ops import BackgroundOp, load_in_background, run_with_progress
from icspa_desktop.gui.role_hints import gate
from icspa_desktop.gui.wizard_parts import Page, ProgressSection, Wizard, ask, button, field_named, window_action
from icspa_desktop.i18n import _, format_size
from icspa_desktop.services import bundles, evidence
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow

ExportFn = Callable[..., bundles.ExportResult]  # bundles.export's signature


class WritingPage(Page):
    def __init__(self, wizard: BundleWizard, export: ExportFn) -> None:
        super().__init__(_("Writing"), _("The bundle is written under a temporary name, synced, renamed, then "
                                         "read back from the medium and checked before it counts as sent."))
        self._wizard = wizard
        self._export = export
        self.op: BackgroundOp | None = None
        self.result: bundles.ExportResult | None = None
        self.progress = ProgressSection("writeProgress", "writeStatus", _("&Stop writing"), "stopButton",
                                        self.cancel)
        self.bar, self.status, self.stop = self.progress.bar, self.progress.status, self.progress.stop
        self.first = self.bar
        self.layout_.addWidget(self.bar)
        self.layout_.addWidget(self.status)
        self.layout_.addWidget(self.stop, 0, Qt.AlignmentFlag.AlignLeft)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(1)

    def writing(self) -> bool:
        return self.op is not None and self.op.running

    def initializePage(self) -> None:
        w = self._wizard
        plan, out, session = w.preview.plan, w.target.out_path(), w.session
        assert plan is not None
        self.result = None
        self.bar.setValue(0)
        self.status.setText(_("Writing {path} …", path=out))
        show_message(self.error, "")
        self.stop.setEnabled(True)
        w.target.setCommitPage(True)

        def work(progress: ProgressCallback, cancel: CancelToken) -> bundles.ExportResult:
            return self._export(session, plan, out, progress=progress, cancel=cancel)

        self.op = run_with_progress(self, work, self._written, self._progress, self._failed)

    def cleanupPage(self) -> None:  # Back after a failure
        self._wizard.target.setCommitPage(True)

    def cancel(self) -> None:
        if self.op is not None and self.op.running:
            self.op.cancel()
            self.progress.stopping(_("Stopping: removing what was written …"))

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.show_bytes(done, total, message)
        self._wizard.progressed.emit(done, total)

    def _written(self, result: bundles.ExportResult) -> None:
        self._wizard.close_question()
        self.result = result
        self.completeChanged.emit()
        self._wizard.bundle_written.emit(result)
        self._wizard.next()

    def _failed(self, exc: BaseException) -> None:
        self._wizard.close_question()
        self.stop.setEnabled(False)
        name = self._wizard.target.out_path().name
        head = _("Cancelled") if isinstance(exc, Cancelled) else _("The bundle was not written")
        text = exc if isinstance(exc, IcspaError) and not isinstance(exc, Cancelled) else _("stopped by you")
        self.status.setText("")
        show_message(self.error, _("{head}: {reason}. Nothing was left under {name}; the attempt is recorded in "
                                   "the chain of custody. Go Back to choose another target, or Cancel.",
                                   head=head, reason=text, name=name))
        self._wizard.target.setCommitPage(False)  # Back is allowed again
        self.completeChanged.emit()
        self._wizard.export_failed.emit(exc)

    def isComplete(self) -> bool:
        return self.result is not None


class DonePage(Page):
    def __init__(self, wizard: BundleWizard) -> None:
        super().__init__(_("Bundle written"), _("The bundle was read back from the target and its SHA-256 "
                                                "matched what was written. Hand over the medium with the seal "
                                                "files beside the bundle."))
        self._wizard = wizard
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        fields = [field_named(QLineEdit(), name) for name in ("bundleIdField", "fileField", "sizeField", "sha256Field")]
        self.bundle_id, self.file, self.size_field, self.sha256 = fields
        self.first = self.bundle_id
        form = QFormLayout()
        for label, edit in zip((_("Bundle &id"), _("Fi&le"), _("Si&ze"), _("SHA-&256")), fields, strict=True):
            edit.setReadOnly(True)
            form.addRow(label, edit)
        self.verified = QLabel()
        self.verified.setObjectName("verifiedLabel")
        buttons = QHBoxLayout()
        buttons.addWidget(button(_("Show in f&older"), "showFolderButton", self._show_folder))
        buttons.addWidget(button(_("&Copy SHA-256"), "copyShaButton", self._copy))
        buttons.addStretch(1)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.verified)
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)
        self.setFinalPage(True)

    def initializePage(self) -> None:
        result = self._wizard.writing.result
        assert result is not None
        self.bundle_id.setText(result.bundle_id)
        self.file.setText(str(result.path))
        self.size_field.setText(_("{size} ({bytes} bytes)", size=format_size(result.size), bytes=f"{result.size:,}"))
        self.sha256.setText(result.sha256)
        fields = {"n": result.items, "seal": result.seal_path.name, "signature": result.seal_signature_path.name,
                  "volumes": len(result.volumes), "names": ", ".join(v.name for v in result.volumes)}
        self.verified.setText(_("Read back and verified: {n} item(s). Seal: {seal}, {signature}. Written as "
                                "{volumes} volumes ({names}): hand over all of them; 'cat' joins them into the "
                                "bundle.", **fields) if len(result.volumes) > 1 else
                              _("Read back and verified: {n} item(s). Seal: {seal}, {signature}.", **fields))

    def _show_folder(self) -> None:
        result = self._wizard.writing.result
        if result is not None:
            self.open_url(QUrl.fromLocalFile(str(result.path.parent)))

    def _copy(self) -> None:
        copy_text(self.sha256.text())  # cleared after a minute and at lock


class BundleWizard(Wizard):
    """The export wizard for one case; ``bundle_written(ExportResult)`` once the bundle is on the target."""

    bundle_written = Signal(object)
    export_failed = Signal(object)
    items_loaded = Signal()  # the items page has the case's items (or says why not)
    progressed = Signal(int, int)

    def __init__(self, session: Session, case: Case, parent: QWidget | None = None, *,
                 export: ExportFn = bundles.export, targets: Callable[[], list[MountTarget]] = list_targets,
                 checked: Collection[str] = ()) -> None:
        super().__init__("bundleWizard", _("Send case {number} to a partner agency", number=case.number), 760, 560,
                         parent)
        self.session, self.case = session, case
        self.items = ItemsPage(checked)
        self.recipients = RecipientsPage(session, self.items)
        self.preview = PreviewPage(self)
        self.target = TargetPage(self, targets)
        self.writing = WritingPage(self, export)
        self.done_page = DonePage(self)
        self.add_pages([self.items, self.recipients, self.preview, self.target, self.writing, self.done_page])

        def stored(cancel: CancelToken) -> list[Item]:
            found = evidence.list_items(session, case.id)
            cancel.check()
            return [i for i in found if i.blob_id is not None]

        self.loading: BackgroundOp | None = load_in_background(self, stored, self._items_read, self._items_failed)

    def _items_read(self, items: list[Item]) -> None:
        self.loading = None
        self.items.set_items(items)
        self.items_loaded.emit()

    def _items_failed(self, exc: BaseException) -> None:
        self.loading = None
        self.items.load_failed(exc)
        self.items_loaded.emit()

    def reject(self) -> None:
        """Escape, Cancel and the window's close button: while writing, ask before stopping."""
        if self.loading is not None:
            self.loading.cancel()  # closed before the items were read: the read stops, its result is dropped
        if not self.writing.writing() or (self.writing.op is not None and self.writing.op.cancel_token.cancelled):
            super().reject()  # a lock cancels the op first and then closes every dialog: no question then
            return
        self.question = ask(self, "stopWritingQuestion", _("Stop writing?"), _("The bundle is being written. Stop, "
                            "and remove everything written so far?"), _("&Stop writing"), _("&Continue writing"),
                            self.writing.cancel)


class SendBundleAction(QObject):
    """Case → Send to partner agency… (Ctrl+Shift+E): roles that may sign as the agency, a case selected."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last_wizard: BundleWizard | None = None
        self.export: ExportFn = bundles.export  # tests wrap these two
        self.targets: Callable[[], list[MountTarget]] = list_targets
        self.action = window_action(window, _("Send to &partner agency…"), "Ctrl+Shift+E", _("Export items of the "
                                    "selected case as a signed, encrypted bundle for partners"), self.open)

    def update(self) -> None:
        session = self._window.session
        gate(self.action, session is not None and self._window.browser.current_case() is not None,
             session.user.role if session is not None else None, Permission.EXPORT_BUNDLE,
             Permission.SIGN_AS_AGENCY)

    def open(self) -> BundleWizard | None:
        session, case = self._window.session, self._window.browser.current_case()
        if session is None or case is None or not self.action.isEnabled():
            return None
        tab = self._window.evidence.current_tab()
        chosen = tab.chosen_item_ids() if tab is not None and tab.case is not None and tab.case.id == case.id else []
        wizard = BundleWizard(session, case, self._window, export=self.export, targets=self.targets, checked=chosen)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.bundle_written.connect(lambda _result: self._window.custody.log_changed.emit())
        wizard.export_failed.connect(lambda _exc: self._window.custody.log_changed.emit())
        self.last_wizard = wizard
        wizard.open()
        return wizard
