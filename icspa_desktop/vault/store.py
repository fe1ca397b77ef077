"""Create, open, unlock and lock a vault directory."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from icspa_desktop.crypto import keys
from icspa_desktop.domain.errors import AuthenticationError, Conflict, VaultError, VaultLocked, _
from icspa_desktop.domain.ids import VaultId, new_id
from icspa_desktop.files import atomic_write, fsync_dir, make_private_dir, sweep_temps
from icspa_desktop.vault import blobs, db, keyslots
from icspa_desktop.vault.keyslots import KeySlotFile, Unlocked
from icspa_desktop.vault.layout import (
    Dir,
    Quarantine,
    QuarantinedFile,
    VaultLayout,
    check_layout,
    entry_kind,
    refusal,
)
from icspa_desktop.vault.lockfile import VaultLock
from icspa_desktop.vault.migrations import MIGRATIONS, Migration, migrate, schema_version

HEADER_FORMAT = "icspa-vault"
HEADER_VERSION = 1
_INIT_PREFIX = ".icspa-init-"
_HEADER_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class VaultHeader:
    vault_id: VaultId
    version: int
    created_at: str

    def to_bytes(self) -> bytes:
        doc = {"format": HEADER_FORMAT, "version": self.version, "vault_id": self.vault_id,
               "created_at": self.created_at}
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def load(cls, layout: VaultLayout) -> VaultHeader:
        if not layout.root.is_dir():
            raise VaultError(_("No vault at {root}. Create one with 'icspa vault init'.", root=layout.root))
        try:
            fd = os.open(layout.header, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                raw = json.loads(handle.read(_HEADER_MAX))
        except FileNotFoundError:
            raise VaultError(_("{root} is not an ICSPA vault (no vault.json).", root=layout.root)) from None
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" nested too deep
            raise VaultError(_("The vault header {header} is unreadable or damaged.", header=layout.header)) from exc
        if not isinstance(raw, dict) or raw.get("format") != HEADER_FORMAT:
            raise VaultError(_("{root} is not an ICSPA vault.", root=layout.root))
        version = raw.get("version")
        if type(version) is not int or version != HEADER_VERSION:
            raise VaultError(_("Vault format version {version!r} is not supported by this program.",
                               version=version))
        vault_id, created_at = raw.get("vault_id"), raw.get("created_at")
        if not isinstance(vault_id, str) or not vault_id or not isinstance(created_at, str):
            raise VaultError(_("The vault header {header} is damaged (its vault id or creation time is missing).",
                               header=layout.header))
        return cls(VaultId(vault_id), version, created_at)


class UnlockedVault:
    """An unlocked vault: open database, master key in memory. ``close()`` drops both.

    ``quarantined`` lists what this unlock moved into ``quarantine/`` instead of deleting it.
    ``read_only_reason`` says why the vault was opened read-only (None when it is writable).
    """

    def __init__(self, layout: VaultLayout, header: VaultHeader, slots: KeySlotFile, master_key: bytes,
                 conn: db.Connection, lock: VaultLock, quarantined: tuple[QuarantinedFile, ...] = (),
                 read_only_reason: str | None = None) -> None:
        self.layout = layout
        self.header = header
        self.keyslots = slots
        self.quarantined = quarantined
        self.read_only_reason = read_only_reason
        # Unfinished writes found in staging/ that a read-only vault had to leave where they are.
        self.leftovers_kept = 0
        # True when this unlock opened the vault with a key a rotation left in the user's slot.
        self.adopted_rotation = False
        # Why stray files were left in place at this unlock (a witness shows a rollback), or None.
        self.cleanup_held: str | None = None
        # Key slots keyslots.json held that the database never committed, dropped at this unlock (slot ids).
        self.slots_dropped: tuple[str, ...] = ()
        # The database's copy of keyslots.json did not parse: replaced by the file this unlock used.
        self.slot_copy_replaced = False
        self._master_key: bytearray | None = bytearray(master_key)
        self._conn: db.Connection | None = conn
        self._lock = lock
        self._reader: db.Connection | None = None  # opened by the first long read of a view (``reader``)
        self._reader_lock = threading.Lock()

    @property
    def conn(self) -> db.Connection:
        if self._conn is None:
            raise VaultLocked(_("The vault is locked; unlock it again."))
        return self._conn

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def read_only_refusal(self, what: str) -> VaultError:
        """The one-line refusal of ``what`` (a step that would write) on this read-only vault."""
        return VaultError(_("The vault {root} is read-only ({cause}): {what}; nothing was changed.",
                            root=self.layout.root, cause=self.read_only_reason, what=what))

    @property
    def master_key(self) -> bytes:
        if self._master_key is None:
            raise VaultLocked(_("The vault is locked; unlock it again."))
        return bytes(self._master_key)

    def replace_master(self, new_master: bytes) -> None:
        """After a rotation's rekey: the new key is the one in memory (the old copy is overwritten)."""
        if self._master_key is None:
            raise VaultLocked(_("The vault is locked; unlock it again."))
        for i in range(len(self._master_key)):
            self._master_key[i] = 0
        self._master_key = bytearray(new_master)

    @contextlib.contextmanager
    def reader(self) -> Iterator[db.Connection]:
        """The read-only second connection with our SQL functions (``db.open_reader``), held by one thread at a
        time: the views' sorts and filters run there, and a GUI-thread query on ``conn`` never waits for them."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = db.open_reader(self.layout.database, self.subkey(keys.PURPOSE_SQLCIPHER),
                                              read_only=self.read_only)
            yield self._reader

    def _close_reader(self) -> None:
        with self._reader_lock:  # after the read under way, if any (a lock waits for its workers first anyway)
            if self._reader is not None:
                with contextlib.suppress(db.DatabaseError):
                    self._reader.close()
                self._reader = None

    def reopen_database(self, sqlcipher_key: bytes) -> None:
        """Close the database connection and open a new one with ``sqlcipher_key`` (after a rekey);
        ``db.KeyMismatch`` if the file does not open with it (then the vault has no connection until a
        reopen with the key that fits)."""
        self._close_reader()
        if self._conn is not None:
            with contextlib.suppress(db.DatabaseError):
                self._conn.close()
            self._conn = None
        self._conn = db.open_database(self.layout.database, sqlcipher_key, read_only=self.read_only)

    def subkey(self, purpose: str) -> bytes:
        return keys.derive_subkey(self.master_key, purpose)

    def close(self) -> None:
        """Lock: close the database, overwrite the master key copy we own, release the process lock."""
        self._close_reader()
        if self._conn is not None:
            with contextlib.suppress(db.DatabaseError):
                self._conn.close()
            self._conn = None
        if self._master_key is not None:
            for i in range(len(self._master_key)):
                self._master_key[i] = 0
            self._master_key = None
        self._lock.release()


def vault_exists(path: Path) -> bool:
    return VaultLayout(path).header.exists()


def _clean_stale_inits(parent: Path) -> None:
    # Leftovers of an init killed before its final rename: encrypted and never visible as a vault.
    for stale in parent.glob(_INIT_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


Populate = Callable[[UnlockedVault], None]


def create(path: Path, populate: Populate, migrations: list[Migration] | None = None) -> None:
    """Build a complete vault in a hidden sibling directory and move it into place in one rename.

    ``populate`` receives the unlocked new vault (schema in place) and adds key slots, the first
    user and the first custody events. A crash before the rename leaves no vault at ``path``.
    """
    path = path.expanduser().absolute()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise Conflict(_("{path} already exists and is not empty; choose another vault location.", path=path))
    # Missing parents are created owner-only; an existing parent (/tmp, a home dir) keeps its mode.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _clean_stale_inits(path.parent)
    staging = path.parent / f"{_INIT_PREFIX}{path.name}-{secrets.token_hex(4)}"
    make_private_dir(staging)
    try:
        layout = VaultLayout(staging)
        header = VaultHeader(VaultId(new_id()), HEADER_VERSION, datetime.now(UTC).isoformat(timespec="seconds"))
        atomic_write(layout.header, header.to_bytes())
        make_private_dir(layout.blobs)
        make_private_dir(layout.staging)
        lock = VaultLock(layout.lock)
        lock.acquire()
        master = keys.new_master_key()
        conn = db.open_database(layout.database, keys.derive_subkey(master, keys.PURPOSE_SQLCIPHER), create=True)
        vault = UnlockedVault(layout, header, KeySlotFile.new(layout.keyslots, header.vault_id), master, conn, lock)
        try:
            migrate(conn, MIGRATIONS if migrations is None else migrations)
            populate(vault)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            vault.close()
        for name in os.listdir(staging):
            with contextlib.suppress(IsADirectoryError):
                fd = os.open(staging / name, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        fsync_dir(staging)
        if path.exists():
            path.rmdir()  # empty (checked above); rename cannot replace a directory portably
        os.rename(staging, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_only_reason(layout: VaultLayout) -> str | None:
    """Why the vault cannot be written (a read-only file system, no write permission), or None."""
    for path in (layout.root, layout.database):
        reason = db.read_only_reason(path)
        if reason is not None:
            return reason
    return None


def open_and_unlock(
    path: Path,
    unlock: Callable[[KeySlotFile], Unlocked | tuple[bytes, ...]],
    migrations: list[Migration] | None = None,
    rollback_check: Callable[[db.Connection, str], str | None] | None = None,
    *,
    read_only: bool | None = None,
) -> tuple[UnlockedVault, Unlocked | None]:
    """Check the layout, take the process lock, unlock with ``unlock`` (a passphrase or recovery
    attempt), open the DB, and move leftovers into ``quarantine/``. Nothing is deleted (DESIGN §2).

    ``read_only`` (None: decided by the file system, ``read_only_reason``): nothing in the vault is written —
    leftovers stay where they are, and a vault that needs a schema migration or the end of an interrupted
    key rotation is refused, since both write."""
    layout = VaultLayout(path.expanduser().absolute())
    check_layout(layout)
    header = VaultHeader.load(layout)
    reason = read_only_reason(layout) if read_only is None else (_("opened read-only") if read_only else None)
    lock = VaultLock(layout.lock)
    lock.acquire()
    conn: db.Connection | None = None
    dropped: tuple[str, ...] = ()
    kept: tuple[QuarantinedFile, ...] = ()
    replaced = False
    try:
        slots = KeySlotFile.load(layout.keyslots, header.vault_id)
        result = unlock(slots)

        def committed_slots(opened: db.Connection) -> tuple[bytes, ...]:
            """A rotation committed whose keyslots.json was not written (a crash, a failing disk) leaves the new
            master key only in the database's copy of the slots: unlock that copy too."""
            nonlocal slots, result
            stored = keyslots.stored_copy(opened)
            if stored is None or not slots.differs_from(stored):
                return ()
            newer = _parsed_copy(slots, stored)
            if newer is None:
                return ()
            try:
                again = unlock(newer)
            except AuthenticationError:
                return ()  # e.g. a passphrase change committed since: the file's slot opened the old key
            slots, result = newer, again
            return _masters(again)

        try:
            conn, master = _open_with_any(layout, _masters(result), reason, committed_slots)
        except db.KeyMismatch as exc:
            current = slots.key_check
            if (not isinstance(result, Unlocked) or result.rotated_master is not None or current is None
                    or keys.check_value(result.master_key) == current):
                raise
            raise AuthenticationError(
                _("Your passphrase is right, but your key no longer opens this vault: your account was disabled and "
                  "the vault key replaced since — ask an administrator. (If nobody was disabled, the database file "
                  "was replaced or damaged: restore it from a backup.)")) from exc
        known = MIGRATIONS if migrations is None else migrations
        if reason is not None and known and schema_version(conn) < known[-1].version:
            raise VaultError(_("The vault {root} is read-only ({cause}) and was made by an older version of this "
                               "program (schema version {schema_version}, this program's is {version}): bringing it "
                               "up to date writes to it. Open it once where it is writable; nothing was changed.",
                               root=layout.root, cause=reason, schema_version=schema_version(conn),
                               version=known[-1].version))
        migrate(conn, known)  # read-only: only its refusal of a newer schema, nothing to apply
        # The database is checked against the witnesses first: after a rollback the "orphan" blobs are the
        # newer evidence, and they stay where they are until someone looks (the session warns).
        held = rollback_check(conn, header.vault_id) if rollback_check is not None else None
        quarantined: tuple[QuarantinedFile, ...] = ()
        if reason is None:
            if not held:  # after a rollback the database's copy of the slots may be the older one: keep the file
                slots, dropped, kept, replaced = _reconcile_slots(layout, conn, slots)
            quarantined = kept + (() if held else _quarantine_leftovers(layout, conn))
            # Temporary copies of the vault's own small files (key slots, header) that a killed writer left: never
            # evidence, and a key-slot copy may hold a slot the database never got (a failed 'user add').
            sweep_temps(layout.root)
    except BaseException:
        if conn is not None:
            with contextlib.suppress(db.DatabaseError):
                conn.close()
        lock.release()
        raise
    vault = UnlockedVault(layout, header, slots, master, conn, lock, quarantined, reason)
    vault.cleanup_held = held
    vault.slots_dropped = dropped
    vault.slot_copy_replaced = replaced
    if reason is not None:
        vault.leftovers_kept = _count_leftovers(layout)
    if isinstance(result, Unlocked) and result.rotated_master == master:
        vault.adopted_rotation = True
    return vault, result if isinstance(result, Unlocked) else None


