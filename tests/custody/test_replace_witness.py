"""Signing over a witness the log no longer fits forks the log in the agency's name: administrators only, with
a stated reason (C2SP: a log must never sign a checkpoint inconsistent with an earlier one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import PermissionDenied, UsageError, VerificationFailed
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases
from icspa_desktop.services import custody as custody_service
from tests.conftest import VaultInfo


def test_only_an_administrator_with_a_reason_replaces_a_witness_the_log_does_not_fit(
        vault: VaultInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    with vault.session() as alice:
        custody_service.make_checkpoint(alice, "before the copy")
    old = tmp_path / "old"
    shutil.copytree(vault.path, old, ignore=shutil.ignore_patterns("vault.lock"))
    with vault.session() as alice:
        cases.create_case(alice, CaseFields("R-1", "later"))
        custody_service.make_checkpoint(alice, "after")
    shutil.rmtree(vault.path)
    shutil.copytree(old, vault.path)  # an older copy put back: the witness no longer fits
    with vault.session(Role.SUPERVISOR) as sam:
        with pytest.raises(VerificationFailed):
            custody_service.make_checkpoint(sam, "daily")
        with pytest.raises(PermissionDenied):
            custody_service.make_checkpoint(sam, "restored the Monday backup", replace_witness=True)
    with vault.session() as alice:
        with pytest.raises(UsageError, match="reason"):
            custody_service.make_checkpoint(alice, replace_witness=True)
        stored = custody_service.make_checkpoint(alice, "restored the Monday backup on purpose (ticket 881)",
                                                 replace_witness=True)
        assert stored.reason.startswith("restored")


def test_checkpoints_whose_certificates_were_deleted_are_damage_not_a_note(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from icspa_desktop.custody.verify import DamageKind
    from icspa_desktop.services import custody_verify
    from icspa_desktop.services.session import unlock
    from tests.agency.conftest import PASS, make_agency_vault

    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    path = make_agency_vault(tmp_path / "nl", "Politie", "NL")
    with unlock(path, "admin", PASS) as admin:
        custody_service.make_checkpoint(admin, "before the insider")
        assert custody_verify.verify(admin).ok
        admin.conn.execute("DELETE FROM agency_key_wraps")
        admin.conn.execute("DELETE FROM agency_keys")  # so that no checkpoint signature can be checked
        report = custody_verify.verify(admin)
        assert not report.ok
        assert any(d.kind is DamageKind.CHECKPOINT_SIGNATURE and "certificates" in d.message for d in report.damages)
