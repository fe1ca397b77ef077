"""``icspa vault`` and ``icspa user`` in-process: output, --json ids, exit codes, files written."""

from __future__ import annotations

from pathlib import Path

import pytest

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import AuthenticationError
from icspa_desktop.services import users
from icspa_desktop.services.session import unlock
from tests.cli.conftest import Cli, as_role
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES, VaultInfo


def test_init_then_status_and_recovery_key_file(run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = tmp_path / "v"
    key_file = tmp_path / "recovery.txt"
    monkeypatch.setenv("ICSPA_NEW_PASSPHRASE", "first-passphrase")
    done = run("--json", "vault", "init", "--vault", vault, "--user", "root", "--agency-name", "Politie",
               "--country", "nl", "--unit", "Cyber", "--contact", "desk@example.org", "--recovery-key-out", key_file)
    assert done.code == 0, done.err
    data = done.json()
    assert data["id"] == str(vault) and data["user"] == "root"
    assert key_file.read_text().strip() == data["recovery_key"]
    assert "also written to" in done.err  # --json: the note goes to stderr
    monkeypatch.setenv("ICSPA_PASSPHRASE", "first-passphrase")
    status = run("--json", "--vault", vault, "--user", "root", "vault", "status")
    assert status.code == 0, status.err
    info = status.json()
    assert info["id"] and info["country"] == "NL"
    human = run("--vault", vault, "--user", "root", "vault", "status")
    assert human.code == 0 and "country: NL" in human.out


def test_init_refuses_an_existing_recovery_key_file_before_creating_anything(
        run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_NEW_PASSPHRASE", "first-passphrase")
    key_file = tmp_path / "recovery.txt"
    key_file.write_text("the previous vault's key\n")
    done = run("vault", "init", "--vault", tmp_path / "v", "--user", "root", "--recovery-key-out", key_file)
    assert done.code == 5 and "--force" in done.error_line
    assert not (tmp_path / "v").exists() and key_file.read_text() == "the previous vault's key\n"
    forced = run("vault", "init", "--vault", tmp_path / "v", "--user", "root", "--recovery-key-out", key_file,
                 "--force")
    assert forced.code == 0, forced.err
    assert key_file.read_text().strip() in forced.out


def test_init_passphrase_sources(run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-a-file-123\n")
    assert run("vault", "init", "--vault", tmp_path / "a", "--user", "u", "--new-passphrase-file", secret).code == 0
    unlock(tmp_path / "a", "u", "from-a-file-123").lock()
    # --passphrase-file (the global option) also gives the first passphrase.
    assert run("vault", "init", "--vault", tmp_path / "b", "--user", "u", "--passphrase-file", secret).code == 0
    unlock(tmp_path / "b", "u", "from-a-file-123").lock()
    # No source and no terminal: a usage error, nothing created.
    none = run("vault", "init", "--vault", tmp_path / "c", "--user", "u")
    assert none.code == 2 and "passphrase" in none.error_line and not (tmp_path / "c").exists()
    missing = run("vault", "init", "--vault", tmp_path / "d", "--user", "u", "--new-passphrase-file",
                  tmp_path / "nope")
    assert missing.code == 2 and str(tmp_path / "nope") in missing.error_line
    existing = run("vault", "init", "--vault", tmp_path / "a", "--user", "u", "--new-passphrase-file", secret)
    assert existing.code == 5 and "already exists" in existing.error_line


def test_vault_check_clean_quarantine_and_repair(cli: Cli, vault: VaultInfo) -> None:
    clean = cli("vault", "check")
    assert clean.code == 0, clean.err
    assert "Database integrity: ok" in clean.out and "Quarantine: empty" in clean.out
    (vault.path / "staging" / "stray.part").write_bytes(b"left by a crash")
    found = cli("--json", "vault", "check")
    assert found.code == 0, found.err
    report = found.json()
    assert report["id"] and report["ok"] is True
    assert [q["was"] for q in report["quarantine"]] == ["staging/stray.part"]
    human = cli("vault", "check")
    assert "Quarantine: 1 file(s)" in human.out and "--repair" in human.out
    repaired = cli("--json", "vault", "check", "--repair")
    assert repaired.code == 0, repaired.err
    assert [r["was"] for r in repaired.json()["repaired"]["removed"]] == ["staging/stray.part"]
    assert repaired.json()["quarantine"] == []
    again = cli("vault", "check", "--repair")
    assert again.code == 0 and "Quarantine: empty; nothing was removed." in again.out


def test_vault_check_repair_is_an_administrators(cli: Cli, vault: VaultInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    (vault.path / "staging" / "stray.part").write_bytes(b"left by a crash")
    as_role(monkeypatch, Role.INVESTIGATOR)
    denied = cli("vault", "check", "--repair")
    assert denied.code == 6 and "permission" in denied.error_line.lower()
    assert cli("vault", "check").code == 0  # looking is allowed


def test_vault_check_names_a_damaged_page(cli: Cli, vault: VaultInfo) -> None:
    database = vault.path / "metadata.db"
    pages = database.stat().st_size // 4096
    with open(database, "r+b") as handle:
        handle.seek((pages // 2) * 4096 + 100)
        handle.write(bytes(64))
    done = cli("--json", "vault", "check")
    assert done.code == 1
    assert done.json()["ok"] is False and done.json()["problems"]
    assert "Traceback" not in done.err and "unexpected error" not in done.err
    assert "integrity problem" in done.err.splitlines()[0]
    repair = cli("vault", "check", "--repair")
    assert repair.code == 1 and "nothing was removed from quarantine" in repair.err


def test_rekey_and_its_old_name(cli: Cli, vault: VaultInfo) -> None:
    done = cli("--json", "vault", "rekey", "--reason", "scheduled")
    assert done.code == 0, done.err
    data = done.json()
    assert data["id"] and data["users"] == len(NAMES) and isinstance(data["seconds"], float)
    assert "rotated" in cli("vault", "rotate-key", "--purpose", "old spellings").out
    missing = cli("vault", "rekey")
    assert missing.code == 2 and "--reason" in missing.error_line


def test_recover_with_the_recovery_key(run: Cli, vault: VaultInfo, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "rk"
    key.write_text(vault.recovery_key + "\n")
    monkeypatch.setenv("ICSPA_NEW_PASSPHRASE", "recovered-passphrase")
    done = run("--json", "--vault", vault.path, "--user", ADMIN, "vault", "recover", "--recovery-key-file", key)
    assert done.code == 0, done.err
    assert done.json() == {"id": ADMIN, "user": ADMIN, "recovered": True}
    with pytest.raises(AuthenticationError):
        unlock(vault.path, ADMIN, ADMIN_PASS)
    unlock(vault.path, ADMIN, "recovered-passphrase").lock()
    human = run("--vault", vault.path, "--user", ADMIN, "vault", "recover", "--recovery-key-file", key)
    assert human.code == 0 and "new passphrase" in human.out
    missing = run("--vault", vault.path, "--user", ADMIN, "vault", "recover", "--recovery-key-file", tmp_path / "x")
    assert missing.code == 2 and str(tmp_path / "x") in missing.error_line
    key.write_text("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-IIII-JJJJ-KKKK-LLLL-MMMM\n")
    wrong = run("--vault", vault.path, "--user", ADMIN, "vault", "recover", "--recovery-key-file", key)
    assert wrong.code == 3 and wrong.error_line


def test_wrong_passphrase_is_exit_3(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_PASSPHRASE", "not-the-passphrase")
    done = cli("case", "list")
    assert done.code == 3 and done.error_line


def test_no_user_is_a_usage_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICSPA_USER")
    done = cli("case", "list")
    assert done.code == 2 and "--user" in done.error_line


def test_user_add_list_and_roles(cli: Cli, vault: VaultInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_NEW_PASSPHRASE", "nina-passphrase")
    added = cli("--json", "user", "add", "nina", "--role", "investigator", "--display-name", "Nina N.")
    assert added.code == 0, added.err
    data = added.json()
    assert data["id"] and data["name"] == "nina" and data["role"] == "investigator" and data["active"] is True
    unlock(vault.path, "nina", "nina-passphrase").lock()
    listed = cli("--json", "user", "list").json()
    assert {u["name"] for u in listed} == {*NAMES.values(), "nina"} and all(u["id"] for u in listed)
    assert "Nina N." in cli("user", "list").out
    as_role(monkeypatch, Role.SUPERVISOR)
    denied = cli("user", "add", "other", "--role", "auditor")
    assert denied.code == 6 and denied.error_line
    bad_role = cli("user", "add", "other", "--role", "king")
    assert bad_role.code == 2 and bad_role.error_line.startswith("icspa: error:")


def test_user_disable_and_enable(cli: Cli, vault: VaultInfo) -> None:
    ivan = NAMES[Role.INVESTIGATOR]
    done = cli("--json", "user", "disable", ivan)
    assert done.code == 0, done.err
    data = done.json()
    assert data["id"] and data["active"] is False and data["rotation"]["blobs_rewrapped"] >= 0
    with pytest.raises(AuthenticationError):
        unlock(vault.path, ivan, PASSPHRASES[Role.INVESTIGATOR])
    human = cli("user", "enable", ivan)
    assert human.code == 0, human.err
    assert f"User {ivan!r} is now enabled." in human.out
    unlock(vault.path, ivan, PASSPHRASES[Role.INVESTIGATOR]).lock()
    again = cli("user", "disable", ivan)
    assert again.code == 0 and "rotated" in again.out
    own = cli("user", "disable", ADMIN)
    assert own.code == 2 and "your own account" in own.error_line
    unknown = cli("user", "enable", "nobody")
    assert unknown.code == 5 and unknown.error_line


def test_passwd(cli: Cli, vault: VaultInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    as_role(monkeypatch, Role.AUDITOR)
    new = tmp_path / "new"
    new.write_text("audrey-new-passphrase\n")
    done = cli("--json", "user", "passwd", "--new-passphrase-file", new)
    assert done.code == 0, done.err
    assert done.json()["changed"] is True and done.json()["id"]
    with vault.session(Role.ADMINISTRATOR) as session:
        assert users.get_user(session, NAMES[Role.AUDITOR]).active
    unlock(vault.path, NAMES[Role.AUDITOR], "audrey-new-passphrase").lock()
