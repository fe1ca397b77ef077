"""Schema 4 on a vault made by an older version: the custody tables appear and the old log verifies."""

from __future__ import annotations

from pathlib import Path

from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody_verify
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import init_vault
from icspa_desktop.vault.migrations import MIGRATIONS, schema_version


def test_upgrade_from_schema_before_custody(tmp_path: Path) -> None:
    old = [m for m in MIGRATIONS if m.version < 4]
    path = tmp_path / "old-vault"
    init_vault(path, "alice", "alice-passphrase", migrations=old)
    with unlock(path, "alice", "alice-passphrase", migrations=old) as session:
        assert schema_version(session.conn) == old[-1].version
        cases.create_case(session, CaseFields(number="OLD-1", title="made before schema 4"))
        tables = {r[0] for r in session.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "custody_checkpoints" not in tables
    with unlock(path, "alice", "alice-passphrase") as session:
        assert schema_version(session.conn) == MIGRATIONS[-1].version >= 4
        report = custody_verify.verify(session, witness_dir=tmp_path / "w")
        assert report.ok, report.damages
        assert report.tree_size == 3
        assert custody_service.list_checkpoints(session) == []
