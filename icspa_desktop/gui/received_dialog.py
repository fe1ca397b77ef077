"""Case → Bundles sent and received: what came from partners, what went to them, and their receipts.

Two tabs over ``bundle_import.list_received`` and ``bundles.list_sent``. "Record a receipt…" checks a partner's
signed receipt against the bundle we sent (``receipts.import_receipt``) and shows the outcome, or why it was
refused, in the dialog; "Write receipt…" signs one for a bundle we received (roles with the agency key).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.gui.folders import remember_choice, start_folder
from icspa_desktop.gui.markings import local_time
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_in_background
from icspa_desktop.i18n import N_, _, format_size
from icspa_desktop.services import bundle_import, bundles, receipts
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.services.session import Session

if TYPE_CHECKING:
    from icspa_desktop.gui.main_window import MainWindow

ImportReceiptFn = Callable[[Session, Path], receipts.StoredReceipt]
WriteReceiptFn = Callable[[Session, str, Path], receipts.Receipt]
_ID = Qt.ItemDataRole.UserRole


def when(stamp: str) -> str:
    """A stored ISO time in the workstation's zone, to the minute (as stored when it does not parse)."""
    try:
        return local_time(datetime.fromisoformat(stamp))
    except ValueError:
        return stamp


def sent_state(sent: bundles.SentBundle) -> str:
    """"written", or "failed: why" — in the reader's language (the journal keeps English)."""
    status = _(bundles.SENT_STATES[sent.status]) if sent.status in bundles.SENT_STATES else sent.status
    if not sent.problem:
        return status
    return _("{status}: {problem}", status=status, problem=bundles.JOURNAL_PROBLEMS.shown(sent.problem))


def receipt_text(sent: bundles.SentBundle) -> str:
    if sent.status != "written":
        return ""
    if not sent.receipts:
        return _("no receipt yet")
    return "; ".join(_("receipt from {partner} on {time}", partner=r["partner"], time=when(r["time"]))
                     for r in sent.receipts)


# Translated where shown: _(SIGNING_ROLES_ONLY).
SIGNING_ROLES_ONLY = N_("A receipt is signed with the agency key: only an administrator or a supervisor may write "
                        "it.")


def set_banner(label: QLabel, text: str, ok: bool) -> None:
    """A ``verifySummary`` label: green when ``ok``, red otherwise (resources/style.qss)."""
    label.setText(text)
    label.setProperty("intact", "true" if ok else "false")
    label.style().unpolish(label)
    label.style().polish(label)
    label.show()


def receipt_save_dialog(parent: QWidget, bundle_id: str, folder: Path, then: Callable[[Path], object]) -> QFileDialog:
    """The save dialog for a receipt, proposing ``receipt-<bundle id prefix>.txt`` in ``folder`` (window-modal;
    ``then(path)`` once a name is chosen; Qt asks before replacing a file)."""
    name = f"receipt-{bundle_id[:8]}.txt"
    dialog = remember_choice(parent, QFileDialog(parent, _("Save the receipt"), str(folder / name)))
    dialog.setObjectName("receiptSaveDialog")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setNameFilters([_("Receipts (*.txt)"), _("All files (*)")])
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.selectFile(name)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.fileSelected.connect(lambda chosen: then(Path(chosen)) if chosen else None)
    dialog.open()
    return dialog


def _table(name: str, headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setTabKeyNavigation(False)
    table.setWordWrap(False)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(24)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[tuple[str, list[str], list[str]]], select: str | None = None) -> None:
    """(id, cells, tooltips) per row; the id is kept on the first cell. Selects the row ``select``, else the
    newest."""
    table.setRowCount(len(rows))
    for row, (key, cells, tips) in enumerate(rows):
        for column, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            if tips[column]:
                cell.setToolTip(tips[column])
            if column == 0:
                cell.setData(_ID, key)
            table.setItem(row, column, cell)
    table.resizeColumnsToContents()
    table.horizontalHeader().setSectionResizeMode(table.columnCount() - 1, QHeaderView.ResizeMode.Stretch)
    keys = [key for key, _cells, _tips in rows]
    if rows:
        table.selectRow(keys.index(select) if select in keys else len(rows) - 1)


