"""Users, roles, active state and keys as facts of signed custody events.

Every user with vault access holds the master key, so the ``users`` and ``user_keys`` tables can be
rewritten with direct SQL by anyone. What nobody can forge is another user's signature. So the state
of every user is *replayed* from the signed events that made it (docs/custody-format.md §5):

- ``user_added``     {user_id, name, display_name, role, signing_key, box_recipient}
- ``user_changed``   {user_id, role?, active?, display_name?}
- ``key_rotated``    {user_id, old_key, new_key[, recovery_signature, box_recipient]}
- ``user_box_key_set`` {user_id, box_recipient}
- ``vault_created``  {vault_id, recovery_authority}
- ``chain_started``  {users: [...]} — the snapshot that starts the chain in an upgraded vault

Each is accepted only when its signature is valid, its signing key belongs to its actor at that point,
and the actor may make it: an active administrator; the vault's creator for itself (genesis); a user
for their own box key or own key rotation; a key rotation carrying a signature by the recovery
authority (a key derived from the printed recovery key). The tables are a cache, compared with this.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from icspa_desktop.crypto import signing
from icspa_desktop.custody.events import SIGNATURE_CONTEXT
from icspa_desktop.custody.verify import Damage, DamageKind, KeyRecord, as_bytes
from icspa_desktop.domain.enums import CUSTODY_ACTION_WORDS, CustodyAction, Role
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.i18n import N_
from icspa_desktop.vault import db

STATE_ACTIONS: tuple[str, ...] = (
    str(CustodyAction.VAULT_CREATED), str(CustodyAction.USER_ADDED), str(CustodyAction.USER_CHANGED),
    str(CustodyAction.KEY_ROTATED), str(CustodyAction.USER_BOX_KEY_SET), str(CustodyAction.CHAIN_STARTED),
)
RECOVERY_CONTEXT = b"icspa-recovery-authority/v1\n"

# A damage's message is English (the report's --json, the custody report that bundles carry, the unlock's warning
# quotes it); ``DAMAGE.shown`` gives it in the reader's language.
_NOT_SIGNED_EVENT = N_("Event #{idx} ({id}) should record a user or key change but is not a valid signed event.")
_NOT_ACCEPTED = N_("Event #{idx} ({action} by {name}) is not accepted as a user or key change: {why}.")
_NEVER_ADDED = N_("User {name} is in the users table but was never added by a signed event (inserted with direct "
                  "SQL).")
# One damage a column of the users table that differs from the signed log (each a sentence of its own to translate).
_TABLE_SAYS = {
    "name": N_("User {name}: the users table says name {value} (signed: {signed}) — it was edited outside the app."),
    "role": N_("User {name}: the users table says role {value} (signed: {signed}) — it was edited outside the app."),
    "active": N_("User {name}: the users table says active {value} (signed: {signed}) — it was edited outside the "
                 "app."),
    "box key": N_("User {name}: the users table says box key {value} (signed: {signed}) — it was edited outside the "
                  "app."),
}
_TABLE_KEY = N_("User {name}: the users table holds another signing key — it was edited outside the app.")
_TABLE_MISSING = N_("User {name} was added by a signed event but is missing from the users table (deleted with "
                    "direct SQL).")
# Why a user-state event is refused (the {why} above).
_KEY_MISSING = N_("a key is missing")
_KEY_NOT_BASE64 = N_("a key is not base64")
_KEY_SIZE = N_("a key is not a 32-byte Ed25519 key")
_UNKNOWN_ROLE = N_("unknown role {role}")
_BAD_SIGNATURE = N_("its signature is not valid")
_KEY_NOT_HELD = N_("it is signed with a key its actor did not hold at that point")
_NO_DETAILS = N_("it has no details")
_CREATED_TWICE = N_("a vault is created only once, by the first event")
_ADD_NOT_ADMIN = N_("only an active administrator may add users")
_EXISTS = N_("the user already exists")
_NAME_TAKEN = N_("the user name {name} is missing or taken")
_CHANGE_NOT_ADMIN = N_("only an active administrator may change a user")
_ACTIVE_NOT_BOOL = N_("'active' is not true or false")
_ROTATE_NOT_ALLOWED = N_("a signing key is replaced only by its holder, an administrator or the recovery key")
_NOT_CURRENT_KEY = N_("the key it replaces is not the user's current key")
_BOX_NOT_ALLOWED = N_("a box key is set only by its user or an administrator")
_NOT_A_USER = N_("its actor is not a user of this vault")
_NOT_AGE = N_("the box recipient is not an age recipient")
_NEVER_ADDED_USER = N_("it names a user that was never added")
_CHAIN_TWICE = N_("the chain starts only once, with the first event of format 2")
_NO_USERS = N_("it lists no users")
_ENTRY_NOT_OBJECT = N_("a user entry is not an object")
_ENTRY_INCOMPLETE = N_("a user entry has no id or no keys")
_SNAPSHOT_SIGNER = N_("it is not signed by the current key of an active user it lists")
REASONS = Phrasebook(_KEY_MISSING, _KEY_NOT_BASE64, _KEY_SIZE, _UNKNOWN_ROLE, _BAD_SIGNATURE, _KEY_NOT_HELD,
                     _NO_DETAILS, _CREATED_TWICE, _ADD_NOT_ADMIN, _EXISTS, _NAME_TAKEN, _CHANGE_NOT_ADMIN,
                     _ACTIVE_NOT_BOOL, _ROTATE_NOT_ALLOWED, _NOT_CURRENT_KEY, _BOX_NOT_ALLOWED, _NOT_A_USER, _NOT_AGE,
                     _NEVER_ADDED_USER, _CHAIN_TWICE, _NO_USERS, _ENTRY_NOT_OBJECT, _ENTRY_INCOMPLETE, _SNAPSHOT_SIGNER)
DAMAGE = Phrasebook(_NOT_SIGNED_EVENT, _NOT_ACCEPTED, _NEVER_ADDED, *_TABLE_SAYS.values(), _TABLE_KEY, _TABLE_MISSING,
                    fields={"why": REASONS, "action": CUSTODY_ACTION_WORDS})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def recovery_message(user_id: str, old_key: str, new_key: str) -> bytes:
    """What the recovery authority signs when the recovery key gives a user a new signing key."""
    return RECOVERY_CONTEXT + f"{user_id}\n{old_key}\n{new_key}\n".encode()


@dataclass(slots=True)
class KeySpan:
    public_key: bytes
    from_index: int  # first event index it may sign
    until_index: int | None = None  # first index it may no longer sign


@dataclass(slots=True)
class UserState:
    user_id: str
    name: str
    display_name: str
    role: Role
    active: bool
    keys: list[KeySpan] = field(default_factory=list)
    box_recipient: str | None = None

    @property
    def current_key(self) -> bytes | None:
        live = [k for k in self.keys if k.until_index is None]
        return live[-1].public_key if live else None


@dataclass(slots=True)
class Replay:
    users: dict[str, UserState] = field(default_factory=dict)
    damages: list[Damage] = field(default_factory=list)
    recovery_authority: bytes | None = None
    chain_start: int | None = None  # index of the first format-2 event, None when the log is not chained
    events_replayed: int = 0

    def by_name(self, name: str) -> UserState | None:
        return next((u for u in self.users.values() if u.name == name), None)

    def key_records(self) -> dict[bytes, KeyRecord]:
        """The keys the signed log grants, with the index range each may sign (for the row scan)."""
        records: dict[bytes, KeyRecord] = {}
        for user in self.users.values():
            for span in user.keys:
                records[span.public_key] = KeyRecord(user.user_id, user.name, None, None, span.from_index,
                                                     span.until_index)
        return records


@dataclass(frozen=True, slots=True)
class _Row:
    idx: int
    event_id: str
    body_bytes: bytes
    signature: bytes
    public_key: bytes


def _state_rows(conn: db.Connection) -> list[_Row]:
    marks = ", ".join("?" for _ in STATE_ACTIONS)
    rows = conn.execute(f"SELECT idx, id, body, signature, public_key FROM custody_events WHERE action IN ({marks})"
                        " ORDER BY idx", STATE_ACTIONS).fetchall()
    return [_Row(int(r[0]), str(r[1]), as_bytes(r[2]), as_bytes(r[3]), as_bytes(r[4])) for r in rows]


def _first_chained(conn: db.Connection) -> int | None:
    """Index of the first format-2 event: the chain start of an upgraded vault, 0 in a new one."""
    row = conn.execute("SELECT MIN(idx) FROM custody_events WHERE action = ?",
                       (str(CustodyAction.CHAIN_STARTED),)).fetchone()
    if row is not None and row[0] is not None:
        return int(row[0])
    first = conn.execute("SELECT body FROM custody_events ORDER BY idx LIMIT 1").fetchone()
    if first is None:
        return None
    try:
        body = json.loads(as_bytes(first[0]))
    except ValueError:
        return None
    return 0 if isinstance(body, dict) and body.get("v") == 2 else None


class _Refused(Exception):
    """One state event that cannot be accepted, with the reason."""


def _key(text: Any) -> bytes:
    if not isinstance(text, str):
        raise _Refused(_KEY_MISSING)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise _Refused(_KEY_NOT_BASE64) from None
    if len(raw) != 32:
        raise _Refused(_KEY_SIZE)
    return raw


def _role(text: Any) -> Role:
    try:
        return Role(str(text))
    except ValueError:
        raise _Refused(_UNKNOWN_ROLE.format(role=repr(text))) from None


def replay(conn: db.Connection, *, only_users: set[str] | None = None) -> Replay:
    """Replay the user-state events. ``only_users``: check signatures only of events about these users
    (and, transitively, of those who made them) — the cheap check at unlock; None checks all."""
    out = Replay(chain_start=_first_chained(conn))
    if out.chain_start is None:
        return out
    rows = [row for row in _state_rows(conn) if row.idx >= out.chain_start]
    parsed: list[tuple[_Row, dict[str, Any]]] = []
    for row in rows:
        try:
            body = json.loads(row.body_bytes)
            if not isinstance(body, dict) or body.get("v") != 2:
                raise ValueError
        except ValueError:
            out.damages.append(Damage(DamageKind.USER_STATE, _NOT_SIGNED_EVENT.format(idx=row.idx, id=row.event_id),
                                      row.idx, row.event_id))
            continue
        parsed.append((row, body))
    checked = _closure(parsed, only_users)
    for row, body in parsed:
        try:
            if (checked is None or _subject(body) in checked) and not signing.verify(
                    row.public_key, row.signature, SIGNATURE_CONTEXT + row.body_bytes):
                raise _Refused(_BAD_SIGNATURE)
            _apply(out, row, body)
        except _Refused as why:
            actor = body.get("actor") if isinstance(body.get("actor"), dict) else {}
            name = actor.get("name", "?") if isinstance(actor, dict) else "?"
            out.damages.append(Damage(DamageKind.USER_STATE, _NOT_ACCEPTED.format(
                idx=row.idx, action=body.get("action"), name=name, why=why), row.idx, row.event_id))
        out.events_replayed += 1
    return out


def _subject(body: dict[str, Any]) -> str:
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    return str(details.get("user_id", "")) if isinstance(details, dict) else ""


def _actor_id(body: dict[str, Any]) -> str:
    actor = body.get("actor")
    return str(actor.get("id", "")) if isinstance(actor, dict) else ""


def _closure(parsed: Iterable[tuple[_Row, dict[str, Any]]], only: set[str] | None) -> set[str] | None:
    if only is None:
        return None
    pairs = [(_subject(body), _actor_id(body)) for _row, body in parsed]
    wanted = set(only)
    grew = True
    while grew:
        grew = False
        for subject, actor in pairs:
            if (subject in wanted or not subject) and actor and actor not in wanted:
                wanted.add(actor)
                grew = True
    return wanted


def _signer(out: Replay, row: _Row, body: dict[str, Any]) -> UserState | None:
    """The actor, if the row's key is theirs and valid at this index."""
    user = out.users.get(_actor_id(body))
    if user is None:
        return None
    for span in user.keys:
        if span.public_key == row.public_key and span.from_index <= row.idx and (
                span.until_index is None or row.idx < span.until_index):
            return user
    raise _Refused(_KEY_NOT_HELD)


