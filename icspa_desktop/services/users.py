"""Users, their roles, passphrases and signing keys."""

from __future__ import annotations

from datetime import UTC, datetime

from icspa_desktop.crypto import signing
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError, Conflict, NotFound, UsageError
from icspa_desktop.domain.ids import UserId, new_user_id
from icspa_desktop.domain.models import User
from icspa_desktop.services.permissions import Permission
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
    conn: db.Connection, user_id: UserId, name: str, display_name: str, role: Role, signing_private: bytes
) -> User:
    """Insert the user row and its first signing key (inside the caller's transaction)."""
    created = _now()
    public = signing.public_from_private(signing_private)
    try:
        conn.execute(
            f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, 1, ?)",
            (user_id, name, display_name, str(role), created),
        )
    except db.IntegrityError:
        raise Conflict(f"A user named {name!r} already exists.") from None
    conn.execute(
        "INSERT INTO user_keys (public_key, user_id, valid_from) VALUES (?, ?, ?)", (public, user_id, created)
    )
    return User(user_id, name, display_name, role, True, datetime.fromisoformat(created), public)


def add_user(session: Session, name: str, role: Role, passphrase: str, display_name: str = "") -> User:
    session.require(Permission.MANAGE_USERS, attempted=f"add user {name}")
    check_user_name(name)
    check_new_passphrase(passphrase)
    slots = session.vault.keyslots
    if slots.has_user(name):
        raise Conflict(f"A user named {name!r} already exists.")
    user_id = new_user_id()
    private, _ = signing.generate()
    with session.transaction() as conn:
        user = insert_user(conn, user_id, name, display_name or name, role, private)
        session.record(
            EventDraft(CustodyAction.USER_ADDED, details={"user_id": user_id, "name": name, "role": str(role)})
        )
        # The slot is written before COMMIT: a crash in between leaves an orphan slot that the next
        # unlock removes, never a user without a slot.
        slots.add_passphrase_slot(name, user_id, passphrase, session.vault.master_key, private)
        slots.save()
    return user


def list_users(session: Session) -> list[User]:
    session.require(Permission.READ)
    rows = session.conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY name").fetchall()
    return [row_to_user(row, current_public_key(session.conn, UserId(str(row[0])))) for row in rows]


def get_user(session: Session, name: str) -> User:
    row = session.conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"No user named {name!r}.")
    return row_to_user(row, current_public_key(session.conn, UserId(str(row[0]))))


def change_passphrase(session: Session, current: str, new: str) -> None:
    """Rewrite only this user's key slot (new salt, current Argon2id profile)."""
    check_new_passphrase(new)
    slots = session.vault.keyslots
    # Re-authenticate: an unattended unlocked session must not be enough to change the passphrase.
    try:
        slots.unlock(session.user.name, current)
    except AuthenticationError:
        raise AuthenticationError("The current passphrase is wrong; nothing was changed.") from None
    with session.transaction():
        session.record(EventDraft(CustodyAction.PASSPHRASE_CHANGED, details={"user_id": session.user.id}))
        slots.rewrite_slot(session.user.name, session.user.id, new, session.vault.master_key, session.signing_key())
        slots.save()


def reset_user_key(vault: UnlockedVault, user_name: str, new_passphrase: str) -> Session:
    """Recovery: new passphrase slot and a new signing key for ``user_name`` (old key retired)."""
    conn = vault.conn
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (user_name,)).fetchone()
    if row is None:
        raise NotFound(f"No user named {user_name!r} in this vault.")
    user_id = UserId(str(row[0]))
    old_public = current_public_key(conn, user_id)
    private, public = signing.generate()
    now = _now()
    with db.transaction(conn):
        conn.execute("UPDATE user_keys SET retired_at = ? WHERE public_key = ?", (now, old_public))
        conn.execute(
            "INSERT INTO user_keys (public_key, user_id, valid_from) VALUES (?, ?, ?)", (public, user_id, now)
        )
        session = Session(vault, row_to_user(row, public), private)
        session.record(
            EventDraft(
                CustodyAction.KEY_ROTATED,
                purpose="access recovered with the vault recovery key",
                details={"user_id": user_id, "old_key": signing.key_fingerprint(old_public),
                         "new_key": signing.key_fingerprint(public)},
            )
        )
        vault.keyslots.rewrite_slot(user_name, user_id, new_passphrase, vault.master_key, private)
        vault.keyslots.save()
    return session


def set_active(session: Session, name: str, active: bool) -> User:
    session.require(Permission.MANAGE_USERS, attempted=f"{'enable' if active else 'disable'} user {name}")
    user = get_user(session, name)
    if user.id == session.user.id and not active:
        raise UsageError("You cannot disable your own account.")
    with session.transaction() as conn:
        conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(active), user.id))
        session.record(
            EventDraft(CustodyAction.USER_CHANGED, details={"user_id": user.id, "name": name, "active": active})
        )
    return get_user(session, name)
