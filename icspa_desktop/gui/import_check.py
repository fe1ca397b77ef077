"""The import wizard's checking page (gui/import_wizard.py): ``prepare_import`` in the background, then the
verification report — sender, items, custody, every check — or the refusal, before anything is committed;
and the file and result helpers the wizard's other pages use."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.bundle.records import PartnerItem
from icspa_desktop.domain.errors import Cancelled, RefusedInput
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.gui.feedback import show_message
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_with_progress
from icspa_desktop.gui.received_dialog import set_banner
from icspa_desktop.gui.wizard_parts import Page, ProgressSection, field_named, plain, reading
from icspa_desktop.i18n import N_, _, format_moment, format_size
from icspa_desktop.services import receipts
from icspa_desktop.services.bundle_import import CHECK_NAMES, ImportResult, PreparedImport
from icspa_desktop.services.session import Session

if TYPE_CHECKING:
    from icspa_desktop.gui.import_wizard import ImportWizard

PrepareFn = Callable[..., PreparedImport]  # bundle_import.prepare_import's signature
CommitFn = Callable[..., ImportResult]  # bundle_import.commit_import's signature (session, prepared, *, progress)
ReceiptFn = Callable[[Session, str, Path], receipts.Receipt]

_Index = QModelIndex | QPersistentModelIndex
_VOLUME = re.compile(r"\.\d{3}$")
CHECK_MARK = "✔"


def check_name(name: str) -> str:
    """A check's name in the reader's language (a name this version does not know is shown as it came)."""
    return CHECK_NAMES.shown(name)

def bundle_path(text: str) -> Path:
    """What the user chose, as the service takes it: ``NAME.icspa.001`` (a volume) → ``NAME.icspa``."""
    path = Path(text.strip()).expanduser()
    return path.with_name(_VOLUME.sub("", path.name)) if _VOLUME.search(path.name) else path


def volumes_of(path: Path) -> list[Path]:
    """``NAME.001``, ``NAME.002``, … beside ``path`` (empty when there is none)."""
    found: list[Path] = []
    while (volume := path.with_name(f"{path.name}.{len(found) + 1:03d}")).is_file():
        found.append(volume)
    return found


def banner(name: str) -> QLabel:
    """The green/red result line (styled like the custody verification summary)."""
    label = plain(name=name)
    label.setObjectName("verifySummary")
    label.setAccessibleName(name)
    return label


class ItemsModel(QAbstractTableModel):
    """The bundle's items as the partner recorded them, and whether we hold them already."""

    HEADERS = (N_("Exhibit"), N_("Name"), N_("Size"), N_("SHA-256"), N_("Handling"), N_("TLP"), N_("In this vault"))

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._items: list[PartnerItem] = []
        self._known: set[str] = set()

    def set_items(self, items: list[PartnerItem], known: set[str]) -> None:
        self.beginResetModel()
        self._items, self._known = list(items), set(known)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _(self.HEADERS[section])
        return None

    def text(self, row: int, column: int) -> str:
        item = self._items[row]
        return (item.exhibit_number, item.name, format_size(item.size), item.sha256[:16] + "…",
                str(item.markings.handling_code), f"TLP:{item.markings.tlp}",
                _("already held") if item.id in self._known else _("new"))[column]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 3:
            return self._items[index.row()].sha256
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class CheckPage(Page):
    """Runs ``prepare_import`` and shows the verification report, or the refusal in full."""

    CHECKING = N_("Every layer is checked: the outer seal, decryption with this agency's key, the archive, the "
                  "sender's signature and key, the manifests, the records and the partner's custody proofs. "
                  "Nothing enters the vault on this page.")

    def __init__(self, wizard: ImportWizard, prepare: PrepareFn) -> None:
        super().__init__(_("Checking the bundle"), _(CheckPage.CHECKING))
        self._wizard = wizard
        self._prepare = prepare
        self.op: BackgroundOp | None = None
        self.stopping: BackgroundOp | None = None  # a check left with Back, still winding down
        self.prepared: PreparedImport | None = None
        self.failure: BaseException | None = None
        # Working: a bar and a stop button.
        self.progress = ProgressSection("checkProgress", "checkStatus", _("&Stop checking"), "stopCheckingButton",
                                        self.cancel)
        self.bar, self.status, self.stop = self.progress.bar, self.progress.status, self.progress.stop
        self.first = self.bar
        self.working = QWidget()
        working = QVBoxLayout(self.working)
        working.setContentsMargins(0, 0, 0, 0)
        working.addWidget(self.bar)
        working.addWidget(self.status)
        working.addWidget(self.stop, 0, Qt.AlignmentFlag.AlignLeft)
        # Done: the verdict, then the report or the refusal.
        self.verdict = banner("verdictBanner")
        self.refusal = reading("refusalText")
        self.report = self._build_report()
        self.layout_.addWidget(self.working)
        self.layout_.addWidget(self.verdict)
        self.layout_.addWidget(self.refusal, 1)
        self.layout_.addWidget(self.report, 1)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(0)  # takes the room of the report while there is none
        self._show(working=True)

    def _build_report(self) -> QWidget:
        box = QWidget()
        box.setObjectName("reportBox")
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.facts: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(3)
        for key, label in (("sender", _("Sender:")), ("signed", _("Signed:")), ("bundle", _("Bundle id:")),
                           ("size", _("Size:")), ("sha256", _("SHA-256:")), ("case", _("Partner case:")),
                           ("target", _("Goes into:")), ("custody", _("Custody:"))):
            self.facts[key] = plain(name=f"fact_{key}")
            form.addRow(label, self.facts[key])
        self.already = plain(name="alreadyImportedLabel")
        bold = self.already.font()
        bold.setBold(True)
        self.already.setFont(bold)
        self.warnings = plain(name="warningLabel")
        self.checks = field_named(QTableWidget(0, 3), "checksTable")
        self.checks.setHorizontalHeaderLabels(["", _("Check"), _("Result")])
        self.items_model = ItemsModel(self)
        self.items = field_named(QTableView(), "itemsTable")
        self.items.setModel(self.items_model)
        for table in (self.checks, self.items):
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            table.setTabKeyNavigation(False)  # Tab leaves the table, as everywhere else in a wizard
            table.setWordWrap(False)
            table.verticalHeader().hide()
            table.verticalHeader().setDefaultSectionSize(22)
            table.horizontalHeader().setStretchLastSection(True)
            table.setAlternatingRowColors(True)
        self.checks.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.checks.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((130, 190, 80, 165, 70, 100)):
            self.items.setColumnWidth(column, width)
        self.tabs = field_named(QTabWidget(), "reportTabs")
        self.tabs.addTab(self.checks, _("Checks"))
        self.tabs.addTab(self.items, _("Items"))
        layout.addLayout(form)
        layout.addWidget(self.already)
        layout.addWidget(self.warnings)
        layout.addWidget(self.tabs, 1)
        return box

    def _show(self, *, working: bool = False, refused: bool = False, report: bool = False) -> None:
        self.working.setVisible(working)
        self.verdict.setVisible(refused or report)
        self.refusal.setVisible(refused)
        self.report.setVisible(report)

    def checking(self) -> bool:
        return self.op is not None and self.op.running

    # ---- running ---------------------------------------------------------------------
    def initializePage(self) -> None:
        w = self._wizard
        session, path, case_ref = w.session, w.file.chosen(), w.file.case_ref()
        self.prepared, self.failure = None, None
        self.setTitle(_("Checking the bundle"))
        self.intro.setText(_(self.CHECKING))
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.status.setText(_("Reading {path} …", path=path))
        self.stop.setEnabled(True)
        show_message(self.error, "")
        self._show(working=True)
        self.first = self.bar
        prepare = self._prepare

        def work(progress: ProgressCallback, cancel: CancelToken) -> PreparedImport:
            prepared = prepare(session, path, case_ref, progress=progress, cancel=cancel)
            if cancel.cancelled:  # stopped (or locked) just as the check ended: nobody will see this result
                prepared.discard()
                raise Cancelled("Stopped.")
            return prepared

        op = run_with_progress(self, work, lambda result: self._checked(op, result), self._progress,
                               lambda exc: self._failed(op, exc))
        self.op = op

    def cleanupPage(self) -> None:
        """Back to the file page: stop the check, throw the staged payload away."""
        if self.op is not None and self.op.running:
            # Its result, if it still comes, is discarded by _checked. Until it has ended it may still read the
            # session, so the file page does not start another check before then.
            self.op.cancel()
            self.stopping = self.op
            self.op.finished.connect(self._stopped)
        self.op = None
        self.discard()
        self._show(working=True)
        self._wizard.file.refresh()

    def _stopped(self) -> None:
        self.stopping = None
        self._wizard.file.refresh()

    def discard(self) -> None:
        if self.prepared is not None:
            self.prepared.discard()
            self.prepared = None

    def cancel(self) -> None:
        if self.op is not None and self.op.running:
            self.op.cancel()
            self.progress.stopping(_("Stopping: removing what was staged …"))

    def _progress(self, done: int, total: int, message: str) -> None:
        if total and done >= total:
            self.bar.setRange(0, 0)  # the records and custody proofs: no byte count to show
            self.status.setText(_("Checking the records, the signature and the partner's custody proofs …"))
        else:
            self.progress.show_bytes(done, total, message)
        self._wizard.progressed.emit(done, total)

    def _checked(self, op: BackgroundOp, prepared: PreparedImport) -> None:
        if op is not self.op or self._wizard.closed:  # Back or a close came first: nobody wants it
            prepared.discard()
            return
        self._wizard.close_question()
        self.prepared = prepared
        self._wizard.partner_name = prepared.partner.name
        self.fill(prepared)
        self.completeChanged.emit()
        self._wizard.checked.emit(prepared)

    def _failed(self, op: BackgroundOp, exc: BaseException) -> None:
        if op is not self.op:
            return
        self._wizard.close_question()
        self.failure = exc
        self.setTitle(_("Bundle refused") if isinstance(exc, RefusedInput) else _("Bundle not imported"))
        self.intro.setText(_("Nothing of the bundle was kept.") if isinstance(exc, Cancelled) else
                           _("The bundle was checked up to the first problem, and nothing of it was kept."))
        if isinstance(exc, RefusedInput):
            head = _("✘ Refused: nothing was imported. The vault is exactly as it was.")
        elif isinstance(exc, Cancelled):
            head = _("Stopped by you: nothing was imported; what was staged has been removed.")
        else:
            head = _("✘ The bundle could not be checked: nothing was imported.")
        set_banner(self.verdict, head, False)
        detail = (_("You stopped the check before its end.") if isinstance(exc, Cancelled) else error_text(exc))
        self.refusal.setPlainText(_("{detail}\n\nGo Back to choose another file, or Cancel.", detail=detail))
        self._show(refused=True)
        self.first = self.refusal  # Enter does nothing here: there is no way forward
        self.first.setFocus(Qt.FocusReason.OtherFocusReason)
        self.completeChanged.emit()
        self._wizard.check_failed.emit(exc)

    # ---- the report ------------------------------------------------------------------
    def fill(self, p: PreparedImport) -> None:
        self.setTitle(_("Verification report"))
        self.intro.setText(_("What {partner} sent and what was checked. The payload waits, encrypted, in the "
                             "vault's staging area; leaving the wizard now throws it away.", partner=p.partner.name))
        partner = p.partner
        set_banner(self.verdict, _("{mark} Every check passed ({n}). This bundle was imported before: nothing will "
                                   "change.", mark=CHECK_MARK, n=len(p.checks)) if p.already_imported else
                   _("{mark} Every check passed ({n}). Nothing has been imported yet: read the report, then Next.",
                     mark=CHECK_MARK, n=len(p.checks)), True)
        f = self.facts
        f["sender"].setText(_("{name} ({country}), key {fingerprint}", name=partner.name, country=partner.country,
                              fingerprint=partner.fingerprint))
        f["signed"].setText(format_moment(p.signed_at))
        f["bundle"].setText(p.bundle_id)
        f["size"].setText(_("{size} ({bytes} bytes)", size=format_size(p.size), bytes=f"{p.size:,}"))
        f["sha256"].setText(p.sha256)
        f["case"].setText(f"{p.case.number} — {p.case.title}")
        f["target"].setText(target_text(p))
        linked = (_("the first bundle from their log") if p.verdict.linked_to is None
                  else _("their log extends the {n} events we held from them", n=p.verdict.linked_to))
        f["custody"].setText(_("{n} event(s) of theirs, signed and proven in their checkpoint of {size} events; "
                               "{linked}", n=p.verdict.events, size=p.verdict.size, linked=linked))
        show_message(self.already, _("This bundle was already {when}: importing it again changes nothing.",
                                     when=p.already_imported) if p.already_imported else "")
        show_message(self.warnings, "\n".join(f"⚠ {w}" for w in p.warnings))
        self.checks.setRowCount(len(p.checks))
        for row, check in enumerate(p.checks):
            for column, text in enumerate((_("{mark} passed", mark=CHECK_MARK), check_name(check.name),
                                           check.detail)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                self.checks.setItem(row, column, cell)
        self.items_model.set_items(p.items, set(p.known_items))
        new = len(p.items) - len(p.known_items)
        self.tabs.setTabText(0, _("Checks ({n} passed)", n=len(p.checks)))
        self.tabs.setTabText(1, _("Items ({n}, {new} new)", n=len(p.items), new=new) if new != len(p.items) else
                             _("Items ({n})", n=len(p.items)))
        self.tabs.setCurrentIndex(0)
        self.checks.setCurrentCell(0, 1)
        self._show(report=True)
        self.first = self.checks
        self.checks.setFocus(Qt.FocusReason.OtherFocusReason)

    def isComplete(self) -> bool:
        return self.prepared is not None


def target_text(p: PreparedImport) -> str:
    if p.target_case is None:
        return _("a new case {number}, with the partner's title and markings", number=p.new_case_number)
    return _("case {number} — {title}", number=p.target_case.number, title=p.target_case.title)
