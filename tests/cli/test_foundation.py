"""The CLI contract of DESIGN §6 for the foundation commands: in this process (``main(argv)``), except the
prompts on a terminal, which need a pseudo-terminal and so a child process."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pty
import select
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest

from icspa_desktop.cli import main as cli_main
from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError
from icspa_desktop.services import users
from icspa_desktop.services.session import unlock
from icspa_desktop.vault import keyslots
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES, VaultInfo, icspa_command


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``icspa ARGS`` in this process, with ``env`` set for the call only; the result as a subprocess' would be."""
    out, err = io.StringIO(), io.StringIO()
    # main() lowers the hard core-dump limit of its process for good; keep the test runner's own.
    with (mock.patch.dict(os.environ, env or {}), mock.patch.object(cli_main, "disable_core_dumps"),
          redirect_stdout(out), redirect_stderr(err)):
        try:
            code = cli_main.main(list(args))
        except SystemExit as exc:  # argparse: usage errors
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture
def env(vault: VaultInfo) -> dict[str, str]:
    return {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}


def _one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1


def test_init_from_files_and_json(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("init-passphrase\n")
    key_out = tmp_path / "recovery.txt"
    result = run_cli("--vault", str(tmp_path / "v"), "--user", "root.admin", "--json", "vault", "init",
                     "--new-passphrase-file", str(pw), "--agency-name", "Politie", "--country", "nl",
                     "--recovery-key-out", str(key_out))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] and data["recovery_key"] == key_out.read_text().strip()
    status = run_cli("--vault", str(tmp_path / "v"), "--user", "root.admin", "--passphrase-file", str(pw),
                     "--json", "vault", "status")
    assert json.loads(status.stdout)["country"] == "NL"


def test_init_refuses_existing_vault(vault: VaultInfo, env: dict[str, str]) -> None:
    result = run_cli("vault", "init", env=env | {"ICSPA_NEW_PASSPHRASE": "another-pass"})
    assert result.returncode == 5
    assert _one_line(result.stderr) and "already exists" in result.stderr


@pytest.mark.parametrize("args", [["case"], ["case", "create", "--number", "x"], ["nonsense"],
                                  ["case", "create", "--number", "1", "--title", "t", "--tlp", "PURPLE"]])
def test_usage_errors_exit_2_one_line(env: dict[str, str], args: list[str]) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert _one_line(result.stderr), result.stderr


def test_json_objects_carry_id_and_number(env: dict[str, str]) -> None:
    created = run_cli("--json", "case", "create", "--number", "J-1", "--title", "Json case", "--handling", "H1",
                      env=env)
    assert created.returncode == 0, created.stderr
    case = json.loads(created.stdout)
    assert case["id"] and case["number"] == "J-1" and case["handling_code"] == "H1"
    listed = json.loads(run_cli("--json", "case", "list", env=env).stdout)
    assert [c["number"] for c in listed] == ["J-1"] and all("id" in c for c in listed)
    shown = json.loads(run_cli("--json", "case", "show", "J-1", env=env).stdout)
    assert shown["id"] == case["id"]
    people = json.loads(run_cli("--json", "user", "list", env=env).stdout)
    assert {p["name"] for p in people} == set(NAMES.values()) and all(p["id"] for p in people)


def test_case_edit_records_field_changes(vault: VaultInfo, env: dict[str, str]) -> None:
    run_cli("case", "create", "--number", "E-1", "--title", "Before", env=env)
    result = run_cli("case", "edit", "E-1", "--title", "After", "--tlp", "RED", "--reason", "typo", env=env)
    assert result.returncode == 0, result.stderr
    with vault.session() as session:
        edit = [e for e in events.list_events(session.conn) if e.action == CustodyAction.CASE_EDITED][-1]
    assert edit.body["details"]["changes"]["title"] == {"old": "Before", "new": "After"}
    assert edit.body["details"]["changes"]["tlp"] == {"old": "AMBER", "new": "RED"}
    assert edit.body["purpose"] == "typo"


def test_duplicate_number_and_h3_without_text(env: dict[str, str]) -> None:
    assert run_cli("case", "create", "--number", "D-1", "--title", "One", env=env).returncode == 0
    dup = run_cli("case", "create", "--number", "D-1", "--title", "Two", env=env)
    assert dup.returncode == 5 and "already exists" in dup.stderr and _one_line(dup.stderr)
    h3 = run_cli("case", "create", "--number", "D-2", "--title", "H3", "--handling", "H3", env=env)
    assert h3.returncode == 2 and "H3" in h3.stderr
    ok = run_cli("case", "create", "--number", "D-2", "--title", "H3", "--handling", "H3",
                 "--handling-text", "no use outside the JIT", env=env)
    assert ok.returncode == 0


