"""Stylesheets and icons from ``resources/``, found next to the package or where the wheel put them."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from icspa_desktop.i18n import _

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
# A source checkout or editable install keeps resources/ beside the package; a wheel installs them
# as data files under <prefix>/share/icspa-desktop (see [tool.setuptools.data-files] in pyproject.toml).
_CANDIDATES = (_PACKAGE_DIR.parent / "resources", Path(sys.prefix) / "share" / "icspa-desktop")


def resource_dir() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "style.qss").is_file():
            return candidate
    raise FileNotFoundError(_("The application's resources (style.qss) are missing; reinstall the program."))


def resource_path(name: str) -> Path:
    return resource_dir() / name


def stylesheet() -> str:
    return resource_path("style.qss").read_text(encoding="utf-8")


def apply_stylesheet(app: QApplication) -> None:
    """Use the application stylesheet; a missing file leaves Qt's default look rather than failing."""
    try:
        app.setStyleSheet(stylesheet())
    except FileNotFoundError as exc:
        print(f"icspa-desktop: {exc}", file=sys.stderr)
