"""docs/make_screenshots.py runs (a fast subset: one dialog, the main window, and the partner side's import
report) and writes real pictures: the expected files, at their expected size, not blank."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "make_screenshots.py"
SHOTS = ROOT / "docs" / "screenshots"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")  # ![alt](path.png)


def colours(image: QImage) -> Counter[bytes]:
    """How many pixels have each colour (every other pixel of every other row: enough to judge)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB32)
    data, stride = bytes(rgb.constBits()), rgb.bytesPerLine()
    return Counter(data[y * stride + x * 4:y * stride + x * 4 + 4]
                   for y in range(0, rgb.height(), 2) for x in range(0, rgb.width(), 2))


def test_script_writes_the_chosen_screenshots(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ICSPA_LANG": "en", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--only", "01,03,12"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["01-first-run-wizard.png", "03-main-window.png", "12-import-verification.png"]
    assert "3 screenshot(s)" in done.stdout
    for name in names:
        image = QImage(str(out / name))
        assert not image.isNull(), name
        if name == "03-main-window.png":
            assert (image.width(), image.height()) == (1366, 768)
        else:  # a dialog at its own size, not cut to a sliver
            assert 400 <= image.width() <= 1366 and 300 <= image.height() <= 768, (name, image.size())
        counted = colours(image)
        assert len(counted) > 40, f"{name}: only {len(counted)} colours"
        assert counted.most_common(1)[0][1] < 0.98 * sum(counted.values()), f"{name} is mostly one colour"
    # The committed pictures are the same set of pages, at the same sizes (re-run the script after GUI changes).
    for name in names:
        committed = QImage(str(SHOTS / name))
        assert committed.size() == QImage(str(out / name)).size(), name


def test_the_committed_screenshots_are_referenced_and_exist() -> None:
    """Every picture the README and the guides show is in docs/screenshots, and every picture there is shown."""
    shown: set[str] = set()
    for doc in (ROOT / "README.md", ROOT / "docs" / "user-guide.md", ROOT / "docs" / "admin-guide.md"):
        text = doc.read_text(encoding="utf-8")
        shown |= {Path(link).name for link in IMAGE.findall(text)}
    committed = {p.name for p in SHOTS.glob("*.png")}
    assert shown <= committed, shown - committed
    assert committed <= shown, committed - shown
