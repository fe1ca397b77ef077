"""The production floor of a key slot's Argon2id parameters, with its numbers written out (not kdf.MIN_*)."""

from __future__ import annotations

import pytest

from icspa_desktop.crypto import kdf
from icspa_desktop.domain.errors import VaultError

SALT = b"s" * 16


@pytest.mark.parametrize(("memory_kib", "iterations"), [(64 * 1024, 1), (64 * 1024, 2), (256 * 1024, 2),
                                                        (63 * 1024, 4)])
def test_below_the_floor_is_refused(production_kdf: None, memory_kib: int, iterations: int) -> None:
    """64 MiB and t = 3 (RFC 9106 §4); t = 1 or 2 used to pass, because the floor on t was 1."""
    with pytest.raises(VaultError, match="below the floor"):
        kdf.derive_kek("passphrase", kdf.Argon2Params(memory_kib, iterations, 1, SALT))


def test_the_floor_and_every_production_profile_ever_written_open(production_kdf: None) -> None:
    assert len(kdf.derive_kek("passphrase", kdf.Argon2Params(64 * 1024, 3, 1, SALT))) == 32
    # The first production profile (t = 3) and the current one (t = 4), both 256 MiB on 2 lanes.
    for iterations in (3, 4):
        assert len(kdf.derive_kek("passphrase", kdf.Argon2Params(256 * 1024, iterations, 2, SALT))) == 32
