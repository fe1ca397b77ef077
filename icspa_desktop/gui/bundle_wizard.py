"""Case → Send to partner agency: the export wizard (issue 9 item 8) over ``services.bundles``.

Items → recipients → preview (``plan_export``: exactly what leaves, nothing written) → target medium →
writing (``export`` in the background, progress, cancel) → done. Every page puts the focus in its first
field; Enter is Next only when the page is complete (the wizard's default button is disabled otherwise)
and no button of a page is an auto-default. While writing, Escape, Cancel and closing the window ask
first; "Stop writing" cancels at once. The GUI does not touch the session while the export runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from icspa_desktop.bundle.mounts import MountTarget, list_targets, target_for
from icspa_desktop.domain.enums import HandlingCode
from icspa_desktop.domain.errors import Cancelled, IcspaError
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.evidence_model import human_size
from icspa_desktop.gui.feedback import error_label, hint_label, show_message
from icspa_desktop.gui.ops import BackgroundOp, run_with_progress
from icspa_desktop.services import bundles, evidence, partners
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow

ExportFn = Callable[..., bundles.ExportResult]  # bundles.export's signature
_ID = Qt.ItemDataRole.UserRole
_W = TypeVar("_W", bound=QWidget)
# Room for the tag files, PDF report, tar headers and age's 16 bytes per 64 KiB, beside the payload.
_OVERHEAD = 16 << 20


def safe_file_name(text: str) -> str:
    """``2026/041 A`` → ``2026-041-A``: letters, digits, ``-_.`` only, never empty or hidden."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-" for ch in text).strip("-.") or "bundle"


def _free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def _field(widget: _W, name: str) -> _W:
    widget.setObjectName(name)
    widget.setAccessibleName(name)
    return widget


def _check_list(name: str, rows: list[tuple[str, str]], checked: bool, changed: Callable[[], object]) -> QListWidget:
    """A list of (text, id) rows with check boxes; Space toggles the current row."""
    widget = _field(QListWidget(), name)
    for text, key in rows:
        row = QListWidgetItem(text, widget)
        row.setData(_ID, key)
        row.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
        row.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    widget.setCurrentRow(0)
    widget.itemChanged.connect(lambda _row: changed())
    return widget


def _button(text: str, name: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAutoDefault(False)  # Enter stays the wizard's Next/Finish, whatever has the focus
    button.clicked.connect(lambda _checked=False: slot())
    return button


def _checked(widget: QListWidget) -> list[str]:
    return [widget.item(i).data(_ID) for i in range(widget.count())
            if widget.item(i).checkState() is Qt.CheckState.Checked]


class _Page(QWizardPage):
    def __init__(self, title: str, intro: str) -> None:
        super().__init__()
        self.setTitle(title)
        self.layout_ = QVBoxLayout(self)
        label = QLabel(intro)
        label.setWordWrap(True)
        self.layout_.addWidget(label)
        self.error = error_label()
        self.first: QWidget = self  # where the focus goes when the page is shown


class ItemsPage(_Page):
    def __init__(self, items: list[Item]) -> None:
        super().__init__("Evidence to send", "Every stored item of the case is selected; uncheck what must not "
                         "leave. Space checks or unchecks the highlighted item.")
        self.items = {str(item.id): item for item in items}
        self.summary = hint_label()
        self.list = self.first = _check_list("itemsList", [(
            f"{i.exhibit_number}   {i.original_name}   {human_size(i.size)}   {i.markings.handling_code} · "
            f"TLP:{i.markings.tlp}", i.id) for i in items], True, self._changed)
        self.layout_.addWidget(self.list, 1)
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.error)
        show_message(self.error, "" if items else "This case has no stored evidence to send.")
        self._changed()

    def _changed(self) -> None:
        chosen = self.chosen()
        self.summary.setText(f"{len(chosen)} of {len(self.items)} items, "
                             f"{human_size(sum(i.size or 0 for i in chosen))}")
        self.completeChanged.emit()

    def chosen(self) -> list[Item]:
        return [self.items[i] for i in _checked(self.list)]

    def isComplete(self) -> bool:
        return bool(self.chosen())


