"""Users, their roles, passphrases and signing keys."""

from __future__ import annotations

from datetime import UTC, datetime

from icspa_desktop.crypto import age_keys, signing
from icspa_desktop.custody import userstate
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError, Conflict, IcspaError, NotFound, UsageError, VaultError, _
from icspa_desktop.domain.ids import UserId, new_user_id
from icspa_desktop.domain.models import User
from icspa_desktop.services import agency, rotation
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.rotation import RotationResult
from icspa_desktop.services.session import (
    USER_COLUMNS,
    Session,
    check_new_passphrase,
    check_user_name,
    current_public_key,
    row_to_user,
)
from icspa_desktop.vault import db
from icspa_desktop.vault.store import UnlockedVault


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def insert_user(
    conn: db.Connection, user_id: UserId, name: str, display_name: str, role: Role, signing_private: bytes,
    box_recipient: str | None = None,
) -> User:
    """Insert the user row and its first signing key (inside the caller's transaction)."""
    created = _now()
    public = signing.public_from_private(signing_private)
    try:
        conn.execute(
            f"INSERT INTO users ({USER_COLUMNS}, box_recipient) VALUES (?, ?, ?, ?, 1, ?, ?)",
            (user_id, name, display_name, str(role), created, box_recipient),
        )
    except db.IntegrityError:
        raise Conflict(_("A user named {name!r} already exists.", name=name)) from None
    conn.execute(
        "INSERT INTO user_keys (public_key, user_id, valid_from) VALUES (?, ?, ?)", (public, user_id, created)
    )
    return User(user_id, name, display_name, role, True, datetime.fromisoformat(created), public)


def added_details(user: User, box_recipient: str) -> dict[str, object]:
    """The signed facts of a new user (custody/userstate.py replays them)."""
    return {"user_id": user.id, "name": user.name, "display_name": user.display_name, "role": str(user.role),
            "signing_key": userstate.b64(user.signing_public_key), "box_recipient": box_recipient}


def add_user(session: Session, name: str, role: Role, passphrase: str, display_name: str = "") -> User:
    session.require(Permission.MANAGE_USERS, attempted=f"add user {name}")
    check_user_name(name)
    check_new_passphrase(passphrase)
    slots = session.vault.keyslots
    if slots.has_user(name):
        raise Conflict(_("A user named {name!r} already exists.", name=name))
    user_id = new_user_id()
    private, _public = signing.generate()
    box_secret, box_recipient = age_keys.generate_identity()
    # The slot is committed with the user (the database's copy of keyslots.json) and written to the file after
    # the commit: a failed commit leaves the file as it was, a crash after it is written out at the next unlock.
    with slots.change(session.transaction()) as conn:
        user = insert_user(conn, user_id, name, display_name or name, role, private, box_recipient)
        session.record(EventDraft(CustodyAction.USER_ADDED, details=added_details(user, box_recipient)))
        agency.grant_agency_key(session, user.id, role, box_recipient)
        slots.add_passphrase_slot(name, user_id, passphrase, session.vault.master_key, private, box_secret)
    return user


