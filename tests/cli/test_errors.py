"""The CLI's error boundary: an unexpected error is one line, exit 5, and a private log entry."""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlcipher3

from icspa_desktop.cli import crashlog
from icspa_desktop.cli import main as cli_main
from icspa_desktop.domain.errors import ExitCode
from icspa_desktop.services import cases
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo

Cli = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(vault: VaultInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    # main() lowers the hard core-dump limit of its process for good; keep the test runner's own.
    monkeypatch.setattr(cli_main, "disable_core_dumps", lambda: None)
    monkeypatch.setenv("ICSPA_VAULT", str(vault.path))
    monkeypatch.setenv("ICSPA_USER", ADMIN)
    monkeypatch.setenv("ICSPA_PASSPHRASE", ADMIN_PASS)

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = cli_main.main(list(args))
        return code, capsys.readouterr().err

    return run


def _fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(cases, "list_cases", broken)


def test_unexpected_error_is_one_line_and_logged(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_with(monkeypatch, RuntimeError("an internal mistake"))
    code, err = cli("case", "list")
    assert code == ExitCode.OTHER == 5
    assert err.count("\n") == 1 and "unexpected error (RuntimeError)" in err and "Traceback" not in err
    log = crashlog.log_path()
    assert str(log) in err
    assert "an internal mistake" in log.read_text() and "Traceback" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_full_disk_says_so(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_with(monkeypatch, sqlcipher3.OperationalError("database or disk is full"))
    code, err = cli("case", "list")
    assert code == 5 and "disk holding the vault is full" in err and "damaged" not in err
    _fail_with(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/media/usb/out.bin"))
    code, err = cli("case", "list")
    assert code == 5 and "the disk is full (/media/usb/out.bin)" in err


@pytest.mark.parametrize("argv", [
    ["case", "list", "--json", "--user", "alice"],
    ["--json", "case", "--user=alice", "list"],
    ["case", "list", "--vault", "VAULT", "--json", "--user", "alice"],
])
def test_global_options_are_accepted_in_any_position(cli: Cli, vault: VaultInfo, argv: list[str]) -> None:
    code, err = cli(*[str(vault.path) if a == "VAULT" else a for a in argv])
    assert code == 0, err


def test_hoisting_leaves_values_and_the_double_dash_alone() -> None:
    assert cli_main.hoist_global_options(["case", "create", "--title", "x", "--user", "bob", "--", "--json"]) == [
        "--user", "bob", "case", "create", "--title", "x", "--", "--json"]


def test_out_is_never_overwritten_without_force(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "agency.pem"
    target.write_text("someone's file")
    code, err = cli("agency", "cert", "--out", str(target))
    assert code == 5 and "--force" in err and target.read_text() == "someone's file"
    code, err = cli("agency", "cert", "--out", str(target), "--force")
    assert code == 0, err
    assert target.read_text().startswith("-----BEGIN CERTIFICATE-----")
    card = tmp_path / "card.icspa-card"
    card.write_text("keep")
    code, err = cli("agency", "card", "--out", str(card))
    assert code == 5 and card.read_text() == "keep"


def test_user_add_refuses_the_name_before_asking_for_a_passphrase(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICSPA_NEW_PASSPHRASE", raising=False)  # a prompt would be needed: it must not come
    code, err = cli("user", "add", "Not-Valid", "--role", "investigator")
    assert code == 2 and "not valid" in err
    code, err = cli("user", "add", "alice", "--role", "investigator")
    assert code == 5 and "already exists" in err


def test_vault_check_names_a_damaged_page_instead_of_crashing(cli: Cli, vault: VaultInfo) -> None:
    database = vault.path / "metadata.db"
    pages = database.stat().st_size // 4096
    assert pages > 4
    with open(database, "r+b") as handle:
        handle.seek((pages // 2) * 4096 + 100)
        handle.write(bytes(64))
    code, err = cli("vault", "check")
    assert code == 1, err
    first, *rest = err.splitlines()
    assert "integrity problem" in first and "unexpected error" not in err
    # Which table the damaged page belongs to depends on the schema; if the lock's own witness cannot be
    # read from it, that is said too, on its own line.
    assert all("witness" in line for line in rest), rest
