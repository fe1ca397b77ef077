"""Schema 2 on top of a real schema-1 vault: existing cases become searchable, triggers keep step."""

from __future__ import annotations

from pathlib import Path

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, search
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import init_vault
from icspa_desktop.vault.migrations import MIGRATIONS, schema_version
from tests.conftest import ADMIN, ADMIN_PASS


def test_upgrade_from_schema_1_indexes_existing_cases(tmp_path: Path) -> None:
    path = tmp_path / "old"
    schema_1 = [m for m in MIGRATIONS if m.version == 1]
    init_vault(path, ADMIN, ADMIN_PASS, migrations=schema_1)
    with unlock(path, ADMIN, ADMIN_PASS, migrations=schema_1) as session:
        assert schema_version(session.conn) == 1
        cases.create_case(session, CaseFields(number="OLD-1", title="Counterfeit watches"))
    with unlock(path, ADMIN, ADMIN_PASS) as session:
        assert schema_version(session.conn) >= 2
        assert [c.number for c in search.search(session, "counterfeit").cases] == ["OLD-1"]
        problems = session.conn.execute("INSERT INTO cases_fts(cases_fts) VALUES ('integrity-check')")
        assert problems.fetchall() == []
