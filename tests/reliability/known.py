"""Product bugs the reliability harness found, by category. While a bug is open it is listed in KNOWN_BUGS: a sweep
tolerates it (and prints it) and a strict xfail test of its own pins it; once fixed it moves to FIXED and its test
asserts a clean scene. Any category not in KNOWN_BUGS fails a sweep.

A problem is a string ``"category: detail"``; ``category`` is one of the keys below or of ``UNKNOWN`` ones
(vault-check, custody-verify, half-item, orphan, fixity, stray, incomplete-output, command-exit, message,
changed-after-failure, not-old-after-failure, not-new-after-success).
"""

from __future__ import annotations

KNOWN_BUGS: dict[str, str] = {
}  # a sweep fails on any other problem it meets

# The product bugs the harness found (2026-11-30) and how each was fixed; each has a test of its own in
# test_crash_points.py / test_io_faults.py that reproduces the scene and asserts no problem at all.
FIXED: dict[str, str] = {
    "stray-temp": "atomic_write removed its temporary only after a failed write or fsync, and a kill left "
                  "'.NAME.tmp-PID' (a key-slot copy holding a failed 'user add''s slot, witness files, a receipt "
                  "beside its final name). Now: removed after any failure before the rename; the next writer of "
                  "the same file removes those of dead processes (files.sweep_temps), and every unlock "
                  "those in the vault folder; new outputs (receipts, seals) are written with O_TMPFILE and linked "
                  "into place (atomic.create_new), so they have no name until complete.",
    "false-alarm": "'vault check' right after a rekey killed mid-checkpoint reported 90 damaged pages: "
                   "cipher_integrity_check reads the database file, not the WAL, and the checkpoint had not "
                   "reached those pages. db.integrity_check checkpoints the WAL first.",
    "unrotated-disable": "A disable whose rotation was killed or failed was silent. The signed log now says so: "
                         "userstate.unrotated_disables (a disable after the last 'vault_key_rotated'), warned at "
                         "every administrator's unlock ('… run icspa vault rekey').",
    "rekey-swallowed": "PRAGMA rekey failing on disk went unnoticed. rotation._rekey_database reopens the "
                       "database with the new key to prove it; if it does not open, the command fails saying "
                       "the rotation is recorded and finished at the next unlock (which it is: faults.py checks).",
    "export-unrecorded": "A killed export left no bundles_sent row. Schema 9 journals the export ('writing', with "
                         "its folder and process) in the transaction of its 'bundled' events; 'bundle list' shows "
                         "a row of a dead process as 'interrupted', with where to look.",
    "published-then-failed": "Outputs stayed under their final name after a reported failure: extraction's "
                             "directory fsync is now after 'placed' (the file is removed again), create_new and "
                             "place_without_replacing unlink on a failed directory fsync, and an export whose "
                             "outcome cannot be committed removes the bundle and its seal.",
    "receipt-recorded-unwritten": "The receipt is written inside the transaction that records it; a failed "
                                  "commit removes it again.",
    "slots-after-failure": "keyslots.json was saved before the commit it belongs to: a failed commit kept the new "
                           "slot, and on a disk that keeps failing it could not be put back. Schema 10 keeps the "
                           "committed copy of the file in the database: KeySlotFile.change stores it in the change's "
                           "own transaction and writes the file only after the commit (user add, passphrase change, "
                           "recovery, box key, repair, enable, rotation — whose rekey waits for the file); a file "
                           "not written after the commit is written from that copy at the next unlock.",
    "db-io-message": "SQLite's disk errors reached the error boundary as 'unexpected error (OperationalError)'. "
                     "db.storage_error turns them into one line naming the cause where the disk tells it "
                     "(statvfs: read-only, full; RLIMIT_FSIZE) and SQLite's own text otherwise — SQLite keeps the "
                     "errno of an I/O error to itself, so an injected EIO/EFBIG/EROFS in its files reads 'disk "
                     "I/O error' with the possible causes listed.",
    "open-misreported": "A disk fault while SQLite set up the WAL index at open was reported as a wrong key / "
                        "damaged first page; only SQLITE_NOTADB ('file is not a database') means that now.",
    "syncfs-message": "syncfs raised OSError(errno, 'syncfs failed'); it now raises the errno's own text and the "
                      "file system's path.",
    "witness-warning": "A witness not written at lock printed a raw second line with a temporary name; it is now "
                       "'icspa: warning: your witness … could not be written to PATH (cause)' (every session "
                       "warning is printed with 'icspa: warning:').",
}


# Problems that would mean evidence or its record is lost or damaged (the "0 data lost").
DATA_LOSS = {"vault-check", "custody-verify", "half-item", "orphan", "fixity", "incomplete-output"}


def category(problem: str) -> str:
    return problem.split(":", 1)[0]


def data_lost(problems: list[str]) -> bool:
    return any(category(p) in DATA_LOSS for p in problems)


def unknown(problems: list[str]) -> list[str]:
    """The problems that are not known product bugs (a sweep fails on these)."""
    return [p for p in problems if category(p) not in KNOWN_BUGS]


class KnownBug(AssertionError):
    """The failure a strict xfail test expects: a known product bug still there (others fail for real)."""


def expect_fixed(problems: list[str], name: str) -> None:
    """Raise ``KnownBug`` while ``problems`` hold the bug ``name``; anything not known fails outright."""
    assert not unknown(problems), problems  # a plain AssertionError: not what the xfail expects
    hits = [p for p in problems if category(p) == name]
    if hits:
        raise KnownBug(f"{KNOWN_BUGS[name]}\n  seen: {hits}")