def _is_admin(user: UserState | None) -> bool:
    return user is not None and user.active and user.role is Role.ADMINISTRATOR


def _apply(out: Replay, row: _Row, body: dict[str, Any]) -> None:
    action = body.get("action")
    details = body.get("details")
    if not isinstance(details, dict):
        raise _Refused(_NO_DETAILS)
    recovery_key_signs = action == CustodyAction.KEY_ROTATED and details.get("new_key") == b64(row.public_key)
    signer = None if recovery_key_signs else _signer(out, row, body)
    if action == CustodyAction.CHAIN_STARTED:
        _apply_snapshot(out, row, body, details)
    elif action == CustodyAction.VAULT_CREATED:
        if out.users or row.idx != 0:
            raise _Refused(_CREATED_TWICE)
        if details.get("recovery_authority"):
            out.recovery_authority = _key(details["recovery_authority"])
    elif action == CustodyAction.USER_ADDED:
        user_id = str(details.get("user_id", ""))
        key = _key(details.get("signing_key"))
        genesis = not out.users and row.idx <= 2 and _actor_id(body) == user_id and row.public_key == key
        if not (genesis or _is_admin(signer)):
            raise _Refused(_ADD_NOT_ADMIN)
        if not user_id or user_id in out.users:
            raise _Refused(_EXISTS)
        name = str(details.get("name", ""))
        if not name or out.by_name(name) is not None:
            raise _Refused(_NAME_TAKEN.format(name=repr(name)))
        out.users[user_id] = UserState(user_id, name, str(details.get("display_name") or name),
                                       _role(details.get("role")), True, [KeySpan(key, 0 if genesis else row.idx)],
                                       _box(details.get("box_recipient")))
    elif action == CustodyAction.USER_CHANGED:
        if not _is_admin(signer):
            raise _Refused(_CHANGE_NOT_ADMIN)
        user = _existing(out, details)
        if "role" in details:
            user.role = _role(details["role"])
        if "active" in details:
            if not isinstance(details["active"], bool):
                raise _Refused(_ACTIVE_NOT_BOOL)
            user.active = details["active"]
        if "display_name" in details:
            user.display_name = str(details["display_name"])
    elif action == CustodyAction.KEY_ROTATED:
        user = _existing(out, details)
        new_key, old_key = _key(details.get("new_key")), details.get("old_key")
        if not (_is_admin(signer) or _recovery_ok(out, user, details) or (
                signer is user and row.public_key == user.current_key)):
            raise _Refused(_ROTATE_NOT_ALLOWED)
        if old_key != (b64(user.current_key) if user.current_key else None):
            raise _Refused(_NOT_CURRENT_KEY)
        for span in user.keys:
            if span.until_index is None:
                span.until_index = row.idx + 1  # the rotation event itself may be signed by either key
        user.keys.append(KeySpan(new_key, row.idx))
        if "box_recipient" in details:  # a recovery replaces the box key with the signing key
            user.box_recipient = _box(details["box_recipient"])
    elif action == CustodyAction.USER_BOX_KEY_SET:
        user = _existing(out, details)
        if not (signer is user or _is_admin(signer)):
            raise _Refused(_BOX_NOT_ALLOWED)
        user.box_recipient = _box(details.get("box_recipient"))
    if signer is None and not recovery_key_signs and action not in (
            CustodyAction.CHAIN_STARTED, CustodyAction.VAULT_CREATED, CustodyAction.USER_ADDED):
        raise _Refused(_NOT_A_USER)


