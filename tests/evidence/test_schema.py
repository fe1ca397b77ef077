"""Schema 2 on top of a real schema-1 vault: existing cases become searchable, triggers keep step."""

from __future__ import annotations

import shutil
from pathlib import Path

from icspa_desktop.services import search
from icspa_desktop.services.session import unlock
from icspa_desktop.vault.migrations import schema_version

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "vault-v1" / "vault"


def test_upgrade_from_schema_1_indexes_existing_cases(tmp_path: Path) -> None:
    # A vault really made by the first version (schema 1, no search index); see tests/data/vault-v1.
    path = tmp_path / "old"
    shutil.copytree(FIXTURE, path)
    with unlock(path, "admin", "fixture-admin-pass") as session:
        assert schema_version(session.conn) >= 2
        assert [c.number for c in search.search(session, "edited").cases] == ["FX-2"]
        problems = session.conn.execute("INSERT INTO cases_fts(cases_fts) VALUES ('integrity-check')")
        assert problems.fetchall() == []
