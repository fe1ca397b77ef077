"""The desktop integration files in resources/: valid for the freedesktop.org tools, consistent with each other,
and the icon's PNG sizes rendered from its SVG (resources/icons/render.py)."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / "icspa-desktop.desktop"
METAINFO = RESOURCES / "org.icspa.EvidenceDesktop.metainfo.xml"
MIME = RESOURCES / "icspa-desktop-mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (./dev.sh test installs it: TEST_DEBS)")
    return found


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def mime_types() -> dict[str, list[str]]:
    root = ET.parse(MIME).getroot()
    return {node.attrib["type"]: [glob.attrib["pattern"] for glob in node.iter(f"{MIME_NS}glob")]
            for node in root.iter(f"{MIME_NS}mime-type")}


def test_desktop_file_validates() -> None:
    result = subprocess.run([tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout + result.stderr


def test_desktop_file_validate_would_see_a_broken_entry(tmp_path: Path) -> None:
    broken = tmp_path / "icspa-desktop.desktop"
    broken.write_text(DESKTOP.read_text(encoding="utf-8").replace("Type=Application\n", ""), encoding="utf-8")
    result = subprocess.run([tool("desktop-file-validate"), str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_metainfo_validates() -> None:
    result = subprocess.run([tool("appstreamcli"), "validate", "--no-net", "--strict", str(METAINFO)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mime_database_takes_both_types_and_their_globs(tmp_path: Path) -> None:
    (tmp_path / "packages").mkdir()
    shutil.copy(MIME, tmp_path / "packages")
    subprocess.run([tool("update-mime-database"), str(tmp_path)], check=True, capture_output=True)
    globs = {tuple(line.split(":")[1:3]) for line in (tmp_path / "globs2").read_text().splitlines()
             if not line.startswith("#")}
    assert globs == {("application/x-icspa-bundle", "*.icspa"), ("application/x-icspa-bundle", "*.icspa.001"),
                     ("application/x-icspa-card", "*.icspa-card")}
    assert (tmp_path / "application" / "x-icspa-card.xml").is_file()


def test_entry_metainfo_and_mime_types_agree() -> None:
    entry = desktop_entry()
    assert entry["Exec"] == "icspa-desktop %f"  # one file: gui/app.py opens one FILE
    assert entry["Icon"] == "icspa-desktop"
    declared = set(mime_types())
    assert set(filter(None, entry["MimeType"].split(";"))) == declared == {"application/x-icspa-bundle",
                                                                           "application/x-icspa-card"}
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("launchable") == DESKTOP.name
    assert {node.text for node in root.iter("mediatype")} == declared
    assert {node.text for node in root.iter("binary")} == {"icspa", "icspa-desktop"}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert version in {node.attrib["version"] for node in root.iter("release")}  # a release line per version


def test_pyproject_installs_every_desktop_file() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data_files: dict[str, list[str]] = pyproject["tool"]["setuptools"]["data-files"]
    installed = {f"{target}/{Path(source).name}": source
                 for target, sources in data_files.items() for source in sources}
    assert installed["share/applications/icspa-desktop.desktop"] == "resources/icspa-desktop.desktop"
    assert installed["share/metainfo/org.icspa.EvidenceDesktop.metainfo.xml"] == str(METAINFO.relative_to(ROOT))
    assert installed["share/mime/packages/icspa-desktop-mime.xml"] == str(MIME.relative_to(ROOT))
    icons = sorted(path.relative_to(RESOURCES / "icons") for path in (RESOURCES / "icons").glob("*/apps/*"))
    assert len(icons) == 9  # scalable + 8 PNG sizes
    for icon in icons:
        assert installed[f"share/icons/hicolor/{icon}"] == f"resources/icons/{icon}"
    for source in installed.values():
        assert list(ROOT.glob(source)), f"{source} (pyproject.toml's data-files) matches no file"


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("icon_render", RESOURCES / "icons" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def differing_pixels(a: QImage, b: QImage, tolerance: int = 8) -> int:
    """Pixels whose channels differ by more than ``tolerance`` (antialiasing may differ between Qt builds)."""
    count = 0
    for y in range(a.height()):
        for x in range(a.width()):
            pa, pb = a.pixelColor(x, y), b.pixelColor(x, y)
            if max(abs(pa.red() - pb.red()), abs(pa.green() - pb.green()), abs(pa.blue() - pb.blue()),
                   abs(pa.alpha() - pb.alpha())) > tolerance:
                count += 1
    return count


@pytest.mark.parametrize("size", [16, 22, 24, 32, 48, 64, 128, 256])
def test_png_sizes_are_the_svg_rendered(qapp: QApplication, size: int) -> None:
    render = load_render()
    committed = QImage(str(render.png_path(size))).convertToFormat(QImage.Format.Format_ARGB32)
    assert (committed.width(), committed.height()) == (size, size)
    assert committed.pixelColor(0, 0).alpha() == 0  # transparent corners: the shield's outline
    assert committed.pixelColor(size // 2, size // 2).alpha() == 255
    fresh = render.render(size)
    assert differing_pixels(committed, fresh) <= size * size // 100, "run resources/icons/render.py"


def test_the_comparison_sees_an_icon_that_is_not_the_svgs(qapp: QApplication) -> None:
    render = load_render()
    other = render.render(32)
    other.invertPixels()
    assert differing_pixels(QImage(str(render.png_path(32))).convertToFormat(QImage.Format.Format_ARGB32),
                            other) > 100
