"""Step-by-step schema migrations. ``PRAGMA user_version`` is the schema version.

Each step is a module ``mNNNN_name.py`` exposing ``VERSION`` and ``apply(conn)``; steps run in order,
each in its own transaction, so an interrupted upgrade resumes at the step that did not finish.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from icspa_desktop.domain.errors import VaultError
from icspa_desktop.vault.db import Connection, transaction


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def discover() -> list[Migration]:
    found: list[Migration] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("m") or not info.name[1:5].isdigit():
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(Migration(int(module.VERSION), info.name, module.apply))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two schema migrations share a version: {versions}")
    return found


MIGRATIONS: Sequence[Migration] = discover()


def schema_version(conn: Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to the newest version; returns the version reached."""
    current = schema_version(conn)
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise VaultError(
            f"This vault has schema version {current}, newer than this program knows ({latest}); "
            "update ICSPA Evidence Desktop."
        )
    for migration in migrations:
        if migration.version <= current:
            continue
        with transaction(conn):
            migration.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
    return schema_version(conn)
