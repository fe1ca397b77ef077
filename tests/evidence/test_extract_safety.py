"""Extraction: recorded before the first plaintext byte, no partial file left by a failure, cancel or crash.

The crash tests SIGKILL a real ``icspa evidence extract`` (tests/evidence/killer.py) at each write, fsync
and custody record, then check that what is on disk is covered by a committed "export started" event and
that the next ``icspa vault check`` removes the partial file, reports it on one line and records it.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import Cancelled, IcspaError, RefusedInput, VerificationFailed
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import Case
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.services import evidence, fixity
from icspa_desktop.services.session import Session
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli

KILLER = Path(__file__).with_name("killer.py")


def _actions(session: Session, item: Item) -> list[str]:
    return [e.action for e in events.list_events(session.conn, item_id=item.id)
            if e.action.startswith("export")]


def _env(vault: VaultInfo) -> dict[str, str]:
    return {**os.environ, "ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS}


def _journal(session: Session) -> list[tuple[Any, ...]]:
    return list(session.conn.execute("SELECT id, target, partial FROM extractions_in_flight").fetchall())


@pytest.fixture
def item(admin: Session, case: Case, files: Path) -> Item:
    return evidence.add_files(admin, case.id, [files / "docs" / "image.bin"]).items[0]  # 3 chunks


@pytest.fixture
def stored_item(vault: VaultInfo, vault_case: Case, files: Path) -> Item:
    """An item in ``vault`` added in a session that is closed again, for tests that run ``icspa`` processes."""
    with vault.session() as session:
        return evidence.add_files(session, vault_case.id, [files / "docs" / "image.bin"]).items[0]


# ---- in one process ----------------------------------------------------------------------------------
def test_export_started_is_committed_before_the_first_byte(admin: Session, item: Item, files: Path,
                                                           tmp_path: Path) -> None:
    out_dir = tmp_path / "exam"
    out_dir.mkdir()
    seen: list[dict[str, Any]] = []

    def progress(done: int, total: int, message: str) -> None:
        if seen:
            return
        # The first chunk has just been written: the start is already committed, the data is in a private
        # partial file beside the target, and the target does not exist yet.
        started = [e for e in events.list_events(admin.conn, item_id=item.id) if e.action == "export_started"]
        partials = [p for p in out_dir.iterdir() if fixity.PARTIAL_MARK in p.name]
        seen.append({"in_transaction": admin.conn.in_transaction, "started": started, "partials": partials,
                     "modes": [stat.S_IMODE(p.stat().st_mode) for p in partials],
                     "sizes": [p.stat().st_size for p in partials],
                     "target": (out_dir / "copy.bin").exists(), "journal": _journal(admin)})

    fixity.extract(admin, item.id, out_dir / "copy.bin", "lab examination", progress)
    first = seen[0]
    assert first["in_transaction"] is False
    assert len(first["started"]) == 1
    body = first["started"][0].body
    assert body["purpose"] == "lab examination" and body["item_ids"] == [item.id]
    assert body["details"]["destination"] == str(out_dir / "copy.bin")
    assert body["details"]["size"] == item.size
    assert first["partials"] and first["sizes"][0] > 0 and first["modes"] == [0o600]
    assert body["details"]["partial_file"] == str(first["partials"][0])
    assert first["target"] is False
    assert [row[1] for row in first["journal"]] == [str(out_dir / "copy.bin")]
    # Done: the copy, nothing else, the completion event pointing at the start, an empty journal.
    assert sorted(p.name for p in out_dir.iterdir()) == ["copy.bin"]
    assert (out_dir / "copy.bin").read_bytes() == (files / "docs" / "image.bin").read_bytes()
    assert _actions(admin, item) == ["export_started", "exported"]
    exported = events.list_events(admin.conn, item_id=item.id)[-1]
    assert exported.body["details"]["started_event"] == first["started"][0].id
    assert _journal(admin) == []


def test_a_failed_extraction_removes_its_partial_file_and_says_so(admin: Session, item: Item,
                                                                  tmp_path: Path) -> None:
    blob = admin.vault.layout.blobs / item.blob_id[:2] / item.blob_id  # type: ignore[index]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x80  # the last chunk fails authentication, after two chunks were written
    blob.write_bytes(bytes(data))
    with pytest.raises(VerificationFailed, match=r"integrity check.*partial file was removed"):
        fixity.extract(admin, item.id, tmp_path / "out.bin", "exam")
    assert [p.name for p in tmp_path.iterdir() if "out.bin" in p.name] == []
    assert _actions(admin, item) == ["export_started", "export_aborted"]
    aborted = events.list_events(admin.conn, item_id=item.id)[-1].body
    assert aborted["result"] == "failed" and aborted["details"]["partial_state"] == "removed"
    assert _journal(admin) == []


def test_a_cancelled_extraction_removes_its_partial_file(admin: Session, item: Item, tmp_path: Path) -> None:
    token = CancelToken()
    with pytest.raises(Cancelled, match=r"cancelled.*partial file was removed"):
        fixity.extract(admin, item.id, tmp_path / "out.bin", "exam", lambda *_: token.cancel(), token)
    assert [p.name for p in tmp_path.iterdir() if "out.bin" in p.name] == []
    aborted = events.list_events(admin.conn, item_id=item.id)[-1].body
    assert (aborted["action"], aborted["result"]) == ("export_aborted", "cancelled")
    assert _journal(admin) == []


def test_a_full_disk_removes_the_partial_file(admin: Session, item: Item, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = fixity.write_all
    calls = {"n": 0}

    def write_all(fd: int, data: memoryview) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(fixity, "write_all", write_all)
    with pytest.raises(IcspaError, match=r"No space left on device.*partial file was removed"):
        fixity.extract(admin, item.id, tmp_path / "out.bin", "exam")
    assert [p.name for p in tmp_path.iterdir() if "out.bin" in p.name] == []
    assert _actions(admin, item) == ["export_started", "export_aborted"]


def test_extraction_into_the_vault_is_refused(vault: VaultInfo, admin: Session, item: Item, tmp_path: Path) -> None:
    link = tmp_path / "innocent-folder"
    link.symlink_to(vault.path / "blobs")
    for out in (vault.path / "copy.bin", vault.path / "blobs" / "copy.bin", vault.path / "staging" / "x",
                link / "copy.bin", vault.path / "blobs" / ".." / "copy.bin"):
        with pytest.raises(RefusedInput, match="inside the vault directory"):
            fixity.extract(admin, item.id, out, "exam")
    assert _actions(admin, item) == []  # refused before anything was started
    assert not (vault.path / "copy.bin").exists() and not (vault.path / "blobs" / "copy.bin").exists()


def test_cli_refuses_extraction_into_the_vault_on_one_line(vault: VaultInfo, stored_item: Item) -> None:
    cli = run_cli("evidence", "extract", stored_item.exhibit_number, "--out", str(vault.path / "c.bin"),
                  "--reason", "x", env=_env(vault))
    assert cli.returncode == 4 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr
    assert "inside the vault directory" in cli.stderr
    assert not (vault.path / "c.bin").exists()


# ---- a real process, killed --------------------------------------------------------------------------

def _killed_extract(vault: VaultInfo, op: str, nth: int, exhibit: str, out: Path) -> bool:
    """Run ``icspa evidence extract`` and SIGKILL it at the nth ``op``; False when it finished first."""
    result = subprocess.run([sys.executable, str(KILLER), op, str(nth), "evidence", "extract", exhibit,
                             "--out", str(out), "--reason", "court copy"],
                            env=_env(vault), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, -signal.SIGKILL), result.stderr
    return result.returncode == -signal.SIGKILL


def _state(vault: VaultInfo, item: Item) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """Unlock (which removes nothing outside the vault) and read the export events and the journal."""
    with vault.session() as session:
        log = [e for e in events.list_events(session.conn, item_id=item.id) if e.action.startswith("export")]
        return log, _journal(session)


@pytest.mark.parametrize("op", ["write", "fsync", "record"])
def test_sigkill_leaves_nothing_unrecorded_and_the_next_check_cleans_up(vault: VaultInfo, stored_item: Item,
                                                                         tmp_path: Path, op: str) -> None:
    item = stored_item
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    outcomes = []
    for nth in range(1, 20):  # until a run gets past the last such call and finishes
        target = out_dir / f"copy-{nth}.bin"
        killed = _killed_extract(vault, op, nth, item.exhibit_number, target)
        log, journal = _state(vault, item)
        on_disk = {p.name for p in out_dir.iterdir()}
        started = [e for e in log if e.action == "export_started"]
        # Whatever is on disk was announced by a committed "export started" naming it.
        named = {Path(e.body["details"][k]).name for e in started for k in ("destination", "partial_file")}
        assert on_disk <= named, (on_disk, named)
        if not killed:
            assert [e.action for e in log][-2:] == ["export_started", "exported"] and journal == []
            outcomes.append((nth, killed, False))
            break
        partial_left = any(fixity.PARTIAL_MARK in name for name in on_disk)
        check = run_cli("vault", "check", env=_env(vault))
        assert check.returncode == 0, check.stderr
        warnings = [line for line in check.stderr.splitlines() if "was interrupted" in line]
        if journal:  # a start was committed and never finished: one warning line, the file removed
            assert len(warnings) == 1, check.stderr
            assert warnings[0].startswith("icspa: warning: An extraction of " + item.exhibit_number)
            assert str(target) in warnings[0]
            assert ("was removed" if partial_left else "left no partial file") in warnings[0]
        else:
            assert warnings == [], check.stderr
        assert not [name for name in os.listdir(out_dir) if fixity.PARTIAL_MARK in name]
        log_after, journal_after = _state(vault, item)
        assert journal_after == []
        if journal:
            aborted = log_after[-1].body
            assert (aborted["action"], aborted["result"]) == ("export_aborted", "interrupted")
            assert aborted["details"]["started_event"] == started[-1].id
            assert aborted["details"]["partial_state"] == ("removed" if partial_left else "absent")
        outcomes.append((nth, killed, bool(journal)))
    assert outcomes[-1][1] is False, outcomes
    assert any(killed and interrupted for _, killed, interrupted in outcomes), f"no kill after the start: {outcomes}"


def test_interrupted_extraction_is_reported_by_the_next_extract(vault: VaultInfo, stored_item: Item,
                                                                tmp_path: Path) -> None:
    item = stored_item
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert _killed_extract(vault, "write", 2, item.exhibit_number, out_dir / "first.bin")
    assert [p for p in out_dir.iterdir() if fixity.PARTIAL_MARK in p.name]
    done = run_cli("evidence", "extract", item.exhibit_number, "--out", str(out_dir / "second.bin"),
                   "--reason", "again", env=_env(vault))
    assert done.returncode == 0, done.stderr
    warnings = done.stderr.strip().splitlines()
    assert len(warnings) == 1 and "first.bin" in warnings[0] and "was removed" in warnings[0], done.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["second.bin"]


def test_a_partial_file_swapped_for_a_link_is_not_followed(vault: VaultInfo, stored_item: Item,
                                                            tmp_path: Path) -> None:
    item = stored_item
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert _killed_extract(vault, "write", 2, item.exhibit_number, out_dir / "copy.bin")
    [partial] = [p for p in out_dir.iterdir() if fixity.PARTIAL_MARK in p.name]
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    partial.unlink()
    partial.symlink_to(victim)
    with vault.session() as session:
        first = fixity.interrupted_extractions(session)
        assert [f.partial_state for f in first] == [fixity.PartialState.LEFT]
        assert "symbolic link" in first[0].message and "still there" in first[0].message
        again = fixity.interrupted_extractions(session)  # reported again, recorded once
        assert [f.partial_state for f in again] == [fixity.PartialState.LEFT]
        assert _actions(session, item).count("export_aborted") == 1
    assert victim.read_text() == "someone else's file" and partial.is_symlink()
    partial.unlink()  # the user deals with it
    with vault.session() as session:
        last = fixity.interrupted_extractions(session)
        assert [f.partial_state for f in last] == [fixity.PartialState.ABSENT]
        assert _actions(session, item).count("export_aborted") == 2
        assert fixity.interrupted_extractions(session) == [] and _journal(session) == []


def test_the_running_process_never_cleans_up_its_own_extraction(admin: Session, item: Item, tmp_path: Path) -> None:
    found: list[list[fixity.InterruptedExtraction]] = []

    def progress(done: int, total: int, message: str) -> None:
        if not found:
            found.append(fixity.interrupted_extractions(admin))  # e.g. a check while the GUI extracts

    fixity.extract(admin, item.id, tmp_path / "copy.bin", "exam", progress)
    assert found == [[]]
    assert (tmp_path / "copy.bin").stat().st_size == item.size
    assert CustodyAction.EXPORT_ABORTED.value not in _actions(admin, item)
