"""``icspa vault backup`` and ``icspa vault restore``: in-process (``main(argv)``), plus subprocesses for the exit
code of a tampered backup and for a real, tiny tmpfs (``unshare -Urm``) that is too small or fills up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from icspa_desktop.domain.enums import CustodyAction, Role
from tests.cli.conftest import Result, in_process
from tests.conftest import ADMIN, ADMIN_PASS, ICSPA_BOOT, NAMES, PASSPHRASES, VaultInfo, run_cli

Cli = Callable[..., Result]


@pytest.fixture
def cli(stocked: VaultInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return in_process(monkeypatch, capsys, stocked.path)


def made_backup(cli: Cli, out: Path) -> Path:
    result = cli("vault", "backup", "--out", out, "--json")
    assert result.code == 0, result.err
    return Path(result.json()["path"])


def test_backup_json_and_human_output(cli: Cli, out: Path) -> None:
    result = cli("--json", "vault", "backup", "--out", out, "--read-back")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) >= {"id", "path", "files", "bytes", "blobs", "tree_size", "root_hash", "manifest_sha256",
                         "custody_event"} and data["read_back"] is True
    assert Path(data["path"]).parent == out
    human = cli("vault", "backup", "--out", out)
    assert human.code == 0 and "written and checked" in human.out and "custody event #" in human.out
    shown = cli("--json", "custody", "show", "--all")
    assert [e["details"]["backup_id"] for e in shown.json() if e["action"] == CustodyAction.VAULT_BACKED_UP] == [
        data["id"], human.out.split()[1]]


def test_backup_refusals_are_one_line(cli: Cli, stocked: VaultInfo, tmp_path: Path) -> None:
    inside = cli("vault", "backup", "--out", stocked.path / "blobs")
    assert inside.code == 2 and "inside the vault" in inside.error_line
    missing = cli("vault", "backup", "--out", tmp_path / "nowhere")
    assert missing.code == 2 and "does not exist" in missing.error_line
    assert cli("vault", "backup").code == 2  # --out is required


def test_restore_check_then_into_a_new_path(cli: Cli, stocked: VaultInfo, out: Path, tmp_path: Path) -> None:
    folder = made_backup(cli, out)
    checked = cli("vault", "restore", "--from", folder, "--check")
    assert checked.code == 0 and "match its MANIFEST" in checked.out
    target = tmp_path / "elsewhere" / "vault"
    done = cli("--json", "vault", "restore", "--from", folder, "--to", target, "--reason", "restore test (ticket 12)")
    assert done.code == 0, done.err
    data = done.json()
    assert data["path"] == str(target) and data["recorded"]["custody_event"] >= data["tree_size"]
    verify = cli("--vault", target, "custody", "verify")
    assert verify.code == 0, verify.out + verify.err
    # From now on the copy is the vault and the witnesses follow it: the vault it was taken from, if someone kept
    # using it, is a fork of the same log (docs/SECURITY.md: set it aside — 'restore --force' does).
    original = cli("custody", "verify")
    assert original.code == 1 and "forked" in original.out


def test_restore_over_the_vault_needs_force_and_moves_it_aside(cli: Cli, stocked: VaultInfo, out: Path) -> None:
    folder = made_backup(cli, out)
    assert cli("case", "create", "--number", "2026/B-9", "--title", "after the backup").code == 0
    refused = cli("vault", "restore", "--from", folder, "--reason", "oops")
    assert refused.code == 5 and "--force" in refused.error_line
    done = cli("vault", "restore", "--from", folder, "--force", "--reason", "the disk failed (ticket 7)")
    assert done.code == 0, done.err
    assert "moved aside, not deleted" in done.out and "Restore recorded as custody event" in done.out
    aside = list(stocked.path.parent.glob("vault.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "metadata.db").is_file()
    assert cli("custody", "verify").code == 0
    listed = cli("--json", "case", "list").json()
    assert "2026/B-9" not in [c["number"] for c in listed]  # the state of the backup


def test_restore_needs_a_reason_unless_it_only_copies(cli: Cli, out: Path, tmp_path: Path) -> None:
    folder = made_backup(cli, out)
    no_reason = cli("vault", "restore", "--from", folder, "--to", tmp_path / "r1")
    assert no_reason.code == 2 and "--reason" in no_reason.error_line and not (tmp_path / "r1").exists()
    assert cli("vault", "restore", "--to", tmp_path / "r1", "--check").code == 2
    copied = cli("vault", "restore", "--from", folder, "--to", tmp_path / "r1", "--copy-only")
    assert copied.code == 0 and "Not recorded yet" in copied.out
    assert (tmp_path / "r1" / "restore.json").is_file()
    recorded = cli("--vault", tmp_path / "r1", "vault", "restore", "--reason", "recorded after the copy")
    assert recorded.code == 0, recorded.err
    assert not (tmp_path / "r1" / "restore.json").exists()
    again = cli("--vault", tmp_path / "r1", "vault", "restore", "--reason", "twice")
    assert again.code == 2 and "No restore is waiting" in again.error_line
    assert cli("--vault", tmp_path / "r1", "custody", "verify").code == 0


def test_a_supervisor_can_copy_but_not_record(cli: Cli, out: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = made_backup(cli, out)
    monkeypatch.setenv("ICSPA_USER", NAMES[Role.SUPERVISOR])
    monkeypatch.setenv("ICSPA_PASSPHRASE", PASSPHRASES[Role.SUPERVISOR])
    denied = cli("vault", "restore", "--from", folder, "--to", tmp_path / "r2", "--reason", "mine")
    assert denied.code == 6
    line = denied.error_line
    assert "is in place at" in line and "vault restore --reason" in line
    assert (tmp_path / "r2" / "restore.json").is_file()  # put in place, waiting for an administrator


@pytest.mark.parametrize("how", ["blob", "manifest"])
def test_a_tampered_backup_exits_4_and_writes_nothing(cli: Cli, out: Path, tmp_path: Path, how: str) -> None:
    folder = made_backup(cli, out)
    if how == "blob":
        blob = max((folder / "vault/blobs").glob("*/*"), key=lambda p: p.stat().st_size)
        data = bytearray(blob.read_bytes())
        data[-100] ^= 0x80
        blob.write_bytes(bytes(data))
    else:
        doc = json.loads((folder / "MANIFEST").read_bytes())
        doc["files"][-1]["size"] += 1
        (folder / "MANIFEST").write_text(json.dumps(doc))
    env = {"ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}
    target = tmp_path / "restored"
    result = run_cli("vault", "restore", "--from", str(folder), "--to", str(target), "--reason", "r", env=env)
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("icspa: ")
    assert "nothing was written" in result.stderr
    assert not target.exists() and not list(tmp_path.glob(".icspa-restore-*"))
    assert cli("vault", "restore", "--from", folder, "--check").code == 4


# ---- a real, tiny file system -------------------------------------------------------------------------------
def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt || exit 1"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(not _unshare_works(), reason="unshare -Urm cannot mount a tmpfs here; "
                                   "tests/backup/test_backup.py covers the refusal through the free-space probe")

# The CLI with the free-space probe made to see plenty: the copy runs into the real ENOSPC of the tmpfs.
_BOOT_BLIND = ICSPA_BOOT.replace("import sys;", "import sys; from icspa_desktop.services import backup; "
                                 "backup.free_space = lambda _path: 1 << 40;", 1)


def _in_small_tmpfs(stocked: VaultInfo, media: Path, size: str, boot: str) -> tuple[int, str, list[str]]:
    """Mount a tmpfs of ``size`` on ``media`` in a private mount namespace, run ``icspa vault backup --out media``
    there; its exit code, stderr, and what the tmpfs holds afterwards (the mount dies with the namespace)."""
    script = (f'mount -t tmpfs -o size={size},mode=0700 tmpfs "$1" || exit 99; shift; "$@" 2>"$TMPERR"; rc=$?; '
              'ls -A "$MEDIA" > "$TMPLS"; exit $rc')
    err, listing = media.parent / "stderr.txt", media.parent / "ls.txt"
    env = {**os.environ, "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS, "ICSPA_VAULT": str(stocked.path),
           "TMPERR": str(err), "TMPLS": str(listing), "MEDIA": str(media)}
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", script, "sh", str(media), sys.executable, "-c", boot,
                           "vault", "backup", "--out", str(media)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode != 99, done.stderr
    return done.returncode, err.read_text(), listing.read_text().split()


@needs_unshare
def test_too_little_space_on_a_real_tmpfs_is_refused_up_front(stocked: VaultInfo, out: Path) -> None:
    code, stderr, left = _in_small_tmpfs(stocked, out, "1m", ICSPA_BOOT)
    assert code == 5, stderr
    assert "Not enough free space" in stderr and "nothing was written" in stderr
    assert left == []


@needs_unshare
def test_a_tmpfs_that_fills_up_mid_copy_leaves_nothing(stocked: VaultInfo, out: Path) -> None:
    """The probe is blinded, so the backup starts and meets the real ENOSPC while copying the 3 MiB blob."""
    code, stderr, left = _in_small_tmpfs(stocked, out, "2m", _BOOT_BLIND)
    assert code == 5, stderr
    assert "ran out of space" in stderr and "nothing was kept" in stderr
    assert stderr.count("\n") == 1
    assert left == []
