"""Creating a vault and recovering access to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from icspa_desktop.crypto import age_keys, signing
from icspa_desktop.custody import userstate
from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.errors import UsageError, VaultError, VerificationFailed, _, ngettext
from icspa_desktop.domain.ids import UserId, new_user_id
from icspa_desktop.services import agency as agency_service
from icspa_desktop.services import users as user_service
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import (
    Session,
    check_new_passphrase,
    check_user_name,
    set_setting,
    setting,
    unlock,
)
from icspa_desktop.vault import db, store
from icspa_desktop.vault.keyslots import Unlocked
from icspa_desktop.vault.layout import QUARANTINE, QuarantinedFile, list_quarantine, purge_quarantine
from icspa_desktop.vault.migrations import Migration, schema_version


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    name: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    unit: str = ""
    contact: str = ""


def init_vault(
    path: Path,
    admin_name: str,
    passphrase: str,
    *,
    display_name: str = "",
    role: Role = Role.ADMINISTRATOR,
    agency: AgencyInfo | None = None,
    migrations: list[Migration] | None = None,
) -> str:
    """Create a vault with its first user and a recovery slot; returns the recovery key (show once)."""
    check_user_name(admin_name)
    check_new_passphrase(passphrase)
    agency = agency or AgencyInfo()
    if agency.country and (len(agency.country) != 2 or not agency.country.isalpha()):
        raise UsageError(_("Country {country!r} is not an ISO 3166 two-letter code (e.g. DE, FR, NL).",
                           country=agency.country))
    recovery: list[str] = []

    def populate(vault: store.UnlockedVault) -> None:
        user_id = new_user_id()
        private, _public = signing.generate()
        box_secret, box_recipient = age_keys.generate_identity()
        conn = vault.conn
        recovery_key = vault.keyslots.set_recovery(vault.master_key)
        recovery_public = signing.public_from_private(vault.keyslots.recovery_authority(recovery_key))
        with vault.keyslots.change(db.transaction(conn)):
            set_setting(conn, "agency.name", agency.name)
            set_setting(conn, "agency.country", agency.country.upper())
            set_setting(conn, "agency.unit", agency.unit)
            set_setting(conn, "agency.contact", agency.contact)
            user = user_service.insert_user(conn, user_id, admin_name, display_name or admin_name, role, private,
                                            box_recipient)
            session = Session(vault, user, private, box_secret)
            # The genesis of the signed user state: the vault, its recovery authority, its first user.
            session.record(EventDraft(CustodyAction.VAULT_CREATED, details={
                "vault_id": vault.header.vault_id, "recovery_authority": userstate.b64(recovery_public)}))
            session.record(EventDraft(CustodyAction.USER_ADDED,
                                      details=user_service.added_details(user, box_recipient)))
            if agency.name:
                signing_key, certificate = agency_service.new_self_signed(agency.name, agency.country, agency.unit)
                key_id = agency_service.store_identity(conn, vault.master_key, signing_key, certificate, "generated",
                                                       agency_service.authorised_signers(conn))
                session.record(EventDraft(
                    CustodyAction.AGENCY_CHANGED,
                    details={"what": "agency identity generated", "key_id": key_id, "replaces": None},
                ))
            vault.keyslots.add_passphrase_slot(admin_name, user_id, passphrase, vault.master_key, private, box_secret)
            recovery.append(recovery_key)

    store.create(path, populate, migrations)
    return recovery[0]


def recover(path: Path, recovery_key: str, user_name: str, new_passphrase: str) -> Session:
    """Open the vault with the recovery key and give ``user_name`` a new passphrase and signing key.

    The user's old signing key cannot be recovered (it was wrapped by the forgotten passphrase): it is
    retired, and its past signatures stay verifiable by its public key.
    """
    check_new_passphrase(new_passphrase)
    vault, _unlocked = store.open_and_unlock(path, lambda slots: slots.unlock_recovery(recovery_key))
    try:
        if vault.keyslots.unlock_recovery(recovery_key)[0] == vault.master_key:
            vault.keyslots.adopt_recovery_master(recovery_key, vault.master_key)  # saved with the new slot
        session = user_service.reset_user_key(vault, user_name, new_passphrase,
                                              vault.keyslots.recovery_authority(recovery_key))
    except BaseException:
        vault.close()
        raise
    return session


# ---- check and repair --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VaultCheck:
    """What ``vault check`` found: database problems, quarantined files, key slots without a user."""

    problems: list[str]
    quarantine: list[QuarantinedFile]
    slots_without_user: list[UserId]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Repair:
    """What ``vault check --repair`` removed, and the custody event index that records it (None: nothing)."""

    removed: list[QuarantinedFile]
    event_index: int | None
    slots_removed: list[UserId] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.removed)


def check_vault(session: Session) -> VaultCheck:
    """SQLCipher's integrity checks, the quarantine contents and slots whose user is not in the database."""
    problems = db.integrity_check(session.conn)
    known = {str(row[0]) for row in session.conn.execute("SELECT id FROM users").fetchall()}
    known |= set(userstate.replay(session.conn).users)  # a user of the signed log keeps their slot
    orphan_slots = [user_id for user_id, _params in session.vault.keyslots.slot_params if user_id not in known]
    return VaultCheck(problems, list_quarantine(session.vault.layout), orphan_slots)


