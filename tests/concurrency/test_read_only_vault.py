"""Issue 13 item 5: a read-only vault (a copy on write-protected media, a read-only mount, no write permission).

How the vault is made read-only: a read-only bind mount of a copy in a private mount namespace (``unshare -Urm``,
then ``mount --bind -o ro``) wherever unprivileged namespaces work — as root too, where ``chmod -R a-w`` stops
nothing; without them, ``chmod -R a-w`` on the copy when not root; otherwise the tests are skipped.

What is right, from DESIGN §2-§3 and docs/: ``icspa evidence verify`` records a VERIFIED custody event per item, so on
a read-only vault it cannot do its job and must refuse in one clear line naming the read-only vault, changing
nothing. ``icspa custody verify`` only reads, so it should work read-only; today it cannot (see the strict xfail):
opening the database read-write in WAL mode, preparing ``staging/`` and saving the incremental-verification state
all write (docs/SECURITY.md, "A read-only vault"). The vault lock itself works read-only: ``vault.lock`` is locked
through a read-only descriptor and still excludes a writer of the same vault.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from icspa_desktop.domain.errors import VaultBusy
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence
from icspa_desktop.vault.lockfile import VaultLock
from tests.concurrency.conftest import snapshot
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, icspa_command

# In a private mount namespace: the vault (``$1``) bound read-only onto itself, then the command.
_READ_ONLY_MOUNT = 'mount --bind -o ro "$1" "$1" || exit 97; shift; exec "$@"'
Runner = Callable[[list[str], dict[str, str]], subprocess.CompletedProcess[str]]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount --bind -o ro /tmp /tmp"], capture_output=True,
                           timeout=30, check=False)
    return probe.returncode == 0


NAMESPACES = _namespaces_work()


def _make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


@pytest.fixture
def read_only(vault: VaultInfo, tmp_path: Path) -> Iterator[tuple[Path, Runner]]:
    """A copy of a vault with one case and one item, and a way to run a command with that copy read-only."""
    source = tmp_path / "chat-export.txt"
    source.write_text("meet at the harbour at 23:00\n")
    with vault.session() as session:
        case = cases.create_case(session, CaseFields("2026/001", "Operation Nightjar"))
        evidence.add_files(session, case.id, [source], ItemFields())
    copy = tmp_path / "read-only-vault"
    shutil.copytree(vault.path, copy)
    env = dict(os.environ)

    if NAMESPACES:
        def run(argv: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["unshare", "-Urm", "sh", "-c", _READ_ONLY_MOUNT, "sh", str(copy), *argv],
                                  capture_output=True, text=True, env=env | extra, timeout=120, check=False)
        yield copy, run
    elif os.geteuid() != 0:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)

        def run(argv: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(argv, capture_output=True, text=True, env=env | extra, timeout=120, check=False)
        try:
            yield copy, run
        finally:
            _make_writable(copy)
    else:
        pytest.skip("no private mount namespaces, and as root chmod -R a-w does not make a vault read-only")


def icspa(copy: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    return icspa_command(*args), {"ICSPA_VAULT": str(copy), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}


def test_the_copy_really_is_read_only(read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    probe = run([sys.executable, "-c", "import sys; open(sys.argv[1], 'a')", str(copy / "vault.json")], {})
    assert probe.returncode != 0 and ("Read-only file system" in probe.stderr or "Permission denied" in probe.stderr)


def test_evidence_verify_refuses_a_read_only_vault_in_one_line_and_changes_nothing(
        read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    before = snapshot(copy)
    done = run(*icspa(copy, "evidence", "verify", "2026/001"))
    assert done.returncode == 5 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("icspa: ") and str(copy) in line and "read-only" in line, line
    assert "Traceback" not in done.stderr
    assert snapshot(copy) == before


def test_custody_verify_on_a_read_only_vault_is_today_one_clear_line(read_only: tuple[Path, Runner]) -> None:
    """The product limitation as it stands: a clear refusal naming the read-only vault, never a traceback."""
    copy, run = read_only
    before = snapshot(copy)
    done = run(*icspa(copy, "custody", "verify"))
    if done.returncode == 0:
        pytest.fail("custody verify now works read-only: drop this test and the xfail marker below")
    assert done.returncode == 5 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("icspa: ") and str(copy) in line and "read-only" in line, line
    assert snapshot(copy) == before


@pytest.mark.xfail(strict=True, reason="unlock writes to the vault (database opened read-write in WAL mode, "
                   "staging/ chmod, custody verify's saved state): see docs/SECURITY.md 'A read-only vault'")
def test_custody_verify_works_on_a_read_only_vault(read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    done = run(*icspa(copy, "custody", "verify"))
    assert done.returncode == 0, done.stderr
    assert "The custody log is intact" in done.stdout


def test_a_read_only_lock_still_excludes_a_writer(read_only: tuple[Path, Runner]) -> None:
    """``vault.lock`` locked through a read-only descriptor (the only kind a read-only vault gives) is the same
    flock a writable opener takes: a writer of the same vault is refused while it is held."""
    copy, _run = read_only
    hold = ("import sys\nfrom pathlib import Path\nfrom icspa_desktop.vault.lockfile import VaultLock\n"
            "lock = VaultLock(Path(sys.argv[1]))\nlock.acquire()\nprint('held', flush=True)\nsys.stdin.read()\n"
            "lock.release()\n")
    if not NAMESPACES:
        pytest.skip("needs the read-only mount to hold the lock from another process")
    holder = subprocess.Popen(["unshare", "-Urm", "sh", "-c", _READ_ONLY_MOUNT, "sh", str(copy), sys.executable,
                               "-c", hold, str(copy / "vault.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(VaultBusy, match="is open in another ICSPA process; close it there first"):
            VaultLock(copy / "vault.lock").acquire()  # the writable path to the same vault
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(60)
    assert holder.returncode == 0
    writer = VaultLock(copy / "vault.lock")
    writer.acquire()  # free again
    writer.release()


def test_a_read_only_vault_without_its_lock_file_is_one_clear_line(read_only: tuple[Path, Runner],
                                                                  tmp_path: Path) -> None:
    copy, run = read_only
    if not NAMESPACES:
        pytest.skip("the copy without vault.lock is made writable first, which needs the namespace variant")
    (copy / "vault.lock").unlink()
    done = run(*icspa(copy, "custody", "verify"))
    assert done.returncode == 5
    assert done.stderr.splitlines() == [f"icspa: The vault {copy} is read-only (Read-only file system) and has no "
                                        "vault.lock to lock it with; nothing was changed."]
    assert not (copy / "vault.lock").exists()
