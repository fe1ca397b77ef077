"""Key slots: per-slot Argon2id parameters, authenticated parameters, the test-profile floor."""

from __future__ import annotations

import json
from pathlib import Path

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
    # Written out (docs/vault-format.md: "New slots use m = 256 MiB, t = 4, p = 2"), not read back from kdf.DEFAULT_*:
    # a weakened default would otherwise pass its own test.
    assert (params.memory_kib, params.iterations, params.lanes) == (256 * 1024, 4, 2)
    assert len(params.salt) >= 16
    unlock(path, ADMIN, ADMIN_PASS).lock()


def test_the_floor_and_the_bounds_are_the_documented_numbers() -> None:
    """docs/vault-format.md: below 64 MiB or 3 iterations refused outside the tests; untrusted slot parameters
    bounded to memory 8 MiB-4 GiB, iterations 1-64, lanes 1-16, salt 16-64 bytes."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "vault-format.md").read_text()
    assert "m = 256 MiB, t = 4, p = 2" in doc and "below 64 MiB or 3 iterations" in doc
    assert (kdf.MIN_MEMORY_KIB, kdf.MIN_ITERATIONS) == (64 * 1024, 3)
    ok = {"memory_kib": 8 * 1024, "iterations": 1, "lanes": 1, "salt": "00" * 16}
    for field, bad in (("memory_kib", 8 * 1024 - 1), ("memory_kib", 4 * 1024 * 1024 + 1), ("iterations", 0),
                       ("iterations", 65), ("lanes", 0), ("lanes", 17), ("salt", "00" * 15), ("salt", "00" * 65)):
        with pytest.raises(VaultError, match=field):
            kdf.Argon2Params.from_json({"algorithm": "argon2id", **ok, field: bad})
    for field, edge in (("memory_kib", 4 * 1024 * 1024), ("iterations", 64), ("lanes", 16), ("salt", "00" * 64)):
        kdf.Argon2Params.from_json({"algorithm": "argon2id", **ok, field: edge})


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