def _box(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("age1"):
        raise _Refused(_NOT_AGE)
    return value


def _existing(out: Replay, details: dict[str, Any]) -> UserState:
    user = out.users.get(str(details.get("user_id", "")))
    if user is None:
        raise _Refused(_NEVER_ADDED_USER)
    return user


def _recovery_ok(out: Replay, user: UserState, details: dict[str, Any]) -> bool:
    signature = details.get("recovery_signature")
    if out.recovery_authority is None or not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    message = recovery_message(user.user_id, str(details.get("old_key")), str(details.get("new_key")))
    return signing.verify(out.recovery_authority, raw, message)


def _apply_snapshot(out: Replay, row: _Row, body: dict[str, Any], details: dict[str, Any]) -> None:
    if out.users or row.idx != out.chain_start:
        raise _Refused(_CHAIN_TWICE)
    listed = details.get("users")
    if not isinstance(listed, list):
        raise _Refused(_NO_USERS)
    for entry in listed:
        if not isinstance(entry, dict):
            raise _Refused(_ENTRY_NOT_OBJECT)
        user_id = str(entry.get("user_id", ""))
        keys = entry.get("keys")
        if not user_id or not isinstance(keys, list) or not keys:
            raise _Refused(_ENTRY_INCOMPLETE)
        # Keys retired before the chain signed only the older, unchained events.
        spans = [KeySpan(_key(k), 0, row.idx) for k in keys[:-1]] + [KeySpan(_key(keys[-1]), 0)]
        out.users[user_id] = UserState(user_id, str(entry.get("name", "")), str(entry.get("display_name", "")),
                                       _role(entry.get("role")), entry.get("active") is True, spans,
                                       _box(entry.get("box_recipient")))
    if details.get("recovery_authority"):
        out.recovery_authority = _key(details["recovery_authority"])
    actor = out.users.get(_actor_id(body))
    if actor is None or actor.current_key != row.public_key or not actor.active:
        raise _Refused(_SNAPSHOT_SIGNER)


def table_damages(conn: db.Connection, state: Replay, *, only_user: str | None = None) -> list[Damage]:
    """Where the users/user_keys tables differ from the signed log (edited with direct SQL)."""
    if state.chain_start is None:
        return []
    damages: list[Damage] = []
    query = "SELECT id, name, role, active, box_recipient FROM users"
    rows = conn.execute(query + (" WHERE id = ?" if only_user else ""), (only_user,) if only_user else ()).fetchall()
    seen: set[str] = set()
    for uid, name, role, active, box in rows:
        uid = str(uid)
        seen.add(uid)
        signed = state.users.get(uid)
        if signed is None:
            damages.append(Damage(DamageKind.USERS_TABLE, _NEVER_ADDED.format(name=repr(name))))
            continue
        table = {"name": str(name), "role": str(role), "active": bool(active), "box key": box or None}
        log = {"name": signed.name, "role": str(signed.role), "active": signed.active, "box key": signed.box_recipient}
        damages.extend(Damage(DamageKind.USERS_TABLE, _TABLE_SAYS[k].format(
            name=repr(signed.name), value=repr(table[k]), signed=repr(log[k]))) for k in table if table[k] != log[k])
        current = conn.execute("SELECT public_key FROM user_keys WHERE user_id = ? AND retired_at IS NULL",
                               (uid,)).fetchall()
        if [as_bytes(r[0]) for r in current] != ([signed.current_key] if signed.current_key else []):
            damages.append(Damage(DamageKind.USERS_TABLE, _TABLE_KEY.format(name=repr(signed.name))))
    if only_user is None:
        for uid, user in state.users.items():
            if uid not in seen:
                damages.append(Damage(DamageKind.USERS_TABLE, _TABLE_MISSING.format(name=repr(user.name))))
    return damages


def unrotated_disables(conn: db.Connection) -> list[str]:
    """Users disabled after the last master-key rotation and still disabled: their old key slot (or a copy of
    ``keyslots.json``) still yields the master key. A disable and its rotation are two steps (the rotation
    needs the disable committed); a crash or a disk fault between them leaves this, and the signed log —
    not a flag anyone could clear — says so."""
    last = int(conn.execute("SELECT COALESCE(MAX(idx), 0) FROM custody_events WHERE action = ?",
                            (CustodyAction.VAULT_KEY_ROTATED.value,)).fetchone()[0])
    disabled: dict[str, str] = {}
    for (body,) in conn.execute("SELECT body FROM custody_events WHERE action = ? AND idx > ? ORDER BY idx",
                                (CustodyAction.USER_CHANGED.value, last)).fetchall():
        details = json.loads(as_bytes(body)).get("details", {})
        if "active" not in details:
            continue
        user_id = str(details.get("user_id", ""))
        if details["active"]:
            disabled.pop(user_id, None)
        else:
            disabled[user_id] = str(details.get("name", user_id))
    return sorted(disabled.values())
