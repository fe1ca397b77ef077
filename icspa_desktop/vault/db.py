"""The SQLCipher 4 metadata database, opened with a raw 256-bit key (never a passphrase)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlcipher3

from icspa_desktop.domain.errors import Text, VaultError, _, english
from icspa_desktop.domain.progress import CancelToken

Connection = Any  # sqlcipher3.Connection has no type information
T = TypeVar("T")

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> str:
    """A text whose byte order is the natural order of ``text``: case-folded, digit runs compared as numbers
    (``f9`` < ``f10``). Each run of digits becomes its length (two digits) and its value without leading zeros;
    each other run ends with ``\\x01`` (not NUL, where SQLite would end the text), so a shorter text sorts before
    its continuations."""
    parts: list[str] = []
    for n, part in enumerate(_DIGITS.split(text)):
        if n % 2:
            digits = part.lstrip("0") or "0"
            parts.append(f"{min(len(digits), 99):02d}{digits}")
        else:
            parts.append(part.casefold() + "\x01")
    return "".join(parts)


def register_functions(conn: Connection) -> None:
    """On a reader connection (``open_reader``) only: ``icspa_natural`` (``natural_key``), ``icspa_fold``
    (Unicode case folding: SQLite's ``lower`` folds ASCII only), and the handler that stops a cancelled read
    (``cancellable``).

    Never on the connection that writes, nor on one that two threads use at once: a statement calling back
    into Python holds the connection's mutex while it waits for the GIL, and Python's sqlite3 binds parameters
    holding the GIL while it waits for that mutex — a thread binding a query while another thread's statement
    calls back deadlocks both (seen: the GUI thread and a worker, in ``python -m bench gui``)."""
    conn.create_function("icspa_natural", 1, _natural_or_none, deterministic=True)
    conn.create_function("icspa_fold", 1, _fold_or_none, deterministic=True)
    conn.set_progress_handler(_interrupt_cancelled, _PROGRESS_STEPS)


def open_reader(path: Path, raw_key: bytes, *, read_only: bool | None = None) -> Connection:
    """A second, read-only connection for the views' long reads (sorting, filtering), with our SQL functions
    (``register_functions``): its user must hold it alone (``UnlockedVault.reader``)."""
    conn = open_database(path, raw_key, read_only=read_only)
    conn.execute("PRAGMA query_only = ON")
    register_functions(conn)
    return conn


# The read each thread does for a view, stopped inside a long statement once its token is cancelled (a lock must
# not wait seconds for a 200,000-row sort whose result nobody will see). Only reads run under a token.
_reading = threading.local()
_PROGRESS_STEPS = 20_000  # SQLite virtual-machine steps between two looks at the token (~1 ms)


@contextlib.contextmanager
def cancellable(token: CancelToken) -> Iterator[None]:
    """Statements this thread runs inside the block are interrupted ("interrupted", a ``DatabaseError``) once
    ``token`` is cancelled. For reads only: an interrupted write would roll back its whole transaction."""
    previous = getattr(_reading, "token", None)
    _reading.token = token
    try:
        yield
    finally:
        _reading.token = previous


def _interrupt_cancelled() -> int:
    token = getattr(_reading, "token", None)
    return 1 if token is not None and token.cancelled else 0


def _natural_or_none(text: object) -> str | None:
    return None if text is None else natural_key(str(text))


def _fold_or_none(text: object) -> str | None:
    return None if text is None else str(text).casefold()


class _LockedConnection(sqlcipher3.Connection):  # type: ignore[misc]  # untyped base
    """A connection that carries the lock serialising its transactions across threads.

    The desktop runs long services (ingest, export, import, verify) in worker threads over the same
    connection the GUI thread uses; without this, a second thread's BEGIN inside the first one's
    transaction fails ("cannot start a transaction within a transaction") or, worse, its writes would
    join the other's transaction. Every ``transaction`` holds the lock from BEGIN to COMMIT/ROLLBACK.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transaction_lock = threading.RLock()
        self.file: Path | None = None  # the database file, named in storage errors
DatabaseError = sqlcipher3.DatabaseError
IntegrityError = sqlcipher3.IntegrityError

_memory_security_set = False


class KeyMismatch(VaultError):
    """The file is an encrypted database, but not under this key (another vault's, an older master key
    after a rotation, or a damaged first page)."""


class StorageError(VaultError):
    """The disk under the vault failed a read or write (full, read-only, an I/O error, a size limit): the
    transaction was rolled back, the vault is as it was. ``cause`` is the short form ("the disk … is full")."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause or message


# SQLite's texts for a failing disk (its result codes SQLITE_FULL, SQLITE_READONLY*, SQLITE_IOERR*,
# SQLITE_CANTOPEN): anything else (a busy database, a constraint) is not a storage fault.
_STORAGE_TEXTS = ("disk I/O error", "database or disk is full", "attempt to write a readonly database",
                  "unable to open database file")


def _storage_cause(text: str, where: Path | None) -> str:
    """What the disk says, where it can be asked (SQLite reports EIO, EFBIG and often EROFS all as "disk I/O
    error" and keeps the errno to itself): read-only, full, over the process's file size limit, else SQLite's.
    One clause about the disk, translated (its English kept for records: ``errors.english``)."""
    fields = {"place": f" ({where.parent})" if where is not None else "", "text": text}  # a path, no words
    if where is not None:
        with contextlib.suppress(OSError):
            fs = os.statvfs(where.parent)
            if fs.f_flag & os.ST_RDONLY:
                return _("the disk holding the vault{place} is read-only (SQLite: \"{text}\")", **fields)
            if fs.f_bavail * fs.f_frsize < (1 << 20):
                return _("the disk holding the vault{place} is full (SQLite: \"{text}\")", **fields)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        with contextlib.suppress(OSError):
            if limit != resource.RLIM_INFINITY and max(
                    p.stat().st_size for p in where.parent.glob(where.name + "*")) + (1 << 20) > limit:
                return _("the disk holding the vault{place} refused a file too large for the file size limit "
                         "({limit:,} bytes) (SQLite: \"{text}\")", limit=limit, **fields)
    if "full" in text:
        return _("the disk holding the vault{place} is full (SQLite: \"{text}\")", **fields)
    if "readonly" in text:
        return _("the disk holding the vault{place} is read-only (SQLite: \"{text}\")", **fields)
    if "unable to open" in text:
        return _("the disk holding the vault{place} refused to open the database file (SQLite: \"{text}\")",
                 **fields)
    return _("the disk holding the vault{place} failed a read or write, and SQLite does not say why: the disk may be "
             "failing, removed, full or read-only, or a file too large for its file system (SQLite: \"{text}\")",
             **fields)


def _capitalised(clause: str) -> str:
    """``clause`` as the start of a sentence, its English too."""
    plain = english(clause)
    return Text(clause[:1].upper() + clause[1:], plain[:1].upper() + plain[1:])


def storage_error(exc: BaseException, where: Path | None = None) -> StorageError | None:
    """A ``StorageError`` naming the cause for an SQLite error that comes from the disk, else None."""
    if not isinstance(exc, sqlcipher3.DatabaseError):  # OperationalError is one
        return None
    text = str(exc)
    if not any(known in text for known in _STORAGE_TEXTS):
        return None
    cause = _storage_cause(text, where)
    return StorageError(_("{cause}. The unfinished step was rolled back and changed nothing; fix the disk and try "
                          "again.", cause=_capitalised(cause)), cause)


MEMORY_SECURITY_ENV = "ICSPA_SQLCIPHER_MEMORY_SECURITY"


def memory_security_wanted() -> bool:
    """Whether to switch on SQLCipher's enhanced memory security: off unless the installation asks for it.

    Measured (``./dev.sh bench sqlcipher``): it makes every inserted row ~20x slower (~1 ms instead of ~50 us:
    an import or ingest of thousands of small files spends seconds in it) while reading is unchanged, and it
    protects little here — it locks and wipes SQLite's own heap copies of decrypted pages, while the same
    values live on in Python objects, SQLCipher wipes its key material whatever this setting, core dumps are
    off and the process is not dumpable (vault/process.py). SQLCipher itself made it off by default in 4.5.
    An agency that wants it anyway sets ICSPA_SQLCIPHER_MEMORY_SECURITY=1 for the program (docs/vault-format.md).
    """
    return os.environ.get(MEMORY_SECURITY_ENV, "") == "1"


def enable_memory_security() -> None:
    """Process-wide SQLCipher settings, made once before the first keyed database: memory security when the
    installation asks for it (``memory_security_wanted``), and SQLCipher's own log silenced — it wrote lines
    such as "ERROR CORE hmac check failed" to stderr beside our one-line messages (a wrong key is our error
    to report, not its)."""
    global _memory_security_set
    if _memory_security_set:
        return
    conn = sqlcipher3.connect(":memory:")
    try:
        if memory_security_wanted():
            conn.execute("PRAGMA cipher_memory_security = ON")
        conn.execute("PRAGMA cipher_log_level = NONE")
    finally:
        conn.close()
    _memory_security_set = True


# SQLCipher 4's default page size; every database this program writes is a whole number of such pages.
PAGE_SIZE = 4096
_PLAIN_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_existing(path: Path) -> None:
    """Refuse, before SQLCipher sees it, a database file that is missing, empty or plainly not ours.

    SQLite treats a missing or 0-byte file as a new empty database and writes a header into it on the
    first pragma; "opening" such a file would re-create the vault database empty.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VaultError(_("The vault database {path} is missing; restore it from a backup (nothing was created or "
                           "changed).", path=path)) from None
    except OSError as exc:
        raise VaultError(_("The vault database {path} cannot be opened: {cause} (a link is refused; nothing was "
                           "changed).", path=path, cause=exc.strerror)) from None
    try:
        st = os.fstat(fd)
        head = os.pread(fd, len(_PLAIN_SQLITE_MAGIC), 0) if stat.S_ISREG(st.st_mode) else b""
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise VaultError(_("The vault database {path} is not a regular file; nothing was changed.", path=path))
    if st.st_size == 0:
        raise VaultError(_("The vault database {path} is empty (0 bytes): it was truncated or replaced. Restore it "
                           "from a backup; it was not re-created and nothing was changed.", path=path))
    if head == _PLAIN_SQLITE_MAGIC:
        raise VaultError(_("The vault database {path} is an unencrypted SQLite file, not this vault's encrypted "
                           "database; nothing was changed.", path=path))
    if st.st_size % PAGE_SIZE:
        raise VaultError(_("The vault database {path} is damaged: its size ({size} bytes) is not a whole number "
                           "of {page}-byte pages (truncated?); nothing was changed.",
                           path=path, size=st.st_size, page=PAGE_SIZE))


def read_only_reason(path: Path) -> str | None:
    """Why nothing can be written at ``path`` (a vault folder or a file in it), or None when it can be.

    The file system's flag comes first: a read-only mount or a write-protected medium stops root too,
    for whom permission bits stop nothing (``os.access`` alone says "writable" to root on most systems).
    """
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)  # "Read-only file system", as the kernel says it
    except OSError:
        return None  # not there: the code that needs it says so
    if not os.access(path, os.W_OK):
        return _("no write permission")
    return None


def _wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _read_only_uri(path: Path) -> str:
    """The URI that opens ``path`` without writing a byte anywhere.

    A database in WAL mode needs its ``-shm`` index to be read, and a read-only folder cannot get one; with
    no ``-wal`` (a vault closed cleanly has none: the last close checkpoints and removes it) or an empty one,
    the database file alone is the whole database and ``immutable=1`` reads it without any index or lock (our
    ``vault.lock`` keeps writers out). A non-empty ``-wal`` holds committed pages the file does not have yet:
    ``immutable=1`` would silently ignore them, so it is never used then; SQLite reads the ``-wal`` only
    through an existing ``-shm``.
    """
    uri = path.absolute().as_uri() + "?mode=ro"
    try:
        wal_size = os.lstat(_wal_path(path)).st_size
    except FileNotFoundError:
        wal_size = 0
    return uri + ("&immutable=1" if wal_size == 0 else "")


def open_database(path: Path, raw_key: bytes, *, create: bool = False, read_only: bool | None = None) -> Connection:
    """Open (or create) the database; VaultError if the file is missing, empty, foreign or damaged.

    Without ``create`` the file must already exist: it is opened read-write but never created (SQLite
    ``mode=rw``), so a missing or emptied database is refused rather than silently made anew.
    ``read_only`` (None: when the folder or the file cannot be written, ``read_only_reason``): opened with
    ``mode=ro``, nothing written (no journal mode or other setting that writes, no ``-wal`` or ``-shm``
    created) and every write refused by SQLite (``query_only``).
    """
    if len(raw_key) != 32:
        raise ValueError("SQLCipher raw key must be 32 bytes")
    enable_memory_security()
    if create:
        read_only = False
        # Owner-only before the first byte is written (the -wal and -shm files inherit the umask).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    else:
        _check_existing(path)
        if read_only is None:
            read_only = read_only_reason(path.parent) is not None or read_only_reason(path) is not None
    os.umask(os.umask(0o077) | 0o077)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves so an action and its custody event
    # always share one transaction. mode=rw: never create the file here (see _check_existing).
    uri = _read_only_uri(path) if read_only else path.absolute().as_uri() + ("" if create else "?mode=rw")
    conn = sqlcipher3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                              factory=_LockedConnection)
    conn.file = path
    try:
        conn.execute(f"PRAGMA key = \"x'{raw_key.hex()}'\"")
        conn.execute("PRAGMA cipher_compatibility = 4")
        # The first real read fails here if the key is wrong or the file is not a database.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        if read_only and "unable to open" in str(exc):
            # Only a non-empty -wal without a -shm gets here (see _read_only_uri): reading the file alone would
            # give an older state of the vault than the one last written.
            raise VaultError(
                _("The vault database {path} was not closed cleanly: its last changes are still in {name}, which "
                  "SQLite cannot read on a read-only disk without {database}-shm. Open a copy of the whole vault "
                  "folder on a writable disk to read it; nothing was changed.",
                  path=path, name=_wal_path(path).name, database=path.name)) from exc
        # A disk fault while SQLite sets up the WAL index (-shm) is not a wrong key: only "file is not a
        # database" (SQLITE_NOTADB) says the key does not fit.
        fault = storage_error(exc, path) if "not a database" not in str(exc) else None
        if fault is not None:
            raise fault from exc
        # The key came from a key slot that authenticated, so it is this vault's key: the file is not.
        raise KeyMismatch(
            _("The vault database {path} does not open with this vault's key: it belongs to another vault, or its "
              "first page is damaged. Restore it from a backup; nothing was changed.", path=path)
        ) from exc
    try:
        if not create and int(conn.execute("PRAGMA page_count").fetchone()[0]) == 0:
            # Emptied between the check above and the open: still never re-created.
            raise VaultError(_("The vault database {path} is empty: it was truncated or replaced. Restore it from a "
                               "backup; it was not re-created and nothing was changed.", path=path))
        if read_only:
            # Connection settings only: the journal mode, synchronous and secure_delete concern writes.
            conn.execute("PRAGMA query_only = ON")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        fault = storage_error(exc, path)
        if fault is not None:
            raise fault from exc
        raise VaultError(_("The vault database {path} opened with this vault's key but is damaged: {error}.",
                           path=path, error=exc)) from exc
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; one thread at a time per connection."""
    lock = getattr(conn, "transaction_lock", None)
    with lock if lock is not None else contextlib.nullcontext(), _storage_errors(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlcipher3.DatabaseError):  # SQLite may have rolled back already (I/O error)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextlib.contextmanager
def _storage_errors(conn: Connection) -> Iterator[None]:
    """SQLite's disk faults as ``StorageError`` with their cause; everything else unchanged."""
    try:
        yield
    except sqlcipher3.DatabaseError as exc:
        fault = storage_error(exc, getattr(conn, "file", None))
        if fault is None:
            raise
        raise fault from exc


