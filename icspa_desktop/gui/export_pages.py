"""The first four pages of the export wizard (gui/bundle_wizard.py): items → recipients → preview → target.

The preview asks ``services.bundles.plan_export`` in the background (on a case of thousands of items it
reads every item and its provenance) and shows exactly what would leave, or the service's refusal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QScrollArea,
    QWidget,
    QWizard,
)

from icspa_desktop.bundle.mounts import MountTarget, target_for
from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.evidence import Item
from icspa_desktop.gui.feedback import hint_label, show_message
from icspa_desktop.gui.folders import start_folder
from icspa_desktop.gui.ops import BackgroundOp, error_text, run_in_background
from icspa_desktop.gui.wizard_parts import Page, button, choose_path, field_named, reading
from icspa_desktop.i18n import _, format_size, ngettext
from icspa_desktop.services import bundles, partners, received
from icspa_desktop.services.session import Session
from icspa_desktop.services.table_texts import size_text

if TYPE_CHECKING:
    from icspa_desktop.gui.bundle_wizard import BundleWizard

_ID = Qt.ItemDataRole.UserRole
_Index = QModelIndex | QPersistentModelIndex
# Room for the tag files, PDF report, tar headers and age's 16 bytes per 64 KiB, beside the payload.
_OVERHEAD = 16 << 20


def safe_file_name(text: str) -> str:
    """``2026/041 A`` → ``2026-041-A``: letters, digits, ``-_.`` only, never empty or hidden."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-" for ch in text).strip("-.") or "bundle"


def _free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def _check_list(name: str, rows: list[tuple[str, str]], checked: bool, changed: Callable[[], object]) -> QListWidget:
    """A list of (text, id) rows with check boxes; Space toggles the current row."""
    widget = field_named(QListWidget(), name)
    for text, key in rows:
        row = QListWidgetItem(text, widget)
        row.setData(_ID, key)
        row.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
        row.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    widget.setCurrentRow(0)
    widget.itemChanged.connect(lambda _row: changed())
    return widget


def _checked(widget: QListWidget) -> list[str]:
    return [widget.item(i).data(_ID) for i in range(widget.count())
            if widget.item(i).checkState() is Qt.CheckState.Checked]


class ItemChoices(QAbstractListModel):
    """The case's items as rows with check boxes: the rows the filter shows, and which items are checked.

    A model rather than a QListWidget: a case of 100,000 items made 100,000 widget items when the wizard opened, and
    every check, key typed in the filter and count walked them all on the GUI thread (seconds). Here the filter and
    the counts are list and set operations, and the view asks only for the rows it paints.
    """

    changed = Signal()

    def __init__(self, items: list[Item], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._take(items)

    def _take(self, items: list[Item]) -> None:
        self._items = items
        self._searched = [f"{i.exhibit_number} {i.original_name}".casefold() for i in items]  # what the filter sees
        self._shown = list(range(len(items)))  # indices into ``items`` of the rows, in order
        self._checked: set[int] = set(self._shown)

    # -- what the page asks --
    def set_items(self, items: list[Item]) -> None:
        """Show these items (all of them, every one checked), in place of any before."""
        self.beginResetModel()
        self._take(items)
        self.endResetModel()
        self.changed.emit()

    def shown_count(self) -> int:
        return len(self._shown)

    def chosen(self) -> list[Item]:
        """The checked items in the case's order, shown by the filter or not."""
        return [self._items[i] for i in sorted(self._checked)]

    def checked_count(self) -> int:
        return len(self._checked)

    def set_filter(self, text: str) -> None:
        wanted = text.strip().casefold()
        shown = [i for i, searched in enumerate(self._searched) if wanted in searched] if wanted else \
            list(range(len(self._items)))
        if shown != self._shown:
            self.beginResetModel()
            self._shown = shown
            self.endResetModel()
        self.changed.emit()

    def check_only(self, item_ids: Collection[str]) -> None:
        """Check these items and uncheck every other one."""
        self._checked = {i for i, item in enumerate(self._items) if item.id in item_ids}
        self._repaint()

    def check_shown(self, check: bool) -> None:
        """Check (or uncheck) the rows shown; the rows the filter hides keep their check."""
        if check:
            self._checked.update(self._shown)
        else:
            self._checked.difference_update(self._shown)
        self._repaint()

    def _repaint(self) -> None:
        if self._shown:
            self.dataChanged.emit(self.index(0), self.index(len(self._shown) - 1), [Qt.ItemDataRole.CheckStateRole])
        self.changed.emit()

    # -- the model --
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._shown)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._shown):
            return None
        position = self._shown[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            i = self._items[position]
            return (f"{i.exhibit_number}   {i.original_name}   {size_text(i.size)}   {i.markings.handling_code} · "
                    f"TLP:{i.markings.tlp}")
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if position in self._checked else Qt.CheckState.Unchecked
        if role == _ID:
            return self._items[position].id
        return None

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid() or index.row() >= len(self._shown):
            return False
        position = self._shown[index.row()]
        # The view's delegate sends the state as an int, code as Qt.CheckState.
        if value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value):
            self._checked.add(position)
        else:
            self._checked.discard(position)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.changed.emit()
        return True


