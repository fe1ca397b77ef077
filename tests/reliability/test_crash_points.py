"""Issue 13 item 1: SIGKILL every writing operation at its writes, fsyncs, renames and custody records.

The default suite kills a sample (every 9th point of three operations); ``ICSPA_SLOW_TESTS=1`` kills every point
of every operation and prints the figures (docs/reliability.md). Known product bugs (tests/reliability/known.py)
are tolerated by the sweeps and pinned by the strict xfail tests below; any other problem fails the sweep.
"""

from __future__ import annotations

import pytest

from tests.reliability import known
from tests.reliability.conftest import slow, swept_operations
from tests.reliability.crash import Harness, OperationReport
from tests.reliability.scenes import OPERATIONS
from tests.reliability.summary import crash_summary

SAMPLE = ("ingest", "user-add", "receipt")
SAMPLE_EVERY = 9


def _sweep(harness: Harness, names: tuple[str, ...], every: int) -> list[OperationReport]:
    reports = []
    for name in names:
        report = harness.sweep(OPERATIONS[name], every, progress=every == 1)
        assert report.exercised > 0, f"{name}: no crash point was reached"
        reports.append(report)
    print("\n" + crash_summary(reports))
    return reports


def test_a_sample_of_crash_points_leaves_old_or_new_state_and_a_vault_that_checks(harness: Harness) -> None:
    reports = _sweep(harness, SAMPLE, SAMPLE_EVERY)
    new = [(r.operation, o.point.label(), known.unknown(o.check.problems)) for r in reports for o in r.outcomes
           if known.unknown(o.check.problems)]
    assert not new, new
    # Atomic operations show the state before or after, never a mix (the row counts of every table).
    assert all(o.check.state in ("old", "new") for r in reports for o in r.outcomes), [
        (r.operation, o.point.label(), o.check.state) for r in reports for o in r.outcomes]
    ingest = reports[0]
    if harness.library is not None:  # SQLite's own writes are crash points too
        assert ingest.counts["write"] > 50 and ingest.counts["fsync"] >= 10 and ingest.counts["rename"] >= 2
    assert any(o.check.quarantined for o in ingest.outcomes), "no kill left a blob to quarantine: untested"


@slow
def test_every_crash_point_of_every_operation(harness: Harness) -> None:
    reports = _sweep(harness, swept_operations(tuple(OPERATIONS)), 1)
    new = [(r.operation, o.point.label(), known.unknown(o.check.problems)) for r in reports for o in r.outcomes
           if known.unknown(o.check.problems)]
    assert not new, new
    assert all(r.exercised == sum(r.counts.values()) for r in reports if harness.library is not None), [
        (r.operation, r.exercised, r.counts) for r in reports]


# ---- one test per bug the harness found: fixed ones pass; a known one fails (xfail) while it is there --------


def test_a_kill_before_the_key_slot_rename_leaves_no_temp_file_in_the_vault(harness: Harness) -> None:
    op = OPERATIONS["user-add"]
    if harness.library is None:
        pytest.skip("needs the shim (a kill before a rename, wherever the rename is called from)")
    point = harness.find(op, "rename", "nl/keyslots.json")
    outcome = harness.crash(op, point, harness.count(op))
    assert outcome.killed
    assert not outcome.check.problems, outcome.check.problems  # was: known bug stray-temp


def test_the_first_vault_check_after_an_interrupted_rekey_reports_no_damage(harness: Harness) -> None:
    if harness.library is None:
        pytest.skip("needs the shim (a kill inside SQLCipher's rekey)")
    op = OPERATIONS["rekey"]
    outcome = harness.crash(op, harness.find(op, "write", "nl/metadata.db", -1), harness.count(op))
    assert outcome.killed
    assert not outcome.check.problems, outcome.check.problems  # was: known bug false-alarm


def test_a_disable_killed_before_its_rotation_is_reported_at_the_next_unlock(harness: Harness) -> None:
    op = OPERATIONS["user-disable"]
    # The rotation's record: the disable is committed, the rotation's transaction dies before COMMIT.
    outcome = harness.crash(op, harness.find(op, "record", "", -1), harness.count(op))
    assert outcome.killed and outcome.check.state != "old"
    assert not outcome.check.problems, outcome.check.problems  # was: known bug unrotated-disable


def test_a_bundle_complete_on_the_media_is_recorded_after_a_kill(harness: Harness) -> None:
    if harness.library is None:
        pytest.skip("needs the shim (a kill after the media's directory fsync)")
    op = OPERATIONS["bundle-export"]
    outcome = harness.crash(op, harness.find(op, "fsync", "usb", -1), harness.count(op), keep=True)
    assert outcome.killed
    assert not [p for p in outcome.check.problems if known.category(p) == "incomplete-output"]  # it is complete
    assert not outcome.check.problems, outcome.check.problems  # was: known bug export-unrecorded


def test_a_kill_while_a_witness_checkpoint_is_written_leaves_no_temporary(harness: Harness) -> None:
    """The next unlock sweeps the witness folder's temporaries of dead processes (found by the exhaustive run
    once the vault's own were swept: witness/.VAULT.checkpoint.pending.tmp-PID)."""
    op = OPERATIONS["checkpoint"]
    if harness.library is None:
        pytest.skip("needs the shim (a kill at a write to the witness folder)")
    point = harness.find(op, "write", "witness/*.checkpoint.pending.tmp-*")
    outcome = harness.crash(op, point, harness.count(op))
    assert outcome.killed
    assert not outcome.check.problems, outcome.check.problems
