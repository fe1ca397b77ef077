"""The core stays Qt-free: only icspa_desktop/gui/ may import PySide6 (or its shiboken6 runtime)."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import icspa_desktop

PACKAGE = Path(icspa_desktop.__file__).resolve().parent
GUI = PACKAGE / "gui"
QT_ROOTS = {"PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2"}


def qt_imports(path: Path) -> list[str]:
    """Qt modules ``path`` imports anywhere (top level, functions, TYPE_CHECKING blocks, importlib calls)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            names = [node.args[0].value]
        found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}"
                  for name in names if name.split(".")[0] in QT_ROOTS]
    return found


def core_modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if GUI not in path.parents]


def test_the_checker_sees_qt_imports() -> None:
    sample = PACKAGE / "gui" / "app.py"
    assert qt_imports(sample), "the AST check must recognise the GUI's own imports"


def test_no_module_outside_gui_imports_qt() -> None:
    modules = core_modules()
    assert len(modules) > 20  # the walk really covers the core
    offenders = [hit for path in modules for hit in qt_imports(path)]
    assert offenders == [], "Qt imported outside icspa_desktop/gui/:\n" + "\n".join(offenders)


def test_importing_services_and_cli_loads_no_qt() -> None:
    """Every core module (services, cli, vault, ...) imports in a fresh interpreter without pulling in Qt."""
    core_names = sorted(
        info.name for info in pkgutil.walk_packages([str(PACKAGE)], prefix="icspa_desktop.")
        if not info.name.startswith("icspa_desktop.gui") and info.name != "icspa_desktop.__main__"
    )
    assert "icspa_desktop.services.cases" in core_names
    assert "icspa_desktop.cli.main" in core_names
    script = (
        "import importlib, json, sys\n"
        f"for name in {core_names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(QT_ROOTS)!r})))\n"
    )
    env = dict(os.environ)
    env.pop("PYTEST_QT_API", None)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            cwd=PACKAGE.parent, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_gui_entry_point_is_importable_and_uses_qt() -> None:
    """Guard against the opposite mistake: the subprocess check above would pass if nothing imported Qt."""
    script = "import sys, icspa_desktop.gui.app; print('PySide6' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=PACKAGE.parent, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def database_access(path: Path) -> list[str]:
    """Places where ``path`` talks to the database itself: ``.execute(...)`` calls and ``.conn`` attributes."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "conn"):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{node.attr}")
    return found


def test_the_database_checker_sees_sql() -> None:
    assert database_access(PACKAGE / "services" / "cases.py")


def test_cli_and_gui_reach_the_database_only_through_the_services() -> None:
    """Issue 12: the services are the only door (role checks, custody events, one transaction per action)."""
    modules = sorted((PACKAGE / "cli").glob("*.py")) + sorted(GUI.glob("*.py"))
    assert len(modules) > 20
    offenders = [hit for path in modules for hit in database_access(path)]
    assert offenders == [], "SQL or connections used outside the services:\n" + "\n".join(offenders)
