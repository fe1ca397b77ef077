"""Dialogs of the Evidence tab: ingest, physical item, check-out/in, extract, annotate, fixity results.

Each form dialog only collects and checks input; ``accepted_values()`` hands it to the caller, who runs
the service (in the background where it is slow). The services check everything again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.evidence import Acquisition, FixityReport, HashAlgorithm, Item, ItemFields, Markings
from icspa_desktop.domain.models import Case
from icspa_desktop.gui.feedback import required, required_note
from icspa_desktop.gui.markings import handling_text, tlp_label
from icspa_desktop.i18n import _, ngettext
from icspa_desktop.services import evidence, fixity

_ALGORITHM_NAMES = {HashAlgorithm.MD5: "MD5", HashAlgorithm.SHA1: "SHA-1"}  # names, not words: never translated


class SubmitDialog(QDialog):
    """A form whose OK runs ``submit()`` first and stays open (input kept) when it returns False."""

    submit: Callable[[], bool] | None = None

    def accept(self) -> None:
        if self.submit is not None and not self.submit():
            return
        super().accept()


def _form_dialog(dialog: QDialog, name: str, title: str, ok_text: str) -> tuple[QFormLayout, QDialogButtonBox]:
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    # Enter performs the main action, never Cancel, even while the main action waits for a required field
    # (issue 11: Enter in Add physical item hit Cancel and discarded the form).
    buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)
    buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addLayout(form)
    layout.addWidget(buttons)
    return form, buttons


def _line(placeholder: str = "", text: str = "") -> QLineEdit:
    edit = QLineEdit(text)
    edit.setPlaceholderText(placeholder)
    return edit


class MarkingsEditor(QWidget):
    """TLP and handling code, preset to the case's (or an item's) markings."""

    def __init__(self, markings: Markings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._handling_text = markings.handling_text
        self.tlp = QComboBox()
        self.tlp.setObjectName("tlpCombo")
        for tlp in Tlp:
            self.tlp.addItem(tlp_label(tlp), tlp)
        self.tlp.setCurrentIndex(list(Tlp).index(markings.tlp))
        self.handling = QComboBox()
        self.handling.setObjectName("handlingCombo")
        for code in HandlingCode:
            self.handling.addItem(handling_text(code), code)
        self.handling.setCurrentIndex(list(HandlingCode).index(markings.handling_code))
        self.handling_text = _line(_("Restriction (required for H3)"), markings.handling_text)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tlp, 0, 0)
        layout.addWidget(self.handling, 0, 1)
        layout.addWidget(self.handling_text, 1, 0, 1, 2)
        layout.setColumnStretch(1, 1)

    def markings(self, base: Markings | None = None) -> Markings:
        base = base or Markings()
        return Markings(self.handling.currentData(), self.handling_text.text().strip(), self.tlp.currentData(),
                        base.source_evaluation, base.information_evaluation)


class IngestDialog(QDialog):
    """What is stated about files before they are ingested: description, digests, markings, acquisition."""

    def __init__(self, case: Case, paths: list[Path], default_algorithms: tuple[HashAlgorithm, ...],
                 existing: list[Item] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = list(paths)
        self.case = case
        form, self.buttons = _form_dialog(self, "ingestDialog", _("Add evidence to case {number}", number=case.number),
                                          _("Add"))
        self.resize(640, 460)
        self.sources = QListWidget()
        self.sources.setObjectName("ingestSources")
        self.sources.addItems([_("{path}  (folder)", path=p) if p.is_dir() else str(p) for p in paths])
        self.sources.setMaximumHeight(110)
        self.description = QPlainTextEdit()
        self.description.setTabChangesFocus(True)  # Tab moves on (it typed a tab into the text, issue 11)
        self.description.setObjectName("ingestDescription")
        self.description.setPlaceholderText(_("What these files are and where they come from"))
        self.description.setMaximumHeight(70)
        self.tags = _line(_("Comma-separated, e.g. phone, messenger"))
        self.md5 = QCheckBox(_ALGORITHM_NAMES[HashAlgorithm.MD5])
        self.md5.setObjectName("md5Check")
        self.md5.setChecked(HashAlgorithm.MD5 in default_algorithms)
        self.sha1 = QCheckBox(_ALGORITHM_NAMES[HashAlgorithm.SHA1])
        self.sha1.setObjectName("sha1Check")
        self.sha1.setChecked(HashAlgorithm.SHA1 in default_algorithms)
        sha256 = QCheckBox(_("SHA-256 (always)"))
        sha256.setChecked(True)
        sha256.setEnabled(False)
        hashes = QHBoxLayout()
        for box in (sha256, self.md5, self.sha1):
            hashes.addWidget(box)
        hashes.addStretch(1)
        self.markings_editor = MarkingsEditor(evidence.case_markings(case))
        self.method = _line(_("e.g. logical copy from seized laptop"))
        self.location = _line(_("Where the evidence was acquired"))
        self.seal = _line(_("Seal / bag number"))
        self.derived_from = QComboBox()
        self.derived_from.setObjectName("derivedFrom")
        self.derived_from.addItem(_("(not derived from another item)"), None)
        for item in existing or []:
            self.derived_from.addItem(f"{item.exhibit_number} — {item.original_name}", item.id)
        form.addRow(_("Files and folders"), self.sources)
        form.addRow(_("&Description"), self.description)
        form.addRow(_("&Tags"), self.tags)
        form.addRow(_("Digests"), hashes)
        form.addRow(_("&Markings"), self.markings_editor)
        form.addRow(_("Acquisition m&ethod"), self.method)
        form.addRow(_("Acquisition &location"), self.location)
        form.addRow(_("Seal n&umber"), self.seal)
        form.addRow(_("Derived &from"), self.derived_from)
        self.description.setFocus()  # what the files are comes first, not a button Space would press

    def algorithms(self) -> tuple[HashAlgorithm, ...]:
        chosen = [HashAlgorithm.SHA256]
        if self.md5.isChecked():
            chosen.append(HashAlgorithm.MD5)
        if self.sha1.isChecked():
            chosen.append(HashAlgorithm.SHA1)
        return tuple(chosen)

    def fields(self) -> ItemFields:
        return ItemFields(
            description=self.description.toPlainText().strip(),
            tags=tuple(t.strip() for t in self.tags.text().split(",") if t.strip()),
            markings=self.markings_editor.markings(),
            acquisition=Acquisition(method=self.method.text().strip(), location=self.location.text().strip(),
                                    seal_number=self.seal.text().strip()),
            parent_id=self.derived_from.currentData(),
        )


class PhysicalItemDialog(SubmitDialog):
    """A seized object recorded without content: name, storage location, acquisition details."""

    def __init__(self, case: Case, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form, self.buttons = _form_dialog(self, "physicalItemDialog",
                                          _("Add physical item to case {number}", number=case.number), _("Add"))
        self.resize(560, 420)
        self.name = _line(_("e.g. iPhone 12, black, cracked screen"))
        self.name.setObjectName("physicalName")
        self.exhibit = _line(_("Empty: next number in the agency format"))
        self.description = _line(_("What it is"))
        self.storage = _line(_("e.g. Evidence room 2, shelf B4"))
        self.device = _line(_("Make and model"))
        self.serial = _line(_("Serial number / IMEI"))
        self.seal = _line(_("Seal / bag number"))
        self.location = _line(_("Where it was seized"))
        self.markings_editor = MarkingsEditor(evidence.case_markings(case))
        form.addRow(required(_("&Name")), self.name)
        form.addRow(_("E&xhibit number"), self.exhibit)
        form.addRow(_("&Description"), self.description)
        form.addRow(_("&Storage location"), self.storage)
        form.addRow(_("De&vice"), self.device)
        form.addRow(_("Se&rial"), self.serial)
        form.addRow(_("S&eal number"), self.seal)
        form.addRow(_("Seized &at"), self.location)
        form.addRow(_("&Markings"), self.markings_editor)
        form.addRow(required_note())
        self.name.setFocus()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(False)
        self.name.textChanged.connect(lambda text: ok.setEnabled(bool(text.strip())))

    def fields(self) -> ItemFields:
        return ItemFields(
            description=self.description.text().strip(), exhibit_number=self.exhibit.text().strip(),
            storage_location=self.storage.text().strip(), markings=self.markings_editor.markings(),
            acquisition=Acquisition(location=self.location.text().strip(), source_device=self.device.text().strip(),
                                    source_serial=self.serial.text().strip(), seal_number=self.seal.text().strip()),
        )


class CheckoutDialog(SubmitDialog):
    """Hand a physical item over (check-out) or take it back (check-in)."""

    def __init__(self, item: Item, checking_in: bool, user_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.checking_in = checking_in
        title = (_("Check in exhibit {exhibit}", exhibit=item.exhibit_number) if checking_in
                 else _("Check out exhibit {exhibit}", exhibit=item.exhibit_number))
        form, self.buttons = _form_dialog(self, "checkinDialog" if checking_in else "checkoutDialog", title,
                                          _("Check in") if checking_in else _("Check out"))
        self.resize(520, 260)
        info = QLabel(_("{exhibit} — {name} (held by {holder})", exhibit=item.exhibit_number,
                        name=item.original_name, holder=item.holder) if item.holder
                      else f"{item.exhibit_number} — {item.original_name}")
        info.setWordWrap(True)
        form.addRow(info)
        if checking_in:
            self.other = _line(_("Who hands the item back"), item.holder)
            self.me = _line(_("Who receives it"), user_name)
            self.purpose = _line(_("Storage location"), item.storage_location)
            form.addRow(required(_("Released &by")), self.other)
            form.addRow(_("Recei&ved by"), self.me)
            form.addRow(_("&Storage location"), self.purpose)
        else:
            self.other = _line(_("Who receives the item"))
            self.me = _line(_("Who releases it"), user_name)
            self.purpose = _line(_("Why, e.g. forensic examination at the lab"))
            form.addRow(required(_("&Receiving person")), self.other)
            form.addRow(_("Releasing p&erson"), self.me)
            form.addRow(required(_("&Purpose")), self.purpose)
        self.other.setObjectName("counterparty")
        self.purpose.setObjectName("purpose")
        self.notes = _line(_("Optional"))
        form.addRow(_("N&otes"), self.notes)
        form.addRow(required_note())
        (self.purpose if checking_in and self.other.text() else self.other).setFocus()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)

        def check() -> None:
            ok.setEnabled(bool(self.other.text().strip()) and (checking_in or bool(self.purpose.text().strip())))

        self.other.textChanged.connect(check)
        self.purpose.textChanged.connect(check)
        check()


class ExtractDialog(QDialog):
    """Where to write a decrypted copy of an item, and why (the reason is required and recorded)."""

    def __init__(self, item: Item, suggested: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form, self.buttons = _form_dialog(self, "extractDialog",
                                          _("Extract exhibit {exhibit}", exhibit=item.exhibit_number), _("Extract"))
        self.resize(600, 220)
        self.path = _line(_("Destination file"), str(suggested))
        self.path.setObjectName("extractPath")
        browse = QPushButton(_("Browse…"))
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.reason = _line(_("Required: why this copy is made, e.g. examination with X-Ways"))
        self.reason.setObjectName("extractReason")
        self.problem = QLabel()
        self.problem.setObjectName("errorLabel")
        self.problem.setWordWrap(True)
        note = QLabel(_("The copy is decrypted to plain text on disk and re-hashed after writing; the extraction "
                        "and its reason are recorded in the chain of custody."))
        note.setObjectName("hintLabel")
        note.setWordWrap(True)
        form.addRow(_("Exhibit {exhibit}", exhibit=item.exhibit_number), QLabel(item.original_name))
        form.addRow(required(_("&Save as")), row)
        form.addRow(required(_("&Reason")), self.reason)
        form.addRow(note)
        form.addRow(required_note())
        form.addRow(self.problem)
        self.reason.setFocus()  # the destination is suggested; the reason never is
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.path.textChanged.connect(self._check)
        self.reason.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        self.ok.setEnabled(bool(self.reason.text().strip()) and bool(self.path.text().strip()))

    def accept(self) -> None:
        if not self.reason.text().strip() or not self.path.text().strip():
            self.problem.setText(_("An extraction needs a destination file and a reason."))
            return
        out = Path(self.path.text().strip()).expanduser()
        if out.exists() or out.is_symlink():
            self.problem.setText(_("{path} already exists; choose a new file name (nothing is overwritten).", path=out))
            return
        if not out.parent.is_dir():
            self.problem.setText(_("The folder {folder} does not exist.", folder=out.parent))
            return
        super().accept()

    def _browse(self) -> None:
        dialog = QFileDialog(self, _("Extract to"), self.path.text())
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.path.setText(name) if name else None)
        dialog.open()


class AnnotateDialog(SubmitDialog):
    """Edit an item's description, notes, tags and markings; the custody event records old → new."""

    def __init__(self, item: Item, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form, self.buttons = _form_dialog(self, "annotateDialog",
                                          _("Annotate exhibit {exhibit}", exhibit=item.exhibit_number), _("Save"))
        self.resize(600, 420)
        self.item = item
        self.description = QPlainTextEdit(item.description)
        self.description.setTabChangesFocus(True)  # Tab moves on (it typed a tab into the text, issue 11)
        self.description.setMaximumHeight(80)
        self.notes = QPlainTextEdit(item.notes)
        self.notes.setTabChangesFocus(True)  # Tab moves on (it typed a tab into the text, issue 11)
        self.notes.setObjectName("annotateNotes")
        self.tags = _line(_("Comma-separated"), ", ".join(item.tags))
        self.tags.setObjectName("annotateTags")
        self.markings_editor = MarkingsEditor(item.markings)
        self.reason = _line(_("Why (recorded in the chain of custody)"))
        form.addRow(_("&Description"), self.description)
        form.addRow(_("N&otes"), self.notes)
        form.addRow(_("&Tags"), self.tags)
        form.addRow(_("&Markings"), self.markings_editor)
        form.addRow(_("&Reason"), self.reason)
        self.description.setFocus()

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.tags.text().split(",") if t.strip()]