class ItemsPage(Page):
    """The items that leave: every stored item of the case checked, or the ones selected in the Evidence tab
    (``checked``). A filter narrows the list (what it hides stays as checked as it was); the two buttons check or
    uncheck the rows shown: 5 items of a 1,000-item case are three steps, not 995 unchecks.

    The items arrive through ``set_items`` (the wizard reads them in the background: a case of 100,000 items took
    seconds to read); until then the page says it is reading them, and Next waits."""

    def __init__(self, checked: Collection[str] = ()) -> None:
        super().__init__(_("Evidence to send"), _("Reading the case's items…"))
        self.items: dict[str, Item] = {}
        self.loaded = False
        self._wanted = {str(i) for i in checked}
        self.summary = hint_label()
        self.filter = field_named(QLineEdit(), "itemsFilter")
        self.filter.setPlaceholderText(_("Filter by exhibit number or name ({shortcut})", shortcut="Ctrl+F"))
        self.filter.setClearButtonEnabled(True)
        QShortcut(QKeySequence.StandardKey.Find, self, self.filter.setFocus)
        self.model = ItemChoices([], self)
        self.list = self.first = field_named(QListView(), "itemsList")
        self.list.setUniformItemSizes(True)  # the view does not measure every row of a big case
        self.list.setModel(self.model)
        self.filter.textChanged.connect(self._filter)
        self.model.changed.connect(self._changed)
        self.check_shown = button(_("Check &all shown"), "checkShownButton", lambda: self.model.check_shown(True))
        self.uncheck_shown = button(_("&Uncheck all shown"), "uncheckShownButton",
                                    lambda: self.model.check_shown(False))
        row = QHBoxLayout()
        row.addWidget(self.filter, 1)
        row.addWidget(self.check_shown)
        row.addWidget(self.uncheck_shown)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.list, 1)
        self.reading = field_named(QProgressBar(), "itemsReading")  # moving while the items are read
        self.reading.setRange(0, 0)
        self.layout_.addWidget(self.reading)
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.error)
        for widget in (self.filter, self.check_shown, self.uncheck_shown):
            widget.setEnabled(False)

    def set_items(self, items: list[Item]) -> None:
        """The case's stored items, read: shown, and checked as the Evidence tab's selection says."""
        self.items = {str(item.id): item for item in items}
        chosen = self._wanted & set(self.items)
        which = ngettext(
            "The item selected in the Evidence tab is checked; check others to send them too.",
            "The {n} items selected in the Evidence tab are checked; check others to send them too.", len(chosen)
        ) if chosen else _("Every stored item of the case is checked; uncheck what must not leave.")
        self.intro.setText(f"{which} {_('Space checks or unchecks the highlighted item.')}")
        self.model.set_items(items)
        if chosen:
            self.model.check_only(chosen)
        first = next((row for row, item in enumerate(items) if item.id in chosen), 0)
        self.list.setCurrentIndex(self.model.index(first))
        self.list.scrollTo(self.model.index(first))
        for widget in (self.filter, self.check_shown, self.uncheck_shown):
            widget.setEnabled(True)
        self.reading.hide()
        self.loaded = True
        show_message(self.error, "" if items else _("This case has no stored evidence to send."))
        self._changed()

    def load_failed(self, exc: BaseException) -> None:
        self.reading.hide()
        self.intro.setText(_("The case's items could not be read."))
        show_message(self.error, error_text(exc))

    def initializePage(self) -> None:
        # Tab from the list (where the focus starts) to the filter and its buttons, then the wizard's buttons. Set
        # here, in the wizard: the order set before the wizard took the page was split around its buttons.
        QWidget.setTabOrder(self.list, self.filter)
        QWidget.setTabOrder(self.filter, self.check_shown)
        QWidget.setTabOrder(self.check_shown, self.uncheck_shown)

    def _filter(self, text: str) -> None:
        self.model.set_filter(text)
        self.list.setCurrentIndex(self.model.index(0))  # Space then checks the first row shown

    def _changed(self) -> None:
        if not self.loaded:
            return
        chosen = self.chosen()
        text = _("{chosen} of {total} items, {size}", chosen=len(chosen), total=len(self.items),
                 size=format_size(sum(i.size or 0 for i in chosen)))
        if self.model.shown_count() != len(self.items):
            text += " · " + _("{shown} shown by the filter", shown=self.model.shown_count())
        self.summary.setText(text)
        self.completeChanged.emit()

    def chosen(self) -> list[Item]:
        return self.model.chosen()

    def isComplete(self) -> bool:
        return self.loaded and self.model.checked_count() > 0


