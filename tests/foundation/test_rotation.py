"""Disabling a user rotates the master key: an old copy of their slot opens nothing current (issue 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from icspa_desktop.crypto import keys
from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError, PermissionDenied, VaultError
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, custody_verify, evidence, fixity, rotation, users, vault_service
from icspa_desktop.services.session import unlock
from icspa_desktop.vault import db, keyslots
from icspa_desktop.vault.keyslots import KeySlotFile
from icspa_desktop.vault.layout import VaultLayout
from icspa_desktop.vault.store import VaultHeader
from tests.conftest import NAMES, PASSPHRASES, VaultInfo, run_cli

INV = Role.INVESTIGATOR


@pytest.fixture
def stocked(vault: VaultInfo, tmp_path: Path) -> VaultInfo:
    source = tmp_path / "seized"
    source.mkdir()
    for i in range(5):
        (source / f"file{i}.bin").write_bytes(bytes([i]) * (70_000 + i))
    with vault.session() as alice:
        case = cases.create_case(alice, CaseFields(number="R-1", title="Rotation"))
        evidence.add_files(alice, case.id, [source])
    return vault


def _old_master(vault: VaultInfo, slots_bytes: bytes, role: Role) -> bytes:
    """What a kept copy of keyslots.json still yields for a user: the master key of that day."""
    copy = vault.path.parent / "kept-keyslots.json"
    copy.write_bytes(slots_bytes)
    header = VaultHeader.load(VaultLayout(vault.path))
    return KeySlotFile.load(copy, header.vault_id).unlock(NAMES[role], PASSPHRASES[role]).master_key


def test_disable_rotates_and_the_old_slot_opens_nothing(stocked: VaultInfo) -> None:
    kept = (stocked.path / "keyslots.json").read_bytes()  # ivan keeps a copy of his slot
    with stocked.session() as alice:
        _, result = users.set_active(alice, NAMES[INV], False)
        assert result is not None and result.blobs_rewrapped == 5 and result.users_reached == 3
        assert result.new_recovery_key is None  # this vault's recovery slot has its own box key
    old = _old_master(stocked, kept, INV)
    with pytest.raises(VaultError, match="does not open"):
        db.open_database(stocked.path / "metadata.db", keys.derive_subkey(old, keys.PURPOSE_SQLCIPHER))
    # Putting the old slot file back does not help either.
    (stocked.path / "keyslots.json").write_bytes(kept)
    with pytest.raises((AuthenticationError, VaultError)):
        unlock(stocked.path, NAMES[INV], PASSPHRASES[INV])


def test_everyone_else_keeps_working_and_adopts_the_new_key(stocked: VaultInfo, tmp_path: Path) -> None:
    with stocked.session() as alice:
        users.set_active(alice, NAMES[INV], False)
    for role in (Role.SUPERVISOR, Role.AUDITOR, Role.ADMINISTRATOR):
        with stocked.session(role) as s:
            assert all(r.ok for r in fixity.verify_case(s, "R-1"))  # every blob key opens under the new key
            assert custody_verify.verify(s, witness_dir=tmp_path / "w").ok
    slots = json.loads((stocked.path / "keyslots.json").read_text())["slots"]
    # Each user who unlocked wrapped the new key under their own KEK; the disabled user got none.
    assert [s.get("rotated_master") for s in slots if s.get("kind") == "passphrase"] == [None] * 4
    with stocked.session() as alice:
        event = [e for e in events.list_events(alice.conn) if e.action == CustodyAction.VAULT_KEY_ROTATED][-1]
        assert event.body["details"]["blobs_rewrapped"] == 5


def test_recovery_key_and_re_enabling_still_work(stocked: VaultInfo, tmp_path: Path) -> None:
    with stocked.session() as alice:
        users.set_active(alice, NAMES[INV], False)
        users.set_active(alice, NAMES[INV], True)
    with stocked.session(INV) as ivan:
        assert ivan.user.active
    with vault_service.recover(stocked.path, stocked.recovery_key, NAMES[Role.SUPERVISOR], "sam-new-passphrase") as s:
        assert custody_verify.verify(s, witness_dir=tmp_path / "w").ok
    with unlock(stocked.path, NAMES[Role.SUPERVISOR], "sam-new-passphrase") as s:
        assert all(r.ok for r in fixity.verify_case(s, "R-1"))


def test_rotation_interrupted_before_the_rekey_is_finished_at_unlock(stocked: VaultInfo) -> None:
    kept = (stocked.path / "keyslots.json").read_bytes()
    with stocked.session() as alice:
        users.set_active(alice, NAMES[INV], False)
        new = alice.vault.master_key
    old = _old_master(stocked, kept, Role.SUPERVISOR)
    # The state a crash between the rotation's COMMIT and its rekey leaves: new content, old encryption.
    conn = db.open_database(stocked.path / "metadata.db", keys.derive_subkey(new, keys.PURPOSE_SQLCIPHER))
    conn.execute(f"PRAGMA rekey = \"x'{keys.derive_subkey(old, keys.PURPOSE_SQLCIPHER).hex()}'\"")
    conn.close()
    with stocked.session(Role.SUPERVISOR) as sam:  # the old key opens it, the new one is in sam's slot
        assert sam.vault.master_key == new
        assert all(r.ok for r in fixity.verify_case(sam, "R-1"))
    db.open_database(stocked.path / "metadata.db", keys.derive_subkey(new, keys.PURPOSE_SQLCIPHER)).close()


def test_only_an_administrator_rotates(stocked: VaultInfo) -> None:
    with stocked.session(Role.SUPERVISOR) as sam, pytest.raises(PermissionDenied):
        rotation.rotate_master_key(sam, "mine")
    env = {"ICSPA_VAULT": str(stocked.path), "ICSPA_USER": NAMES[Role.ADMINISTRATOR],
           "ICSPA_PASSPHRASE": PASSPHRASES[Role.ADMINISTRATOR]}
    done = run_cli("vault", "rotate-key", "--reason", "scheduled", env=env)
    assert done.returncode == 0, done.stderr
    assert "5 evidence keys rewrapped" in done.stdout
    disabled = run_cli("user", "disable", NAMES[INV], env=env)
    assert disabled.returncode == 0 and "master key was rotated" in disabled.stdout


def test_a_disable_without_its_rotation_is_said_at_every_administrators_unlock(stocked: VaultInfo) -> None:
    """The disable commits first and the rotation is a second step: killed in between (or failing), the signed
    log shows a disable after the last rotation, and every administrator is told to finish it."""
    with stocked.session() as alice:
        ivan = users.get_user(alice, NAMES[INV])
        users._change(alice, ivan, {"active": False})  # the first step alone, as a kill after it leaves it
    with stocked.session() as alice:
        assert any(NAMES[INV] in w and "vault rekey" in w for w in alice.warnings), alice.warnings
        rotation.rotate_master_key(alice, "finishing the disable")
    with stocked.session() as alice:
        assert not [w for w in alice.warnings if "rekey" in w]
    with stocked.session(Role.SUPERVISOR) as bob:  # not someone who can act on it
        assert not [w for w in bob.warnings if "rekey" in w]


def test_a_failed_commit_takes_the_new_key_slot_back(stocked: VaultInfo) -> None:
    before = (stocked.path / "keyslots.json").read_bytes()
    with stocked.session() as alice:
        slots = alice.vault.keyslots
        with pytest.raises(RuntimeError), slots.change(alice.transaction()):
            slots.add_passphrase_slot("mallory", "user-mallory", "a long enough passphrase", alice.vault.master_key,
                                      b"\x01" * 32, None)
            raise RuntimeError("the commit failed")
        assert not slots.has_user("mallory")
        assert keyslots.stored_copy(alice.conn) == before  # the database's copy is the file's, unchanged
    assert (stocked.path / "keyslots.json").read_bytes() == before

def _unwritable(path: Path) -> bytes:
    """Make ``path`` impossible to replace (a directory in its place: the rename onto it fails, as on a failing
    disk); returns its bytes so that ``_writable`` can put the old file back, as the disk left it."""
    data = path.read_bytes()
    path.unlink()
    path.mkdir()
    return data


def _writable(path: Path, data: bytes) -> None:
    path.rmdir()
    path.write_bytes(data)


def test_a_user_add_whose_key_slot_file_cannot_be_written_is_finished_at_the_next_unlock(stocked: VaultInfo) -> None:
    path = stocked.path / "keyslots.json"
    with stocked.session() as alice:
        old = _unwritable(path)
        with pytest.raises(keyslots.SlotsNotWritten, match="finished at the next unlock"):
            users.add_user(alice, "mallory", Role.INVESTIGATOR, "a long enough passphrase 1")
    _writable(path, old)
    with pytest.raises(AuthenticationError):  # the file does not have the slot yet
        unlock(stocked.path, "mallory", "a long enough passphrase 1")
    with stocked.session(Role.AUDITOR) as anyone:  # any unlock writes out what the database committed
        assert not [w for w in anyone.warnings if "key-slot" in w], anyone.warnings
    assert path.read_bytes() != old
    with unlock(stocked.path, "mallory", "a long enough passphrase 1") as mallory:
        assert mallory.user.role == Role.INVESTIGATOR


def test_a_rotation_whose_key_slot_file_cannot_be_written_is_finished_at_the_next_unlock(stocked: VaultInfo) -> None:
    """The rotation's commit holds the new master key (left in each slot of the database's copy); the file still
    holds the old slots and the database the old key. The next unlock finds the new key in the database's copy,
    finishes the rekey and writes the file: no key is lost, the evidence opens."""
    path = stocked.path / "keyslots.json"
    with stocked.session() as alice:
        old_master = bytes(alice.vault.master_key)
        old = _unwritable(path)
        with pytest.raises(keyslots.SlotsNotWritten, match="finished at the next unlock"):
            rotation.rotate_master_key(alice, "test rotation")
    _writable(path, old)
    with stocked.session(Role.SUPERVISOR) as bob:
        new_master = bytes(bob.vault.master_key)
        assert new_master != old_master
        reports = fixity.verify_all(bob)
        assert len(reports) == 5 and all(not r.problem for r in reports), reports
    with stocked.session() as alice:
        assert bytes(alice.vault.master_key) == new_master
    header = VaultHeader.load(VaultLayout(stocked.path))
    masters = KeySlotFile.load(path, header.vault_id).unlock(NAMES[Role.ADMINISTRATOR],
                                                            PASSPHRASES[Role.ADMINISTRATOR]).masters
    db.open_database(VaultLayout(stocked.path).database, keys.derive_subkey(masters[0], keys.PURPOSE_SQLCIPHER)).close()


def test_a_key_slot_file_with_slots_the_database_never_committed_is_rewritten_and_said(stocked: VaultInfo) -> None:
    path = stocked.path / "keyslots.json"
    with stocked.session() as alice:
        master = bytes(alice.vault.master_key)
    header = VaultHeader.load(VaultLayout(stocked.path))
    edited = KeySlotFile.load(path, header.vault_id)
    edited.add_passphrase_slot("ghost", "user-ghost", "ghost passphrase long", master, b"\x02" * 32)
    path.write_bytes(edited.to_bytes())
    with stocked.session(Role.AUDITOR) as auditor:
        assert [w for w in auditor.warnings if "never committed" in w], auditor.warnings
    assert not KeySlotFile.load(path, header.vault_id).has_user("ghost")
    with pytest.raises(AuthenticationError):
        unlock(stocked.path, "ghost", "ghost passphrase long")


def test_a_damaged_copy_of_the_slots_in_the_database_locks_nobody_out(stocked: VaultInfo) -> None:
    """Attacked with direct SQL by someone holding the master key: garbage in the database's copy of the key slots.
    Every unlock used to fail ("the key-slot file … is unreadable or damaged", naming the intact file); now the
    file this unlock used is kept, becomes the copy again, and the unlock says so once."""
    path = stocked.path / "keyslots.json"
    file_bytes = path.read_bytes()
    with stocked.session() as alice, alice.transaction() as conn:
        keyslots.store_copy(conn, b"garbage, not a key-slot file")
    with stocked.session(Role.INVESTIGATOR) as ivan:
        assert [w for w in ivan.warnings if "copy of the key slots was damaged" in w], ivan.warnings
        assert keyslots.stored_copy(ivan.conn) == file_bytes
    assert path.read_bytes() == file_bytes
    with stocked.session(Role.INVESTIGATOR) as ivan:
        assert not [w for w in ivan.warnings if "key slots" in w], ivan.warnings


def test_a_slot_written_into_the_database_copy_by_hand_opens_nothing(stocked: VaultInfo) -> None:
    """The same insider adds a slot for a user of their own to the database's copy: the next unlock writes it to
    the file (the copy is the committed state), but the signed user state knows no such user: refused."""
    with stocked.session() as alice:
        vault = alice.vault
        forged = KeySlotFile.parse(keyslots.stored_copy(alice.conn) or b"", vault.keyslots.path, vault.header.vault_id)
        forged.add_passphrase_slot("mallory", "user-mallory", "mallory passphrase long", vault.master_key, b"\x03" * 32)
        with alice.transaction() as conn:
            keyslots.store_copy(conn, forged.to_bytes())
    with stocked.session():
        pass
    with pytest.raises(AuthenticationError, match="belongs to no user"):
        unlock(stocked.path, "mallory", "mallory passphrase long")