def check_name_available(session: Session, name: str) -> None:
    """UsageError/Conflict now, before a passphrase is asked for, when ``add_user`` would refuse the name."""
    session.require(Permission.MANAGE_USERS, attempted=f"add user {name}")
    check_user_name(name)
    if session.vault.keyslots.has_user(name) or session.conn.execute(
            "SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None:
        raise Conflict(_("A user named {name!r} already exists.", name=name))


def list_users(session: Session) -> list[User]:
    session.require(Permission.READ)
    rows = session.conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY name").fetchall()
    return [row_to_user(row, current_public_key(session.conn, UserId(str(row[0])))) for row in rows]


def get_user(session: Session, name: str) -> User:
    row = session.conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(_("No user named {name!r}.", name=name))
    return row_to_user(row, current_public_key(session.conn, UserId(str(row[0]))))


def change_passphrase(session: Session, current: str, new: str) -> None:
    """Rewrite only this user's key slot (new salt, current Argon2id profile)."""
    check_new_passphrase(new)
    slots = session.vault.keyslots
    # Re-authenticate: an unattended unlocked session must not be enough to change the passphrase.
    try:
        slots.unlock(session.user.name, current)
    except AuthenticationError:
        raise AuthenticationError(_("The current passphrase is wrong; nothing was changed.")) from None
    with slots.change(session.transaction()):
        session.record(EventDraft(CustodyAction.PASSPHRASE_CHANGED, details={"user_id": session.user.id}))
        slots.rewrite_slot(session.user.name, session.user.id, new, session.vault.master_key, session.signing_key(),
                           session.box_secret())


def reset_user_key(vault: UnlockedVault, user_name: str, new_passphrase: str, recovery_authority: bytes) -> Session:
    """Recovery: new passphrase slot and a new signing key for ``user_name`` (old key retired)."""
    conn = vault.conn
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (user_name,)).fetchone()
    if row is None:
        raise NotFound(_("No user named {name!r} in this vault.", name=user_name))
    user_id = UserId(str(row[0]))
    old_public = current_public_key(conn, user_id)
    private, public = signing.generate()
    box_secret, box_recipient = age_keys.generate_identity()
    now = _now()
    old_key, new_key = userstate.b64(old_public), userstate.b64(public)
    with vault.keyslots.change(db.transaction(conn)):
        conn.execute("UPDATE user_keys SET retired_at = ? WHERE public_key = ?", (now, old_public))
        conn.execute(
            "INSERT INTO user_keys (public_key, user_id, valid_from) VALUES (?, ?, ?)", (public, user_id, now)
        )
        conn.execute("UPDATE users SET box_recipient = ? WHERE id = ?", (box_recipient, user_id))
        # Copies of the agency key to the lost box key are useless: the next authorised user to sign
        # encrypts it to the new one (services.agency._share).
        conn.execute("DELETE FROM agency_key_wraps WHERE user_id = ?", (user_id,))
        session = Session(vault, row_to_user(row, public), private, box_secret)
        # The recovery authority (derived from the recovery key) signs the change: no user can forge it.
        countersign = signing.sign(recovery_authority, userstate.recovery_message(user_id, old_key, new_key))
        session.record(
            EventDraft(
                CustodyAction.KEY_ROTATED,
                purpose="access recovered with the vault recovery key",
                details={"user_id": user_id, "old_key": old_key, "new_key": new_key,
                         "recovery_signature": userstate.b64(countersign), "box_recipient": box_recipient},
            )
        )
        vault.keyslots.rewrite_slot(user_name, user_id, new_passphrase, vault.master_key, private, box_secret)
    return session


def set_active(session: Session, name: str, active: bool) -> tuple[User, RotationResult | None]:
    """Disable (then rotate the master key, so an old copy of their slot opens nothing current) or
    re-enable (leave the current master key for their box key) a user."""
    session.require(Permission.MANAGE_USERS, attempted=f"{'enable' if active else 'disable'} user {name}")
    user = get_user(session, name)
    if user.id == session.user.id and not active:
        raise UsageError(_("You cannot disable your own account."))
    changed = _change(session, user, {"active": active})
    if active:
        row = session.conn.execute("SELECT box_recipient FROM users WHERE id = ?", (user.id,)).fetchone()
        if row is not None and row[0]:
            with session.vault.keyslots.change(session.transaction()):
                session.vault.keyslots.leave_master_for(user.id, str(row[0]), session.vault.master_key)
        return changed, None
    try:
        return changed, rotation.rotate_master_key(session, f"user {name} disabled")
    except rotation.RotationIncomplete:
        raise  # recorded; the next unlock finishes it (its message says so)
    except (IcspaError, OSError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise VaultError(
            _("{name} is disabled (recorded in the custody log), but rotating the vault master key failed ({cause}): "
              "until it is rotated, their old key slot still opens the vault. Run 'icspa vault rekey --reason TEXT' "
              "once the problem is fixed (every administrator's unlock reminds you).", name=name, cause=cause)) from exc


def set_role(session: Session, name: str, role: Role) -> User:
    session.require(Permission.MANAGE_USERS, attempted=f"change the role of user {name}")
    user = get_user(session, name)
    if user.id == session.user.id:
        raise UsageError(_("You cannot change your own role; another administrator can."))
    return _change(session, user, {"role": str(role)})


def _change(session: Session, user: User, changes: dict[str, object]) -> User:
    """One signed user_changed event (an administrator's), the cache row, and the agency key grants."""
    with session.transaction() as conn:
        if "active" in changes:
            conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(bool(changes["active"])), user.id))
        if "role" in changes:
            conn.execute("UPDATE users SET role = ? WHERE id = ?", (changes["role"], user.id))
        session.record(EventDraft(CustodyAction.USER_CHANGED, details={"user_id": user.id, "name": user.name,
                                                                       **changes}))
        row = conn.execute("SELECT role, active, box_recipient FROM users WHERE id = ?", (user.id,)).fetchone()
        if bool(row[1]) and row[2]:
            agency.grant_agency_key(session, user.id, Role(str(row[0])), str(row[2]))
        else:
            agency.revoke_agency_key(session, user.id)
    return get_user(session, user.name)