def _masters(result: Unlocked | tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The master keys an unlock yielded, newest first (a passphrase unlock or the recovery key's)."""
    return result.masters if isinstance(result, Unlocked) else result


def _parsed_copy(slots: KeySlotFile, stored: bytes) -> KeySlotFile | None:
    """The database's copy of the slots, or None when it does not parse (damaged, or written by hand with the
    master key): the file, which this unlock just used, is then the one to keep."""
    try:
        return slots.from_copy(stored)
    except VaultError:
        return None


def _reconcile_slots(layout: VaultLayout, conn: db.Connection, slots: KeySlotFile,
                     ) -> tuple[KeySlotFile, tuple[str, ...], tuple[QuarantinedFile, ...], bool]:
    """Make ``keyslots.json`` what the database committed (schema 10): write it out if a change's write after its
    commit did not happen; the first unlock after the upgrade stores the file's bytes as the first copy, and so
    does an unlock that finds the copy damaged (said at unlock: the last value). Also returns the ids of slots the
    file held and the database never committed (an edited file: said at unlock)."""
    stored = keyslots.stored_copy(conn)
    if stored is not None and not slots.differs_from(stored):
        return slots, (), (), False
    newer = None if stored is None else _parsed_copy(slots, stored)
    if newer is None:
        if stored is not None or keyslots.has_copy_table(conn):
            with db.transaction(conn):
                keyslots.store_copy(conn, slots.on_disk)
        return slots, (), (), stored is not None
    dropped = tuple(sorted(set(slots.slot_ids) - set(newer.slot_ids)))
    kept: tuple[QuarantinedFile, ...] = ()
    if dropped:  # nothing is deleted (DESIGN §2): the file as it was goes to quarantine/ for an administrator
        with Dir.open_root(layout.root) as root:
            quarantine = Quarantine(root)
            try:
                kept = (quarantine.keep_copy(root, layout.keyslots.name, ()),)
            finally:
                quarantine.close()
    newer.publish()
    return newer, dropped, kept, False


def _open_with_any(layout: VaultLayout, masters: tuple[bytes, ...],
                   read_only: str | None = None,
                   more_masters: Callable[[db.Connection], tuple[bytes, ...]] | None = None,
                   ) -> tuple[db.Connection, bytes]:
    """Open the database with the first master key that opens it; finish an interrupted rotation.

    After a rotation the newest key is tried first. Its commit stores the new key's check value before
    the SQLCipher rekey; if the process died in between, the old key opens a database whose content
    belongs to the new one, and the rekey is done now (refused when ``read_only`` says why the vault is)."""
    failure: db.KeyMismatch | None = None
    for master in masters:
        try:
            conn = db.open_database(layout.database, keys.derive_subkey(master, keys.PURPOSE_SQLCIPHER),
                                    read_only=read_only is not None)
        except db.KeyMismatch as exc:
            failure = failure or exc
            continue
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = 'vault.key_check'").fetchone()
        except db.DatabaseError:
            row = None  # a schema without settings (never in practice): nothing to finish
        if row is None or str(row[0]) == keys.check_value(master):
            return conn, master
        newer = next((m for m in masters if keys.check_value(m) == str(row[0])), None)
        if newer is None and more_masters is not None:
            newer = next((m for m in more_masters(conn) if keys.check_value(m) == str(row[0])), None)
        if newer is None:
            conn.close()
            raise VaultError(_("A master-key rotation of this vault did not finish, and your key slot does not hold "
                               "the new key; an administrator unlocks the vault once to finish it."))
        if read_only is not None:
            conn.close()
            raise VaultError(_("The vault {root} is read-only ({cause}) and a master-key rotation of it did not "
                               "finish: finishing it writes to the vault. Unlock it once where it is writable; "
                               "nothing was changed.", root=layout.root, cause=read_only))
        sqlcipher_key = keys.derive_subkey(newer, keys.PURPOSE_SQLCIPHER)
        try:
            conn.execute(f"PRAGMA rekey = \"x'{sqlcipher_key.hex()}'\"")
        finally:
            conn.close()
        # A fresh connection, proving the rekey took (as services/rotation.py does after its own).
        return db.open_database(layout.database, sqlcipher_key), newer
    assert failure is not None
    raise failure


def _count_leftovers(layout: VaultLayout) -> int:
    """How many unfinished writes ``staging/`` holds (what a writable unlock would move to quarantine)."""
    try:
        return len(os.listdir(layout.staging))
    except OSError:
        return 0


def _quarantine_leftovers(layout: VaultLayout, conn: db.Connection) -> tuple[QuarantinedFile, ...]:
    """Move what no finished write or database row accounts for into ``quarantine/<UTC time>/``.

    Staging leftovers are partial writes of a process that died mid-write; orphan blobs were published
    but their row never committed, or the database is older than the blobs (a restored copy). Both are
    encrypted; they are kept for an administrator to look at, never deleted by opening the vault.
    """
    with Dir.open_root(layout.root) as root:
        quarantine = Quarantine(root)
        try:
            with root.sub("staging", create=True) as staging:
                for entry in sorted(staging.entries(), key=lambda e: e.name):
                    kind = entry_kind(entry)
                    if kind not in ("regular file", "directory"):
                        raise refusal(staging.path / entry.name, kind, "regular file")
                    quarantine.move(staging, entry.name, ("staging",))
                if quarantine.moved:
                    staging.fsync()
            blobs.sweep_orphans(root, conn, quarantine)
        finally:
            quarantine.close()
    return tuple(quarantine.moved)
