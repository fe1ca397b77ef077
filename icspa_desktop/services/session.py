"""An unlocked vault with the user who unlocked it: the handle every service takes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from icspa_desktop.crypto import age_keys
from icspa_desktop.crypto.signing import public_from_private
from icspa_desktop.custody import events, user_witness, userstate
from icspa_desktop.custody.checkpoints import witness_dir
from icspa_desktop.custody.events import Actor, EventDraft, StoredEvent
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import AuthenticationError, PermissionDenied, UsageError, VaultError, _, ngettext
from icspa_desktop.domain.ids import CaseId, ItemId, UserId
from icspa_desktop.domain.models import User
from icspa_desktop.files import sweep_temps
from icspa_desktop.i18n import N_
from icspa_desktop.services.permissions import Permission, allowed
from icspa_desktop.vault import db
from icspa_desktop.vault.keyslots import Unlocked
from icspa_desktop.vault.layout import quarantine_notice
from icspa_desktop.vault.migrations import Migration
from icspa_desktop.vault.store import UnlockedVault, open_and_unlock

USER_NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")


# A view's background read, stopped inside a long statement once cancelled (vault/db.py).
cancellable_reads = db.cancellable


def check_user_name(name: str) -> str:
    if not USER_NAME_RE.fullmatch(name):
        raise UsageError(
            _("User name {name!r} is not valid: use 1–32 lower-case letters, digits, '.', '_' or '-', starting with "
              "a letter.", name=name)
        )
    return name


MIN_PASSPHRASE_LEN = 8
# The roles as a refusal names them (the GUI's status bar marks the same words).
_ROLE_NAMES = (N_("administrator"), N_("supervisor"), N_("investigator"), N_("auditor"))

# Every entry of ``Session.warnings`` starts so: the CLI replaces it by its own "icspa: warning:" (a token, not
# translated); the sentence after it is in the user's language.
WARNING_PREFIX = "Warning: "


def warning(sentence: str) -> str:
    """An entry for ``Session.warnings``: the prefix, then ``sentence`` (translated where it was built)."""
    return f"{WARNING_PREFIX}{sentence}"


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        raise UsageError(_("The passphrase is too short: use at least {minimum} characters.",
                           minimum=MIN_PASSPHRASE_LEN))
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
        raise VaultError(_("The user has no active signing key; the vault is damaged."))
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

    def __init__(self, vault: UnlockedVault, user: User, signing_private_key: bytes,
                 box_secret: str | None = None) -> None:
        self.vault = vault
        self.user = user
        self._signing_key: bytearray | None = bytearray(signing_private_key)
        # The user's age identity (AGE-SECRET-KEY-1…): opens the agency key where the role may use it.
        self._box_secret: str | None = box_secret
        # What the user must be told (stray files, a witness the log no longer fits); the CLI prints them.
        self.warnings: list[str] = []
        # True when the log no longer fits the user's witness: it is then never overwritten by a lock.
        self._witness_stale = False
        # A read-only vault: the one warning that says so (also in ``warnings``), and whether a write was refused
        # (the refusal then says it all: the CLI prints the warning only after a command that did its work).
        self.read_only_notice: str | None = None
        self.write_refused = False
        self._texts_on: db.Connection | None = None  # the reader connection the table texts are registered on

    # ---- life cycle ----------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.vault.is_open

    def lock(self) -> None:
        # Never close the database under another thread's transaction: wait for it to end.
        guard = getattr(self.vault.conn, "transaction_lock", None) if self.vault.is_open else None
        with guard if guard is not None else contextlib.nullcontext():
            if self._signing_key is not None and self.vault.is_open:
                self.write_own_witness()
            if self._signing_key is not None:
                for i in range(len(self._signing_key)):
                    self._signing_key[i] = 0
                self._signing_key = None
            self._box_secret = None
            self.vault.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    @property
    def conn(self) -> db.Connection:
        return self.vault.conn

    @contextmanager
    def reading(self) -> Iterator[db.Connection]:
        """The read-only connection for long reads with our SQL functions (natural order, Unicode case folding,
        the tables' cell texts: ``table_texts.register_functions``; interruptible: ``cancellable_reads``), held by
        one thread at a time (``UnlockedVault.reader``)."""
        with self.vault.reader() as conn:
            if self._texts_on is not conn:  # a new reader (the first read, or after a rekey)
                # Imported here: table_texts words verification problems through fixity, which imports this module.
                from icspa_desktop.services import table_texts

                table_texts.register_functions(conn)
                self._texts_on = conn
            yield conn

    @property
    def vault_path(self) -> Path:
        return self.vault.layout.root

    @property
    def read_only(self) -> bool:
        """The vault was opened read-only (a read-only file system, no write permission): every write is refused."""
        return self.vault.read_only

    def require_writable(self) -> None:
        """Refuse, before any work, a command that changes the vault when it is read-only (one line, naming it)."""
        if self.vault.read_only:
            self.write_refused = True
            raise self.vault.read_only_refusal(_("this command changes the vault, so it was not done"))

    @contextmanager
    def transaction(self) -> Iterator[db.Connection]:
        """Every change of the vault database goes through here: refused at once on a read-only vault."""
        self.require_writable()
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
            raise VaultError(_("The vault is locked; unlock it again."))
        return bytes(self._signing_key)

    def box_secret(self) -> str:
        if self._signing_key is None:
            raise VaultError(_("The vault is locked; unlock it again."))
        if self._box_secret is None:
            raise VaultError(_("User {name!r} has no personal encryption key yet; unlock once with the passphrase to "
                               "create it.", name=self.user.name))
        return self._box_secret

    def record(self, draft: EventDraft) -> StoredEvent:
        """Append a custody event signed by this user. Call inside the action's transaction."""
        return events.append(self.conn, draft, self.actor(), self.signing_key())

    def record_many(self, drafts: Sequence[EventDraft]) -> list[StoredEvent]:
        """Append custody events in order, as ``record`` once each would, reading and saving the log head once."""
        return events.append_many(self.conn, drafts, self.actor(), self.signing_key())

    # ---- roles ---------------------------------------------------------------------
    def require(
        self,
        permission: Permission,
        *,
        case_id: CaseId | None = None,
        item_ids: tuple[ItemId, ...] = (),
        attempted: str = "",
    ) -> None:
        """Raise PermissionDenied unless the user's role grants ``permission``; a denial is recorded.

        The role is the one the signed log gives (at unlock); the users table, a cache anyone with the
        master key can edit, must agree with it at every check."""
        self._check_user_row()
        if allowed(self.user.role, permission):
            return
        if self.read_only:
            raise PermissionDenied(_("Permission denied: the {role} role may not {action}. The attempt could not be "
                                     "recorded: the vault {path} is read-only.",
                                     role=_(self.user.role.value), action=_(permission.value), path=self.vault_path))
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
            _("Permission denied: the {role} role may not {action}. The attempt was recorded.",
              role=_(self.user.role.value), action=_(permission.value))
        )

    @property
    def log_in_doubt(self) -> bool:
        """The unlock found a witness the log no longer fits (a cut tail, a rollback): nothing automatic
        should sign over this log until someone has looked (``custody verify``)."""
        return self._witness_stale or bool(self.vault.cleanup_held)

    def write_own_witness(self) -> None:
        """The newest event this user saw, into their OS account (custody/user_witness.py). Never over a
        witness the log no longer fits: that one is evidence until an administrator sets it aside."""
        if self._witness_stale or self._signing_key is None or self.read_only:
            return  # read-only: the notice at unlock says the witness is not updated
        try:
            head = user_witness.current(self.conn, self.user.id)
            if head is not None:
                user_witness.write(user_witness.path_for(self.vault.header.vault_id, self.user.id), head,
                                   bytes(self._signing_key))
        except (OSError, db.DatabaseError) as exc:
            # Locking must never fail; the missing witness only narrows what a later check can see.
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = user_witness.path_for(self.vault.header.vault_id, self.user.id)
            self.warnings.append(warning(_("your witness of the custody log could not be written to {path} ({cause}); "
                                           "the command's work is done, and the next lock writes it again.",
                                           path=where, cause=cause)))

    def _check_user_row(self) -> None:
        row = self.conn.execute("SELECT role, active FROM users WHERE id = ?", (self.user.id,)).fetchone()
        if row is None or str(row[0]) != str(self.user.role) or bool(row[1]) != self.user.active:
            raise VaultError(_("The users table no longer matches the signed custody log for {name!r} (it was edited "
                               "outside the app); nothing was done. Run 'icspa custody verify'.",
                               name=self.user.name))


