"""Master-key rotation: after a user is disabled, an old copy of their key slot opens nothing current.

Every user holds the vault master key (it opens the database), so disabling an account in the log and
the users table is not enough: a copy of the old ``keyslots.json`` still yields the master key. A
rotation makes a new master key and (in this order, each step crash-safe):

1. leaves it in every remaining user's slot and the recovery slot, age-encrypted to their box keys
   (no passphrase is needed; each user wraps it under their own KEK at their next unlock);
2. in one transaction: rewraps every blob key and the agency keys sealed under the master key, stores
   the new key's check value, and records the ``vault_key_rotated`` custody event;
3. re-encrypts the database with the new key (SQLCipher ``PRAGMA rekey``).

A crash before 2 leaves the old key in force; a crash between 2 and 3 is finished at the next unlock by
any remaining user (vault/store.py ``_open_with_any``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from icspa_desktop.crypto import keys
from icspa_desktop.custody import userstate
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import UsageError, VaultError, _, ngettext
from icspa_desktop.domain.ids import UserId
from icspa_desktop.domain.progress import ProgressCallback, no_progress
from icspa_desktop.services import agency
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session, set_setting
from icspa_desktop.vault import blobs, db


@dataclass(frozen=True, slots=True)
class RotationResult:
    blobs_rewrapped: int
    users_reached: int
    new_recovery_key: str | None  # set when the old recovery slot could not be reached: print it once
    seconds: float


class RotationNotPossible(UsageError):
    """Some active user has no box key yet; a rotation now would lock them out."""


def rotate_master_key(session: Session, reason: str, *, progress: ProgressCallback = no_progress) -> RotationResult:
    session.require(Permission.MANAGE_USERS, attempted="rotate the vault master key")
    started = time.perf_counter()
    conn = session.conn
    state = userstate.replay(conn)
    active = [u for u in state.users.values() if u.active]
    waiting = sorted(u.name for u in active if not u.box_recipient)
    if waiting:
        raise RotationNotPossible(
            ngettext("The master key was not rotated: {names} has not unlocked the vault since the upgrade, so a new "
                     "key cannot be left for them yet. Ask them to unlock once, then run 'icspa vault rotate-key'.",
                     "The master key was not rotated: {names} have not unlocked the vault since the upgrade, so a new "
                     "key cannot be left for them yet. Ask them to unlock once, then run 'icspa vault rotate-key'.",
                     len(waiting), names=", ".join(waiting)))
    rows = conn.execute("SELECT b.id, i.id, b.wrapped_key FROM blobs b JOIN items i ON i.blob_id = b.id").fetchall()
    if len(rows) != int(conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]):
        raise VaultError(_("Some stored evidence has no item record, so its key cannot be rewrapped; run 'icspa "
                           "vault check' first. Nothing was rotated."))
    recipients = {UserId(u.user_id): str(u.box_recipient) for u in active}
    vault = session.vault
    old, new = vault.master_key, keys.new_master_key()
    slots = vault.keyslots
    new_recovery: str | None = None
    old_blob = keys.derive_subkey(old, keys.PURPOSE_BLOB_KEYS)
    new_blob = keys.derive_subkey(new, keys.PURPOSE_BLOB_KEYS)
    # The staged key is committed with the rewrapped keys (the database's copy of keyslots.json) and written to the
    # file before the rekey: a crash before the file is written is finished at the next unlock from that copy.
    with slots.change(session.transaction()):
        if not slots.stage_rotation(new, recipients):
            # A recovery slot from before rotations: replace it (still on the old key), then stage it too.
            new_recovery = slots.set_recovery(old)
            slots.stage_rotation(new, recipients)
        for done, (blob_id, item_id, wrapped) in enumerate(rows, 1):
            blob_key = blobs.unwrap_key(old_blob, str(blob_id), str(item_id), bytes(wrapped))
            conn.execute("UPDATE blobs SET wrapped_key = ? WHERE id = ?",
                         (blobs.wrap_key(new_blob, str(blob_id), str(item_id), blob_key), blob_id))
            if done % 1000 == 0:
                progress(done, len(rows), _("rewrapping evidence keys"))
        agency.reseal_for_new_master(conn, old, new)
        set_setting(conn, "vault.key_check", keys.check_value(new))
        session.record(EventDraft(CustodyAction.VAULT_KEY_ROTATED, purpose=reason, result="rotated", details={
            "blobs_rewrapped": len(rows), "users": sorted(u.name for u in active),
            "recovery_key_reissued": new_recovery is not None}))
    _rekey_database(session, new)
    vault.replace_master(new)
    progress(len(rows), len(rows), _("master key rotated"))
    return RotationResult(len(rows), len(recipients), new_recovery, time.perf_counter() - started)


def _rekey_database(session: Session, new: bytes) -> None:
    """Step 3: re-encrypt the database under the new key, and prove it by opening it afresh with that key.

    SQLCipher's ``PRAGMA rekey`` returns nothing, and a write error inside it (a failing disk) went unnoticed:
    the database stayed under the old key — the one a disabled user's old slot yields — while the rotation was
    reported done. A fresh connection is also what ``cipher_integrity_check`` needs after a rekey."""
    vault = session.vault
    sqlcipher_key = keys.derive_subkey(new, keys.PURPOSE_SQLCIPHER)
    old_key = keys.derive_subkey(vault.master_key, keys.PURPOSE_SQLCIPHER)
    failure: BaseException | None = None
    for _attempt in range(2):  # a passing disk fault: the second attempt finishes it now
        try:
            vault.conn.execute(f"PRAGMA rekey = \"x'{sqlcipher_key.hex()}'\"")
        except db.DatabaseError as exc:
            failure = db.storage_error(exc, vault.layout.database) or exc
        try:
            vault.reopen_database(sqlcipher_key)
            return
        except db.KeyMismatch:  # the rekey did not take: the database is still under the old key
            failure = failure or RuntimeError("the database did not take the new key")
        except VaultError as exc:  # StorageError: the disk fails
            failure = exc
        try:
            vault.reopen_database(old_key)  # keep working on the old key if the disk lets us
        except VaultError:
            break
    cause = failure.cause if isinstance(failure, db.StorageError) else str(failure)
    raise RotationIncomplete(
        _("The new master key is recorded in the custody log, but re-encrypting the database with it failed "
          "({cause}): until that is done the old key still opens the database. It is finished at the next unlock by "
          "any user: fix the disk, then unlock again (for example 'icspa vault check').", cause=cause)) from failure


class RotationIncomplete(VaultError):
    """The rotation's commit is done, its database rekey is not (finished at the next unlock)."""
