"""Issue 13 item 3: every entry point that reads an untrusted file bounds it before reading it whole.

"A 512 MiB card was read into memory before refusal; /dev/zero as a card would never end." Each entry point
gets, in a child process (tests/fuzz/entry.py, 3 GiB address-space limit, 3 s before a blocked call counts
as a hang): a FIFO nobody writes to, a character device that never ends (a real /dev/zero node made with
mknod where we may, else a link to it) and a sparse file of 8 GiB. Each must be refused (or, for a
bundle, reported with problems) at once, with a small peak RSS — never block, never read it all.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.agency.conftest import make_agency_vault
from tests.fuzz.samples import Samples

ROOT = Path(__file__).resolve().parents[2]
ADDRESS_SPACE = 3 << 30
SMALL_RSS_MIB = 300  # the child's own footprint is ~100 MiB; reading any of these whole needs GiBs
HUGE = 8 << 30
KINDS = ("fifo", "device", "huge")



def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_entry(entry: str, path: Path, vault: Path | None = None, seconds: int = 3) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FUZZ_ENTRY_SECONDS": str(seconds)}
    argv = [sys.executable, "-m", "tests.fuzz.entry", entry, str(path), *([str(vault)] if vault else [])]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, preexec_fn=_limit,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def hostile(path: Path, kind: str, size: int = HUGE) -> Path:
    """Put a FIFO, a never-ending device or a sparse file of ``size`` bytes at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
        except PermissionError:
            path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as f:
            f.truncate(size)
    return path


def _refused(result: dict[str, Any]) -> None:
    assert result["outcome"] == "refused", result
    assert result["peak_rss_mib"] < SMALL_RSS_MIB, result


def _xfail(kinds: tuple[str, ...], reason: str) -> list[Any]:
    return [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=reason)) for k in kinds]


@pytest.mark.parametrize("kind", KINDS)
def test_cards_certificates_and_key_files(kind: str, tmp_path: Path) -> None:
    """files.read_bounded: what the CLI (read_input_file) and the desktop (agency_forms) read cards, certificates
    and key files with."""
    _refused(run_entry("read-bounded", hostile(tmp_path / "partner.icspa-card", kind)))


@pytest.mark.parametrize("kind", KINDS)
def test_witness_files(kind: str, tmp_path: Path) -> None:
    _refused(run_entry("witness", hostile(tmp_path / "vault.checkpoint", kind)))


@pytest.mark.parametrize("kind", KINDS)
def test_vault_header(kind: str, tmp_path: Path) -> None:
    result = run_entry("vault-header", hostile(tmp_path / "vault.json", kind))
    _refused(result)
    assert result["type"] == "VaultError"


@pytest.mark.parametrize("kind", ["fifo"])  # the other kinds: test_bundle_file_huge, test_a_bundle_seal_file
def test_bundle_file(kind: str, tmp_path: Path) -> None:
    _refused(run_entry("bundle", hostile(tmp_path / "x.icspa", kind)))


def test_bundle_file_device(tmp_path: Path) -> None:
    _refused(run_entry("bundle", hostile(tmp_path / "x.icspa", "device")))


def test_bundle_file_huge_is_streamed(tmp_path: Path) -> None:
    """A bundle is never read whole: 1 GiB (sparse) that is not age is reported, in bounded memory (the whole
    file is still hashed, for the outer seal)."""
    result = run_entry("bundle", hostile(tmp_path / "x.icspa", "huge", 1 << 30), seconds=60)
    assert result["outcome"] == "result" and "not an age file" in result["value"], result
    assert result["peak_rss_mib"] < SMALL_RSS_MIB, result


@pytest.mark.parametrize("kind", KINDS)
def test_a_bundle_seal_file(kind: str, tmp_path: Path, fuzz_samples_built: Samples) -> None:
    """The outer seal beside a genuine bundle (NAME.icspa.sha256.p7s) replaced: reported as a bad seal."""
    usb = fuzz_samples_built.nl.parent / "usb"
    for name in ("fuzz.icspa", "fuzz.icspa.sha256"):
        shutil.copyfile(usb / name, tmp_path / name)
    hostile(tmp_path / "fuzz.icspa.sha256.p7s", kind)
    result = run_entry("bundle", tmp_path / "fuzz.icspa")
    assert result["outcome"] == "result" and "'seal': 'bad" in result["value"], result
    assert result["peak_rss_mib"] < SMALL_RSS_MIB, result


@pytest.fixture(scope="module")
def receipt_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_agency_vault(tmp_path_factory.mktemp("receipts") / "nl", "Politie Landelijke Eenheid", "NL")


@pytest.mark.parametrize("kind", KINDS)  # a FIFO blocked receipt-import until 2026-11-30
def test_receipts(kind: str, tmp_path: Path, receipt_vault: Path) -> None:
    _refused(run_entry("receipt", hostile(tmp_path / "receipt.txt", kind), receipt_vault))


@pytest.mark.parametrize("kind", KINDS)  # keyslots.json was read unbounded until 2026-11-30
def test_key_slot_file(kind: str, tmp_path: Path) -> None:
    _refused(run_entry("keyslots", hostile(tmp_path / "keyslots.json", kind)))