class FixityResultDialog(QDialog):
    """Per-item fixity results; mismatches first, each with the reason."""

    def __init__(self, reports: list[FixityReport], parent: QWidget | None = None, *, case_number: str = "",
                 skipped: int = 0) -> None:
        """``case_number``: every item of that case was verified (none was selected); else the selection.
        ``skipped``: physical items in the selection (no content to verify)."""
        super().__init__(parent)
        self.setObjectName("fixityResultDialog")
        self.reports = reports
        bad = [r for r in reports if not r.ok]
        self.setWindowTitle(_("Evidence verification"))
        self.resize(980, 380)
        text = self._summary(reports, bad, case_number)
        if skipped and reports:
            text = ngettext("{summary} {n} physical item has no stored content to verify.",
                            "{summary} {n} physical items have no stored content to verify.", skipped, summary=text)
        self.summary = QLabel(text)
        self.summary.setObjectName("fixitySummary")
        self.summary.setProperty("intact", "false" if bad else "true")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(len(reports), 3)
        self.table.setObjectName("fixityTable")
        self.table.setHorizontalHeaderLabels([_("Exhibit"), _("Result"), _("Detail")])
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # a digest on one line; the whole text is in the cell's tooltip
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for row, report in enumerate(sorted(reports, key=lambda r: (r.ok, r.exhibit_number))):
            detail = (fixity.PROBLEMS.shown(report.problem) if report.problem
                      else f"SHA-256 {report.actual.get('sha256', '')}")
            for column, text in enumerate((report.exhibit_number, _("OK") if report.ok else _("MISMATCH"), detail)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if not report.ok:
                    cell.setForeground(QColor("#c62828"))
                self.table.setItem(row, column, cell)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    @staticmethod
    def _summary(reports: list[FixityReport], bad: list[FixityReport], case_number: str) -> str:
        """One sentence: what was verified (a case's items, or the selection) and how it went."""
        if not reports:
            return (_("There was no stored content to verify among the items of case {number} (physical items have "
                      "none).", number=case_number) if case_number else
                    _("There was no stored content to verify among the selected items (physical items have none)."))
        if len(reports) == 1:
            exhibit = reports[0].exhibit_number
            return (_("Exhibit {exhibit} FAILED verification.", exhibit=exhibit) if bad else
                    _("Exhibit {exhibit} verified: content intact, digests match the acquisition record.",
                      exhibit=exhibit))
        if bad:  # two or more reports from here on
            failed = ", ".join(r.exhibit_number for r in bad)
            if case_number:
                return _("{bad} of the {n} items of case {number} FAILED verification: {failed}.", bad=len(bad),
                         n=len(reports), number=case_number, failed=failed)
            return _("{bad} of the {n} selected items FAILED verification: {failed}.", bad=len(bad), n=len(reports),
                     failed=failed)
        if case_number:
            return _("All {n} items of case {number} verified: content intact, digests match the acquisition record.",
                     n=len(reports), number=case_number)
        return _("All {n} selected items verified: content intact, digests match the acquisition record.",
                 n=len(reports))
