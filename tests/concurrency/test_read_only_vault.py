"""Issue 13 item 5: a read-only vault (a copy on write-protected media, a read-only mount, no write permission).

How the vault is made read-only: a read-only bind mount of a copy in a private mount namespace (``unshare -Urm``,
then ``mount --bind -o ro``) wherever unprivileged namespaces work — as root too, where ``chmod -R a-w`` stops
nothing; without them, ``chmod -R a-w`` on the copy when not root; otherwise the tests are skipped.

What is right, from DESIGN §2-§3 and docs/vault-format.md "Read-only vaults": the commands that only read
(``custody verify``, ``vault status``, ``custody show``, ``case list``) work, with one warning line that the vault
was opened read-only, and write nothing — not in the vault, not the user's witness. A command that writes refuses in
one line naming the read-only vault (exit 5), changing nothing: ``evidence verify`` records a VERIFIED custody event
per item, so it is one of them. A database whose last changes are still in a non-empty ``-wal`` is read through its
``-shm`` when the copy has one, and refused in one line when it has none (reading the file alone would show an older
vault). The vault lock itself works read-only: ``vault.lock`` is locked through a read-only descriptor and still
excludes a writer of the same vault.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import PermissionDenied, VaultBusy, VaultError
from icspa_desktop.domain.evidence import ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.vault.lockfile import VaultLock
from icspa_desktop.vault.migrations import MIGRATIONS
from tests.concurrency.conftest import snapshot
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES, VaultInfo, icspa_command
from tests.data.make_vault_fixture import ADMIN as FX_ADMIN
from tests.data.make_vault_fixture import ADMIN_PASS as FX_ADMIN_PASS

# In a private mount namespace: the vault (``$1``) bound read-only onto itself, then the command.
_READ_ONLY_MOUNT = 'mount --bind -o ro "$1" "$1" || exit 97; shift; exec "$@"'
Runner = Callable[[list[str], dict[str, str]], subprocess.CompletedProcess[str]]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    # A folder of its own, as the tests bind their vault copies: binding all of /tmp failed (and every test here
    # skipped) while an unrelated FUSE mount sat somewhere below it.
    with tempfile.TemporaryDirectory(prefix="icspa-ro-probe-") as folder:
        probe = subprocess.run(["unshare", "-Urm", "sh", "-c", 'mount --bind -o ro "$1" "$1"', "sh", folder],
                               capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


NAMESPACES = _namespaces_work()
# How the read-only vault's messages name the cause: the mount, or the permission bits of the chmod variant.
_REASON = "Read-only file system" if NAMESPACES else "no write permission"


def _make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], Runner]]:
    """Make a folder read-only for the commands run through the returned runner (see the module's docstring)."""
    env = dict(os.environ)
    writable_again: list[Path] = []

    def make(copy: Path) -> Runner:
        if NAMESPACES:
            def run(argv: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
                return subprocess.run(["unshare", "-Urm", "sh", "-c", _READ_ONLY_MOUNT, "sh", str(copy), *argv],
                                      capture_output=True, text=True, env=env | extra, timeout=120, check=False)
            return run
        if os.geteuid() == 0:
            pytest.skip("no private mount namespaces, and as root chmod -R a-w does not make a vault read-only")
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        writable_again.append(copy)

        def run_plain(argv: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(argv, capture_output=True, text=True, env=env | extra, timeout=120, check=False)
        return run_plain

    try:
        yield make
    finally:
        for copy in writable_again:
            _make_writable(copy)


def _one_case_one_item(session: Session, tmp_path: Path) -> None:
    source = tmp_path / "chat-export.txt"
    source.write_text("meet at the harbour at 23:00\n")
    case = cases.create_case(session, CaseFields("2026/001", "Operation Nightjar"))
    evidence.add_files(session, case.id, [source], ItemFields())


@pytest.fixture
def read_only(vault: VaultInfo, tmp_path: Path,
              make_read_only: Callable[[Path], Runner]) -> tuple[Path, Runner]:
    """A copy of a vault with one case and one item, and a way to run a command with that copy read-only."""
    with vault.session() as session:
        _one_case_one_item(session, tmp_path)
    copy = tmp_path / "read-only-vault"
    shutil.copytree(vault.path, copy)
    return copy, make_read_only(copy)


def icspa(copy: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    return icspa_command(*args), {"ICSPA_VAULT": str(copy), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}


def _home() -> Path:
    """The tests' own HOME (tests/conftest.py): the user's witness of the custody log lives under it."""
    return Path(os.environ["HOME"])


def _only_the_read_only_warning(copy: Path, stderr: str) -> None:
    (line,) = stderr.splitlines()
    assert line.startswith(f"icspa: warning: opened read-only: the vault {copy} is read-only ("), line
    assert "commands that would change it are refused" in line and "witness" in line, line


def test_the_copy_really_is_read_only(read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    probe = run([sys.executable, "-c", "import sys; open(sys.argv[1], 'a')", str(copy / "vault.json")], {})
    assert probe.returncode != 0 and ("Read-only file system" in probe.stderr or "Permission denied" in probe.stderr)


def test_a_vault_closed_cleanly_has_no_wal(vault: VaultInfo, tmp_path: Path) -> None:
    """What makes ``immutable=1`` safe on a read-only vault: the last close checkpoints the WAL and removes it, so
    the database file alone is the whole database (an open session has a -wal, so the check can fail)."""
    wal = vault.path / "metadata.db-wal"
    with vault.session() as session:
        _one_case_one_item(session, tmp_path)
        assert wal.exists()
    assert not wal.exists() and not (vault.path / "metadata.db-shm").exists()


def test_evidence_verify_refuses_a_read_only_vault_in_one_line_and_changes_nothing(
        read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    before = snapshot(copy, _home())
    done = run(*icspa(copy, "evidence", "verify", "2026/001"))
    assert done.returncode == 5 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("icspa: ") and str(copy) in line and "read-only" in line, line
    assert "Traceback" not in done.stderr
    assert snapshot(copy, _home()) == before


def test_custody_verify_works_on_a_read_only_vault(read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    before = snapshot(copy, _home())
    done = run(*icspa(copy, "custody", "verify"))
    assert done.returncode == 0, done.stderr
    assert "The custody log is intact" in done.stdout
    _only_the_read_only_warning(copy, done.stderr)
    # Nothing written: no -wal/-shm, no staging/ mode change, no saved verification state, no witness moved on.
    assert snapshot(copy, _home()) == before


def test_custody_verify_twice_read_only_is_full_both_times(read_only: tuple[Path, Runner]) -> None:
    """The incremental-verification state is not saved read-only: an incremental run finds none and is full."""
    copy, run = read_only
    first = run(*icspa(copy, "--json", "custody", "verify"))
    second = run(*icspa(copy, "--json", "custody", "verify", "--incremental"))
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["ok"] and report["mode"] == "full", report
    assert any("no earlier full verification" in note for note in report["notes"]), report["notes"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["vault", "status"], "cases: 1"),
    (["custody", "show", "--all"], "case_created"),
    (["case", "list"], "Operation Nightjar"),
])
def test_read_only_commands_work_on_a_read_only_vault(read_only: tuple[Path, Runner], argv: list[str],
                                                      expected: str) -> None:
    copy, run = read_only
    before = snapshot(copy, _home())
    done = run(*icspa(copy, *argv))
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout, done.stdout
    _only_the_read_only_warning(copy, done.stderr)
    assert snapshot(copy, _home()) == before


def test_a_writing_command_on_a_read_only_vault_is_one_line_and_changes_nothing(
        read_only: tuple[Path, Runner]) -> None:
    copy, run = read_only
    before = snapshot(copy, _home())
    done = run(*icspa(copy, "case", "create", "--number", "2026/002", "--title", "Operation Wren"))
    assert done.returncode == 5 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"icspa: The vault {copy} is read-only ({_REASON}): this command changes the vault, so it was not done; "
        "nothing was changed."]
    assert snapshot(copy, _home()) == before


def test_evidence_add_on_a_read_only_vault_is_refused_before_anything_is_staged(
        read_only: tuple[Path, Runner], tmp_path: Path) -> None:
    """Ingest writes blobs into staging/ before its transaction: it is refused before that, in one line."""
    copy, run = read_only
    seized = tmp_path / "more.bin"
    seized.write_bytes(b"more evidence" * 1000)
    before = snapshot(copy, _home())
    done = run(*icspa(copy, "evidence", "add", "2026/001", str(seized), "--description", "more"))
    assert done.returncode == 5 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"icspa: The vault {copy} is read-only ({_REASON}): this command changes the vault, so it was not done; "
        "nothing was changed."]
    assert snapshot(copy, _home()) == before


def _copy_with_unfinished_wal(vault: VaultInfo, tmp_path: Path, *, with_shm: bool) -> Path:
    """A copy of the vault taken while it is open, after a case whose pages are only in ``metadata.db-wal``."""
    copy = tmp_path / "copy-of-an-open-vault"
    with vault.session() as session:
        _one_case_one_item(session, tmp_path)
        cases.create_case(session, CaseFields("2026/002", "Operation Wren"))  # after the last checkpoint
        shutil.copytree(vault.path, copy)
    assert (copy / "metadata.db-wal").stat().st_size > 0 and (copy / "metadata.db-shm").exists()
    if not with_shm:
        (copy / "metadata.db-shm").unlink()
    return copy


def test_an_unfinished_wal_without_its_shm_is_refused_read_only_in_one_line(
        vault: VaultInfo, tmp_path: Path, make_read_only: Callable[[Path], Runner]) -> None:
    copy = _copy_with_unfinished_wal(vault, tmp_path, with_shm=False)
    run = make_read_only(copy)
    before = snapshot(copy, _home())
    done = run(*icspa(copy, "case", "list"))
    assert done.returncode == 5 and done.stdout == ""
    database = copy / "metadata.db"
    assert done.stderr.splitlines() == [
        f"icspa: The vault database {database} was not closed cleanly: its last changes are still in "
        "metadata.db-wal, which SQLite cannot read on a read-only disk without metadata.db-shm. Open a copy of the "
        "whole vault folder on a writable disk to read it; nothing was changed."]
    assert snapshot(copy, _home()) == before


def test_an_unfinished_wal_with_its_shm_is_read_whole_read_only(
        vault: VaultInfo, tmp_path: Path, make_read_only: Callable[[Path], Runner]) -> None:
    """The newest case lives only in the -wal: it is listed (the file alone, read ``immutable``, lacks it)."""
    copy = _copy_with_unfinished_wal(vault, tmp_path, with_shm=True)
    run = make_read_only(copy)
    before = snapshot(copy, _home())
    done = run(*icspa(copy, "case", "list"))
    assert done.returncode == 0, done.stderr
    assert "2026/001" in done.stdout and "2026/002" in done.stdout, done.stdout
    _only_the_read_only_warning(copy, done.stderr)
    verified = run(*icspa(copy, "custody", "verify"))
    assert verified.returncode == 0 and "The custody log is intact" in verified.stdout, verified.stderr
    assert snapshot(copy, _home()) == before


def test_a_read_only_vault_of_an_older_schema_is_refused_in_one_line(
        tmp_path: Path, make_read_only: Callable[[Path], Runner]) -> None:
    """Migrating writes: a vault made by an older program is refused read-only, never half-opened."""
    version = MIGRATIONS[-2].version
    source = Path(__file__).resolve().parent.parent / "data" / f"vault-v{version}"
    copy = tmp_path / "old-vault"
    shutil.copytree(source / "vault", copy)
    shutil.copytree(source / "witness", tmp_path / "witness")
    (copy / "vault.lock").touch(0o600)  # git keeps no empty lock file; every vault has one
    run = make_read_only(copy)
    before = snapshot(copy, tmp_path / "witness")
    done = run(icspa_command("case", "list"), {"ICSPA_VAULT": str(copy), "ICSPA_USER": FX_ADMIN,
                                               "ICSPA_PASSPHRASE": FX_ADMIN_PASS,
                                               "ICSPA_WITNESS_DIR": str(tmp_path / "witness")})
    assert done.returncode == 5 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"icspa: The vault {copy} is read-only ({_REASON}) and was made by an older version of this program "
        f"(schema version {version}, this program's is {MIGRATIONS[-1].version}): bringing it up to date writes to "
        "it. Open it once where it is writable; nothing was changed."]
    assert snapshot(copy, tmp_path / "witness") == before


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


def test_unlock_read_only_on_request_refuses_every_write_and_writes_nothing(vault: VaultInfo, tmp_path: Path) -> None:
    """``unlock(..., read_only=True)`` on a writable vault (no mount needed): reads work, a write is refused
    before it starts, a role's denial is not recorded, and neither the vault nor the user's witness changes."""
    with vault.session() as session:
        _one_case_one_item(session, tmp_path)
    before = snapshot(vault.path, _home())
    with unlock(vault.path, NAMES[Role.AUDITOR], PASSPHRASES[Role.AUDITOR], read_only=True) as session:
        assert session.read_only
        assert session.warnings[0] == session.read_only_notice
        assert f"the vault {vault.path} is read-only (opened read-only)" in session.warnings[0]
        assert [c.number for c in cases.list_cases(session)] == ["2026/001"]
        with pytest.raises(PermissionDenied) as denied:
            cases.create_case(session, CaseFields("2026/002", "Operation Wren"))  # the auditor may not
        assert str(denied.value).endswith(f"The attempt could not be recorded: the vault {vault.path} is read-only.")
        assert not session.write_refused
        refusal = (f"The vault {vault.path} is read-only (opened read-only): this command changes the vault, so it "
                   "was not done; nothing was changed.")
        with pytest.raises(VaultError) as refused, session.transaction():
            pass
        assert str(refused.value) == refusal and session.write_refused
        with pytest.raises(VaultError) as refused:
            session.require_writable()
        assert str(refused.value) == refusal
    assert snapshot(vault.path, _home()) == before
    with vault.session() as session:
        assert not session.read_only and session.read_only_notice is None
        assert [c.number for c in cases.list_cases(session)] == ["2026/001"]
