"""The app bundle (packaging/pyinstaller): PyInstaller makes one folder of the transfer set's wheels, Python and Qt
included (~65 s on 2 cores, ~283 MB), and a tar of it for the medium. Unpacked elsewhere, its ``icspa`` and
``icspa-desktop`` run with an empty environment, outside any virtual environment and with no network: ``--help``, a
vault with the production KDF, evidence and a PDF report, ``--self-test`` offscreen."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icspa_desktop.services.custody_reports import SEPARATE_FROM
from tests.packaging.conftest import ROOT, TransferSet
from tests.packaging.test_transfer_set import offline_prefix

BUILD = ROOT / "packaging" / "pyinstaller" / "build.sh"


@pytest.fixture(scope="module")
def built(transfer_set: TransferSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "out"
    start = time.monotonic()
    result = subprocess.run([str(BUILD), str(transfer_set.path), str(out)], env=dict(os.environ, PYTHON=sys.executable),
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    size = sum(f.stat().st_size for f in (out / "icspa-desktop").rglob("*") if f.is_file() and not f.is_symlink())
    print(f"\napp bundle built in {time.monotonic() - start:.1f} s: {size / 1e6:.0f} MB")
    return out


@pytest.fixture(scope="module")
def bundle(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tar unpacked on "the workstation", as the admin guide says."""
    [tarball] = built.glob("icspa-desktop-*.tar")
    target = tmp_path_factory.mktemp("workstation-opt")
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(target)], check=True)
    return target / "icspa-desktop"


def test_the_bundle_runs_alone_without_network(bundle: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "ICSPA_NEW_PASSPHRASE": "a long enough passphrase 2026", "ICSPA_PASSPHRASE": "a long enough passphrase 2026",
           "ICSPA_VAULT": str(tmp_path / "vault"), "ICSPA_USER": "alice"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*offline_prefix(), *argv], env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    icspa = str(bundle / "icspa")
    assert run(icspa, "--help").stdout.startswith("usage: icspa")
    run(icspa, "vault", "init", "--user", "alice", "--agency-name", "Example Police", "--country", "NL")
    run(icspa, "case", "create", "--number", "2026/001", "--title", "Nightjar")
    (tmp_path / "image.bin").write_bytes(b"evidence" * 1000)
    run(icspa, "evidence", "add", "2026/001", str(tmp_path / "image.bin"), "--description", "image")
    run(icspa, "report", "custody", "2026/001", "--out", str(tmp_path / "custody.pdf"))
    assert (tmp_path / "custody.pdf").read_bytes().startswith(b"%PDF")  # reportlab's fonts came along
    # A report big enough to be drawn in a separate process (services/custody_reports.SEPARATE_FROM): the frozen
    # program starts itself again for it, which works only through multiprocessing.freeze_support.
    card = tmp_path / "card"
    card.mkdir()
    for i in range(SEPARATE_FROM // 2 + 1):  # an item and its "acquired" event each
        (card / f"IMG_{i:04d}.jpg").write_bytes(i.to_bytes(4, "big") * 8)
    run(icspa, "evidence", "add", "2026/001", str(card), "--description", "photos")
    run(icspa, "report", "custody", "2026/001", "--out", str(tmp_path / "big.pdf"))
    assert (tmp_path / "big.pdf").read_bytes().startswith(b"%PDF")

    gui = run(str(bundle / "icspa-desktop"), "--self-test")
    assert "self-test: OK" in gui.stdout


def test_the_tar_has_its_sha256_and_only_links_inside_the_bundle(built: Path, bundle: Path) -> None:
    [tarball] = built.glob("icspa-desktop-0.1.0-linux-*.tar")
    digest, name = (built / f"{tarball.name}.sha256").read_text().split()
    assert name == tarball.name and digest == hashlib.sha256(tarball.read_bytes()).hexdigest()
    for link in (p for p in bundle.rglob("*") if p.is_symlink()):
        assert link.resolve().is_relative_to(bundle.resolve()), link  # nothing of the build machine is referred to
