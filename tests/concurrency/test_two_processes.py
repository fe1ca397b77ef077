"""Issue 13 item 5: two ``icspa`` processes on one vault — the second is refused cleanly.

The first is a real ``icspa user add`` on a pseudo-terminal of its own, as a colleague's shell would run it: it has
unlocked the vault and waits at the prompt for the new user's passphrase, holding the vault meanwhile. Every other
``icspa`` (reading or writing) is then refused with one line naming the vault and the holder's process id, exit 5,
and changes no file of the vault or of the user's home. The holder then finishes normally; a holder killed at the
prompt leaves the vault unlocked for the next process (the kernel drops the flock) and nothing half-added.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases
from tests.concurrency.conftest import snapshot
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, icspa_command, run_cli

NEW_USER = "bob"
NEW_PASS = "bob-passphrase-1234"
PROMPT = f"Enter the passphrase for {NEW_USER}".encode()


class TerminalCli:
    """``icspa ARGS`` with a pseudo-terminal as its controlling terminal, answered prompt by prompt."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        full_env = dict(os.environ) | env
        command = icspa_command(*args)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child becomes the CLI, the pty its stdin, stdout, stderr and /dev/tty
            os.execve(command[0], command, full_env)
        self.seen = b""
        self.status: int | None = None

    def wait_for(self, text: bytes, timeout: float = 60) -> None:
        while text not in self.seen:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            assert ready, f"no {text!r} from the CLI within {timeout} s; so far: {self.seen!r}"
            self.seen += os.read(self.fd, 4096)

    def answer(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def finish(self) -> int:
        """Read to the end of its output; its exit code."""
        with contextlib.suppress(OSError):  # EIO: the child closed the terminal
            while chunk := os.read(self.fd, 4096):
                self.seen += chunk
        _, status = os.waitpid(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        os.close(self.fd)
        return self.status

    def kill(self) -> int:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            return self.finish()
        return self.status


@pytest.fixture
def env(vault: VaultInfo) -> dict[str, str]:
    return {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}


@pytest.fixture
def holder(vault: VaultInfo, env: dict[str, str]) -> Iterator[TerminalCli]:
    """``icspa user add bob`` at its passphrase prompt: the vault is unlocked and held by that process."""
    with vault.session() as session:
        cases.create_case(session, CaseFields("2026/001", "Operation Nightjar"))
    cli = TerminalCli(["user", "add", NEW_USER, "--role", "investigator"], env)
    try:
        cli.wait_for(PROMPT)
        yield cli
    finally:
        cli.kill()


def home() -> Path:
    return Path(os.environ["HOME"])


def test_every_second_icspa_is_refused_in_one_line_and_changes_nothing(vault: VaultInfo, env: dict[str, str],
                                                                      holder: TerminalCli, tmp_path: Path) -> None:
    source = tmp_path / "chat-export.txt"
    source.write_text("meet at the harbour at 23:00\n")
    expected = (f"icspa: The vault {vault.path} is open in another ICSPA process (process {holder.pid}); "
                "close it there first.")
    before = snapshot(vault.path, home())
    for args in (["case", "list"], ["custody", "verify"], ["evidence", "verify", "2026/001"],
                 ["case", "create", "--number", "2026/002", "--title", "Refused"],
                 ["evidence", "add", "2026/001", str(source)]):
        refused = run_cli(*args, env=env)
        assert (refused.returncode, refused.stdout, refused.stderr.splitlines()) == (5, "", [expected]), args
        assert snapshot(vault.path, home()) == before, args

    holder.answer(NEW_PASS)  # the first process was never disturbed: it finishes its work
    holder.wait_for(b"Repeat the passphrase")
    holder.answer(NEW_PASS)
    assert holder.finish() == 0, holder.seen
    assert f"User '{NEW_USER}' added".encode() in holder.seen

    listed = run_cli("case", "list", env=env)  # released: the next process gets the vault
    assert listed.returncode == 0 and "2026/001" in listed.stdout and "2026/002" not in listed.stdout
    assert run_cli("custody", "verify", env=env).returncode == 0


def test_a_holder_killed_at_its_prompt_leaves_the_vault_free_and_nothing_half_done(
        vault: VaultInfo, env: dict[str, str], holder: TerminalCli) -> None:
    assert holder.kill() == -signal.SIGKILL
    users = run_cli("user", "list", env=env)
    assert users.returncode == 0, users.stderr
    assert NEW_USER not in users.stdout
    check = run_cli("vault", "check", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert run_cli("custody", "verify", env=env).returncode == 0
