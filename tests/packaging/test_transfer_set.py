"""The offline installation (issue 14 item 1): ``packaging/make-transfer-set.sh`` builds the transfer set on a
connected machine; the set's ``install.sh`` installs it into a fresh virtual environment with no network at all, and
refuses a set whose files were changed. The installed programs are then run: ``icspa`` with the production KDF,
``icspa-desktop --self-test`` offscreen.

Measured on the 2-core dev machine: building the set ~6 s (pip's downloads), the offline install ~8 s, the module
~40 s in all."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, TransferSet

LOCK = ROOT / "packaging" / "requirements.lock"
WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.*\.whl$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def offline_prefix() -> list[str]:
    """``unshare -rn``: a new network namespace with only a loopback that is down, so no address is reachable."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True,
                                                  check=False).returncode == 0:
        return ["unshare", "-rn"]
    return []  # install.sh still passes --no-index and drops every pip setting; the bogus index below stays unused


def offline_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "ICSPA_", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/unreachable", PIP_FIND_LINKS=str(home / "nothing"),
               HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"), XDG_CONFIG_HOME=str(home / ".config"),
               QT_QPA_PLATFORM="offscreen")
    return env


def linked_copy(source: Path, target: Path) -> Path:
    """The set as another medium (hard links: cheap); ``tamper`` replaces a file, never changing the original."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def tamper(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.unlink()
    path.write_bytes(bytes(data))


def rewrite_manifest(set_dir: Path) -> str:
    """What an attacker with the medium would do: a manifest that fits the changed files. Returns its SHA-256."""
    files = sorted(str(p.relative_to(set_dir)) for p in set_dir.rglob("*")
                   if p.is_file() and p.name != "MANIFEST.sha256")
    manifest = set_dir / "MANIFEST.sha256"
    manifest.unlink()
    manifest.write_text("".join(f"{sha256(set_dir / name)}  {name}\n" for name in files), encoding="utf-8")
    return sha256(manifest)


def install(set_dir: Path, venv: Path, home: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*offline_prefix(), str(set_dir / "install.sh"), "--python", sys.executable, *options,
                           str(venv)], env=offline_env(home), cwd=home, capture_output=True, text=True, timeout=600,
                          check=False)


@dataclass
class Installed:
    venv: Path
    home: Path
    bin_dir: Path
    data_dir: Path
    output: str
    seconds: float


@pytest.fixture(scope="module")
def installed(transfer_set: TransferSet, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("workstation")
    medium = linked_copy(transfer_set.path, root / "medium")
    # FAT media collect files of their own: named, never installed.
    (medium / "System Volume Information").mkdir()
    (medium / "System Volume Information" / "IndexerVolumeGuid").write_text("{x}")
    home, bin_dir, data_dir = root / "home", root / "bin", root / "share"
    home.mkdir()
    start = time.monotonic()
    result = install(medium, root / "opt" / "icspa", home, "--manifest-sha256", transfer_set.manifest_sha256.upper(),
                     "--desktop", "--bin-dir", str(bin_dir), "--data-dir", str(data_dir))
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"\noffline install ({' '.join(offline_prefix()) or 'no unshare'}) in {seconds:.1f} s")
    return Installed(root / "opt" / "icspa", home, bin_dir, data_dir, result.stdout + result.stderr, seconds)


def lock_pins() -> dict[str, str]:
    pins = [line.split("==") for line in LOCK.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    return {normalise(name): version for name, version in pins}


def test_the_set_holds_the_pinned_wheels_each_with_the_hash_of_the_file(transfer_set: TransferSet) -> None:
    wheels = sorted((transfer_set.path / "wheels").iterdir())
    found = {}
    for wheel in wheels:
        match = WHEEL_NAME.match(wheel.name)
        assert match is not None, wheel.name
        found[normalise(match["name"])] = match["version"]
    assert found == {**lock_pins(), "icspa-desktop": "0.1.0"}
    assert "pyside6-essentials" in found and not {"pyside6", "pyside6-addons"} & set(found)  # 246 MB, not 673 MB

    requirements = [line for line in (transfer_set.path / "requirements.txt").read_text().splitlines()
                    if not line.startswith("#")]
    assert len(requirements) == len(wheels)
    for wheel, line in zip(wheels, requirements, strict=True):
        match = WHEEL_NAME.match(wheel.name)
        assert match is not None
        assert line == f"{match['name']}=={match['version']} --hash=sha256:{sha256(wheel)}"

    info = dict(line.split("=", 1) for line in (transfer_set.path / "BUILD-INFO").read_text().splitlines())
    assert info["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.fullmatch(r"commit [0-9a-f]{40}", info["source"])  # a release is a commit, not the shared work tree
    commit = info["source"].split()[1]  # HEAD then, or an ancestor of HEAD now (others commit meanwhile)
    assert subprocess.run(["git", "-C", str(ROOT), "merge-base", "--is-ancestor", commit, "HEAD"],
                          check=False).returncode == 0


def test_the_manifest_lists_every_file_with_its_sha256(transfer_set: TransferSet) -> None:
    manifest = transfer_set.path / "MANIFEST.sha256"
    assert sha256(manifest) == transfer_set.manifest_sha256
    listed = {}
    for line in manifest.read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {str(p.relative_to(transfer_set.path)) for p in transfer_set.path.rglob("*") if p.is_file()}
    assert set(listed) == files - {"MANIFEST.sha256"}
    assert {"install.sh", "requirements.txt", "BUILD-INFO", "admin-guide.md"} <= set(listed)
    for name, digest in listed.items():
        assert sha256(transfer_set.path / name) == digest
    assert os.access(transfer_set.path / "install.sh", os.X_OK)


def test_installed_offline_the_cli_and_the_gui_run(installed: Installed, transfer_set: TransferSet) -> None:
    assert f"SHA-256 of MANIFEST.sha256: {transfer_set.manifest_sha256}" in installed.output
    assert "matches the value you were given" in installed.output
    assert "System Volume Information/IndexerVolumeGuid" in installed.output  # named, ignored
    env = offline_env(installed.home)
    offline = offline_prefix()

    def run(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        # From the user's home: run from the checkout, ``python -c`` would import the checkout's package.
        return subprocess.run([*offline, *argv], env={**env, **extra}, cwd=installed.home, capture_output=True,
                              text=True, timeout=300, check=False)

    bin_dir = installed.venv / "bin"
    where = run(str(bin_dir / "python"), "-c", "import icspa_desktop; print(icspa_desktop.__file__)")
    assert where.stdout.startswith(str(installed.venv)), where  # the wheel, not the checkout
    packages = json.loads(run(str(bin_dir / "python"), "-m", "pip", "list", "--format=json").stdout)
    installed_names = {normalise(p["name"]) for p in packages} - {"pip", "setuptools", "wheel"}
    assert installed_names == {*lock_pins(), "icspa-desktop"}

    help_text = run(str(bin_dir / "icspa"), "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: icspa"), help_text
    # A real vault with the production KDF: SQLCipher, cryptography, PyNaCl and ICU from the set's wheels.
    vault = str(installed.home / "vault")
    init = run(str(bin_dir / "icspa"), "--vault", vault, "vault", "init", "--user", "alice", "--agency-name",
               "Example Police", "--country", "NL", ICSPA_NEW_PASSPHRASE="a long enough passphrase 2026")
    assert init.returncode == 0, init.stderr
    create = run(str(bin_dir / "icspa"), "--vault", vault, "--user", "alice", "case", "create", "--number",
                 "2026/001", "--title", "Nightjar", ICSPA_PASSPHRASE="a long enough passphrase 2026")
    assert create.returncode == 0, create.stderr
    listed = run(str(bin_dir / "icspa"), "--vault", vault, "--user", "alice", "--json", "case", "list",
                 ICSPA_PASSPHRASE="a long enough passphrase 2026")
    assert [case["number"] for case in json.loads(listed.stdout)] == ["2026/001"]

    gui = run(str(installed.bin_dir / "icspa-desktop"), "--self-test")  # through the --desktop link
    assert gui.returncode == 0, gui.stdout + gui.stderr
    assert "self-test: OK" in gui.stdout and "platform offscreen" in gui.stdout

    share = installed.venv / "share"
    for name in ("applications/icspa-desktop.desktop", "metainfo/org.icspa.EvidenceDesktop.metainfo.xml",
                 "mime/packages/icspa-desktop-mime.xml", "icons/hicolor/48x48/apps/icspa-desktop.png",
                 "icons/hicolor/scalable/apps/icspa-desktop.svg", "icspa-desktop/docs/admin-guide.md"):
        assert (share / name).is_file(), name
        if not name.startswith("icspa-desktop/"):
            assert (installed.data_dir / name).is_file(), name  # --desktop put it where the desktop looks
    assert (installed.bin_dir / "icspa").resolve() == (bin_dir / "icspa").resolve()
    if shutil.which("update-mime-database"):
        assert "application/x-icspa-card:*.icspa-card" in (installed.data_dir / "mime" / "globs2").read_text()


def test_a_changed_wheel_is_refused_before_anything_is_installed(transfer_set: TransferSet, tmp_path: Path) -> None:
    medium = linked_copy(transfer_set.path, tmp_path / "medium")
    [segno] = (medium / "wheels").glob("segno-*.whl")
    tamper(segno)
    result = install(medium, tmp_path / "venv", tmp_path, "--manifest-sha256", transfer_set.manifest_sha256)
    assert result.returncode == 1
    assert f"REFUSED: wheels/{segno.name} does not match MANIFEST.sha256" in result.stderr
    assert "the transfer set was altered or damaged" in result.stderr
    assert not (tmp_path / "venv").exists()
    assert sha256(transfer_set.path / "wheels" / segno.name) != sha256(segno)  # the module's set is untouched


def test_a_manifest_rewritten_to_fit_is_refused_by_the_hash_told_out_of_band(transfer_set: TransferSet,
                                                                               tmp_path: Path) -> None:
    medium = linked_copy(transfer_set.path, tmp_path / "medium")
    tamper(next((medium / "wheels").glob("segno-*.whl")))
    forged = rewrite_manifest(medium)
    result = install(medium, tmp_path / "venv", tmp_path, "--manifest-sha256", transfer_set.manifest_sha256)
    assert result.returncode == 1
    assert (f"REFUSED: MANIFEST.sha256 is not the one the build machine made (its SHA-256 is {forged}, you were "
            f"told {transfer_set.manifest_sha256})") in result.stderr
    assert not (tmp_path / "venv").exists()


def test_without_the_hash_pip_still_refuses_a_wheel_requirements_txt_does_not_name(transfer_set: TransferSet,
                                                                                   tmp_path: Path) -> None:
    medium = linked_copy(transfer_set.path, tmp_path / "medium")
    tamper(next((medium / "wheels").glob("segno-*.whl")))
    rewrite_manifest(medium)
    result = install(medium, tmp_path / "venv", tmp_path)
    assert result.returncode == 1
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in result.stderr
    assert "REFUSED: pip did not install the set" in result.stderr
    assert not (tmp_path / "venv").exists()  # the half-made environment is removed


def test_a_missing_file_another_python_and_an_occupied_folder_are_refused(transfer_set: TransferSet,
                                                                          tmp_path: Path) -> None:
    medium = linked_copy(transfer_set.path, tmp_path / "medium")
    (medium / "requirements.txt").unlink()
    result = install(medium, tmp_path / "venv", tmp_path)
    assert result.returncode == 1
    assert "REFUSED: requirements.txt is listed in MANIFEST.sha256 but is not in the set" in result.stderr

    other = linked_copy(transfer_set.path, tmp_path / "other")
    info = other / "BUILD-INFO"
    text = re.sub(r"^python=.*$", "python=3.99", info.read_text(), flags=re.MULTILINE)
    info.unlink()
    info.write_text(text)
    rewrite_manifest(other)
    result = install(other, tmp_path / "venv", tmp_path)
    assert result.returncode == 1
    assert "this set was built for Python 3.99" in result.stderr
    assert not (tmp_path / "venv").exists()

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    result = install(transfer_set.path, occupied, tmp_path)
    assert result.returncode == 1
    assert "exists and is not empty" in result.stderr
    assert (occupied / "notes.txt").read_text() == "mine"
