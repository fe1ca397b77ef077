"""Key slots: per-slot Argon2id parameters, authenticated parameters, the test-profile floor."""

from __future__ import annotations

import json

import pytest

from icspa_desktop.crypto import kdf
from icspa_desktop.domain.errors import AuthenticationError, VaultError
from icspa_desktop.services.session import unlock
from icspa_desktop.services.vault_service import init_vault
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo


def test_production_profile_is_strong_and_slow(tmp_path, production_kdf: None) -> None:
    path = tmp_path / "prod"
    init_vault(path, ADMIN, ADMIN_PASS)
    slot = json.loads((path / "keyslots.json").read_text())["slots"][0]
    assert slot["kdf"]["algorithm"] == "argon2id"
    assert slot["kdf"]["memory_kib"] >= 64 * 1024
    params = kdf.Argon2Params.from_json(slot["kdf"])
    # The time it costs is a benchmark figure (bench/bench_vault.py), not a timed assertion.
    assert (params.memory_kib, params.iterations, params.lanes) == (
        kdf.DEFAULT_MEMORY_KIB, kdf.DEFAULT_ITERATIONS, kdf.DEFAULT_LANES)
    unlock(path, ADMIN, ADMIN_PASS).lock()


def test_tampered_kdf_parameters_make_unlock_fail(vault: VaultInfo) -> None:
    path = vault.path / "keyslots.json"
    doc = json.loads(path.read_text())
    admin_slot = doc["slots"][0]
    admin_slot["kdf"]["iterations"] += 1  # an attacker "weakens" or changes the parameters
    path.write_text(json.dumps(doc))
    with pytest.raises(AuthenticationError):
        unlock(vault.path, ADMIN, ADMIN_PASS)


def test_wrapped_key_moved_to_another_slot_fails(vault: VaultInfo) -> None:
    path = vault.path / "keyslots.json"
    doc = json.loads(path.read_text())
    first, second = doc["slots"][0], doc["slots"][1]
    first["wrapped_master"] = second["wrapped_master"]
    path.write_text(json.dumps(doc))
    with pytest.raises(AuthenticationError):
        unlock(vault.path, ADMIN, ADMIN_PASS)


def test_test_profile_slot_refused_outside_tests(vault: VaultInfo, production_kdf: None) -> None:
    with pytest.raises(VaultError, match="below the"):
        unlock(vault.path, ADMIN, ADMIN_PASS)


def test_damaged_slot_file_is_a_clear_error(vault: VaultInfo) -> None:
    (vault.path / "keyslots.json").write_text("{not json")
    with pytest.raises(VaultError, match="unreadable or damaged"):
        unlock(vault.path, ADMIN, ADMIN_PASS)


def test_user_names_are_not_stored_in_clear(vault: VaultInfo) -> None:
    text = (vault.path / "keyslots.json").read_text()
    for name in ("alice", "sam", "ivan", "audrey"):
        assert f'"{name}"' not in text
