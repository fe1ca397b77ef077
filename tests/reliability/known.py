"""Product bugs the reliability harness found, by category: a sweep tolerates these (and prints them); each has
a strict xfail test of its own (test_crash_points.py, test_io_faults.py) that starts passing, and so fails,
once the bug is fixed. Any other category a sweep meets fails it.

A problem is a string ``"category: detail"``; ``category`` is one of the keys below or of ``UNKNOWN`` ones
(vault-check, custody-verify, half-item, orphan, fixity, stray, incomplete-output, command-exit, message,
changed-after-failure, not-old-after-failure, not-new-after-success).
"""

from __future__ import annotations

KNOWN_BUGS: dict[str, str] = {
    "stray-temp": (
        "vault/atomic.py atomic_write leaves its '.NAME.tmp-PID' file when the process dies between creating it "
        "and os.replace, and also when os.replace itself fails (it only cleans up after a failed write or fsync). "
        "Nobody sweeps these names: not unlock (only staging/ and orphan blobs go to quarantine/), not 'vault "
        "check'. Seen as nl/.keyslots.json.tmp-PID in the vault (user add, user disable, vault rekey — a key-slot "
        "file; after 'user add' it holds the new user's slot, which wraps the master key under that passphrase, "
        "for a user the database never got), witness/.VAULT.USER.head.tmp-PID and "
        "witness/.VAULT.checkpoint.pending.tmp-PID (every command's lock; checkpoint, bundle export), and "
        "usb/.receipt-new.txt.tmp-PID beside a receipt on the media."),
    "false-alarm": (
        "After a master-key rotation was interrupted between its commit and the end of PRAGMA rekey (user "
        "disable, vault rekey: killed, or the rekey failed), the next unlock finishes the rekey on its connection "
        "(vault/store.py _open_with_any) and keeps using it; PRAGMA cipher_integrity_check on a connection that "
        "ran PRAGMA rekey reports an HMAC failure for every page (reproduced on a healthy vault too), so the first "
        "'icspa vault check' says 'The vault database has 90 integrity problem(s).' (exit 1) although the data "
        "is intact: a second check passes. Reopening the connection after the rekey avoids it."),
    "unrotated-disable": (
        "'icspa user disable' commits the disable, then rotates the master key in separate steps: killed (or "
        "failing, e.g. ENOSPC) in between, the user is disabled but the master key is not rotated — their old "
        "key slot, or a copy of keyslots.json, still yields the master key that opens the database — and nothing "
        "says so: vault status, vault check and custody verify are clean at the next unlock; after a failure the "
        "line even says 'the unfinished step changed nothing'. Nothing prompts 'icspa vault rekey'."),
    "rekey-swallowed": (
        "services/rotation.py: when PRAGMA rekey fails (an I/O error on the database's disk), the failure is not "
        "noticed: 'icspa vault rekey' / 'user disable' print 'The vault master key was rotated' and exit 0 while "
        "the database file is still encrypted under the old master key (the one a disabled user's old slot "
        "yields) until some user's next unlock finishes it."),
    "export-unrecorded": (
        "bundle export records the items' 'bundled' events, then writes the media, then records the outcome "
        "(bundles_sent). Killed in between, or failing with an error that is not an IcspaError (a database I/O "
        "error), no outcome is recorded: 'bundle list' does not show the bundle, and when the kill came after "
        "the rename a complete, valid bundle with its seal sits on the media without any record that it left."),
    "published-then-failed": (
        "A command reports a failure after its output got its final name, and leaves the output there: "
        "'evidence extract' whose directory fsync after the rename fails (EIO, EFBIG…) says 'Extracting … failed: "
        "Input/output error. Nothing was written to out/' and records export_aborted, but the complete plaintext "
        "copy of the evidence stays at out/NAME; 'bundle receipt' (atomic_write's fsync_dir after os.replace) "
        "leaves the receipt and its 'receipt_issued' record; 'bundle export' whose outcome commit fails (e.g. "
        "ENOSPC on the vault's disk) exits 5 'the unfinished step changed nothing' but leaves the complete bundle "
        "under its final name on the media, unrecorded."),
    "receipt-recorded-unwritten": (
        "bundle receipt commits 'receipt_issued' (and receipt_issued_at) before writing the file: when the write "
        "fails (ENOSPC, EIO, a read-only stick) the command exits 5, but the custody log says a receipt was "
        "issued that does not exist; killed there, the same."),
    "slots-after-failure": (
        "user add (and the rotation of user disable / vault rekey) saves keyslots.json before its database "
        "commit; when the commit fails with an I/O error, the new slot (a slot for a user the database does not "
        "have, or the staged new master key) stays in keyslots.json: the vault is changed after a failed "
        "command, and 'vault check' reports a key slot without a user."),
    "db-io-message": (
        "An I/O error inside SQLite other than a full disk (EIO 'disk I/O error', EROFS 'attempt to write a "
        "readonly database', EFBIG) reaches the CLI's error boundary as sqlite3.OperationalError: 'icspa: "
        "unexpected error (OperationalError); nothing more was done. Details: …log' — exit 5, but no cause, "
        "and a crash-log entry for an ordinary disk fault (only 'database or disk is full' is translated)."),
    "open-misreported": (
        "vault/db.py open_database: an I/O error while SQLite sets up the WAL index at open (a failing write to "
        "metadata.db-shm: ENOSPC, EIO, EROFS, EFBIG) is reported as 'The vault database … does not open with this "
        "vault's key: it belongs to another vault, or its first page is damaged. Restore it from a backup' — the "
        "database is intact, the disk is full or read-only; the advice to restore a backup is wrong and costly."),
    "syncfs-message": (
        "vault/atomic.py syncfs raises OSError(errno, 'syncfs failed'): the errno's text is replaced, so a failing "
        "syncfs while a bundle import makes its staged blobs durable (EIO, EFBIG, EROFS) reads 'icspa: syncfs "
        "failed: while reading or writing a file' — neither the cause nor the file system is named."),
    "witness-warning": (
        "When the user's witness cannot be written at lock, stderr gets a second line 'Your witness of the "
        "custody log could not be written ([Errno 30] Read-only file system: '/…/.VAULT.USER.head.tmp-PID' -> "
        "'…'))' — without the 'icspa:' prefix, with Python's exception text and the temporary name that "
        "docs/cli.md says an error never shows."),
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
