"""Render the application icon's PNG sizes from its SVG (run after editing the SVG; commit the PNGs with it).

    .venv/bin/python resources/icons/render.py

Writes ``NxN/apps/icspa-desktop.png`` beside ``scalable/apps/icspa-desktop.svg``: the layout of the hicolor icon
theme, so the same tree serves a source checkout and ``share/icons/hicolor`` of an installation.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICON_DIR = Path(__file__).resolve().parent
SVG = ICON_DIR / "scalable" / "apps" / "icspa-desktop.svg"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def png_path(size: int, root: Path = ICON_DIR) -> Path:
    return root / f"{size}x{size}" / "apps" / "icspa-desktop.png"


def render(size: int, svg: Path = SVG) -> QImage:
    """The SVG drawn on a transparent ``size``×``size`` image (antialiased)."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG image Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in SIZES:
        target = png_path(size)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not render(size).save(str(target), "PNG"):
            print(f"render.py: could not write {target}", file=sys.stderr)
            return 1
        print(f"{target.relative_to(ICON_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