def _button(text: str, name: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAutoDefault(False)
    button.clicked.connect(lambda _checked=False: slot())
    return button


class ReceivedDialog(QDialog):
    """The bundles this vault received and sent; ``receipt_recorded(StoredReceipt)``, ``receipt_written(Receipt)``."""

    receipt_recorded = Signal(object)
    receipt_written = Signal(object)
    failed = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None, *,
                 import_receipt: ImportReceiptFn = receipts.import_receipt,
                 write_receipt: WriteReceiptFn = receipts.write_receipt) -> None:
        super().__init__(parent)
        self.setObjectName("receivedDialog")
        self.setWindowTitle(_("Bundles sent and received"))
        self.resize(980, 520)
        self._session = session
        self._import_receipt = import_receipt
        self._write_receipt = write_receipt
        self.op: BackgroundOp | None = None
        role = session.user.role
        self.received = _table("receivedTable", [_("Imported"), _("Sender"), _("Case"), _("Items"), _("Size"),
                                                 _("SHA-256"), _("Receipt"), _("Bundle id")])
        self.sent = _table("sentTable", [_("Sent"), _("Case"), _("Recipients"), _("Items"), _("Status"),
                                         _("Receipts"), _("Bundle id")])
        self.write_button = _button(_("&Write receipt…"), "writeReceiptButton", self.choose_receipt_file)
        self._can_sign = allowed(role, Permission.SIGN_AS_AGENCY)
        self.write_button.setToolTip(_("Sign a receipt for the selected bundle, for its sender") if self._can_sign
                                     else _(SIGNING_ROLES_ONLY))
        self.record_button = _button(_("Record a re&ceipt…"), "recordReceiptButton", self.choose_receipt)
        can_record = allowed(role, Permission.EXPORT_BUNDLE)
        self.record_button.setEnabled(can_record)
        self.record_button.setToolTip(_("Check a partner's signed receipt for a bundle we sent, and keep it")
                                      if can_record else _("Your role does not send bundles, so it records no "
                                                           "receipts"))
        self.tabs = QTabWidget()
        self.tabs.setObjectName("bundleTabs")
        self.tabs.addTab(self._page(self.received, self.write_button), _("&Received"))
        self.tabs.addTab(self._page(self.sent, self.record_button), _("&Sent"))
        self.tabs.currentChanged.connect(lambda _index: self._focus_table())
        self.outcome = QLabel()
        self.outcome.setObjectName("verifySummary")  # green when a receipt was recorded, red when refused
        self.outcome.setAccessibleName("resultLabel")
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.PlainText)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.outcome)
        layout.addWidget(buttons)
        self.received.itemSelectionChanged.connect(self._update_buttons)
        self.reload()

    def _page(self, table: QTableWidget, button: QPushButton) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(table, 1)
        row = QHBoxLayout()
        row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        return page

    def _focus_table(self) -> None:
        (self.received if self.tabs.currentIndex() == 0 else self.sent).setFocus(Qt.FocusReason.TabFocusReason)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._focus_table()

    def reload(self, select: str | None = None) -> None:
        """Read both lists again (after a receipt, or when opened); ``select`` a bundle id."""
        got = bundle_import.list_received(self._session)
        _fill(self.received, [(b.id, [when(b.imported_at), b.partner_name, b.case_number, str(b.items),
                                      format_size(b.size), b.sha256[:16] + "…",
                                      _("issued {time}", time=when(b.receipt_issued_at)) if b.receipt_issued_at
                                      else _("not yet"), b.id],
                               ["", b.partner_fingerprint, "", "", _("{bytes} bytes", bytes=f"{b.size:,}"), b.sha256,
                                _("a signed receipt was written for the sender") if b.receipt_issued_at else
                                _("no receipt written yet"), _("signed {time}", time=b.signed_at)]) for b in got],
              select)
        sent = bundles.list_sent(self._session)
        _fill(self.sent, [(b.id, [when(b.created_at), b.case_number,
                                  ", ".join(r["name"] for r in b.recipients), str(len(b.items)),
                                  sent_state(b), receipt_text(b), b.id],
                           ["", "", ", ".join(r["fingerprint"] for r in b.recipients), "",
                            bundles.JOURNAL_PROBLEMS.shown(b.problem),
                            receipt_text(b), b.sha256 or ""]) for b in sent], select)
        self.tabs.setTabText(0, _("&Received ({n})", n=len(got)))
        self.tabs.setTabText(1, _("&Sent ({n})", n=len(sent)))
        self._update_buttons()

    def _selected(self, table: QTableWidget) -> str | None:
        rows = table.selectionModel().selectedRows()
        cell = table.item(rows[0].row(), 0) if rows else None
        return str(cell.data(_ID)) if cell is not None else None

    def _update_buttons(self) -> None:
        self.write_button.setEnabled(self._can_sign and self._selected(self.received) is not None
                                     and not self.busy())

    def busy(self) -> bool:
        return self.op is not None and self.op.running

    def show_result(self, text: str, ok: bool) -> None:
        set_banner(self.outcome, text, ok)

    def _run(self, work: Callable[[], object], done: Callable[[object], None]) -> BackgroundOp:
        self.record_button.setEnabled(False)
        self.write_button.setEnabled(False)

        def finished(value: object) -> None:
            self.record_button.setEnabled(allowed(self._session.user.role, Permission.EXPORT_BUNDLE))
            done(value)
            self._update_buttons()

        def failed(exc: BaseException) -> None:
            finished(None)
            self.show_result(error_text(exc), False)
            self.failed.emit(exc)

        self.op = run_in_background(self, work, finished, failed)
        return self.op

    # ---- record a partner's receipt -------------------------------------------------
    def choose_receipt(self) -> QFileDialog | None:
        if not self.record_button.isEnabled():
            return None
        dialog = remember_choice(self, QFileDialog(self, _("The partner's receipt"), str(start_folder(self))))
        dialog.setObjectName("receiptOpenDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([_("Receipts (*.txt)"), _("All files (*)")])
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.record_receipt(Path(name)) if name else None)
        dialog.open()
        return dialog

    def record_receipt(self, path: Path) -> BackgroundOp | None:
        if self.busy():
            return None
        session, check = self._session, self._import_receipt
        self.tabs.setCurrentIndex(1)
        return self._run(lambda: check(session, path), self._recorded)

    def _recorded(self, stored: object) -> None:
        if not isinstance(stored, receipts.StoredReceipt):
            return
        self.reload(stored.bundle_id)
        if stored.already:
            text = _("The receipt from {partner} for bundle {bundle} was recorded before; nothing changed.",
                     partner=stored.partner_name, bundle=stored.bundle_id)
        else:
            text = _("✔ Receipt from {partner} for bundle {bundle}: {result}, by {officer} on {time}. Transfer "
                     "completed; the receipt now witnesses the first {n} events of our custody log.",
                     partner=stored.partner_name, bundle=stored.bundle_id, result=stored.result,
                     officer=stored.officer, time=when(stored.time), n=stored.checkpoint_size)
        self.show_result(text, True)
        self.receipt_recorded.emit(stored)

    # ---- sign a receipt for a bundle we received ------------------------------------------
    def choose_receipt_file(self) -> QFileDialog | None:
        bundle_id = self._selected(self.received)
        if bundle_id is None or not self.write_button.isEnabled():
            return None
        return receipt_save_dialog(self, bundle_id, start_folder(self),
                                   lambda path: self.write_receipt(bundle_id, path))

    def write_receipt(self, bundle_id: str, path: Path) -> BackgroundOp | None:
        if self.busy():
            return None
        session, write = self._session, self._write_receipt
        return self._run(lambda: write(session, bundle_id, path), self._written)

    def _written(self, receipt: object) -> None:
        if not isinstance(receipt, receipts.Receipt):
            return
        sender = receipt.body.get("sender", {}).get("name") or _("the sender")
        self.show_result(_("✔ Receipt for bundle {bundle} written to {path}. Return it to {sender}.",
                           bundle=receipt.bundle_id, path=receipt.path, sender=sender), True)
        self.receipt_written.emit(receipt)

    def reject(self) -> None:
        if self.busy() and not (self.op is not None and self.op.cancel_token.cancelled):
            return  # a receipt is being checked or signed: a moment
        super().reject()


class ReceivedAction(QObject):
    """Case → Bundles sent and received…: any unlocked role may look."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.last_dialog: ReceivedDialog | None = None
        self.action = QAction(_("&Bundles sent and received…"), window)
        self.action.setStatusTip(_("Bundles imported from partners and sent to them, with their receipts"))
        self.action.triggered.connect(lambda _checked=False: self.open())

    def update(self) -> None:
        self.action.setEnabled(self._window.session is not None)

    def open(self) -> ReceivedDialog | None:
        session = self._window.session
        if session is None:
            return None
        dialog = ReceivedDialog(session, self._window)  # a child of the window: locking deletes it
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.receipt_recorded.connect(lambda _stored: self._window.custody.log_changed.emit())
        dialog.receipt_written.connect(lambda _receipt: self._window.custody.log_changed.emit())
        self.last_dialog = dialog
        dialog.open()
        return dialog