def integrity_check(conn: Connection) -> list[str]:
    """Problems found by ``cipher_integrity_check`` and ``integrity_check`` (empty when healthy)."""
    problems: list[str] = []
    # cipher_integrity_check reads the database file's pages, not the WAL: pages the last checkpoint did not
    # reach yet (a process killed in the middle of one — after a rekey, under the old key) read as HMAC
    # failures. Checkpoint first, so the file is what the database is (best effort: a read-only disk).
    with contextlib.suppress(DatabaseError):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    for pragma in ("cipher_integrity_check", "integrity_check"):
        try:
            rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}").fetchall()]
        except DatabaseError as exc:  # a page too damaged to walk: that is the finding, not a crash
            problems.append(f"{pragma}: {exc}")
            continue
        problems.extend(row for row in rows if not (pragma == "integrity_check" and row == "ok"))
    return problems


def export_to(conn: Connection, target: Path, raw_key: bytes, snapshot: Callable[[Connection], T]) -> T:
    """Copy the whole database into a new encrypted file with ``sqlcipher_export`` (backups): one read
    transaction, so ``snapshot(conn)``, run inside it first, sees exactly the state that is exported.

    Use a connection of its own (``open_database``): in WAL mode the snapshot then holds while other
    connections keep writing. SQLCipher's backup API is disabled for encrypted databases (4.1), and
    ``sqlcipher_export`` does not copy ``user_version`` (the schema version): it is set here.
    """
    if os.path.lexists(target):
        raise VaultError(_("{path} already exists; a database export never writes over a file.", path=target))
    # ATTACH cannot run inside a transaction; it creates the file (owner-only: open_database set the umask).
    conn.execute(f"ATTACH DATABASE ? AS backup KEY \"x'{raw_key.hex()}'\"", (str(target),))
    try:
        conn.execute("BEGIN")
        try:
            result = snapshot(conn)  # its first read fixes the snapshot
            version = int(conn.execute("PRAGMA main.user_version").fetchone()[0])
            conn.execute("SELECT sqlcipher_export('backup')")
            conn.execute(f"PRAGMA backup.user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.execute("DETACH DATABASE backup")
    return result


def open_export(path: Path, raw_key: bytes) -> Connection:
    """Open an exported copy read-only (nothing is written beside it, its header stays as exported), to check
    it: VaultError when the key does not open it."""
    _check_existing(path)
    conn = sqlcipher3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                              check_same_thread=False)
    try:
        conn.execute(f"PRAGMA key = \"x'{raw_key.hex()}'\"")
        conn.execute("PRAGMA cipher_compatibility = 4")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        raise KeyMismatch(_("The database copy {path} does not open with this vault's key, or its first page is "
                            "damaged.", path=path)) from exc
    return conn
