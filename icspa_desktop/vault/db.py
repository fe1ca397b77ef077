"""The SQLCipher 4 metadata database, opened with a raw 256-bit key (never a passphrase)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlcipher3

from icspa_desktop.domain.errors import VaultError

Connection = Any  # sqlcipher3.Connection has no type information
DatabaseError = sqlcipher3.DatabaseError
IntegrityError = sqlcipher3.IntegrityError

_memory_security_set = False


def enable_memory_security() -> None:
    """``cipher_memory_security`` is process-wide and must be set before the first keyed database."""
    global _memory_security_set
    if _memory_security_set:
        return
    conn = sqlcipher3.connect(":memory:")
    try:
        conn.execute("PRAGMA cipher_memory_security = ON")
    finally:
        conn.close()
    _memory_security_set = True


def open_database(path: Path, raw_key: bytes, *, create: bool = False) -> Connection:
    """Open (or create) the database; raises VaultError if the key does not fit or the file is damaged."""
    if len(raw_key) != 32:
        raise ValueError("SQLCipher raw key must be 32 bytes")
    if not create and not path.exists():
        raise VaultError(f"The vault database {path} is missing.")
    enable_memory_security()
    if create:
        # Owner-only before the first byte is written (the -wal and -shm files inherit the umask).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    os.umask(os.umask(0o077) | 0o077)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves so an action and its custody event
    # always share one transaction.
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA key = \"x'{raw_key.hex()}'\"")
        conn.execute("PRAGMA cipher_compatibility = 4")
        # The first real read fails here if the key is wrong or the file is not a database.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlcipher3.DatabaseError as exc:
        conn.close()
        raise VaultError(f"The vault database {path} cannot be opened with this vault's key, or is damaged.") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def integrity_check(conn: Connection) -> list[str]:
    """Problems found by ``cipher_integrity_check`` and ``integrity_check`` (empty when healthy)."""
    problems = [str(row[0]) for row in conn.execute("PRAGMA cipher_integrity_check").fetchall()]
    result = [str(row[0]) for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        problems.extend(result)
    return problems


def export_to(conn: Connection, target: Path, raw_key: bytes) -> None:
    """Copy the whole database into a new encrypted file with ``sqlcipher_export`` (backups)."""
    conn.execute(f"ATTACH DATABASE ? AS backup KEY \"x'{raw_key.hex()}'\"", (str(target),))
    try:
        conn.execute("SELECT sqlcipher_export('backup')")
    finally:
        conn.execute("DETACH DATABASE backup")
