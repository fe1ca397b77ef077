"""How markings look: TLP 2.0 colours and badge labels (styled by resources/style.qss)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from icspa_desktop.domain.enums import HandlingCode, Tlp

# FIRST TLP 2.0 colours (text on black).
TLP_COLOURS: dict[Tlp, str] = {
    Tlp.CLEAR: "#ffffff",
    Tlp.GREEN: "#33ff00",
    Tlp.AMBER: "#ffc000",
    Tlp.AMBER_STRICT: "#ffc000",
    Tlp.RED: "#ff2b2b",
}

HANDLING_MEANINGS: dict[HandlingCode, str] = {
    HandlingCode.H0: "use for crime prevention and combating only",
    HandlingCode.H1: "no use in judicial proceedings without the provider's permission",
    HandlingCode.H2: "no dissemination without the provider's permission",
    HandlingCode.H3: "other restrictions, stated in text",
}


def tlp_label(tlp: Tlp) -> str:
    return f"TLP:{tlp.value}"


def tlp_colour(tlp: Tlp) -> QColor:
    return QColor(TLP_COLOURS[tlp])


def local_time(moment: datetime) -> str:
    """A stored UTC time in the workstation's zone, to the minute."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


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
        self.setToolTip(HANDLING_MEANINGS[code] if code else "")
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
