"""How markings look: TLP 2.0 colours and badge labels (styled by resources/style.qss)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.i18n import N_, _, format_local, format_moment

# FIRST TLP 2.0 colours (text on black).
TLP_COLOURS: dict[Tlp, str] = {
    Tlp.CLEAR: "#ffffff",
    Tlp.GREEN: "#33ff00",
    Tlp.AMBER: "#ffc000",
    Tlp.AMBER_STRICT: "#ffc000",
    Tlp.RED: "#ff2b2b",
}

# Marked with N_ and translated where shown (``handling_meaning``); the CASE/UCO export keeps its own English.
HANDLING_MEANINGS: dict[HandlingCode, str] = {
    HandlingCode.H0: N_("use for crime prevention and combating only"),
    HandlingCode.H1: N_("no use in judicial proceedings without the provider's permission"),
    HandlingCode.H2: N_("no dissemination without the provider's permission"),
    HandlingCode.H3: N_("other restrictions, stated in text"),
}


def handling_meaning(code: HandlingCode) -> str:
    """What a handling code means, in the reader's language."""
    return _(HANDLING_MEANINGS[code])


def handling_text(code: HandlingCode) -> str:
    """``H1 — no use in judicial proceedings …``: a code with its meaning (combo boxes, details)."""
    return _("{code} — {meaning}", code=code.value, meaning=handling_meaning(code))


def tlp_label(tlp: Tlp) -> str:
    return f"TLP:{tlp.value}"


def tlp_colour(tlp: Tlp) -> QColor:
    return QColor(TLP_COLOURS[tlp])


def full_time(moment: datetime) -> str:
    """A stored time for a reader (details, tooltips): the date and time in the reader's conventions and this
    workstation's zone, with UTC beside it (``i18n.format_moment``). Naive times are UTC, as the vault keeps
    them."""
    return format_moment(moment)


def local_time(moment: datetime) -> str:
    """A stored time for a table cell: the reader's conventions in this workstation's zone, without the UTC
    that ``full_time`` adds beside it (a cell's tooltip or the details give it). Sort by the moment, not this."""
    return format_local(moment)


class TlpBadge(QLabel):
    """``TLP:AMBER`` in the TLP colour on black."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tlpBadge")
        self.setProperty("badge", True)
        self.set_tlp(None)

    def set_tlp(self, tlp: Tlp | None) -> None:
        self.setText(tlp_label(tlp) if tlp else "")
        self.setProperty("tlp", tlp.value if tlp else "")
        self.setVisible(tlp is not None)
        # A dynamic property only restyles after an unpolish/polish cycle.
        self.style().unpolish(self)
        self.style().polish(self)


class HandlingBadge(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("handlingBadge")
        self.setProperty("badge", True)
        self.setProperty("handling", True)
        self.set_code(None)

    def set_code(self, code: HandlingCode | None) -> None:
        self.setText(code.value if code else "")
        self.setToolTip(handling_meaning(code) if code else "")
        self.setVisible(code is not None)


class TlpDelegate(QStyledItemDelegate):
    """Paints a TLP cell as its badge even when the row is selected (the marking must stay legible)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        colour = index.data(Qt.ItemDataRole.ForegroundRole)
        rect = option.rect.adjusted(3, 3, -3, -3)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#000000"))
        painter.drawRoundedRect(rect, 3, 3)
        font = option.font
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QPen(colour.color() if colour is not None else QColor("#ffffff")))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
