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
from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import ExitCode
from icspa_desktop.services import cases, custody_reports
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES, VaultInfo

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
        try:
            code = cli_main.main(list(args))
        except SystemExit as exc:  # argparse: a usage error
            code = int(exc.code or 0)
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


# ---- the exit codes of DESIGN §6, each with one line on stderr ---------------------------------------------
def test_every_exit_code(cli: Cli, vault: VaultInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cli("case", "create", "--number", "X-1", "--title", "t")[0] == ExitCode.OK
    (tmp_path / "f.txt").write_text("content")
    assert cli("evidence", "add", "X-1", str(tmp_path / "f.txt"))[0] == 0
    blob = next(p for p in (vault.path / "blobs").rglob("*") if p.is_file())
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    junk = tmp_path / "junk.icspa-card"
    junk.write_bytes(b"not a card")
    cases_of_codes = [
        (["evidence", "verify", "X-1"], ExitCode.CHECK_FAILED, "Verification FAILED"),
        (["case", "create", "--number", "X-2"], ExitCode.USAGE, "--title"),
        (["partner", "import", str(junk), "--confirm-fingerprint", "00"], ExitCode.REFUSED_INPUT, "card"),
        (["case", "show", "NOPE"], ExitCode.OTHER, "NOPE"),
    ]
    for argv, code, words in cases_of_codes:
        got, err = cli(*argv)
        assert (got, err.count("\n"), err.startswith("icspa: ")) == (code, 1, True), (argv, err)
        assert words in err, err
    monkeypatch.setenv("ICSPA_USER", NAMES[Role.INVESTIGATOR])
    monkeypatch.setenv("ICSPA_PASSPHRASE", PASSPHRASES[Role.INVESTIGATOR])
    got, err = cli("user", "add", "nina", "--role", "auditor")
    assert (got, err.count("\n")) == (ExitCode.PERMISSION_DENIED, 1) and "recorded" in err
    monkeypatch.setenv("ICSPA_PASSPHRASE", "wrong-passphrase")
    got, err = cli("case", "list")
    assert (got, err.count("\n")) == (ExitCode.AUTHENTICATION, 1)


def test_interrupt_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_with(monkeypatch, KeyboardInterrupt())
    code, err = cli("case", "list")
    assert code == 5 and err.count("\n") == 1 and "interrupted" in err


def test_os_error_names_the_users_path_not_a_temporary_name(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """A real failure inside atomic_write: the folder disappears between the check of --out and the write."""
    folder = tmp_path / "reports"
    folder.mkdir()
    real = custody_reports.custody_report_bytes

    def then_remove_the_folder(*args: object, **kwargs: object) -> object:
        made = real(*args, **kwargs)  # type: ignore[arg-type]
        folder.rmdir()
        return made

    monkeypatch.setattr(custody_reports, "custody_report_bytes", then_remove_the_folder)
    assert cli("case", "create", "--number", "X-1", "--title", "t")[0] == 0
    code, err = cli("report", "custody", "X-1", "--out", str(folder / "x.pdf"))
    assert code == 5 and err.count("\n") == 1
    assert err.strip() == f"icspa: No such file or directory: {folder / 'x.pdf'}"


@pytest.mark.parametrize(("temporary", "shown"), [
    ("/media/usb/.r.pdf.tmp-4242", "/media/usb/r.pdf"),
    ("/media/usb/.nightjar.icspa.partial-0a1b2c3d4e5f6a7b", "/media/usb/nightjar.icspa"),
    ("/media/usb/.nightjar.icspa.partial-0a1b2c3d4e5f6a7b.002", "/media/usb/nightjar.icspa"),
    # what bundle/media.temp_name makes (pid, its start time, random): an audit saw it named in an error
    ("/media/usb/.b2.icspa.partial-20611-925765-0ddfbabd.001", "/media/usb/b2.icspa"),
    ("/media/usb/.b2.icspa.partial-20611-925765-0ddfbabd", "/media/usb/b2.icspa"),
    ("/cases/.photo.jpg.icspa-partial-5f0c2a", "/cases/photo.jpg"),
    ("/cases/.photo.jpg.icspa-replaced-77", "/cases/photo.jpg"),
    ("/cases/.hidden-file", "/cases/.hidden-file"),
    ("/cases/plain.txt", "/cases/plain.txt"),
])
def test_user_path(temporary: str, shown: str) -> None:
    assert cli_main.user_path(temporary) == shown


def test_version_help_and_usage(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--version"], ["--help"], ["bundle", "export", "--help"]):
        with pytest.raises(SystemExit) as stopped:
            cli_main.main(argv)
        assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "icspa " in out and "--reason" in out and "--purpose" not in out
    with pytest.raises(SystemExit) as stopped:
        cli_main.main(["case", "create", "--bogus"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "icspa case create --help" in err
