"""Argon2 parameters read from disk are untrusted; the cheap test profile is out of reach of the installed app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.crypto import kdf
from icspa_desktop.domain.errors import VaultError
from icspa_desktop.services.session import unlock
from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli

GOOD: dict[str, Any] = {"algorithm": "argon2id", "memory_kib": 256 * 1024, "iterations": 4, "lanes": 2,
                        "salt": "ab" * 16}


def test_what_the_program_writes_reads_back() -> None:
    for params in (kdf.Argon2Params(kdf.TEST_MEMORY_KIB, kdf.TEST_ITERATIONS, 1, b"s" * 16),
                   kdf.Argon2Params(kdf.DEFAULT_MEMORY_KIB, kdf.DEFAULT_ITERATIONS, kdf.DEFAULT_LANES, b"t" * 16)):
        assert kdf.Argon2Params.from_json(json.loads(json.dumps(params.to_json()))) == params
    # The limits themselves are allowed.
    edge = GOOD | {"memory_kib": 4 * 1024 * 1024, "iterations": 64, "lanes": 16, "salt": "cd" * 64}
    assert kdf.Argon2Params.from_json(edge).memory_kib == kdf.MAX_MEMORY_KIB


@pytest.mark.parametrize(("change", "field"), [
    ({"memory_kib": 4 * 1024 * 1024 + 1}, "memory_kib"),  # above 4 GiB
    ({"memory_kib": 2**40}, "memory_kib"),
    ({"memory_kib": 1024}, "memory_kib"),  # below the weakest profile this program ever writes
    ({"memory_kib": 0}, "memory_kib"),
    ({"memory_kib": -5}, "memory_kib"),
    ({"iterations": 65}, "iterations"),
    ({"iterations": 10**9}, "iterations"),
    ({"iterations": 0}, "iterations"),
    ({"lanes": 17}, "lanes"),
    ({"lanes": 0}, "lanes"),
    ({"lanes": 255}, "lanes"),
    ({"salt": "ab" * 15}, "salt"),  # 15 bytes
    ({"salt": ""}, "salt"),
    ({"salt": "ab" * 65}, "salt"),
    ({"salt": "zz" * 16}, "salt"),
    ({"salt": 1234}, "salt"),
    ({"memory_kib": "262144"}, "memory_kib"),  # a string is not what this program writes
    ({"iterations": 4.0}, "iterations"),
    ({"lanes": True}, "lanes"),
    ({"iterations": None}, "iterations"),
    ({"kind": "extra"}, "kind"),
])
def test_out_of_bounds_or_mistyped_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(VaultError, match=field):
        kdf.Argon2Params.from_json(GOOD | change)


def test_missing_field_and_foreign_shapes_are_refused() -> None:
    for missing in ("memory_kib", "iterations", "lanes", "salt"):
        with pytest.raises(VaultError, match=missing):
            kdf.Argon2Params.from_json({k: v for k, v in GOOD.items() if k != missing})
    with pytest.raises(VaultError, match="unknown KDF"):
        kdf.Argon2Params.from_json(GOOD | {"algorithm": "argon2i"})
    for shape in ([], "argon2id", None, 7):
        with pytest.raises(VaultError, match="damaged"):
            kdf.Argon2Params.from_json(shape)


def test_params_made_in_code_are_bounded_too() -> None:
    with pytest.raises(VaultError, match="memory_kib"):
        kdf.Argon2Params(8 * 1024 * 1024, 1, 1, b"s" * 16)


def _set_admin_kdf(vault: VaultInfo, **change: object) -> None:
    path = vault.path / "keyslots.json"
    doc = json.loads(path.read_text())
    doc["slots"][0]["kdf"].update(change)
    path.write_text(json.dumps(doc))


def test_hostile_slot_parameters_fail_fast_with_the_field_named(vault: VaultInfo,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 TiB of memory or 2^31 passes would hang or kill the unlock if derived; they are refused before any
    # derivation starts (a derivation reached fails the test, instead of a wall-clock bound).
    _set_admin_kdf(vault, memory_kib=2**30)
    derived: list[kdf.Argon2Params] = []
    real = kdf.derive_kek

    def watched(passphrase: str, params: kdf.Argon2Params) -> bytes:
        derived.append(params)
        if params.memory_kib > kdf.TEST_MEMORY_KIB * 16:
            raise AssertionError(f"Argon2id was started with {params.memory_kib} KiB")
        return real(passphrase, params)

    monkeypatch.setattr(kdf, "derive_kek", watched)
    with pytest.raises(VaultError, match="'memory_kib' is 1073741824 KiB"):
        unlock(vault.path, ADMIN, ADMIN_PASS)
    assert not [p for p in derived if p.memory_kib == 2**30]
    _set_admin_kdf(vault, memory_kib=kdf.TEST_MEMORY_KIB, iterations=2**31)
    cli = run_cli("case", "list", env={"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN,
                                       "ICSPA_PASSPHRASE": ADMIN_PASS})
    assert cli.returncode == 5 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr
    assert "'iterations'" in cli.stderr and "Traceback" not in cli.stderr


# ---- the test profile ----------------------------------------------------------------------------------
def test_outside_the_hook_new_slots_are_production_and_weak_ones_refused(production_kdf: None) -> None:
    params = kdf.new_params()
    assert (params.memory_kib, params.iterations, params.lanes) == (
        kdf.DEFAULT_MEMORY_KIB, kdf.DEFAULT_ITERATIONS, kdf.DEFAULT_LANES)
    weak = kdf.Argon2Params(kdf.TEST_MEMORY_KIB, kdf.TEST_ITERATIONS, 1, b"s" * 16)
    with pytest.raises(VaultError, match="below the floor"):
        kdf.derive_kek("passphrase", weak)


def test_the_hook_is_what_enables_the_test_profile() -> None:
    assert kdf.insecure_test_profile()  # tests/conftest.py called the hook
    assert kdf.new_params().memory_kib == kdf.TEST_MEMORY_KIB
    kdf.derive_kek("passphrase", kdf.new_params())


def _installed_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``icspa`` as installed (``-m icspa_desktop``): no test hook, but the old test switch in the environment."""
    full_env = dict(os.environ) | env | {"ICSPA_INSECURE_FAST_KDF": "1"}
    return subprocess.run([sys.executable, "-m", "icspa_desktop", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, check=False)


def test_environment_cannot_switch_the_installed_app_to_the_test_profile(tmp_path: Path, vault: VaultInfo) -> None:
    # A vault made by the installed app has production slots even with the old switch set...
    pw = tmp_path / "pw"
    pw.write_text("installed-app-passphrase\n")
    made = _installed_cli("--vault", str(tmp_path / "v"), "--user", "root.admin", "vault", "init",
                          "--new-passphrase-file", str(pw), env={})
    assert made.returncode == 0, made.stderr
    slot = json.loads((tmp_path / "v" / "keyslots.json").read_text())["slots"][0]["kdf"]
    assert (slot["memory_kib"], slot["iterations"], slot["lanes"]) == (
        kdf.DEFAULT_MEMORY_KIB, kdf.DEFAULT_ITERATIONS, kdf.DEFAULT_LANES)
    # ... and a slot made by the test profile does not open in it.
    refused = _installed_cli("case", "list", env={"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN,
                                                   "ICSPA_PASSPHRASE": ADMIN_PASS})
    assert refused.returncode == 5 and "below the floor" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
