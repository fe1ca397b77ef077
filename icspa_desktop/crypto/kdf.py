"""Passphrase → key-encryption key with Argon2id (RFC 9106), parameters stored per key slot.

Parameters read from a key-slot file are untrusted: ``Argon2Params.from_json`` bounds every field before
anything is derived, so a tampered file cannot make an unlock allocate 1 TiB or loop for hours, and a slot
below the production floor is refused outside the test profile (``derive_kek``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from icspa_desktop.domain.errors import VaultError, _

KEY_LEN = 32
SALT_LEN = 16

# Floors below which a slot is refused outside the explicit test profile: issue #2 asks ≥ 64 MiB, and
# RFC 9106 §4 pairs 64 MiB with t = 3 (its second recommended option). Every production profile this
# program has written (256 MiB with t = 3, later t = 4) is above both. (The floor on t was 1, which the
# bounds of Argon2Params already imply: it never refused anything.)
MIN_MEMORY_KIB = 64 * 1024
MIN_ITERATIONS = 3

# Hard bounds on parameters read from disk, whatever the profile (issue #8). The lower ones are the
# test profile's values (nothing legitimate is weaker); the upper ones keep a tampered slot from making
# an unlock exhaust memory or time.
MAX_MEMORY_KIB = 4 * 1024 * 1024  # 4 GiB
ABS_MIN_MEMORY_KIB = 8 * 1024
MAX_ITERATIONS = 64
MAX_LANES = 16
MIN_SALT_LEN = 16
MAX_SALT_LEN = 64
_FIELDS = {"algorithm", "memory_kib", "iterations", "lanes", "salt"}


def _bounds_problem(memory_kib: int, iterations: int, lanes: int, salt: bytes) -> str:
    """The first parameter outside its bounds, as a user-facing phrase; '' when all are inside."""
    if not 1 <= lanes <= MAX_LANES:
        return _("'lanes' is {value}, outside 1–{high}", value=lanes, high=MAX_LANES)
    if not 1 <= iterations <= MAX_ITERATIONS:
        return _("'iterations' is {value}, outside 1–{high}", value=iterations, high=MAX_ITERATIONS)
    low = max(ABS_MIN_MEMORY_KIB, 8 * lanes)  # Argon2 itself needs 8 KiB per lane
    if not low <= memory_kib <= MAX_MEMORY_KIB:
        return _("'memory_kib' is {value} KiB, outside {low}–{high} KiB", value=memory_kib, low=low,
                 high=MAX_MEMORY_KIB)
    if not MIN_SALT_LEN <= len(salt) <= MAX_SALT_LEN:
        return _("'salt' has {size} bytes, outside {low}–{high}", size=len(salt), low=MIN_SALT_LEN, high=MAX_SALT_LEN)
    return ""


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    def __post_init__(self) -> None:
        problem = _bounds_problem(self.memory_kib, self.iterations, self.lanes, self.salt)
        if problem:
            raise VaultError(_("Key slot KDF parameter {problem}; the key-slot file is damaged or was tampered with.",
                               problem=problem))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["salt"] = self.salt.hex()
        data["algorithm"] = "argon2id"
        return data

    @classmethod
    def from_json(cls, untrusted: Any) -> Argon2Params:
        """Parameters as read from a key-slot file: exact types, no unknown fields, every value bounded."""
        if not isinstance(untrusted, dict):
            raise VaultError(_("Key slot KDF parameters are damaged (not an object)."))
        if untrusted.get("algorithm") != "argon2id":
            raise VaultError(_("Key slot uses an unknown KDF {algorithm}.", algorithm=repr(untrusted.get("algorithm"))))
        unknown = sorted(str(k) for k in untrusted if k not in _FIELDS)
        if unknown:
            raise VaultError(_("Key slot KDF parameters have unknown field(s) {fields}.", fields=", ".join(unknown)))
        numbers: dict[str, int] = {}
        for name in ("memory_kib", "iterations", "lanes"):
            value = untrusted.get(name)
            # bool is an int in Python; "3" or 3.0 are not what this program writes.
            if not isinstance(value, int) or isinstance(value, bool):
                raise VaultError(_("Key slot KDF parameter {name} is missing or not an integer.", name=repr(name)))
            numbers[name] = value
        salt_hex = untrusted.get("salt")
        if not isinstance(salt_hex, str) or len(salt_hex) > 2 * MAX_SALT_LEN:
            raise VaultError(_("Key slot KDF parameter 'salt' is missing, too long or not text."))
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            raise VaultError(_("Key slot KDF parameter 'salt' is not hexadecimal.")) from None
        return cls(memory_kib=numbers["memory_kib"], iterations=numbers["iterations"], lanes=numbers["lanes"],
                   salt=salt)


# Issue #2 asks for ≥ 0.5 s here: t=3 measured 0.46–0.56 s on the 2-core machines, t=4 0.59–0.70 s
# (`./dev.sh bench vault` prints the figure).
DEFAULT_MEMORY_KIB = 256 * 1024
DEFAULT_ITERATIONS = 4
DEFAULT_LANES = 2

# Only for automated tests and benchmarks, where thousands of vault inits must stay fast. Switched on by
# code in the same process (tests/conftest.py, bench/); deliberately no environment variable, setting or
# option reaches it, so the installed app always creates and demands the production profile.
TEST_MEMORY_KIB = 8 * 1024
TEST_ITERATIONS = 1
_profile = {"insecure_test": False}


def use_insecure_test_profile(enabled: bool = True) -> None:
    """Tests and benchmarks only: create cheap slots and accept slots below the production floor."""
    _profile["insecure_test"] = enabled


def insecure_test_profile() -> bool:
    return _profile["insecure_test"]


def new_params() -> Argon2Params:
    """Fresh parameters for a new or rewritten slot: the production profile unless the test one is set."""
    salt = os.urandom(SALT_LEN)
    if insecure_test_profile():
        return Argon2Params(TEST_MEMORY_KIB, TEST_ITERATIONS, 1, salt)
    return Argon2Params(DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS, DEFAULT_LANES, salt)


def derive_kek(passphrase: str, params: Argon2Params) -> bytes:
    """The slot's key-encryption key. Refuses parameters below the floor unless in the test profile."""
    if not insecure_test_profile() and (params.memory_kib < MIN_MEMORY_KIB or params.iterations < MIN_ITERATIONS):
        raise VaultError(_(
            "Key slot Argon2id parameters (memory {memory} KiB, {iterations} iteration(s)) are below the floor "
            "({min_memory} KiB, {min_iterations}); the slot was made by a test profile and is not safe to use.",
            memory=params.memory_kib, iterations=params.iterations, min_memory=MIN_MEMORY_KIB,
            min_iterations=MIN_ITERATIONS))
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
