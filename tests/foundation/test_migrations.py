"""Schema versions: step migrations, old vaults keep opening, newer vaults are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import VaultError
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody_verify
from icspa_desktop.services.session import unlock
from icspa_desktop.vault import db, store
from icspa_desktop.vault.migrations import MIGRATIONS, Migration, schema_version
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "vault-v1" / "vault"


def _bump(conn: db.Connection) -> None:
    conn.execute("CREATE TABLE migration_probe (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    conn.execute("INSERT INTO migration_probe (note) VALUES ('added by the test migration')")
    conn.execute("ALTER TABLE cases ADD COLUMN probe TEXT NOT NULL DEFAULT 'p'")


def test_vault_opens_after_a_schema_bump(vault: VaultInfo) -> None:
    with vault.session() as s:
        case = cases.create_case(s, CaseFields(number="MIG-1", title="Before the bump"))
        n_events = events.count(s.conn)
    latest = MIGRATIONS[-1].version
    bumped = [*MIGRATIONS, Migration(latest + 1, "m_test_probe", _bump)]
    with unlock(vault.path, ADMIN, ADMIN_PASS, migrations=bumped) as s:
        assert schema_version(s.conn) == latest + 1
        assert s.conn.execute("SELECT note FROM migration_probe").fetchone()[0] == "added by the test migration"
        assert cases.get_case(s, "MIG-1").id == case.id
        assert events.count(s.conn) == n_events
        cases.create_case(s, CaseFields(number="MIG-2", title="After the bump"))
    # Reopening with the bumped list again runs nothing twice.
    with unlock(vault.path, ADMIN, ADMIN_PASS, migrations=bumped) as s:
        assert s.conn.execute("SELECT count(*) FROM migration_probe").fetchone()[0] == 1
    # The program that does not know version latest+1 refuses, clearly, and changes nothing.
    before = _snapshot(vault.path)
    with pytest.raises(VaultError, match="newer than this program knows"):
        unlock(vault.path, ADMIN, ADMIN_PASS)
    cli = run_cli("case", "list", env={"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN,
                                       "ICSPA_PASSPHRASE": ADMIN_PASS})
    assert cli.returncode == 5 and len(cli.stderr.strip().splitlines()) == 1
    assert "newer than this program knows" in cli.stderr
    assert _snapshot(vault.path) == before


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_failed_migration_step_rolls_back(vault: VaultInfo) -> None:
    latest = MIGRATIONS[-1].version

    def broken(conn: db.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        unlock(vault.path, ADMIN, ADMIN_PASS, migrations=[*MIGRATIONS, Migration(latest + 1, "broken", broken)])
    with unlock(vault.path, ADMIN, ADMIN_PASS) as s:
        assert schema_version(s.conn) == latest
        assert s.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0


def _copy_as_checked_out(source: Path, target: Path) -> None:
    """Copy the fixture as a fresh git checkout has it: only the files, modes 0644/0755, no empty dirs."""
    target.mkdir(mode=0o755)
    for name in ("vault.json", "keyslots.json", "metadata.db"):
        shutil.copyfile(source / name, target / name)
        (target / name).chmod(0o644)


def test_v1_fixture_vault_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old"
    _copy_as_checked_out(FIXTURE, path)
    # Opened by the vault layer alone (no session: today's services need today's schema).
    old, _ = store.open_and_unlock(path, lambda slots: slots.unlock("admin", "fixture-admin-pass"), MIGRATIONS[:1])
    try:
        assert schema_version(old.conn) == 1  # really a schema-1 vault; nothing migrated yet
    finally:
        old.close()
    with unlock(path, "admin", "fixture-admin-pass") as s:
        assert schema_version(s.conn) == MIGRATIONS[-1].version
        found = {c.number: c for c in cases.list_cases(s)}
        assert set(found) == {"FX-1", "FX-2"}
        assert found["FX-1"].fields.handling_text == "only for the JIT"
        assert str(found["FX-1"].fields.tlp) == "AMBER+STRICT"
        assert found["FX-2"].title == "Fixture case two (edited)"
        log = events.list_events(s.conn)
        assert [e.action for e in log][:2] == [CustodyAction.VAULT_CREATED, CustodyAction.USER_ADDED]
        report = custody_verify.verify(s)
        assert not [d for d in report.damages if "signature" in d.message.lower() or "leaf" in d.message.lower()]
        # The migrated vault is fully usable: write, and it reopens.
        cases.create_case(s, CaseFields(number="FX-3", title="Made after the upgrade"))
    with unlock(path, "ivan", "fixture-ivan-pass") as s:
        assert {c.number for c in cases.list_cases(s)} == {"FX-1", "FX-2", "FX-3"}
