"""The selected item's full record: selectable fields, every digest with a copy button."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.domain.evidence import HashAlgorithm, Item, ItemKind
from icspa_desktop.gui.clipboard import copy_text
from icspa_desktop.gui.evidence_model import acquired_full, item_status
from icspa_desktop.gui.markings import full_time, handling_text, tlp_label
from icspa_desktop.i18n import _, format_size
from icspa_desktop.services.received import ItemProvenance

# Item id -> where an imported item came from (None: it is ours). Set by the main window per session.
ProvenanceLookup = Callable[[str], ItemProvenance | None]

_HASH_LABELS = {HashAlgorithm.SHA256.value: "SHA-256", HashAlgorithm.MD5.value: "MD5",
                HashAlgorithm.SHA1.value: "SHA-1"}


# Markup only: the words in it are the item's and ``kind`` (translated).
_HEADING = "<b>{exhibit}</b> — {name} <span style='color:#7c8692'>({kind})</span>"


class ItemDetailsPane(QScrollArea):
    """``show_item(item, parent_label)`` fills the form; ``clear()`` empties it (selection gone, or locking)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("itemDetails")
        self.setWidgetResizable(True)
        self.item: Item | None = None
        self._body = QWidget()
        self._body.setObjectName("itemDetailsBody")
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(8, 6, 8, 6)
        # Scroll rather than squeeze rows below their height when the pane is short.
        self._layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self.heading = QLabel()
        self.heading.setObjectName("itemHeading")
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout.addWidget(self.heading)
        self._form_host = QWidget()
        self._layout.addWidget(self._form_host)
        self._layout.addStretch(1)
        self.hash_fields: dict[str, QLineEdit] = {}
        self.provenance: ProvenanceLookup | None = None
        self.setWidget(self._body)
        self.clear()

    def clear(self) -> None:
        self.item = None
        self.hash_fields = {}
        self.heading.setText(_("Select an item to see its full record."))
        self._replace_form(QFormLayout())

    def _replace_form(self, form: QFormLayout) -> None:
        old = self._form_host
        self._form_host = QWidget()
        self._form_host.setLayout(form)
        self._layout.replaceWidget(old, self._form_host)
        self._form_host.show()  # a child added to a shown widget stays hidden until shown
        old.hide()
        old.deleteLater()

    def text(self) -> str:
        """Everything shown, as plain text (for tests and for copying)."""
        parts = [self.heading.text()]
        for label in self._form_host.findChildren(QLabel):
            parts.append(label.text())
        for edit in self._form_host.findChildren(QLineEdit):
            parts.append(edit.text())
        return "\n".join(parts)

    def show_item(self, item: Item, parent_label: str = "") -> None:
        self.item = item
        kind = _("File") if item.kind is ItemKind.DIGITAL else _("Physical item")
        self.heading.setText(_HEADING.format(exhibit=_esc(item.exhibit_number), name=_esc(item.original_name),
                                             kind=_esc(kind)))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.hash_fields = {}
        for algorithm in ("sha256", "sha1", "md5"):
            value = item.hashes.get(algorithm)
            if value:
                form.addRow(_("{label}:", label=_HASH_LABELS[algorithm]), self._hash_row(algorithm, value))
        acq = item.acquisition
        marks = item.markings
        rows: list[tuple[str, str]] = [
            (_("Item id"), item.id),
            (_("Status"), item_status(item)),
            *self._provenance_rows(item),
        ]
        if item.kind is ItemKind.DIGITAL:
            rows += [(_("Size"), _("{size} ({exact} bytes)", size=format_size(item.size), exact=f"{item.size:,}")
                      if item.size is not None else ""),
                     (_("MIME type"), item.mime_type), (_("Original path"), item.original_path)]
        else:
            rows += [(_("Storage location"), item.storage_location or "—"),
                     (_("Current holder"), item.holder if item.checked_out else _("in storage"))]
        handling = handling_text(marks.handling_code)
        rows += [
            ("TLP", tlp_label(marks.tlp)),
            (_("Handling"), _("{handling} ({restriction})", handling=handling, restriction=marks.handling_text)
             if marks.handling_text else handling),
            (_("Evaluation"), "".join(v.value for v in (marks.source_evaluation, marks.information_evaluation) if v)),
            (_("Description"), item.description),
            (_("Notes"), item.notes),
            (_("Tags"), ", ".join(item.tags)),
            (_("Derived from"), parent_label),
            (_("Acquired by"), acq.acquired_by),
            (_("Acquired at"), acquired_full(item)),
            (_("Acquisition location"), acq.location),
            (_("Method"), acq.method),
            (_("Tool"), " ".join(p for p in (acq.tool, acq.tool_version) if p)),
            (_("Source device"), " ".join(p for p in (acq.source_device, acq.source_serial) if p)),
            (_("Seal number"), acq.seal_number),
            (_("Recorded"), _("{created} (updated {updated})", created=_local(item.created_at),
                              updated=_local(item.updated_at))
             if item.updated_at != item.created_at else _local(item.created_at)),
        ]
        for label, value in rows:
            if value:
                field = QLabel(value)
                field.setWordWrap(True)
                field.setTextFormat(Qt.TextFormat.PlainText)
                field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                form.addRow(_("{label}:", label=label), field)
        self._replace_form(form)

    def _provenance_rows(self, item: Item) -> list[tuple[str, str]]:
        """For an item imported from a partner: whose it is, and that their record is read-only here."""
        try:
            origin = self.provenance(item.id) if self.provenance is not None else None
        except IcspaError:  # the vault locked under a stale view
            origin = None
        if origin is None:
            return []
        return [(_("Received from"), _("{partner}, their exhibit {exhibit}, bundle {bundle}",
                                         partner=origin.partner_name, exhibit=origin.partner_exhibit_number,
                                         bundle=origin.bundle_id)),
                (_("Partner's record"), _("The description and markings are the partner's and read-only; notes and "
                                          "tags are yours."))]

    def _hash_row(self, algorithm: str, value: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(value)
        edit.setObjectName(f"hash_{algorithm}")
        edit.setReadOnly(True)
        edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        edit.setProperty("mono", True)
        copy = QToolButton()
        copy.setText(_("Copy"))
        copy.setObjectName(f"copy_{algorithm}")
        copy.setToolTip(_("Copy the {algorithm} to the clipboard", algorithm=_HASH_LABELS[algorithm]))
        copy.clicked.connect(lambda: copy_text(value))  # cleared after a minute and at lock
        layout.addWidget(edit, 1)
        layout.addWidget(copy)
        self.hash_fields[algorithm] = edit
        return row


def _local(stamp: str) -> str:
    try:
        return full_time(datetime.fromisoformat(stamp))
    except ValueError:
        return stamp


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