RESTORE_MARKER = "restore.json"  # a restored vault's note until the restore is recorded (services/backup.py)


def unlock(path: Path, user_name: str, passphrase: str, migrations: list[Migration] | None = None, *,
           read_only: bool | None = None) -> Session:
    """Open the vault at ``path`` as ``user_name``; AuthenticationError on a wrong name or passphrase.

    ``read_only`` (None: when the file system says the vault cannot be written): nothing in the vault, nor the
    user's witness, is written; ``Session.read_only`` is set, every transaction refused, and one warning says so.
    """
    vault, unlocked = open_and_unlock(path, lambda slots: slots.unlock(user_name, passphrase), migrations,
                                      rollback_check=_rollback_signs, read_only=read_only)
    assert isinstance(unlocked, Unlocked)
    try:
        return _session_for(vault, unlocked)
    except BaseException:
        vault.close()
        raise


def _rollback_signs(conn: db.Connection, vault_id: str) -> str | None:
    try:
        return user_witness.rollback_signs(conn, vault_id)
    except db.DatabaseError:
        return None  # a schema from before the custody log: nothing to compare yet


def _session_for(vault: UnlockedVault, unlocked: Unlocked) -> Session:
    conn = vault.conn
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (unlocked.user_id,)).fetchone()
    if row is None:
        # A slot whose user row never committed (crash during 'user add'), or a row deleted by hand:
        # refuse, and leave the slot for an administrator to look at ('icspa vault check').
        raise AuthenticationError(_("This key slot belongs to no user of the vault (a 'user add' was interrupted, or "
                                    "the user was removed); ask an administrator."))
    table_user = row_to_user(row, current_public_key(conn, unlocked.user_id))
    state = userstate.replay(conn, only_users={unlocked.user_id})
    if state.chain_start is None and events.count(conn):
        if vault.read_only:
            raise vault.read_only_refusal(_("its custody log is of the older, unchained format and must first be "
                                            "upgraded, which writes to it; open it once where it is writable"))
        _start_chain(vault, table_user, unlocked.signing_private_key)
        state = userstate.replay(conn, only_users={unlocked.user_id})
    signed = state.users.get(unlocked.user_id)
    # A refused (forged) user event is simply not applied, so it cannot lock anyone out; verify names it.
    problems = [d.message for d in userstate.table_damages(conn, state, only_user=unlocked.user_id)]
    if signed is None or problems:
        cause = userstate.DAMAGE.text(problems[0]) if problems else _("you were never added by a signed event.")
        raise VaultError(_("Your account does not match the signed custody log, so the vault was not opened for you: "
                           "{cause} An administrator runs 'icspa custody verify'.", cause=cause))
    user = User(table_user.id, signed.name, signed.display_name, signed.role, signed.active, table_user.created_at,
                signed.current_key or b"")
    if not user.active:
        raise AuthenticationError(_("The account {name!r} is disabled; ask an administrator.", name=user.name))
    if public_from_private(unlocked.signing_private_key) != signed.current_key:
        raise VaultError(_("The user's signing key does not match the signed custody log; the vault is damaged."))
    session = Session(vault, user, unlocked.signing_private_key, unlocked.box_secret)
    if (vault.layout.root / RESTORE_MARKER).exists():
        # services/backup.py leaves this note until the restore is recorded; the rollback warnings below follow
        # from it, so it is said first.
        session.warnings.append(warning(_("this vault was restored from a backup and the restore is not recorded in "
                                          "the custody log yet: an administrator records it ('icspa vault restore "
                                          "--reason TEXT'). Until then, warnings that the log is older than a witness "
                                          "are expected.")))
    if state.damages:
        session.warnings.append(warning(ngettext(
            "{n} user or key change(s) in the custody log are not accepted, first: {first} Run 'icspa custody verify'.",
            "{n} user or key change(s) in the custody log are not accepted, first: {first} Run 'icspa custody verify'.",
            len(state.damages), first=userstate.DAMAGE.text(state.damages[0].message))))
    if vault.slot_copy_replaced:
        session.warnings.append(warning(_(
            "the vault database's copy of the key slots was damaged; it was replaced by the key-slot file this "
            "unlock used. Tell an administrator ('icspa custody verify', 'icspa vault check').")))
    if vault.slots_dropped:
        session.warnings.append(warning(ngettext(
            "the key-slot file held {n} key slot the vault database never committed (the file was edited or "
            "replaced); it was rewritten from the database's copy and the file as it was kept in quarantine/. "
            "Tell an administrator.",
            "the key-slot file held {n} key slots the vault database never committed (the file was edited or "
            "replaced); it was rewritten from the database's copy and the file as it was kept in quarantine/. "
            "Tell an administrator.", len(vault.slots_dropped))))
    if vault.cleanup_held:
        session.warnings.append(warning(_("this vault looks rolled back to an older copy ({cause}); evidence files "
                                          "the database does not know were left in place. Run 'icspa custody verify' "
                                          "and 'icspa vault check'.",
                                          cause=user_witness.PROBLEMS.text(vault.cleanup_held))))
    if allowed(user.role, Permission.MANAGE_USERS):
        unrotated = userstate.unrotated_disables(conn)
        if unrotated:
            session.warnings.append(warning(ngettext(
                "{names} was disabled, but the vault master key was not rotated since (the rotation was interrupted): "
                "their old key slot still opens the vault. Run 'icspa vault rekey --reason TEXT' now.",
                "{names} were disabled, but the vault master key was not rotated since (the rotation was interrupted): "
                "their old key slot still opens the vault. Run 'icspa vault rekey --reason TEXT' now.",
                len(unrotated), names=", ".join(unrotated))))
    notice = quarantine_notice(vault.quarantined)
    if notice:
        session.warnings.append(warning(notice))
    # Temporaries a killed writer left beside this vault's witnesses (a checkpoint, a head): only those of
    # processes that no longer run (icspa_desktop/files.py). A read-only unlock writes nothing, there either.
    if not vault.read_only:
        sweep_temps(witness_dir())
    problem = user_witness.check(conn, user_witness.path_for(vault.header.vault_id, user.id),
                                 {user.id: [k.public_key for k in signed.keys]})
    if problem:
        session.warnings.append(warning(_("{problem}. Run 'icspa custody verify'; your witness is kept as it is.",
                                          problem=user_witness.PROBLEMS.text(problem))))
        session._witness_stale = True
    if vault.read_only:
        _read_only_notice(session, unlocked)
        return session
    if unlocked.box_secret is None:
        _add_box_key(session, unlocked)
    if vault.adopted_rotation:
        # The master key was rotated since this user's last unlock: keep it under their own KEK now.
        with vault.keyslots.change(db.transaction(conn)):
            vault.keyslots.adopt_master(user.id, unlocked.kek, vault.master_key)
    return session


