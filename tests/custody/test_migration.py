"""A vault made by the first version (schema 1, format-1 events) upgraded to the chained log."""

from __future__ import annotations

import shutil
from pathlib import Path

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services import custody_verify
from icspa_desktop.services.session import unlock
from icspa_desktop.vault.migrations import MIGRATIONS, schema_version

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "vault-v1" / "vault"


def test_upgrade_of_a_first_version_vault_starts_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "old-vault"
    shutil.copytree(FIXTURE, path)
    with unlock(path, "admin", "fixture-admin-pass") as session:
        assert schema_version(session.conn) == MIGRATIONS[-1].version >= 6
        log = events.list_events(session.conn)
        old = [e for e in log if e.body["v"] == 1]
        # The first unlock signs the chain start: a snapshot of the users, over every older event.
        start = next(e for e in log if e.action == CustodyAction.CHAIN_STARTED)
        assert start.index == len(old) and start.body["index"] == len(old)
        assert {u["name"]: u["role"] for u in start.body["details"]["users"]} == {
            "admin": str(Role.ADMINISTRATOR), "ivan": str(Role.INVESTIGATOR)}
        # The first-version slot had no box key: the unlock added one, recorded by a signed event.
        assert log[-1].action == CustodyAction.USER_BOX_KEY_SET
        report = custody_verify.verify(session, witness_dir=tmp_path / "w")
        assert report.ok, report.damages
        assert report.tree_size == len(log)
        assert custody_service.list_checkpoints(session) == []
    with unlock(path, "ivan", "fixture-ivan-pass") as session:
        assert session.user.role is Role.INVESTIGATOR
        assert custody_verify.verify(session, witness_dir=tmp_path / "w").ok