class RecipientsPage(Page):
    def __init__(self, session: Session, items: ItemsPage) -> None:
        super().__init__(_("Recipients"), _("The partner agencies that may open the bundle (your own agency can "
                                            "always re-open what it sent). Purpose and authority go into each "
                                            "item's custody event."))
        self._items = items
        found = partners.list_partners(session, include_inactive=False)
        now = datetime.now(UTC)
        self.list = self.first = _check_list("partnersList", [(
            _("{name} ({country})   {fingerprint}   (key expires in {days} days)", name=p.name, country=p.country,
              fingerprint=p.fingerprint, days=(p.expires - now).days) if (p.expires - now).days < 30 else
            f"{p.name} ({p.country})   {p.fingerprint}", p.id)
            for p in found], False, self.completeChanged.emit)
        self.purpose = field_named(QLineEdit(), "purposeEdit")
        self.purpose.setPlaceholderText(_("Why the evidence leaves, e.g. JIT Nightjar"))
        self.authority = field_named(QLineEdit(), "authorityEdit")
        self.authority.setPlaceholderText(_("Legal basis, e.g. MLA request 2026/17"))
        self.h3 = field_named(QLineEdit(), "h3OverrideEdit")
        self.h3.textChanged.connect(lambda _text: self.completeChanged.emit())
        self.h3_label = QLabel(_("&H3 override reason*"))
        self.h3_label.setBuddy(self.h3)
        # Received H2 / TLP:RED / AMBER+STRICT items: the originator's permission to pass them on (the service
        # decides whether it is needed for the chosen recipients; the preview says so).
        self._session = session
        self.permission_ref = field_named(QLineEdit(), "permissionRefEdit")
        self.permission_ref.setPlaceholderText(_("The originator's reference, e.g. their letter NL-2026-77"))
        self.permission_date = field_named(QLineEdit(), "permissionDateEdit")
        self.permission_date.setPlaceholderText(_("YYYY-MM-DD"))
        self.permission_by = field_named(QLineEdit(), "permissionByEdit")
        self.permission_by.setPlaceholderText(_("Who gave it, at the originating agency"))
        self.permission_labels = [QLabel(text) for text in (_("Originator's pe&rmission"), _("Permission dat&e"),
                                                            _("Permission &given by"))]
        form = QFormLayout()
        form.addRow(_("&Purpose"), self.purpose)
        form.addRow(_("Legal &authority"), self.authority)
        form.addRow(self.h3_label, self.h3)
        for label, edit in zip(self.permission_labels, (self.permission_ref, self.permission_date,
                                                        self.permission_by), strict=True):
            label.setBuddy(edit)
            form.addRow(label, edit)
        self.layout_.addWidget(self.list, 1)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.error)
        show_message(self.error, "" if found else _("No active partner agency: add one under Agency → Partners "
                                                    "first."))

    def initializePage(self) -> None:
        h3 = [i.exhibit_number for i in self._items.chosen() if i.markings.handling_code is HandlingCode.H3]
        self.h3_label.setText(_("&H3 override reason* ({items})", items=", ".join(h3)))
        self.h3_label.setVisible(bool(h3))
        self.h3.setVisible(bool(h3))
        controlled = [i for i in self._items.chosen() if (i.markings.handling_code is HandlingCode.H2
                                                          or i.markings.tlp in (Tlp.RED, Tlp.AMBER_STRICT))]
        received_ones = [i for i in controlled if received.get_item_provenance(self._session, i.id) is not None]
        for widget in (*self.permission_labels, self.permission_ref, self.permission_date, self.permission_by):
            widget.setVisible(bool(received_ones))

    def permission(self) -> bundles.OriginatorPermission | None:
        if self.permission_ref.isHidden():
            return None
        return bundles.OriginatorPermission(self.permission_ref.text(), self.permission_date.text(),
                                            self.permission_by.text())

    def needs_override(self) -> bool:
        return not self.h3.isHidden()

    def isComplete(self) -> bool:
        return bool(_checked(self.list)) and (not self.needs_override() or bool(self.h3.text().strip()))


