"""Issue 13 item 2: ENOSPC, EIO, EROFS and EFBIG at the writes, fsyncs and renames of every writing operation.

Injected by the LD_PRELOAD shim (faults.py), once and persistently; plus a real full file system (a 1 MiB tmpfs
in a private mount namespace) and a real EFBIG (RLIMIT_FSIZE). The default suite injects a sample; the slow
run (``ICSPA_SLOW_TESTS=1``, docs/reliability.md) every point of every operation, and prints the figures.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bundle.exchange import tree_digest
from tests.reliability import known, realfs
from tests.reliability.conftest import slow, swept_operations
from tests.reliability.crash import Harness, check_scene
from tests.reliability.faults import FaultHarness, FaultPoint, FaultReport, message_problems
from tests.reliability.scenes import OPERATIONS
from tests.reliability.summary import fault_summary

SAMPLE = ("ingest", "bundle-export")
SAMPLE_EVERY = 15


def _sweep(fault_harness: FaultHarness, names: tuple[str, ...], every: int, both: bool) -> list[FaultReport]:
    reports = [fault_harness.sweep(OPERATIONS[name], every, progress=every == 1, both=both) for name in names]
    print("\n" + fault_summary(reports))
    for report in reports:
        assert report.injected == len(report.outcomes), f"{report.operation}: a fault point was never reached"
    new = [(r.operation, o.fault.label(), known.unknown(o.problems)) for r in reports for o in r.outcomes
           if known.unknown(o.problems)]
    assert not new, new
    return reports


def test_a_sample_of_io_faults_is_handled(fault_harness: FaultHarness) -> None:
    reports = _sweep(fault_harness, SAMPLE, SAMPLE_EVERY, both=False)
    errnos = {o.fault.errno for r in reports for o in r.outcomes}
    assert errnos == {"ENOSPC", "EIO", "EROFS", "EFBIG"}
    assert any(o.returncode != 0 for r in reports for o in r.outcomes)


@slow
def test_every_io_fault_of_every_operation(fault_harness: FaultHarness) -> None:
    _sweep(fault_harness, swept_operations(tuple(OPERATIONS)), 1, both=True)


# ---- a real full file system, a real file size limit ----------------------------------------------------------


def _clean_failure(harness: Harness, root: Path, name: str, done: subprocess.CompletedProcess[str],
                   errno: str) -> list[str]:
    """Problems of a command that met a real ENOSPC / EFBIG: its message, and the scene at the next unlock."""
    problems = message_problems(done.stderr, done.returncode, errno)
    op = OPERATIONS[name]
    problems += [f"published-then-failed: {o}" for o in op.outputs if (root / o).exists()]
    check = check_scene(root, op, harness.count(op), harness.known_media)
    problems += check.problems + [f"stray: {p}" for p in check.partials]
    if name == "ingest" and check.state != "old":
        problems.append(f"not-old-after-failure: {check.state}")
    return problems


@pytest.mark.parametrize(("name", "target"), [("bundle-export", "usb"), ("extract", "out"), ("ingest", "nl")])
def test_a_real_full_file_system(harness: Harness, name: str, target: str) -> None:
    """The medium (a 1 MiB tmpfs) or the vault's own file system (a tmpfs 300 KiB larger than the vault) fills up."""
    if not realfs.unshare_works():
        pytest.skip("unshare -Urm with a tmpfs is not available (user namespaces disabled?)")
    root = harness.fresh(f"{name}-tmpfs")
    report = root.parent / f"{root.name}-report"
    seed = root / target if target == "nl" else None
    size = "1m" if seed is None else f"{sum(p.stat().st_size for p in seed.rglob('*') if p.is_file()) // 1024 + 300}k"
    before = tree_digest(root / "nl")
    done = realfs.run_on_tmpfs(OPERATIONS[name], root, root / target, size, report, seed)
    assert done.returncode not in (97, 98), done.stderr  # the mount or the copy failed: not the test's subject
    assert done.returncode != 0, f"{name} fitted on {size}: nothing was tested"
    if seed is not None:  # the vault as the command left it on the tmpfs replaces the untouched copy
        shutil.rmtree(root / target)
        shutil.copytree(report / "after", root / target, symlinks=True)
        assert tree_digest(root / "nl") == before, "the vault changed after the failure"
    else:
        assert (report / "listing").read_text() == "", f"left on the full medium: {(report / 'listing').read_text()}"
    problems = _clean_failure(harness, root, name, done, "ENOSPC")
    assert not problems, problems


@pytest.mark.parametrize("name", ["bundle-export", "extract", "ingest"])
def test_a_file_size_limit_like_fat32(harness: Harness, name: str) -> None:
    """RLIMIT_FSIZE of 1 MiB: the 1.2 MB bundle, extraction or blob cannot be written (EFBIG), like a 4 GiB+
    file on FAT32."""
    root = harness.fresh(f"{name}-efbig")
    before = tree_digest(root / "nl")
    done = realfs_run(harness, name, root)
    assert done.returncode != 0, f"{name} wrote everything under a 1 MiB limit: nothing was tested"
    if name == "ingest":  # before the checks: their unlocks may write
        assert tree_digest(root / "nl") == before, "the vault changed after the failure"
    problems = _clean_failure(harness, root, name, done, "EFBIG")
    assert not problems, problems


