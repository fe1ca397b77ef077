"""Issue 13 item 6: the key buffers the app owns are overwritten with zeros when the vault locks.

The vault master key (``UnlockedVault._master_key``) and the user's Ed25519 signing key (``Session._signing_key``)
are the ``bytearray`` objects the app keeps for the whole session. The tests take those very objects before the lock
and read them after it: every byte zero, and the session no longer hands a key out. What Python cannot zero (the
``bytes`` copies made on the way, SQLCipher's own copy, the age identity ``str``) is stated in docs/SECURITY.md,
"Secrets in memory".
"""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from icspa_desktop.domain.enums import Role
from icspa_desktop.domain.errors import VaultError, VaultLocked
from icspa_desktop.gui.app import DesktopApp
from icspa_desktop.services import users
from icspa_desktop.services.session import Session
from tests.conftest import NAMES, VaultInfo
from tests.gui.conftest import unlock_as


def key_buffers(session: Session) -> tuple[bytearray, bytearray]:
    """The session's own buffers (not copies): the vault master key and the signing key."""
    master, signing = session.vault._master_key, session._signing_key
    assert isinstance(master, bytearray) and isinstance(signing, bytearray)
    assert len(master) == 32 and len(signing) == 32
    assert any(master) and any(signing)  # real keys before the lock
    assert bytes(master) == session.vault.master_key and bytes(signing) == session.signing_key()
    return master, signing


def assert_dropped(session: Session, master: bytearray, signing: bytearray) -> None:
    assert master == bytearray(32) and signing == bytearray(32)  # overwritten in place, every byte
    assert session.vault._master_key is None and session._signing_key is None
    with pytest.raises(VaultLocked):
        _ = session.vault.master_key
    with pytest.raises(VaultError):
        session.signing_key()
    with pytest.raises(VaultError):
        session.box_secret()


def test_lock_zeroes_the_master_key_and_the_signing_key(vault: VaultInfo) -> None:
    session = vault.session()
    master, signing = key_buffers(session)
    session.lock()
    assert_dropped(session, master, signing)
    assert not session.is_open


def test_ctrl_l_in_the_desktop_zeroes_them(qtbot: QtBot, desktop: DesktopApp) -> None:
    unlock_as(qtbot, desktop)
    session = desktop.session
    assert session is not None
    master, signing = key_buffers(session)
    with qtbot.waitSignal(desktop.locked, timeout=10_000):
        desktop.window.lock_action.trigger()
    assert_dropped(session, master, signing)


def test_a_master_key_rotation_zeroes_the_old_key_in_memory(vault: VaultInfo) -> None:
    """Disabling a user replaces the master key; the buffer of the old one is overwritten, not just dropped."""
    with vault.session() as session:
        old, _signing = key_buffers(session)
        old_value = bytes(old)
        _user, rotated = users.set_active(session, NAMES[Role.INVESTIGATOR], False)
        assert rotated is not None
        assert old == bytearray(32)
        current = session.vault._master_key
        assert current is not None and current is not old and bytes(current) != old_value and any(current)
