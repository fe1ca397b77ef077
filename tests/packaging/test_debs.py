"""The Debian packages of the transfer set (issue 14 item 1: "a fresh machine with no package index reachable
installs from the transfer set"): ``make-transfer-set.sh --debs`` carries Qt's libraries and python3-venv with every
dependency a minimal Debian install lacks; ``install.sh --debs`` installs the missing ones without a network.

The offline install is real: a package of the set (libxcb-xinerama0, which nothing installed depends on) is removed
from this machine, then install.sh --debs, in a network namespace with no route anywhere, installs it again from the
set with apt-get --no-download. Needs root (CI runs as root) and Debian's apt; measured ~20 s."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import MAKE, ROOT
from tests.packaging.test_transfer_set import linked_copy, offline_env, rewrite_manifest, tamper

PROBE = "libxcb-xinerama0"  # a leaf of the set: nothing installed depends on it
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("apt-get") is None,
                                reason="installing Debian packages needs root and apt-get")


def wanted() -> list[str]:
    lines = (ROOT / "packaging" / "runtime-debs.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True).stdout.strip()


def installed(package: str) -> bool:
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return "install ok installed" in status.stdout


@pytest.fixture(scope="module")
def debs_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("usb-debs") / "icspa-set"
    result = subprocess.run([str(MAKE), "--worktree", "--debs", str(out)], env=dict(os.environ, PYTHON=sys.executable),
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"^SHA-256 of MANIFEST.sha256: ([0-9a-f]{64})$", result.stdout, re.MULTILINE)
    assert match is not None, result.stdout
    return out, match.group(1)


def test_the_set_carries_the_runtime_packages_and_their_dependencies_but_not_the_base_system(
        debs_set: tuple[Path, str]) -> None:
    out, _digest = debs_set
    debs = sorted((out / "debs").glob("*.deb"))
    packages = {field(deb, "Package"): deb for deb in debs}
    assert set(wanted()) <= set(packages), set(wanted()) - set(packages)
    assert {"libxcb1", "libx11-6", "python3.11-venv"} <= set(packages)  # dependencies, not named in the list
    for base in ("libc6", "dpkg", "bash", "libgcc-s1", "debconf"):  # every Debian install has these
        assert base not in packages, base
    for deb in debs:
        assert field(deb, "Architecture") in ("amd64", "all", subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip())
        assert re.fullmatch(r"[A-Za-z0-9._+=-]+", deb.name), deb.name  # what install.sh's manifest check accepts
    manifest = (out / "MANIFEST.sha256").read_text(encoding="utf-8")
    assert all(f"  debs/{deb.name}\n" in manifest for deb in debs)
    codename = subprocess.run(["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"], capture_output=True,
                              text=True, check=True).stdout.strip()
    assert f"debian={codename}\n" in (out / "BUILD-INFO").read_text(encoding="utf-8")


def test_install_debs_puts_a_missing_package_back_without_a_network(debs_set: tuple[Path, str],
                                                                      tmp_path: Path) -> None:
    out, digest = debs_set
    deb = next(d for d in (out / "debs").glob("*.deb") if field(d, "Package") == PROBE)
    home = tmp_path / "home"
    home.mkdir()
    assert installed(PROBE)
    subprocess.run(["dpkg", "-r", PROBE], capture_output=True, text=True, check=True)
    try:
        assert not installed(PROBE)
        done = subprocess.run(["unshare", "-n", str(out / "install.sh"), "--debs", "--manifest-sha256", digest,
                               "--python", sys.executable, str(tmp_path / "venv")], env=offline_env(home), cwd=home,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "Installed 1 of the set's Debian packages." in done.stdout, done.stdout[-2000:]
        assert installed(PROBE)
        assert (tmp_path / "venv" / "bin" / "icspa").exists()
    finally:
        if not installed(PROBE):  # whatever failed above: the machine gets its package back
            subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, check=False)


def test_a_changed_package_is_refused_before_anything_is_installed(debs_set: tuple[Path, str],
                                                                   tmp_path: Path) -> None:
    out, digest = debs_set
    medium = linked_copy(out, tmp_path / "medium")
    deb = next(d for d in (medium / "debs").glob("*.deb") if field(d, "Package") == PROBE)
    tamper(deb, offset=deb.stat().st_size // 2)
    home = tmp_path / "home"
    home.mkdir()
    for told in (digest, rewrite_manifest(medium)):  # the told hash; then an attacker's manifest, told by them
        done = subprocess.run([str(medium / "install.sh"), "--debs", "--manifest-sha256", digest,
                               "--python", sys.executable, str(tmp_path / f"venv-{told[:6]}")],
                              env=offline_env(home), cwd=home, capture_output=True, text=True, timeout=600,
                              check=False)
        assert done.returncode != 0 and "REFUSED" in done.stderr, done.stderr
        assert not (tmp_path / f"venv-{told[:6]}").exists()
    assert installed(PROBE)