def realfs_run(harness: Harness, name: str, root: Path) -> subprocess.CompletedProcess[str]:
    from tests.reliability import crash

    return crash.run(OPERATIONS[name], root, preexec=realfs.file_size_limit(1 << 20))


# ---- one test per bug the harness found (tests/reliability/known.py FIXED): each passes now ---------------------


def _inject(fault_harness: FaultHarness, name: str, kind: str, where: str, which: int, errno: str,
            persist: bool = False, call: str = "") -> list[str]:
    op = OPERATIONS[name]
    point = fault_harness.harness.find(op, kind, where, which, call)
    outcome = fault_harness.inject(op, FaultPoint(point, errno, persist), fault_harness.harness.count(op))
    assert outcome.injected, f"{point.label()} was not reached"
    return outcome.problems


def test_a_disk_io_error_in_the_database_is_one_clear_line(fault_harness: FaultHarness) -> None:  # db-io-message
    problems = _inject(fault_harness, "case-edit", "fsync", "nl/metadata.db-wal", 0, "EIO")
    assert not problems, problems


def test_a_user_add_whose_commit_fails_leaves_the_key_slots_as_they_were(  # slots-after-failure
        fault_harness: FaultHarness) -> None:
    problems = _inject(fault_harness, "user-add", "fsync", "nl/metadata.db-wal", 0, "ENOSPC")
    assert not problems, problems


def test_a_user_add_on_a_disk_that_keeps_failing_leaves_the_key_slots_as_they_were(  # slots-after-failure
        fault_harness: FaultHarness) -> None:
    problems = _inject(fault_harness, "user-add", "fsync", "nl/metadata.db-wal", 0, "ENOSPC", persist=True)
    assert not problems, problems


def test_a_receipt_that_cannot_be_written_is_not_recorded_as_issued(  # receipt-recorded-unwritten
        fault_harness: FaultHarness) -> None:
    # O_TMPFILE: the receipt has no name on the medium until it is complete ("usb/#INODE (deleted)").
    problems = _inject(fault_harness, "receipt", "write", "usb/#*", 0, "ENOSPC")
    assert not problems, problems


def test_a_rekey_that_fails_on_disk_is_not_reported_as_done(fault_harness: FaultHarness) -> None:  # rekey-swallowed
    # Fails with "finished at the next unlock"; faults.py checks that the next unlock did finish it.
    problems = _inject(fault_harness, "rekey", "write", "nl/metadata.db-wal", -1, "EIO", persist=True)
    assert not problems, problems


def test_an_extraction_reported_failed_leaves_no_plaintext_under_the_final_name(  # published-then-failed
        fault_harness: FaultHarness) -> None:
    # The directory fsync after the partial file was renamed to out/image-1.bin.
    problems = _inject(fault_harness, "extract", "fsync", "out", -1, "EIO")
    assert not problems, problems


def test_an_export_that_fails_after_publishing_leaves_nothing_unrecorded_on_the_media(  # published-then-failed
        fault_harness: FaultHarness) -> None:
    harness = fault_harness.harness
    op = OPERATIONS["bundle-export"]
    last_on_media = harness.find(op, "write", "usb/*", -1).nth
    point = next(p for p in harness.points(harness.count(op))
                 if p.kind == "write" and p.where == "nl/metadata.db-wal" and p.nth > last_on_media)
    outcome = fault_harness.inject(op, FaultPoint(point, "ENOSPC", False), harness.count(op))
    assert not outcome.problems, outcome.problems


def test_a_witness_that_cannot_be_written_is_one_warning_line_without_temporary_names(  # witness-warning
        fault_harness: FaultHarness) -> None:
    problems = _inject(fault_harness, "annotate", "rename", "witness/*.head", 0, "EROFS")
    assert not problems, problems


def test_a_full_disk_at_unlock_is_not_reported_as_a_wrong_key_or_damaged_database(  # open-misreported
        fault_harness: FaultHarness) -> None:
    problems = _inject(fault_harness, "case-edit", "write", "nl/metadata.db-shm", 0, "ENOSPC")
    assert not problems, problems


def test_a_failing_syncfs_names_its_cause(fault_harness: FaultHarness) -> None:  # syncfs-message
    problems = _inject(fault_harness, "bundle-import", "fsync", "de/staging", 0, "EIO", call="syncfs")
    assert not problems, problems


def test_a_disable_whose_rotation_fails_says_the_disable_is_recorded(fault_harness: FaultHarness) -> None:
    """The exhaustive run: a fault in the rotation after the disable committed printed 'the unfinished step changed
    nothing'; now the line says the user is disabled and the key still to be rotated (and unlocks remind)."""
    op = OPERATIONS["user-disable"]
    point = fault_harness.harness.find(op, "write", "nl/.keyslots.json.tmp-*")
    outcome = fault_harness.inject(op, FaultPoint(point, "ENOSPC", False), fault_harness.harness.count(op))
    assert outcome.injected and outcome.returncode == 5
    assert "is disabled (recorded in the custody log)" in outcome.stderr and "vault rekey" in outcome.stderr
    assert not outcome.problems, outcome.problems


def test_a_rekey_that_fails_once_is_finished_at_once(fault_harness: FaultHarness) -> None:
    """A passing disk fault inside PRAGMA rekey: the rotation tries again and finishes (exit 0, new key)."""
    problems = _inject(fault_harness, "rekey", "write", "nl/metadata.db-wal", -1, "EIO")
    assert not problems, problems
