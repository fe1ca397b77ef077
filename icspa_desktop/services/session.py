"""An unlocked vault with the user who unlocked it: the handle every service takes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from icspa_desktop.crypto.signing import public_from_private
from icspa_desktop.custody import events
from icspa_desktop.custody.events import Actor, EventDraft, StoredEvent
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError, PermissionDenied, UsageError, VaultError
from icspa_desktop.domain.ids import CaseId, ItemId, UserId
from icspa_desktop.domain.models import User
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.vault import db
from icspa_desktop.vault.keyslots import Unlocked
from icspa_desktop.vault.migrations import Migration
from icspa_desktop.vault.store import UnlockedVault, open_and_unlock

USER_NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")


def check_user_name(name: str) -> str:
    if not USER_NAME_RE.fullmatch(name):
        raise UsageError(
            f"User name {name!r} is not valid: use 1–32 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter."
        )
    return name


MIN_PASSPHRASE_LEN = 8


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        raise UsageError(f"The passphrase is too short: use at least {MIN_PASSPHRASE_LEN} characters.")
    return passphrase


def row_to_user(row: tuple[object, ...], public_key: bytes) -> User:
    uid, name, display, role, active, created = row
    return User(UserId(str(uid)), str(name), str(display), Role(str(role)), bool(active),
                datetime.fromisoformat(str(created)), public_key)


USER_COLUMNS = "id, name, display_name, role, active, created_at"


def current_public_key(conn: db.Connection, user_id: UserId) -> bytes:
    row = conn.execute(
        "SELECT public_key FROM user_keys WHERE user_id = ? AND retired_at IS NULL", (user_id,)
    ).fetchone()
    if row is None:
        raise VaultError("The user has no active signing key; the vault is damaged.")
    return bytes(row[0])


def setting(conn: db.Connection, key: str, default: str = "") -> str:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return default if row is None else str(row[0])


def set_setting(conn: db.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


class Session:
    """One user's unlocked vault. ``lock()`` closes the database and drops every key."""

    def __init__(self, vault: UnlockedVault, user: User, signing_private_key: bytes) -> None:
        self.vault = vault
        self.user = user
        self._signing_key: bytearray | None = bytearray(signing_private_key)

    # ---- life cycle ----------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.vault.is_open

    def lock(self) -> None:
        if self._signing_key is not None:
            for i in range(len(self._signing_key)):
                self._signing_key[i] = 0
            self._signing_key = None
        self.vault.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    @property
    def conn(self) -> db.Connection:
        return self.vault.conn

    @property
    def vault_path(self) -> Path:
        return self.vault.layout.root

    @contextmanager
    def transaction(self) -> Iterator[db.Connection]:
        with db.transaction(self.conn) as conn:
            yield conn

    # ---- custody -------------------------------------------------------------------
    @property
    def agency_name(self) -> str:
        return setting(self.conn, "agency.name")

    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.name, self.user.display_name, self.user.role, self.agency_name)

    def signing_key(self) -> bytes:
        if self._signing_key is None:
            raise VaultError("The vault is locked; unlock it again.")
        return bytes(self._signing_key)

    def record(self, draft: EventDraft) -> StoredEvent:
        """Append a custody event signed by this user. Call inside the action's transaction."""
        return events.append(self.conn, draft, self.actor(), self.signing_key())

    # ---- roles ---------------------------------------------------------------------
    def require(
        self,
        permission: Permission,
        *,
        case_id: CaseId | None = None,
        item_ids: tuple[ItemId, ...] = (),
        attempted: str = "",
    ) -> None:
        """Raise PermissionDenied unless the user's role grants ``permission``; a denial is recorded."""
        if allowed(self.user.role, permission):
            return
        with self.transaction():
            self.record(
                EventDraft(
                    action=CustodyAction.ACCESS_DENIED,
                    case_id=case_id,
                    item_ids=item_ids,
                    result="denied",
                    details={"permission": permission.name.lower(), "attempted": attempted or permission.value,
                             "role": str(self.user.role)},
                )
            )
        raise PermissionDenied(
            f"Permission denied: the {self.user.role} role may not {permission.value}. The attempt was recorded."
        )


def unlock(path: Path, user_name: str, passphrase: str, migrations: list[Migration] | None = None) -> Session:
    """Open the vault at ``path`` as ``user_name``; AuthenticationError on a wrong name or passphrase."""
    vault, unlocked = open_and_unlock(path, lambda slots: slots.unlock(user_name, passphrase), migrations)
    assert isinstance(unlocked, Unlocked)
    try:
        return _session_for(vault, unlocked)
    except BaseException:
        vault.close()
        raise


def _session_for(vault: UnlockedVault, unlocked: Unlocked) -> Session:
    conn = vault.conn
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (unlocked.user_id,)).fetchone()
    if row is None:
        # A slot whose user row never committed (crash during 'user add'): unusable, so remove it.
        vault.keyslots.remove_slot(unlocked.user_id)
        vault.keyslots.save()
        raise AuthenticationError("Wrong user name or passphrase.")
    public_key = current_public_key(conn, unlocked.user_id)
    user = row_to_user(row, public_key)
    if not user.active:
        raise AuthenticationError(f"The account {user.name!r} is disabled; ask an administrator.")
    if public_from_private(unlocked.signing_private_key) != public_key:
        raise VaultError("The user's signing key does not match the vault's record; the vault is damaged.")
    return Session(vault, user, unlocked.signing_private_key)