def repair(session: Session) -> Repair:
    """Permanently remove everything in ``quarantine/`` (administrator only), recorded before it happens.

    Refused while the database has integrity problems: the quarantined blobs may then be the good copy.
    """
    session.require(Permission.MANAGE_USERS, attempted="remove the quarantined files (vault check --repair)")
    layout = session.vault.layout
    problems = db.integrity_check(session.conn)
    if problems:
        raise VerificationFailed(ngettext(
            "The vault database has {n} integrity problem(s); nothing was removed from quarantine (its files may be "
            "needed to repair it).",
            "The vault database has {n} integrity problem(s); nothing was removed from quarantine (its files may be "
            "needed to repair it).", len(problems)))
    found = list_quarantine(layout)
    orphans = check_vault(session).slots_without_user
    if not found and not orphans:
        return Repair([], None)
    slots = session.vault.keyslots
    with slots.change(session.transaction()):
        event = session.record(EventDraft(CustodyAction.VAULT_REPAIRED, details={
            "what": f"{QUARANTINE}/ emptied" + (", key slots without a user removed" if orphans else ""),
            "removed": [{"path": f.location, "kind": f.kind, "size": f.size} for f in found],
            "files": len(found),
            "bytes": sum(f.size for f in found),
            "slots_removed": list(orphans),
        }))
        # A slot no user owns still wraps the master key under someone's passphrase: an access path to close.
        for user_id in orphans:
            slots.remove_slot(user_id)
    try:
        purge_quarantine(layout, {f.location.split("/")[1] for f in found})
    except OSError as exc:
        raise VaultError(_("The repair was recorded (custody event {index}), but {path} could not be removed: "
                           "{cause}. Run 'icspa vault check --repair' again.",
                           index=event.index, path=exc.filename or QUARANTINE, cause=exc.strerror)) from exc
    return Repair(found, event.index, list(orphans))


__all__ = ["AgencyInfo", "Repair", "Unlocked", "VaultCheck", "check_vault", "init_vault", "recover", "repair",
           "unlock"]


# ---- status -------------------------------------------------------------------------------------------
def status(session: Session) -> dict[str, object]:
    """What ``vault status`` shows: the vault, its schema, agency, the user, and a few counts."""
    session.require(Permission.READ)
    conn = session.conn
    counts = {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
              for table in ("users", "cases", "items", "custody_events", "bundles_sent", "bundles_received")}
    return {
        "id": session.vault.header.vault_id,
        "path": str(session.vault_path),
        "schema_version": schema_version(conn),
        "agency": setting(conn, "agency.name"),
        "country": setting(conn, "agency.country"),
        "user": session.user.name,
        "role": str(session.user.role),
        **counts,
        "recovery_slot": session.vault.keyslots.has_recovery,
    }