class RecipientsPage(_Page):
    def __init__(self, session: Session, items: ItemsPage) -> None:
        super().__init__("Recipients", "The partner agencies that may open the bundle (your own agency can "
                         "always re-open what it sent). Purpose and authority go into each item's custody event.")
        self._items = items
        found = partners.list_partners(session, include_inactive=False)
        now = datetime.now(UTC)
        self.list = self.first = _check_list("partnersList", [(
            f"{p.name} ({p.country})   {p.fingerprint}" + (f"   (key expires in {(p.expires - now).days} days)"
                                                          if (p.expires - now).days < 30 else ""), p.id)
            for p in found], False, self.completeChanged.emit)
        self.purpose = _field(QLineEdit(), "purposeEdit")
        self.purpose.setPlaceholderText("Why the evidence leaves, e.g. JIT Nightjar")
        self.authority = _field(QLineEdit(), "authorityEdit")
        self.authority.setPlaceholderText("Legal basis, e.g. MLA request 2026/17")
        self.h3 = _field(QLineEdit(), "h3OverrideEdit")
        self.h3.textChanged.connect(lambda _text: self.completeChanged.emit())
        self.h3_label = QLabel("&H3 override reason*")
        self.h3_label.setBuddy(self.h3)
        form = QFormLayout()
        form.addRow("&Purpose", self.purpose)
        form.addRow("Legal &authority", self.authority)
        form.addRow(self.h3_label, self.h3)
        self.layout_.addWidget(self.list, 1)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.error)
        show_message(self.error, "" if found else "No active partner agency: add one under Agency → Partners first.")

    def initializePage(self) -> None:
        h3 = [i.exhibit_number for i in self._items.chosen() if i.markings.handling_code is HandlingCode.H3]
        self.h3_label.setText(f"&H3 override reason* ({', '.join(h3)})")
        self.h3_label.setVisible(bool(h3))
        self.h3.setVisible(bool(h3))

    def needs_override(self) -> bool:
        return not self.h3.isHidden()

    def isComplete(self) -> bool:
        return bool(_checked(self.list)) and (not self.needs_override() or bool(self.h3.text().strip()))


class PreviewPage(_Page):
    def __init__(self, wizard: BundleWizard) -> None:
        super().__init__("What leaves", "Exactly what the bundle will carry, signed with the agency key and "
                         "encrypted to the recipients. Nothing has been written yet.")
        self._wizard = wizard
        self.plan: bundles.ExportPlan | None = None
        self.text = self.first = _field(QPlainTextEdit(), "previewText")
        self.text.setReadOnly(True)
        self.text.setTabChangesFocus(True)
        self.warnings = QLabel()
        self.warnings.setObjectName("warningLabel")
        self.warnings.setWordWrap(True)
        self.layout_.addWidget(self.text, 1)
        self.layout_.addWidget(self.warnings)
        self.layout_.addWidget(self.error)

    def initializePage(self) -> None:
        w = self._wizard
        self.plan = None
        try:  # quick: checks and reads, writes nothing
            self.plan = bundles.plan_export(
                w.session, w.case.id, _checked(w.recipients.list), [i.id for i in w.items.chosen()],
                purpose=w.recipients.purpose.text(), authority=w.recipients.authority.text(),
                h3_override=w.recipients.h3.text() if w.recipients.needs_override() else "")
        except IcspaError as exc:
            self.text.setPlainText("")
            show_message(self.error, str(exc))
            self.warnings.hide()
        else:
            self.text.setPlainText(describe(self.plan))
            show_message(self.error, "")
            self.warnings.setText("\n".join(f"⚠ {w}" for w in self.plan.warnings))
            self.warnings.setVisible(bool(self.plan.warnings))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.plan is not None


