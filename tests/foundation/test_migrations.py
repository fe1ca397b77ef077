"""Schema versions: step migrations, old vaults keep opening, newer vaults are refused."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import VaultError
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody_verify
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.vault import db, keyslots, store
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


# ---- frozen vaults of later schema versions (tests/data/make_vault_fixture.py) ---------------------------
DATA = Path(__file__).resolve().parent.parent / "data"
FROZEN = sorted(int(p.name.removeprefix("vault-v")) for p in DATA.glob("vault-v*") if (p / "witness").is_dir())


def test_the_newest_schema_versions_have_frozen_vaults() -> None:
    """A new migration needs a vault made by the program that has it: see tests/data/make_vault_fixture.py."""
    newest = [m.version for m in MIGRATIONS[-2:]]
    assert set(newest) <= set(FROZEN), f"make tests/data/vault-v{max(newest)} with make_vault_fixture.py"


def _copy_frozen(version: int, target: Path) -> Path:
    """The frozen vault and its witness files as a fresh git checkout has them (files only, 0644, 0755)."""
    source = DATA / f"vault-v{version}"
    for folder in ("vault", "witness"):
        for path in sorted((source / folder).rglob("*")):
            if path.is_file():
                copy = target / path.relative_to(source)
                copy.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
                copy.chmod(0o644)
    return target / "vault"


def _as_its_program_left_it(path: Path, migrations: Sequence[Migration], version: int,
                            absent: tuple[str, ...] = ()) -> None:
    """Open the copied vault with ``migrations`` only (its own program's): it really is ``version``, without the
    tables ``absent`` names; nothing is migrated."""
    from tests.data.make_vault_fixture import ADMIN as FX_ADMIN
    from tests.data.make_vault_fixture import ADMIN_PASS as FX_ADMIN_PASS

    old, _ = store.open_and_unlock(path, lambda slots: slots.unlock(FX_ADMIN, FX_ADMIN_PASS), migrations)
    try:
        assert schema_version(old.conn) == version  # really that version's vault; nothing migrated yet
        for table in absent:
            assert not _table_exists(old.conn, table), table
    finally:
        old.close()


def _check_fixture_content(s: Session, path: Path, tmp_path: Path) -> dict[str, Item]:
    """What every frozen vault holds after today's upgrade (tests/data/make_vault_fixture.py made it): the key-slot
    copy (schema 10) equal to the file without a warning, the two cases, the items with their known content and
    sizes, the phone back in its locker, the note; every content re-read and hashed, one extracted byte for
    byte. Returns FX-1's items by name, for the checks of one schema."""
    from icspa_desktop.domain.enums import CaseStatus
    from icspa_desktop.domain.evidence import ItemKind
    from icspa_desktop.services import evidence, fixity
    from tests.data.make_vault_fixture import DIGITAL, content

    assert schema_version(s.conn) == MIGRATIONS[-1].version
    assert keyslots.stored_copy(s.conn) == (path / "keyslots.json").read_bytes()
    assert not [w for w in s.warnings if "key-slot" in w], s.warnings
    found = {c.number: c for c in cases.list_cases(s)}
    assert set(found) == {"FX-1", "FX-2"}
    assert (found["FX-1"].fields.handling_text, str(found["FX-1"].fields.tlp)) == ("only for the JIT", "AMBER+STRICT")
    assert found["FX-2"].status is CaseStatus.CLOSED
    items = {i.original_name: i for i in evidence.list_items(s, "FX-1")}
    assert set(items) == {*DIGITAL, "Phone, black"}
    for name in DIGITAL:
        assert items[name].sha256 == hashlib.sha256(content(name)).hexdigest(), name
        assert items[name].size == len(content(name))
    phone = items["Phone, black"]
    assert (phone.kind, phone.storage_location, phone.checked_out) == (ItemKind.PHYSICAL, "Locker 4", False)
    assert items[DIGITAL[0]].notes == "read in the fixture"
    # Fixity: every stored content re-read, decrypted and hashed, and one item extracted byte for byte.
    reports = fixity.verify_case(s, "FX-1")
    assert len(reports) == len(DIGITAL) and all(r.ok for r in reports), [r.problem for r in reports]
    out = tmp_path / "extracted.bin"
    fixity.extract(s, items["image.bin"].id, out, "fixture check")
    assert out.read_bytes() == content("image.bin")
    return items


@pytest.mark.parametrize("version", FROZEN)
def test_frozen_vault_opens_migrates_and_keeps_custody_and_fixity(version: int, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from icspa_desktop.custody.checkpoints import WITNESS_ENV
    from tests.data.make_vault_fixture import ADMIN as FX_ADMIN
    from tests.data.make_vault_fixture import ADMIN_PASS as FX_ADMIN_PASS
    from tests.data.make_vault_fixture import IVAN, IVAN_PASS

    path = _copy_frozen(version, tmp_path)
    monkeypatch.setenv(WITNESS_ENV, str(tmp_path / "witness"))
    _as_its_program_left_it(path, MIGRATIONS[:version], version)
    with unlock(path, FX_ADMIN, FX_ADMIN_PASS) as s:
        _check_fixture_content(s, path, tmp_path)
        # Custody: every signature, leaf, checkpoint and the witness check out after the migration.
        report = custody_verify.verify(s)
        assert report.ok and not report.damages, [d.to_json() for d in report.damages]
        actions = [e.action for e in events.list_events(s.conn)]
        for action in (CustodyAction.VAULT_CREATED, CustodyAction.CHECKED_OUT, CustodyAction.CHECKED_IN,
                       CustodyAction.VERIFIED, CustodyAction.CHECKPOINT_SIGNED):
            assert action in actions, action
        cases.create_case(s, CaseFields(number="FX-3", title="Made after the upgrade"))
    with unlock(path, IVAN, IVAN_PASS) as s:
        assert {c.number for c in cases.list_cases(s)} == {"FX-1", "FX-2", "FX-3"}
        assert custody_verify.verify(s).ok


# ---- frozen vaults of the schema versions before custody verification (no witness/; CHILD_V2) ------------
PRE_CUSTODY = sorted(int(p.name.removeprefix("vault-v")) for p in DATA.glob("vault-v*")
                     if (p / "vault" / "blobs").is_dir() and not (p / "witness").exists())
FX_AGENCY = ("Fixture Police", "NL", "Digital Forensics", "lab@example.org")


def _table_exists(conn: db.Connection, name: str) -> bool:
    query = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
    return bool(conn.execute(query, (name,)).fetchone()[0])


@pytest.mark.parametrize("version", PRE_CUSTODY)
def test_pre_custody_frozen_vault_opens_migrates_and_verifies(version: int, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A vault of schema 2 (made before custody verification, checkpoints and the agency key pair existed)."""
    from icspa_desktop.custody.checkpoints import WITNESS_ENV
    from icspa_desktop.services import agency, custody
    from tests.data.make_vault_fixture import ADMIN as FX_ADMIN
    from tests.data.make_vault_fixture import ADMIN_PASS as FX_ADMIN_PASS
    from tests.data.make_vault_fixture import DIGITAL, IVAN, IVAN_PASS

    path = _copy_frozen(version, tmp_path)
    monkeypatch.setenv(WITNESS_ENV, str(tmp_path / "witness"))
    _as_its_program_left_it(path, MIGRATIONS[:version], version, absent=("custody_checkpoints",))
    with unlock(path, FX_ADMIN, FX_ADMIN_PASS) as s:
        items = _check_fixture_content(s, path, tmp_path)
        fx1 = cases.get_case(s, "FX-1").fields
        assert (fx1.handling_text, str(fx1.handling_code), str(fx1.tlp), fx1.legal_authority) == (
            "only for the JIT", "H3", "AMBER+STRICT", "W-1")
        for name in DIGITAL:
            assert (items[name].description, items[name].acquisition.seal_number) == ("seized files", "SEAL-7")
        # The agency of schema 2 was four settings; the key pair (schema 3) is made by an administrator later.
        assert agency.stated_details(s) == FX_AGENCY
        assert not agency.has_identity(s)
        # Custody: every signature and leaf of the old log checks out (there was no checkpoint to check).
        report = custody_verify.verify(s)
        assert report.ok and not report.damages, [d.to_json() for d in report.damages]
        actions = [e.action for e in events.list_events(s.conn)]
        for action in (CustodyAction.VAULT_CREATED, CustodyAction.ACQUIRED, CustodyAction.CHECKED_OUT,
                       CustodyAction.CHECKED_IN, CustodyAction.ANNOTATED, CustodyAction.VERIFIED,
                       CustodyAction.CASE_CLOSED):
            assert action in actions, action
        assert CustodyAction.CHECKPOINT_SIGNED not in actions
        # Fully usable: the agency key pair from the stated details, a first checkpoint, a new case.
        agency.create_identity(s)
        custody.make_checkpoint(s, "first after the upgrade")
        cases.create_case(s, CaseFields(number="FX-3", title="Made after the upgrade"))
        report = custody_verify.verify(s)
        assert report.ok and not report.damages, [d.to_json() for d in report.damages]
    with unlock(path, IVAN, IVAN_PASS) as s:
        assert {c.number for c in cases.list_cases(s)} == {"FX-1", "FX-2", "FX-3"}
        assert custody_verify.verify(s).ok


def test_schema_4_vault_made_before_m0003_existed_upgrades(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema-2 vault as the programs between 4be7bad and 925de33 left it (their migrations: 1, 2, 4): m0003
    was slotted in below m0004 later, so such a vault skipped it and had no agency_keys or partners table (custody
    verification failed: 'no such table: agency_keys'). m0011 makes what is missing."""
    from icspa_desktop.custody.checkpoints import WITNESS_ENV
    from icspa_desktop.services import agency

    path = _copy_frozen(2, tmp_path)
    monkeypatch.setenv(WITNESS_ENV, str(tmp_path / "witness"))
    then = [m for m in MIGRATIONS if m.version in (1, 2, 4)]  # m0004 unchanged since 84e1174 (before 925de33)
    _as_its_program_left_it(path, then, 4, absent=("agency_keys",))
    with unlock(path, "admin", "fixture-admin-pass") as s:
        assert schema_version(s.conn) == MIGRATIONS[-1].version
        report = custody_verify.verify(s)
        assert report.ok and not report.damages, [d.to_json() for d in report.damages]
        assert _table_exists(s.conn, "agency_keys") and _table_exists(s.conn, "partners")
        assert not agency.has_identity(s)


def test_an_upgraded_schema_2_vault_gets_the_indexes_added_to_old_migrations_later(tmp_path: Path) -> None:
    """m0002 gained the exhibit index and the FTS5 prefix index after vault-v2 was made: m0011 adds them, and the
    full-text index is rebuilt so that every item is still found (a 2-letter prefix included)."""
    from icspa_desktop.services import search

    path = _copy_frozen(2, tmp_path)
    with unlock(path, "admin", "fixture-admin-pass") as s:
        names = {str(r[0]) for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"items_exhibit", "custody_events_leaf"} <= names
        fts = s.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items_fts'").fetchone()[0]
        assert "prefix='2 3'" in fts
        assert s.conn.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'im*'").fetchone()[0] >= 1
        found = search.search(s, "image")
        assert any(hit.original_name == "image.bin" for hit in found.items), found