class PreviewPage(Page):
    def __init__(self, wizard: BundleWizard) -> None:
        super().__init__(_("What leaves"), _("Exactly what the bundle will carry, signed with the agency key and "
                                             "encrypted to the recipients. Nothing has been written yet."))
        self._wizard = wizard
        self.plan: bundles.ExportPlan | None = None
        self.op: BackgroundOp | None = None
        self.generation = 0
        self.text = self.first = reading("previewText")
        self.warnings = QLabel()
        self.warnings.setObjectName("warningLabel")
        self.warnings.setWordWrap(True)
        self.warnings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long warning (every H2 exhibit of a big selection) scrolls in its own strip instead of squeezing the
        # preview to a few lines (issue 11).
        self.warnings_area = QScrollArea()
        self.warnings_area.setObjectName("warningArea")
        self.warnings_area.setWidget(self.warnings)
        self.warnings_area.setWidgetResizable(True)
        self.warnings_area.setFrameShape(QFrame.Shape.NoFrame)
        self.warnings_area.setMaximumHeight(7 * self.fontMetrics().lineSpacing())
        self.warnings_area.hide()
        self.layout_.addWidget(self.text, 1)
        self.layout_.addWidget(self.warnings_area)
        self.layout_.addWidget(self.error)

    def initializePage(self) -> None:
        w = self._wizard
        self.plan = None
        self.generation += 1
        generation = self.generation
        session, case_id = w.session, w.case.id
        recipients, items = _checked(w.recipients.list), [i.id for i in w.items.chosen()]
        purpose, authority = w.recipients.purpose.text(), w.recipients.authority.text()
        h3 = w.recipients.h3.text() if w.recipients.needs_override() else ""
        permission = w.recipients.permission()
        self.text.setPlainText(_("Checking what would leave …"))
        show_message(self.error, "")
        self.warnings.hide()
        self.warnings_area.hide()

        def work() -> bundles.ExportPlan:  # checks and reads, writes nothing
            return bundles.plan_export(session, case_id, recipients, items, purpose=purpose, authority=authority,
                                       h3_override=h3, permission=permission)

        self.op = run_in_background(self, work, lambda plan: self._planned(generation, plan),
                                    lambda exc: self._refused(generation, exc))
        self.completeChanged.emit()

    @property
    def checking(self) -> bool:
        return self.op is not None and self.op.running

    def _planned(self, generation: int, plan: bundles.ExportPlan) -> None:
        if generation != self.generation:
            return  # the user went Back meanwhile; a newer check is on its way
        self.plan = plan
        self.text.setPlainText(describe(plan))
        self.warnings.setText("\n".join(f"⚠ {w}" for w in plan.warnings))  # the service's words, as it says them
        self.warnings.setVisible(bool(plan.warnings))
        self.warnings_area.setVisible(bool(plan.warnings))
        self.completeChanged.emit()

    def _refused(self, generation: int, exc: BaseException) -> None:
        if generation != self.generation:
            return
        self.text.setPlainText("")
        show_message(self.error, str(exc) if isinstance(exc, IcspaError) else _("The check failed: {error}",
                                                                                 error=exc))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.plan is not None


def describe(plan: bundles.ExportPlan) -> str:
    """The preview text: case, every item with size, markings and SHA-256, every recipient with fingerprint."""
    lines = [_("Case {number} — {title}", number=plan.case.number, title=plan.case.title), "",
             _("Items ({n}, {size}):", n=len(plan.items), size=format_size(plan.total_size))]
    lines += [f"  {i.exhibit_number}  {i.original_name}  {size_text(i.size)}  {i.markings.handling_code} · "
              f"TLP:{i.markings.tlp}\n      SHA-256 {i.sha256}" for i in plan.items]
    lines += ["", _("Recipients:")]
    lines += [_("  {name} ({country})  fingerprint {fingerprint}", name=p.name, country=p.country,
                fingerprint=p.fingerprint) for p in plan.recipients]
    lines += [_("  and your own agency (to re-open what was sent)"), "",
              _("Purpose: {purpose}", purpose=plan.purpose or "—"),
              _("Legal authority: {authority}", authority=plan.authority or "—")]
    if plan.h3_override:
        lines.append(_("H3 override: {reason}", reason=plan.h3_override))
    if plan.permission is not None:
        p = plan.permission
        lines.append(_("Originator's permission: {reference} of {date}, given by {person}", reference=p.reference,
                       date=p.date, person=p.granted_by))
    lines += ["", _("Also in the bundle: the item records, their custody events with proofs against a "
                    "checkpoint signed now, the CASE/UCO graph and the PDF custody report.")]
    return "\n".join(lines)


