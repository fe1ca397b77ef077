"""Passphrase → key-encryption key with Argon2id (RFC 9106), parameters stored per key slot."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from icspa_desktop.domain.errors import VaultError

KEY_LEN = 32
SALT_LEN = 16

# Floors below which a slot is refused outside the explicit test profile: issue #2 asks ≥ 64 MiB.
MIN_MEMORY_KIB = 64 * 1024
MIN_ITERATIONS = 1

TEST_PROFILE_ENV = "ICSPA_INSECURE_FAST_KDF"


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["salt"] = self.salt.hex()
        data["algorithm"] = "argon2id"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Argon2Params:
        if data.get("algorithm") != "argon2id":
            raise VaultError(f"Key slot uses an unknown KDF {data.get('algorithm')!r}.")
        try:
            return cls(
                memory_kib=int(data["memory_kib"]),
                iterations=int(data["iterations"]),
                lanes=int(data["lanes"]),
                salt=bytes.fromhex(data["salt"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise VaultError("Key slot KDF parameters are damaged.") from exc


# Issue #2 asks for ≥ 0.5 s here: t=3 measured 0.46–0.56 s on the 2-core machines, t=4 0.59–0.70 s
# (`./dev.sh bench vault` prints the figure).
DEFAULT_MEMORY_KIB = 256 * 1024
DEFAULT_ITERATIONS = 4
DEFAULT_LANES = 2

# Only for automated tests (env ICSPA_INSECURE_FAST_KDF=1): thousands of vault inits must stay fast.
TEST_MEMORY_KIB = 8 * 1024
TEST_ITERATIONS = 1


def insecure_test_profile() -> bool:
    return os.environ.get(TEST_PROFILE_ENV) == "1"


def new_params() -> Argon2Params:
    """Fresh parameters for a new or rewritten slot: the production profile unless the test one is set."""
    salt = os.urandom(SALT_LEN)
    if insecure_test_profile():
        return Argon2Params(TEST_MEMORY_KIB, TEST_ITERATIONS, 1, salt)
    return Argon2Params(DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS, DEFAULT_LANES, salt)


def derive_kek(passphrase: str, params: Argon2Params) -> bytes:
    """The slot's key-encryption key. Refuses parameters below the floor unless in the test profile."""
    if not insecure_test_profile() and params.memory_kib < MIN_MEMORY_KIB:
        raise VaultError(
            f"Key slot Argon2id memory {params.memory_kib} KiB is below the {MIN_MEMORY_KIB} KiB floor; "
            "it was made by a test profile and is not safe to use."
        )
    kdf = Argon2id(
        salt=params.salt,
        length=KEY_LEN,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase.encode("utf-8"))


def time_derivation(params: Argon2Params) -> float:
    """Seconds one derivation takes here (for benchmarks and parameter tuning)."""
    start = time.perf_counter()
    Argon2id(
        salt=params.salt,
        length=KEY_LEN,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    ).derive(b"calibration input")
    return time.perf_counter() - start