def _read_only_notice(session: Session, unlocked: Unlocked) -> None:
    """The one warning of a read-only unlock, first among the warnings: what is refused, and what an unlock of
    the writable vault would have done and this one did not."""
    vault = session.vault
    skipped = [_("your witness of its custody log is not updated")]
    if vault.leftovers_kept:
        skipped.append(ngettext("{n} unfinished write(s) in staging/ are left where they are",
                                "{n} unfinished write(s) in staging/ are left where they are", vault.leftovers_kept))
    if unlocked.box_secret is None:
        skipped.append(_("your personal encryption key is not created"))
    if vault.adopted_rotation:
        skipped.append(_("your key slot is not moved to the vault's new master key"))
    notice = warning(_("opened read-only: the vault {path} is read-only ({cause}), so commands that would change it "
                       "are refused; {skipped} (done at the next unlock where it is writable).",
                       path=vault.layout.root, cause=vault.read_only_reason, skipped=", ".join(skipped)))
    session.read_only_notice = notice
    session.warnings.insert(0, notice)


def _start_chain(vault: UnlockedVault, actor: User, signing_private: bytes) -> None:
    """Upgrade: the first chained event, signed by whoever unlocks first, states every user as the tables
    hold them. From here on user state comes from signed events only (docs/SECURITY.md, migration)."""
    conn = vault.conn
    users = []
    for row in conn.execute(f"SELECT {USER_COLUMNS}, box_recipient FROM users ORDER BY id").fetchall():
        keys = conn.execute("SELECT public_key FROM user_keys WHERE user_id = ? ORDER BY retired_at IS NULL,"
                            " valid_from", (row[0],)).fetchall()
        users.append({"user_id": str(row[0]), "name": str(row[1]), "display_name": str(row[2]), "role": str(row[3]),
                      "active": bool(row[4]), "keys": [userstate.b64(bytes(k[0])) for k in keys],
                      "box_recipient": row[6]})
    with db.transaction(conn):
        Session(vault, actor, signing_private).record(EventDraft(
            CustodyAction.CHAIN_STARTED, purpose="custody log upgraded to chained events (format 2)",
            details={"users": users, "previous_events": events.count(conn)}))


def _add_box_key(session: Session, unlocked: Unlocked) -> None:
    """A slot from before personal box keys: create the user's age identity, record its recipient."""
    secret, recipient = age_keys.generate_identity()
    slots = session.vault.keyslots
    with slots.change(session.transaction()) as conn:
        conn.execute("UPDATE users SET box_recipient = ? WHERE id = ?", (recipient, session.user.id))
        session.record(EventDraft(CustodyAction.USER_BOX_KEY_SET,
                                  details={"user_id": session.user.id, "box_recipient": recipient}))
        slots.set_box_secret(session.user.id, unlocked.kek, secret)
    session._box_secret = secret
