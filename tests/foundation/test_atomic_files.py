"""icspa_desktop/files.py (writing): state files replaced old-or-new, outputs published complete-or-absent,
temporaries of killed writers swept (issue 13: the bugs the reliability harness found, known.py FIXED)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from icspa_desktop import files as atomic


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def test_create_new_publishes_complete_and_never_replaces(tmp_path: Path) -> None:
    out = tmp_path / "receipt.txt"
    atomic.create_new(out, b"signed receipt\n")
    assert out.read_bytes() == b"signed receipt\n" and (out.stat().st_mode & 0o777) == 0o600
    assert os.listdir(tmp_path) == ["receipt.txt"]  # no temporary name was ever made
    with pytest.raises(FileExistsError) as refused:
        atomic.create_new(out, b"other")
    assert refused.value.filename == str(out)  # the user's path, not /proc/self/fd/N
    assert out.read_bytes() == b"signed receipt\n"


def test_create_new_takes_the_file_back_when_its_name_cannot_be_made_durable(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync_dir(path: Path) -> None:
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(atomic, "fsync_dir", failing_fsync_dir)
    with pytest.raises(OSError, match="Input/output error"):
        atomic.create_new(tmp_path / "receipt.txt", b"x")
    assert os.listdir(tmp_path) == []  # a reported failure leaves no output


def test_atomic_write_leaves_no_temporary_when_the_rename_fails(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.mkdir()  # os.replace of a file over a folder fails (EISDIR)
    with pytest.raises(OSError):
        atomic.atomic_write(target, b"{}")
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_the_next_writer_sweeps_what_a_killed_one_left_and_spares_the_living(tmp_path: Path) -> None:
    dead = tmp_path / f".keyslots.json.tmp-{_dead_pid()}"
    dead.write_bytes(b"a slot for a user the database never got")
    alive = tmp_path / f".keyslots.json.tmp-{os.getppid()}"  # a running process (our parent)
    alive.write_bytes(b"being written")
    other = tmp_path / f".witness.head.tmp-{_dead_pid()}"
    other.write_bytes(b"another file's")
    atomic.atomic_write(tmp_path / "keyslots.json", b"{}")
    assert not dead.exists() and alive.exists() and other.exists()  # only the same file's, only the dead's
    assert atomic.sweep_temps(tmp_path) == [other.name]
    assert sorted(os.listdir(tmp_path)) == sorted(["keyslots.json", alive.name])


def test_place_new_refuses_an_existing_name(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"new")
    (tmp_path / "b").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        atomic.place_new(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"old" and (tmp_path / "a").exists()
    atomic.place_new(tmp_path / "a", tmp_path / "c")
    assert (tmp_path / "c").read_bytes() == b"new" and not (tmp_path / "a").exists()