def describe(plan: bundles.ExportPlan) -> str:
    """The preview text: case, every item with size, markings and SHA-256, every recipient with fingerprint."""
    lines = [f"Case {plan.case.number} — {plan.case.title}", "",
             f"Items ({len(plan.items)}, {human_size(plan.total_size)}):"]
    lines += [f"  {i.exhibit_number}  {i.original_name}  {human_size(i.size)}  {i.markings.handling_code} · "
              f"TLP:{i.markings.tlp}\n      SHA-256 {i.sha256}" for i in plan.items]
    lines += ["", "Recipients:"]
    lines += [f"  {p.name} ({p.country})  fingerprint {p.fingerprint}" for p in plan.recipients]
    lines += ["  and your own agency (to re-open what was sent)", "", f"Purpose: {plan.purpose or '—'}",
              f"Legal authority: {plan.authority or '—'}"]
    if plan.h3_override:
        lines.append(f"H3 override: {plan.h3_override}")
    lines += ["", "Also in the bundle: the item records, their custody events with proofs against a checkpoint "
              "signed now, the CASE/UCO graph and the PDF custody report."]
    return "\n".join(lines)


class TargetPage(_Page):
    def __init__(self, wizard: BundleWizard, targets: Callable[[], list[MountTarget]]) -> None:
        super().__init__("Where to write", "Choose the removable medium you will hand over, or a folder. The "
                         "bundle file and its seal (.sha256, .sha256.p7s) are written there.")
        self._wizard = wizard
        self._targets = targets
        self._all: list[MountTarget] = []
        self.free_space = _free_bytes
        self.mounts = _field(QListWidget(), "mountsList")
        self.mounts.currentRowChanged.connect(self._mount_chosen)
        self.notice = hint_label()
        self.notice.setWordWrap(True)
        self.folder = _field(QLineEdit(), "folderEdit")
        choose = _button("C&hoose folder…", "chooseFolderButton", self._choose)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(choose)
        self.name = _field(QLineEdit(safe_file_name(wizard.case.number)), "fileNameEdit")
        self.space = hint_label()
        folder_label = QLabel("&Folder*")
        folder_label.setBuddy(self.folder)  # a row holding a layout gets no buddy by itself
        form = QFormLayout()
        form.addRow(folder_label, row)
        form.addRow("File &name*", self.name)
        for edit in (self.folder, self.name):
            edit.textChanged.connect(self._changed)
        self.layout_.addWidget(self.mounts, 1)
        self.layout_.addWidget(self.notice)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.space)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(0)  # takes the room of the media list when there is none
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Write bundle")

    def initializePage(self) -> None:
        self._all = self._targets()
        removable = [t for t in self._all if t.removable and not t.read_only]
        self.mounts.clear()
        for t in removable:
            row = QListWidgetItem(f"{t.mount_point}   {t.fs_type}   {human_size(t.free_bytes)} free of "
                                  f"{human_size(t.total_bytes)}   ({t.device})", self.mounts)
            row.setData(_ID, str(t.mount_point))
        self.mounts.setVisible(bool(removable))
        self.notice.setText("No removable medium found: plug one in, or choose a folder." if not removable else
                            f"{len(removable)} removable media: check that the selected one is the one you will "
                            "hand over." if len(removable) > 1 else "")
        self.notice.setVisible(len(removable) != 1)
        if len(removable) == 1:
            self.mounts.setCurrentRow(0)
        self.first = self.mounts if removable else self.folder
        self._changed()

    def _mount_chosen(self, row: int) -> None:
        if row >= 0:
            self.folder.setText(self.mounts.item(row).data(_ID))

    def _choose(self) -> None:
        dialog = QFileDialog(self, "Folder for the bundle", self.folder.text() or str(Path.home()))
        dialog.setObjectName("bundleFolderDialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.folder.setText(name) if name else None)
        dialog.open()

    def out_path(self) -> Path:
        name = self.name.text().strip()
        return Path(self.folder.text().strip()).expanduser() / (
            name if name.endswith(bundles.BUNDLE_SUFFIX) else name + bundles.BUNDLE_SUFFIX)

    def problem(self) -> str:
        """Why the target cannot take the bundle ('' when it can); checked before anything is written."""
        folder, name = Path(self.folder.text().strip()).expanduser(), self.name.text().strip()
        plan = self._wizard.preview.plan
        need = (plan.total_size if plan else 0) + _OVERHEAD
        self.space.setText("")
        if not self.folder.text().strip():
            return "Choose a medium or a folder."
        if not folder.is_absolute() or not folder.is_dir():
            return f"{folder} is not a folder (is the medium mounted?)."
        if not name or safe_file_name(name) != name:
            return "The file name may contain only letters, digits, '-', '_' and '.', and may not start with '.'."
        out = self.out_path()
        for path in (out, *(out.with_name(out.name + tail) for tail in (".sha256", ".sha256.p7s", ".001"))):
            if os.path.lexists(path):
                return f"{path.name} already exists in {folder}; choose another file name."
        mount = target_for(folder.resolve(), self._all)
        try:
            free = self.free_space(folder)
        except OSError as exc:
            return f"Cannot look at {folder}: {exc.strerror}."
        fs = f" ({mount.fs_type})" if mount else ""
        split = mount is not None and mount.max_file_size is not None and need > mount.max_file_size
        self.space.setText(f"Needs about {human_size(need)}; {human_size(free)} free{fs}." + (
            f" FAT holds files below 4 GiB: written as volumes {out.name}.001, .002, … (cat them to rejoin)."
            if split else ""))
        if (mount is not None and mount.read_only) or not os.access(folder, os.W_OK):
            return f"{folder} is read-only for you."
        if free < need:
            return f"Not enough free space: the bundle needs about {human_size(need)}, {human_size(free)} is free."
        return ""

    def _changed(self) -> None:
        show_message(self.error, self.problem())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.problem() == ""


class WritingPage(_Page):
    def __init__(self, wizard: BundleWizard, export: ExportFn) -> None:
        super().__init__("Writing", "The bundle is written under a temporary name, synced, renamed, then read "
                         "back from the medium and checked before it counts as sent.")
        self._wizard = wizard
        self._export = export
        self.op: BackgroundOp | None = None
        self.result: bundles.ExportResult | None = None
        self.bar = self.first = _field(QProgressBar(), "writeProgress")
        self.bar.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the focus rests here, not on Stop
        self.bar.setRange(0, 1000)
        self.status = QLabel()
        self.status.setObjectName("writeStatus")
        self.stop = _button("&Stop writing", "stopButton", self.cancel)
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
        self.status.setText(f"Writing {out} …")
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
            self.stop.setEnabled(False)
            self.status.setText("Stopping: removing what was written …")

    def _progress(self, done: int, total: int, message: str) -> None:
        self.bar.setValue(min(1000, done * 1000 // total) if total else 0)
        self.status.setText(f"{message} — {human_size(done)} of {human_size(total)}" if total else message)
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
        head = "Cancelled" if isinstance(exc, Cancelled) else "The bundle was not written"
        text = exc if isinstance(exc, IcspaError) and not isinstance(exc, Cancelled) else "stopped by you"
        self.status.setText("")
        show_message(self.error, f"{head}: {text}. Nothing was left under {name}; the attempt is recorded in the "
                                 "chain of custody. Go Back to choose another target, or Cancel.")
        self._wizard.target.setCommitPage(False)  # Back is allowed again
        self.completeChanged.emit()
        self._wizard.export_failed.emit(exc)

    def isComplete(self) -> bool:
        return self.result is not None


class DonePage(_Page):
    def __init__(self, wizard: BundleWizard) -> None:
        super().__init__("Bundle written", "The bundle was read back from the target and its SHA-256 matched "
                         "what was written. Hand over the medium with the seal files beside the bundle.")
        self._wizard = wizard
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        fields = [_field(QLineEdit(), name) for name in ("bundleIdField", "fileField", "sizeField", "sha256Field")]
        self.bundle_id, self.file, self.size_field, self.sha256 = fields
        self.first = self.bundle_id
        form = QFormLayout()
        for label, edit in zip(("Bundle &id", "&File", "Si&ze", "SHA-&256"), fields, strict=True):
            edit.setReadOnly(True)
            form.addRow(label, edit)
        self.verified = QLabel()
        self.verified.setObjectName("verifiedLabel")
        buttons = QHBoxLayout()
        buttons.addWidget(_button("Show in f&older", "showFolderButton", self._show_folder))
        buttons.addWidget(_button("&Copy SHA-256", "copyShaButton", self._copy))
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
        self.size_field.setText(f"{human_size(result.size)} ({result.size:,} bytes)")
        self.sha256.setText(result.sha256)
        self.verified.setText(f"Read back and verified: {result.items} item(s). Seal: {result.seal_path.name}, "
                              f"{result.seal_signature_path.name}.")

    def _show_folder(self) -> None:
        result = self._wizard.writing.result
        if result is not None:
            self.open_url(QUrl.fromLocalFile(str(result.path.parent)))

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.sha256.text())


class BundleWizard(QWizard):
    """The export wizard for one case; ``bundle_written(ExportResult)`` once the bundle is on the target."""

    bundle_written = Signal(object)
    export_failed = Signal(object)
    progressed = Signal(int, int)

    def __init__(self, session: Session, case: Case, parent: QWidget | None = None, *,
                 export: ExportFn = bundles.export, targets: Callable[[], list[MountTarget]] = list_targets) -> None:
        super().__init__(parent)
        self.setObjectName("bundleWizard")
        self.setWindowTitle(f"Send case {case.number} to a partner agency")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOptions(QWizard.WizardOption.NoBackButtonOnLastPage | QWizard.WizardOption.NoCancelButtonOnLastPage)
        self.resize(760, 560)
        self.session, self.case = session, case
        stored = [i for i in evidence.list_items(session, case.id) if i.blob_id is not None]
        self.items = ItemsPage(stored)
        self.recipients = RecipientsPage(session, self.items)
        self.preview = PreviewPage(self)
        self.target = TargetPage(self, targets)
        self.writing = WritingPage(self, export)
        self.done_page = DonePage(self)
        self.pages: list[_Page] = [self.items, self.recipients, self.preview, self.target, self.writing,
                                   self.done_page]
        for page in self.pages:
            self.addPage(page)
        self.stop_question: QMessageBox | None = None
        self.currentIdChanged.connect(self._focus_first)

    def _focus_first(self, _page_id: int) -> None:
        page = self.currentPage()
        if isinstance(page, _Page):
            page.first.setFocus(Qt.FocusReason.TabFocusReason)

    def reject(self) -> None:
        """Escape, Cancel and the window's close button: while writing, ask before stopping."""
        if not self.writing.writing() or (self.writing.op is not None and self.writing.op.cancel_token.cancelled):
            super().reject()  # a lock cancels the op first and then closes every dialog: no question then
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Stop writing?", "The bundle is being written. Stop, and "
                          "remove everything written so far?", QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("stopWritingQuestion")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        stop = box.addButton("&Stop writing", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("&Continue writing", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        stop.clicked.connect(self.writing.cancel)
        self.stop_question = box
        box.open()

    def close_question(self) -> None:
        """The write ended while "Stop writing?" was open: the question no longer applies."""
        if self.stop_question is not None and shiboken6.isValid(self.stop_question):
            self.stop_question.close()
        self.stop_question = None


class SendBundleAction(QObject):
    """Case → Send to partner agency… (Ctrl+Shift+E): roles that may sign as the agency, a case selected."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last_wizard: BundleWizard | None = None
        self.export: ExportFn = bundles.export  # tests wrap these two
        self.targets: Callable[[], list[MountTarget]] = list_targets
        self.action = QAction("Send to &partner agency…", window)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+E"))
        self.action.setStatusTip("Export items of the selected case as a signed, encrypted bundle for partners")
        self.action.triggered.connect(lambda _checked=False: self.open())
        window.addAction(self.action)

    def update(self) -> None:
        session = self._window.session
        self.action.setEnabled(session is not None and self._window.browser.current_case() is not None
                               and allowed(session.user.role, Permission.SIGN_AS_AGENCY)
                               and allowed(session.user.role, Permission.EXPORT_BUNDLE))

    def open(self) -> BundleWizard | None:
        session, case = self._window.session, self._window.browser.current_case()
        if session is None or case is None or not self.action.isEnabled():
            return None
        wizard = BundleWizard(session, case, self._window, export=self.export, targets=self.targets)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.bundle_written.connect(lambda _result: self._window.custody.log_changed.emit())
        wizard.export_failed.connect(lambda _exc: self._window.custody.log_changed.emit())
        self.last_wizard = wizard
        wizard.open()
        return wizard