class TargetPage(Page):
    def __init__(self, wizard: BundleWizard, targets: Callable[[], list[MountTarget]]) -> None:
        super().__init__(_("Where to write"), _("Choose the removable medium you will hand over, or a folder. The "
                                                "bundle file and its seal (.sha256, .sha256.p7s) are written "
                                                "there."))
        self._wizard = wizard
        self._targets = targets
        self._all: list[MountTarget] = []
        self.free_space = _free_bytes
        self.mounts = field_named(QListWidget(), "mountsList")
        self.mounts.currentRowChanged.connect(self._mount_chosen)
        self.notice = hint_label()
        self.notice.setWordWrap(True)
        self.folder = field_named(QLineEdit(), "folderEdit")
        choose = button(_("C&hoose folder…"), "chooseFolderButton", self._choose)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(choose)
        self.name = field_named(QLineEdit(safe_file_name(wizard.case.number)), "fileNameEdit")
        self.space = hint_label()
        folder_label = QLabel(_("&Folder*"))
        folder_label.setBuddy(self.folder)  # a row holding a layout gets no buddy by itself
        form = QFormLayout()
        form.addRow(folder_label, row)
        form.addRow(_("File &name*"), self.name)
        for edit in (self.folder, self.name):
            edit.textChanged.connect(self._changed)
        self.layout_.addWidget(self.mounts, 1)
        self.layout_.addWidget(self.notice)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.space)
        self.layout_.addWidget(self.error)
        self.layout_.addStretch(0)  # takes the room of the media list when there is none
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, _("&Write bundle"))

    def initializePage(self) -> None:
        self._all = self._targets()
        removable = [t for t in self._all if t.removable and not t.read_only]
        self.mounts.clear()
        for t in removable:
            row = QListWidgetItem(_("{mount}   {fs}   {free} free of {total}   ({device})", mount=t.mount_point,
                                    fs=t.fs_type, free=format_size(t.free_bytes), total=format_size(t.total_bytes),
                                    device=t.device), self.mounts)
            row.setData(_ID, str(t.mount_point))
        self.mounts.setVisible(bool(removable))
        self.notice.setText(_("No removable medium found: plug one in, or choose a folder.") if not removable else
                            _("{n} removable media: check that the selected one is the one you will hand over.",
                              n=len(removable)) if len(removable) > 1 else "")
        self.notice.setVisible(len(removable) != 1)
        if len(removable) == 1:
            self.mounts.setCurrentRow(0)
        self.first = self.mounts if removable else self.folder
        self._changed()

    def _mount_chosen(self, row: int) -> None:
        if row >= 0:
            self.folder.setText(self.mounts.item(row).data(_ID))

    def _choose(self) -> None:
        choose_path(self, _("Folder for the bundle"), self.folder.text() or str(start_folder(self)),
                    "bundleFolderDialog", self.folder.setText, folder=True)

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
            return _("Choose a medium or a folder.")
        if not folder.is_absolute() or not folder.is_dir():
            return _("{folder} is not a folder (is the medium mounted?).", folder=folder)
        if not name or safe_file_name(name) != name:
            return _("The file name may contain only letters, digits, '-', '_' and '.', and may not start with "
                     "'.'.")
        out = self.out_path()
        for path in (out, *(out.with_name(out.name + tail) for tail in (".sha256", ".sha256.p7s", ".001"))):
            if os.path.lexists(path):
                return _("{name} already exists in {folder}; choose another file name.", name=path.name,
                         folder=folder)
        mount = target_for(folder.resolve(), self._all)
        try:
            free = self.free_space(folder)
        except OSError as exc:
            return _("Cannot look at {folder}: {reason}.", folder=folder, reason=exc.strerror)
        fs = f" ({mount.fs_type})" if mount else ""
        split = mount is not None and mount.max_file_size is not None and need > mount.max_file_size
        space = {"need": format_size(need), "free": format_size(free), "fs": fs, "name": out.name}
        self.space.setText(_("Needs about {need}; {free} free{fs}. FAT holds files below 4 GiB: written as volumes "
                             "{name}.001, .002, … (cat them to rejoin).", **space) if split else
                           _("Needs about {need}; {free} free{fs}.", **space))
        if (mount is not None and mount.read_only) or not os.access(folder, os.W_OK):
            return _("{folder} is read-only for you.", folder=folder)
        if free < need:
            return _("Not enough free space: the bundle needs about {need}, {free} is free.", need=format_size(need),
                     free=format_size(free))
        return ""

    def _changed(self) -> None:
        show_message(self.error, self.problem())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.problem() == ""