def test_close_and_reopen_need_supervisor(vault: VaultInfo, env: dict[str, str]) -> None:
    run_cli("case", "create", "--number", "C-1", "--title", "Close me", env=env)
    inv = env | {"ICSPA_USER": NAMES[Role.INVESTIGATOR], "ICSPA_PASSPHRASE": PASSPHRASES[Role.INVESTIGATOR]}
    assert run_cli("case", "close", "C-1", env=inv).returncode == 6
    sup = env | {"ICSPA_USER": NAMES[Role.SUPERVISOR], "ICSPA_PASSPHRASE": PASSPHRASES[Role.SUPERVISOR]}
    assert run_cli("case", "close", "C-1", "--reason", "done", env=sup).returncode == 0
    assert json.loads(run_cli("--json", "case", "show", "C-1", env=env).stdout)["status"] == "closed"
    assert run_cli("case", "reopen", "C-1", env=sup).returncode == 0


def test_user_add_from_file_env_and_prompt_less_failure(vault: VaultInfo, env: dict[str, str],
                                                         tmp_path: Path) -> None:
    pw = tmp_path / "new"
    pw.write_text("from-a-file-123\n")
    assert run_cli("user", "add", "filed", "--role", "investigator", "--new-passphrase-file", str(pw),
                   env=env).returncode == 0
    assert run_cli("user", "add", "envd", "--role", "auditor",
                   env=env | {"ICSPA_NEW_PASSPHRASE": "from-the-env-123"}).returncode == 0
    no_source = run_cli("user", "add", "nobody", "--role", "auditor", env=env)
    assert no_source.returncode == 2 and "passphrase" in no_source.stderr
    unlock(vault.path, "filed", "from-a-file-123").lock()
    unlock(vault.path, "envd", "from-the-env-123").lock()


def test_passwd_rewrites_only_that_slot(vault: VaultInfo, env: dict[str, str]) -> None:
    slots_before = json.loads((vault.path / "keyslots.json").read_text())["slots"]
    inv = env | {"ICSPA_USER": NAMES[Role.INVESTIGATOR], "ICSPA_PASSPHRASE": PASSPHRASES[Role.INVESTIGATOR],
                 "ICSPA_NEW_PASSPHRASE": "ivan-new-passphrase"}
    result = run_cli("user", "passwd", env=inv)
    assert result.returncode == 0, result.stderr
    slots_after = json.loads((vault.path / "keyslots.json").read_text())["slots"]
    changed = [a for a, b in zip(slots_after, slots_before, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0]["id"] == next(s["id"] for s in slots_before if s not in slots_after)
    with pytest.raises(Exception, match="Wrong user name or passphrase"):
        unlock(vault.path, NAMES[Role.INVESTIGATOR], PASSPHRASES[Role.INVESTIGATOR])
    with unlock(vault.path, NAMES[Role.INVESTIGATOR], "ivan-new-passphrase") as s:
        assert events.list_events(s.conn)[-1].action == CustodyAction.PASSPHRASE_CHANGED
    with (unlock(vault.path, NAMES[Role.INVESTIGATOR], "ivan-new-passphrase") as s,
          pytest.raises(AuthenticationError, match="current passphrase is wrong")):
            users.change_passphrase(s, PASSPHRASES[Role.INVESTIGATOR], "yet-another-passphrase")
    assert json.loads((vault.path / "keyslots.json").read_text())["slots"] == slots_after


def test_recovery_sets_new_passphrase_and_key(vault: VaultInfo, env: dict[str, str], tmp_path: Path) -> None:
    with vault.session() as s:
        old_key = s.user.signing_public_key
        events_before = events.count(s.conn)
    key_file = tmp_path / "rk"
    key_file.write_text(vault.recovery_key.lower().replace("-", " ") + "\n")  # forgiving about format
    result = run_cli("vault", "recover", "--recovery-key-file", str(key_file),
                     env={"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN,
                          "ICSPA_NEW_PASSPHRASE": "recovered-passphrase"})
    assert result.returncode == 0, result.stderr
    with pytest.raises(AuthenticationError):
        unlock(vault.path, ADMIN, ADMIN_PASS)  # the forgotten passphrase no longer opens anything
    with unlock(vault.path, ADMIN, "recovered-passphrase") as s:
        assert s.user.signing_public_key != old_key
        log = events.list_events(s.conn)
        assert len(log) == events_before + 1 and log[-1].action == CustodyAction.KEY_ROTATED
        retired = s.conn.execute("SELECT retired_at FROM user_keys WHERE public_key = ?", (old_key,)).fetchone()
        assert retired[0] is not None
        assert any(e.public_key == old_key for e in log)  # history signed by the old key is kept
    bad = tmp_path / "bad"
    bad.write_text("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-IIII-JJJJ-KKKK-LLLL-MMMM\n")
    wrong = run_cli("vault", "recover", "--recovery-key-file", str(bad),
                    env={"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_NEW_PASSPHRASE": "zzzzzzzzzz"})
    assert wrong.returncode == 3 and _one_line(wrong.stderr)


def _hold_vault(path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event) -> None:
    session = unlock(Path(path), ADMIN, ADMIN_PASS)
    ready.set()
    done.wait(60)
    session.lock()


def test_second_process_is_refused(vault: VaultInfo, env: dict[str, str]) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_vault, args=(str(vault.path), ready, done))
    holder.start()
    try:
        assert ready.wait(60)
        result = run_cli("case", "list", env=env)
        assert result.returncode == 5
        assert "open in another ICSPA process" in result.stderr and str(holder.pid) in result.stderr
    finally:
        done.set()
        holder.join(60)
    assert run_cli("case", "list", env=env).returncode == 0


