"""``icspa evidence …`` and ``icspa search`` in real subprocesses: exit codes, --json, stderr."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli
from tests.evidence.conftest import MARKER


@pytest.fixture
def env(vault: VaultInfo, tmp_path: Path) -> dict[str, str]:
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    return {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS,
            "TMPDIR": str(scratch)}


def _ok(env: dict[str, str], *args: str) -> str:
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _json(env: dict[str, str], *args: str) -> object:
    return json.loads(_ok(env, "--json", *args))


def test_add_list_show_verify_extract(env: dict[str, str], files: Path, tmp_path: Path) -> None:
    _ok(env, "case", "create", "--number", "C-1", "--title", "Pier")
    added = _json(env, "evidence", "add", "C-1", str(files), "--hash", "md5,sha1", "--description", "laptop")
    assert isinstance(added, list)
    assert len(added) == 3
    assert all(row["id"] and len(row["sha256"]) == 64 and row["md5"] for row in added)
    listed = _json(env, "evidence", "list", "C-1")
    assert [r["id"] for r in listed] == [r["id"] for r in added]  # type: ignore[union-attr,index]
    shown = _json(env, "evidence", "show", "C-1-002")
    assert shown["exhibit_number"] == "C-1-002"  # type: ignore[index]
    assert "ok" in _ok(env, "evidence", "verify", "C-1")
    assert _json(env, "evidence", "verify", "C-1-001")[0]["result"] == "ok"  # type: ignore[index]
    out = tmp_path / "extracted.txt"
    no_reason = run_cli("evidence", "extract", "C-1-001", "--out", str(out), env=env)
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
    text = _ok(env, "evidence", "extract", "C-1-001", "--out", str(out), "--reason", "lab exam")
    assert "checked" in text
    assert out.exists()
    again = run_cli("evidence", "extract", "C-1-001", "--out", str(out), "--reason", "x", env=env)
    assert again.returncode == 5
    assert "already exists" in again.stderr
    assert again.stderr.count("\n") == 1
    assert list(Path(env["TMPDIR"]).iterdir()) == []  # nothing ever written to the temp dir


def test_flipped_byte_makes_verify_exit_1_and_name_the_item(env: dict[str, str], vault: VaultInfo,
                                                            files: Path) -> None:
    _ok(env, "case", "create", "--number", "C-2", "--title", "Flip")
    added = _json(env, "evidence", "add", "C-2", str(files))
    blobs = sorted(p for p in (vault.path / "blobs").rglob("*") if p.is_file())
    assert len(blobs) == 3
    for offset in (0, 13, 40, -1):  # header, first chunk, inside, last tag byte
        victim = blobs[0]
        data = bytearray(victim.read_bytes())
        data[offset] ^= 0x04
        victim.write_bytes(bytes(data))
        result = run_cli("evidence", "verify", "C-2", env=env)
        assert result.returncode == 1, result.stdout
        bad = [line for line in result.stdout.splitlines() if line.startswith("MISMATCH")]
        assert len(bad) == 1
        assert "Verification FAILED" in result.stderr
        exhibit = bad[0].split()[1]
        assert exhibit in result.stderr
        assert exhibit in {r["exhibit_number"] for r in added}  # type: ignore[index,union-attr]
        data[offset] ^= 0x04
        victim.write_bytes(bytes(data))
    assert run_cli("evidence", "verify", "--all", env=env).returncode == 0


def test_physical_checkout_checkin(env: dict[str, str]) -> None:
    _ok(env, "case", "create", "--number", "C-3", "--title", "Phones")
    phone = _json(env, "evidence", "add-physical", "C-3", "Samsung S21", "--storage", "Locker 2", "--serial", "R58")
    assert phone["kind"] == "physical"
    assert phone["sha256"] is None
    out = _json(env, "evidence", "checkout", "C-3-001", "--to", "Lab tech Ann", "--purpose", "extraction")
    assert out["checked_out"]
    assert out["holder"] == "Lab tech Ann"
    missing = run_cli("evidence", "checkout", "C-3-001", "--to", "X", env=env)
    assert missing.returncode == 2
    back = _json(env, "evidence", "checkin", "C-3-001", "--from", "Lab tech Ann")
    assert not back["checked_out"]  # type: ignore[index]
    again = run_cli("evidence", "checkin", "C-3-001", "--from", "Ann", env=env)
    assert again.returncode == 5
    assert "not checked out" in again.stderr


def test_search_command(env: dict[str, str], files: Path) -> None:
    _ok(env, "case", "create", "--number", "C-4", "--title", "Harbour", "--description", "containers")
    added = _json(env, "evidence", "add", "C-4", str(files / "notes.txt"), "--notes", "ledger")
    found = _json(env, "search", "ledger")
    assert [r["id"] for r in found] == [added[0]["id"]]  # type: ignore[index]
    assert found[0]["sha256"] == added[0]["sha256"]  # type: ignore[index]
    by_hash = _json(env, "search", added[0]["sha256"])  # type: ignore[index]
    assert [r["id"] for r in by_hash] == [added[0]["id"]]  # type: ignore[index]
    assert [r["number"] for r in _json(env, "search", "containers")] == ["C-4"]  # type: ignore[index]
    assert "Nothing found" in _ok(env, "search", "zzzz")


def test_errors_are_one_line_with_exit_codes(env: dict[str, str], files: Path, vault: VaultInfo) -> None:
    _ok(env, "case", "create", "--number", "C-5", "--title", "Errors")
    missing = run_cli("evidence", "add", "C-5", str(files / "nope.bin"), env=env)
    assert missing.returncode == 4
    assert missing.stderr.count("\n") == 1
    no_case = run_cli("evidence", "add", "NOPE", str(files), env=env)
    assert no_case.returncode == 5
    assert "No case" in no_case.stderr
    bad_hash = run_cli("evidence", "add", "C-5", str(files), "--hash", "crc32", env=env)
    assert bad_hash.returncode == 2
    assert not any(p.is_file() for p in (vault.path / "blobs").rglob("*"))


def test_progress_goes_to_stderr_not_json_stdout(env: dict[str, str], tmp_path: Path) -> None:
    _ok(env, "case", "create", "--number", "C-6", "--title", "Big")
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.write(MARKER)
        handle.truncate(70 << 20)
    result = run_cli("--json", "evidence", "add", "C-6", str(big), env=env)
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["size"] == 70 << 20
    assert "Adding big.bin" in result.stderr
    assert os.listdir(env["TMPDIR"]) == []


def test_agency_default_digests_command(env: dict[str, str], files: Path) -> None:
    assert _json(env, "evidence", "defaults", "--hash", "sha1")["hash_algorithms"] == ["sha256", "sha1"]  # type: ignore[index]
    _ok(env, "case", "create", "--number", "C-7", "--title", "Defaults")
    added = _json(env, "evidence", "add", "C-7", str(files / "notes.txt"))
    assert added[0]["sha1"]
    assert added[0]["md5"] is None


def test_adding_the_same_file_again_warns(env: dict[str, str], files: Path) -> None:
    _ok(env, "case", "create", "--number", "C-2", "--title", "Twice")
    _ok(env, "evidence", "add", "C-2", str(files / "notes.txt"))
    again = run_cli("evidence", "add", "C-2", str(files / "notes.txt"), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("warning:") == 1 and "has the same content (SHA-256) as" in again.stderr