def test_missing_vault_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("--vault", str(tmp_path / "nowhere"), "--user", "a", "case", "list",
                     env={"ICSPA_PASSPHRASE": "whatever-123"})
    assert result.returncode == 5 and "No vault at" in result.stderr and _one_line(result.stderr)


def _run_on_terminal(args: list[str], env: dict[str, str], answers: dict[str, str]) -> tuple[int, str]:
    """Run ``icspa`` with a pseudo-terminal as its controlling terminal, answering prompts as they appear."""
    full_env = dict(os.environ) | env
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the CLI, with the pty as stdin/stdout/stderr and /dev/tty
        command = icspa_command(*args)
        os.execve(command[0], command, full_env)
    seen, pending = b"", dict(answers)
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        assert ready, f"no output from the CLI; so far: {seen!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        for prompt in list(pending):  # answer each prompt once, when the last line starts with it
            if seen.rsplit(b"\n", 1)[-1].lstrip().startswith(prompt.encode()):
                os.write(fd, pending.pop(prompt).encode() + b"\n")
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_user_add_prompts_twice_on_a_terminal(vault: VaultInfo, env: dict[str, str]) -> None:
    code, output = _run_on_terminal(
        ["user", "add", "prompted", "--role", "investigator", "--display-name", "Pat Prompted"], env,
        {"Enter the": "typed-at-the-prompt", "Repeat the": "typed-at-the-prompt"})
    assert code == 0, output
    assert "typed-at-the-prompt" not in output  # not echoed
    unlock(vault.path, "prompted", "typed-at-the-prompt").lock()
    # Two different entries: refused, nothing added.
    code, output = _run_on_terminal(
        ["user", "add", "mistyped", "--role", "investigator"], env,
        {"Enter the": "first-entry-1234", "Repeat the": "second-entry-5678"})
    assert code == 2 and "differ" in output
    with vault.session() as s:
        assert "mistyped" not in {u.name for u in users.list_users(s)}


def _tables(conn: object, skip: set[str]) -> dict[str, list[tuple[object, ...]]]:
    names = [r[0] for r in conn.execute(  # type: ignore[attr-defined]
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {n: sorted(conn.execute(f"SELECT * FROM {n}").fetchall(), key=repr)  # type: ignore[attr-defined]
            for n in sorted(names) if n not in skip}


def test_passwd_changes_nothing_in_the_database_but_the_event(vault: VaultInfo, env: dict[str, str]) -> None:
    # The head is the log's cached frontier; key_slot_file the committed copy of keyslots.json (schema 10), which
    # must change with the slot — checked below against the file.
    changing = {"custody_events", "custody_head", "key_slot_file"}
    with vault.session() as s:
        before = _tables(s.conn, changing)
        n_events = events.count(s.conn)
        slots_before = keyslots.stored_copy(s.conn)
    inv = env | {"ICSPA_USER": NAMES[Role.INVESTIGATOR], "ICSPA_PASSPHRASE": PASSPHRASES[Role.INVESTIGATOR],
                 "ICSPA_NEW_PASSPHRASE": "ivan-new-passphrase"}
    assert run_cli("user", "passwd", env=inv).returncode == 0
    with vault.session() as s:
        assert _tables(s.conn, changing) == before
        assert keyslots.stored_copy(s.conn) == (vault.path / "keyslots.json").read_bytes() != slots_before
        log = events.list_events(s.conn)
        assert len(log) == n_events + 1 and log[-1].action == CustodyAction.PASSPHRASE_CHANGED
        assert log[-1].body["actor"]["name"] == NAMES[Role.INVESTIGATOR]
