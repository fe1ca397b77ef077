"""Key slots (LUKS/KeePassXC style): each wraps the one vault master key under its own KEK.

``keyslots.json`` holds, per user, the Argon2id parameters, the wrapped master key and the user's
wrapped Ed25519 signing key; one more slot holds the master key under the printed recovery key.
User names are not stored in clear: a slot is found by a salted hash of the name. Rewriting one
slot (passphrase change) leaves the database and every other slot untouched.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from icspa_desktop.crypto import aead, age_keys, kdf, keys
from icspa_desktop.domain.errors import AuthenticationError, Conflict, RefusedInput, VaultError, _
from icspa_desktop.domain.ids import UserId, VaultId, new_id
from icspa_desktop.files import atomic_write, read_regular
from icspa_desktop.i18n import N_
from icspa_desktop.vault import db

FORMAT = "icspa-keyslots"
MAX_FILE_BYTES = 4 << 20  # a slot is about 1 KiB: thousands of users
VERSION_LATEST = 1
VERSIONS_SUPPORTED = frozenset({1})

RECOVERY_KEY_LEN = 32
_RECOVERY_ALPHABET_GROUP = 4


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def lookup_tag(vault_id: VaultId, user_name: str) -> str:
    """Salted hash that finds a user's slot without writing the name in clear."""
    return hashlib.sha256(f"icspa/v1/slot-lookup\0{vault_id}\0{user_name}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PassphraseSlot:
    id: str
    user_id: UserId
    lookup: str
    kdf: kdf.Argon2Params
    wrapped_master: bytes
    wrapped_signing: bytes
    # The user's age X25519 identity (the agency key is encrypted to its recipient); absent in slots
    # made before it existed, added at the user's next unlock.
    wrapped_box: bytes | None = None
    # After a master-key rotation: the new master key, age-encrypted to the user's box recipient (the
    # rotating administrator has no one else's passphrase). Adopted under the KEK at the next unlock.
    rotated_master: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {
            "id": self.id,
            "kind": "passphrase",
            "user_id": self.user_id,
            "lookup": self.lookup,
            "kdf": self.kdf.to_json(),
            "wrapped_master": _b64(self.wrapped_master),
            "wrapped_signing": _b64(self.wrapped_signing),
        }
        if self.wrapped_box is not None:
            doc["wrapped_box"] = _b64(self.wrapped_box)
        if self.rotated_master is not None:
            doc["rotated_master"] = _b64(self.rotated_master)
        return doc


@dataclass(frozen=True, slots=True)
class RecoverySlot:
    id: str
    salt: bytes
    wrapped_master: bytes
    # Its own age identity (sealed under the recovery KEK) so that a rotation can reach it; absent in
    # recovery slots made before rotation existed (a rotation then issues a new recovery key).
    box_recipient: str | None = None
    wrapped_box: bytes | None = None
    rotated_master: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "kind": "recovery",
            "kdf": {"algorithm": "hkdf-sha256", "salt": self.salt.hex()},
            "wrapped_master": _b64(self.wrapped_master),
        }
        if self.box_recipient is not None and self.wrapped_box is not None:
            doc["box_recipient"] = self.box_recipient
            doc["wrapped_box"] = _b64(self.wrapped_box)
        if self.rotated_master is not None:
            doc["rotated_master"] = _b64(self.rotated_master)
        return doc


@dataclass(frozen=True, slots=True)
class Unlocked:
    """What a successful passphrase unlock yields; the caller must drop it on lock."""

    master_key: bytes
    user_id: UserId
    signing_private_key: bytes
    box_secret: str | None = None  # AGE-SECRET-KEY-1…, None for a slot from before box keys
    kek: bytes = b""  # kept only until the session has added a missing box identity
    rotated_master: bytes | None = None  # the master key a rotation left for this user, not yet adopted

    @property
    def masters(self) -> tuple[bytes, ...]:
        """The master keys to try, newest first (a rotation may not have finished)."""
        return (self.rotated_master, self.master_key) if self.rotated_master else (self.master_key,)


def _box_ad(vault_id: VaultId, slot_id: str, user_id: UserId) -> bytes:
    return f"icspa/v1/slot-box\0{vault_id}\0{slot_id}\0{user_id}".encode()


def _master_ad(vault_id: VaultId, slot_id: str, kdf_json: dict[str, Any]) -> bytes:
    # The KDF parameters are authenticated so nobody can swap in weaker ones unnoticed.
    params = json.dumps(kdf_json, sort_keys=True, separators=(",", ":"))
    return f"icspa/v1/slot-master\0{vault_id}\0{slot_id}\0{params}".encode()


def _signing_ad(vault_id: VaultId, slot_id: str, user_id: UserId) -> bytes:
    return f"icspa/v1/slot-signing\0{vault_id}\0{slot_id}\0{user_id}".encode()


def format_recovery_key(key: bytes) -> str:
    text = base64.b32encode(key).decode("ascii").rstrip("=")
    return "-".join(text[i : i + _RECOVERY_ALPHABET_GROUP] for i in range(0, len(text), _RECOVERY_ALPHABET_GROUP))


def parse_recovery_key(text: str) -> bytes:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    padded = cleaned + "=" * (-len(cleaned) % 8)
    try:
        key = base64.b32decode(padded)
    except ValueError as exc:
        raise AuthenticationError(_("That is not a recovery key (expected groups of letters A–Z and 2–7).")) from exc
    if len(key) != RECOVERY_KEY_LEN:
        raise AuthenticationError(_("That recovery key has the wrong length; check every group."))
    return key


def _recovery_kek(recovery_key: bytes, salt: bytes) -> bytes:
    # The recovery key is 256 random bits: a slow KDF adds nothing, HKDF only separates the purpose.
    return HKDF(hashes.SHA256(), 32, salt, b"icspa/v1/recovery-slot").derive(recovery_key)


def _open_rotated(rotated: bytes | None, box_secret: str | None) -> bytes | None:
    if rotated is None or box_secret is None:
        return None
    master = age_keys.open_with(box_secret, rotated)
    if master is None:
        return None  # not for this box key (a stale entry): the KEK-wrapped master is tried instead
    return master if len(master) == 32 else None


class KeySlotFile:
    """The parsed ``keyslots.json`` of one vault. Mutations write the file atomically."""

    def __init__(
        self,
        path: Path,
        vault_id: VaultId,
        passphrase_slots: list[PassphraseSlot],
        recovery_slot: RecoverySlot | None,
    ) -> None:
        self.path = path
        self.vault_id = vault_id
        self._slots = passphrase_slots
        self._recovery = recovery_slot
        # Check value of the newest master key a rotation left (None before any rotation): a slot whose
        # key differs and that holds no rotated key belongs to a user the rotation left out.
        self.key_check: str | None = None
        self._on_disk = b""  # the bytes of keyslots.json as last read or written

    # ---- persistence -------------------------------------------------------------------
    @classmethod
    def new(cls, path: Path, vault_id: VaultId) -> KeySlotFile:
        return cls(path, vault_id, [], None)

    @classmethod
    def load(cls, path: Path, vault_id: VaultId) -> KeySlotFile:
        try:
            # Bounded, regular files only: a FIFO or /dev/zero in its place must not hang or exhaust the unlock.
            data = read_regular(path, "key-slot file", MAX_FILE_BYTES)
        except FileNotFoundError as exc:
            raise VaultError(_("The vault's key-slot file {path} is missing.", path=path)) from exc
        except RefusedInput as exc:
            raise VaultError(_("The vault's key-slot file is damaged: {error}", error=exc)) from None
        except OSError as exc:
            raise VaultError(_("The vault's key-slot file {path} is unreadable or damaged.", path=path)) from exc
        loaded = cls.parse(data, path, vault_id)
        loaded._on_disk = data
        return loaded

    @classmethod
    def parse(cls, data: bytes, path: Path, vault_id: VaultId) -> KeySlotFile:
        """The slots of ``data`` (the file's bytes, or the database's copy of them) for the file at ``path``."""
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" nested too deep
            raise VaultError(_("The vault's key-slot file {path} is unreadable or damaged.", path=path)) from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise VaultError(_("{path} is not an ICSPA key-slot file.", path=path))
        if type(raw.get("version")) is not int or raw.get("version") not in VERSIONS_SUPPORTED:
            raise VaultError(_("Key-slot file version {version!r} is not supported by this version.",
                               version=raw.get('version')))
        if raw.get("vault_id") != vault_id:
            raise VaultError(_("The key-slot file belongs to another vault."))
        slots: list[PassphraseSlot] = []
        recovery: RecoverySlot | None = None
        try:
            for entry in raw["slots"]:
                if entry["kind"] == "passphrase":
                    slots.append(
                        PassphraseSlot(
                            id=str(entry["id"]),
                            user_id=UserId(str(entry["user_id"])),
                            lookup=str(entry["lookup"]),
                            kdf=kdf.Argon2Params.from_json(entry["kdf"]),
                            wrapped_master=_unb64(entry["wrapped_master"]),
                            wrapped_signing=_unb64(entry["wrapped_signing"]),
                            wrapped_box=_unb64(entry["wrapped_box"]) if "wrapped_box" in entry else None,
                            rotated_master=_unb64(entry["rotated_master"]) if "rotated_master" in entry else None,
                        )
                    )
                elif entry["kind"] == "recovery":
                    if recovery is not None:
                        raise VaultError(_("The key-slot file {path} has two recovery slots; it was edited.",
                                           path=path))
                    recovery = RecoverySlot(
                        id=str(entry["id"]),
                        salt=bytes.fromhex(entry["kdf"]["salt"]),
                        wrapped_master=_unb64(entry["wrapped_master"]),
                        box_recipient=str(entry["box_recipient"]) if "box_recipient" in entry else None,
                        wrapped_box=_unb64(entry["wrapped_box"]) if "wrapped_box" in entry else None,
                        rotated_master=_unb64(entry["rotated_master"]) if "rotated_master" in entry else None,
                    )
                else:
                    raise VaultError(_("The key-slot file {path} has a slot of unknown kind {kind!r}.",
                                       path=path, kind=entry['kind']))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VaultError(_("The key-slot file {path} is damaged.", path=path)) from exc
        for what, values in ((N_("slot id"), [s.id for s in slots] + ([recovery.id] if recovery else [])),
                             (N_("user"), [s.user_id for s in slots]), (N_("user name"), [s.lookup for s in slots])):
            if len(set(values)) != len(values):
                # Two slots for one name would make the unlock depend on their order: refuse, never guess.
                raise VaultError(_("The key-slot file {path} has two slots for the same {what}; it was edited. "
                                   "Restore it from a backup.", path=path, what=_(what)))
        loaded = cls(path, vault_id, slots, recovery)
        check = raw.get("key_check")
        loaded.key_check = check if isinstance(check, str) else None
        return loaded

    def to_bytes(self) -> bytes:
        entries: list[dict[str, Any]] = [slot.to_json() for slot in self._slots]
        if self._recovery is not None:
            entries.append(self._recovery.to_json())
        doc: dict[str, Any] = {"format": FORMAT, "version": VERSION_LATEST, "vault_id": self.vault_id,
                               "slots": entries}
        if self.key_check is not None:
            doc["key_check"] = self.key_check
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    # ---- changes: the database's copy first, the file after the commit ----------------------------------
    @contextlib.contextmanager
    def change(self, transaction: contextlib.AbstractContextManager[db.Connection]) -> Iterator[db.Connection]:
        """The one way to change key slots, as ``with slots.change(session.transaction()) as conn:``.

        The block changes this object inside ``transaction``; before its commit the new file is stored in the
        database (the same transaction), and only after the commit is ``keyslots.json`` written from it. So a
        failed block or commit leaves the file untouched and this object as it was — even on a disk that keeps
        failing, there is nothing to put back — and a crash or a failed write after the commit leaves the
        database's copy newer than the file, which the next unlock writes out (``reconcile``). The file is
        written before anything that needs it (a rotation's rekey comes after this block)."""
        state = (list(self._slots), self._recovery, self.key_check)
        try:
            with transaction as conn:
                yield conn
                data = self.to_bytes()
                store_copy(conn, data)
        except BaseException:
            self._slots, self._recovery, self.key_check = state
            raise
        self.publish(data)

    def publish(self, data: bytes | None = None) -> None:
        """Write ``keyslots.json`` as this object holds it (``data``: its bytes, when the caller has them) after the
        commit that stored it, unless it already is. A failure says the change is recorded and that the next unlock
        writes the file."""
        data = self.to_bytes() if data is None else data
        if data == self._on_disk:
            return
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            raise SlotsNotWritten(_(
                "The key-slot change is recorded in the vault database, but {path} could not be written ({cause}); it "
                "is finished at the next unlock: fix the disk, then unlock again (for example 'icspa vault check').",
                path=self.path, cause=exc.strerror or exc)) from exc
        self._on_disk = data

    @property
    def on_disk(self) -> bytes:
        """The bytes of ``keyslots.json`` as last read or written."""
        return self._on_disk

    def differs_from(self, stored: bytes | None) -> bool:
        """Whether the database's copy ``stored`` is not what ``keyslots.json`` holds (None: no copy yet)."""
        return stored is not None and stored != self._on_disk

    def from_copy(self, stored: bytes) -> KeySlotFile:
        """The slots of the database's copy, for a file that still holds ``self``'s bytes (``publish`` writes it)."""
        newer = KeySlotFile.parse(stored, self.path, self.vault_id)
        newer._on_disk = self._on_disk
        return newer

    # ---- slots -------------------------------------------------------------------------
    def _find(self, user_name: str) -> PassphraseSlot | None:
        tag = lookup_tag(self.vault_id, user_name)
        return next((slot for slot in self._slots if slot.lookup == tag), None)

    def has_user(self, user_name: str) -> bool:
        return self._find(user_name) is not None

    def add_passphrase_slot(
        self, user_name: str, user_id: UserId, passphrase: str, master_key: bytes, signing_private: bytes,
        box_secret: str | None = None,
    ) -> None:
        """Add a slot for a new user (in memory; call ``save``)."""
        if self._find(user_name) is not None:
            raise Conflict(_("User {name!r} already has a key slot.", name=user_name))
        self._slots.append(self._make_slot(new_id(), user_name, user_id, passphrase, master_key, signing_private,
                                           box_secret))

    def _make_slot(
        self,
        slot_id: str,
        user_name: str,
        user_id: UserId,
        passphrase: str,
        master_key: bytes,
        signing_private: bytes,
        box_secret: str | None = None,
    ) -> PassphraseSlot:
        params = kdf.new_params()
        kek = kdf.derive_kek(passphrase, params)
        return PassphraseSlot(
            id=slot_id,
            user_id=user_id,
            lookup=lookup_tag(self.vault_id, user_name),
            kdf=params,
            wrapped_master=aead.seal(kek, master_key, _master_ad(self.vault_id, slot_id, params.to_json())),
            wrapped_signing=aead.seal(kek, signing_private, _signing_ad(self.vault_id, slot_id, user_id)),
            wrapped_box=None if box_secret is None else aead.seal(kek, box_secret.encode("ascii"),
                                                                  _box_ad(self.vault_id, slot_id, user_id)),
        )

    def set_box_secret(self, user_id: UserId, kek: bytes, box_secret: str) -> None:
        """Give an existing slot its box identity, under the KEK its unlock derived (in memory; ``save``)."""
        for index, slot in enumerate(self._slots):
            if slot.user_id == user_id:
                wrapped = aead.seal(kek, box_secret.encode("ascii"), _box_ad(self.vault_id, slot.id, user_id))
                self._slots[index] = replace(slot, wrapped_box=wrapped)
                return
        raise VaultError(_("The user has no key slot."))

    def unlock(self, user_name: str, passphrase: str) -> Unlocked:
        slot = self._find(user_name)
        if slot is None:
            # Spend the same time as a real attempt so a user's existence does not leak by timing.
            kdf.derive_kek(passphrase, kdf.new_params())
            raise AuthenticationError(_("Wrong user name or passphrase."))
        kek = kdf.derive_kek(passphrase, slot.kdf)
        try:
            master = aead.open_sealed(kek, slot.wrapped_master, _master_ad(self.vault_id, slot.id, slot.kdf.to_json()))
            signing = aead.open_sealed(kek, slot.wrapped_signing, _signing_ad(self.vault_id, slot.id, slot.user_id))
            box = None if slot.wrapped_box is None else aead.open_sealed(
                kek, slot.wrapped_box, _box_ad(self.vault_id, slot.id, slot.user_id)).decode("ascii")
        except aead.SealError:
            raise AuthenticationError(_("Wrong user name or passphrase.")) from None
        rotated = _open_rotated(slot.rotated_master, box)
        return Unlocked(master_key=master, user_id=slot.user_id, signing_private_key=signing, box_secret=box, kek=kek,
                        rotated_master=rotated)

    def rewrite_slot(
        self, user_name: str, user_id: UserId, new_passphrase: str, master_key: bytes, signing_private: bytes,
        box_secret: str | None = None,
    ) -> None:
        """Replace one user's slot (new salt, current KDF profile); in memory, call ``save``."""
        for index, slot in enumerate(self._slots):
            if slot.user_id == user_id:
                self._slots[index] = self._make_slot(
                    slot.id, user_name, user_id, new_passphrase, master_key, signing_private, box_secret
                )
                return
        self._slots.append(self._make_slot(new_id(), user_name, user_id, new_passphrase, master_key, signing_private,
                                           box_secret))

    def remove_slot(self, user_id: UserId) -> None:
        self._slots = [slot for slot in self._slots if slot.user_id != user_id]

    # ---- recovery ----------------------------------------------------------------------
    def recovery_authority(self, recovery_text: str) -> bytes:
        """The Ed25519 private key derived from the recovery key: it signs the key change of a recovery,
        so that no user can forge one (its public key is in the log's signed vault_created event)."""
        return HKDF(hashes.SHA256(), 32, None, b"icspa/v1/recovery-authority").derive(
            parse_recovery_key(recovery_text))

    def set_recovery(self, master_key: bytes) -> str:
        """Create (or replace) the recovery slot; returns the recovery key to print, once."""
        key = os.urandom(RECOVERY_KEY_LEN)
        salt = os.urandom(16)
        slot_id = new_id()
        ad = f"icspa/v1/slot-recovery\0{self.vault_id}\0{slot_id}".encode()
        kek = _recovery_kek(key, salt)
        secret, recipient = age_keys.generate_identity()
        self._recovery = RecoverySlot(slot_id, salt, aead.seal(kek, master_key, ad), recipient,
                                      aead.seal(kek, secret.encode("ascii"), ad + b"\0box"))
        return format_recovery_key(key)

    # ---- master-key rotation --------------------------------------------------------------------
    def stage_rotation(self, new_master: bytes, recipients: dict[UserId, str]) -> bool:
        """Leave ``new_master`` for every user in ``recipients`` (user id → box recipient) and for the
        recovery slot; every other slot gets none. In memory; call ``save``. False when the recovery slot
        is from before rotations (it cannot be reached: issue a new recovery key)."""
        self.key_check = keys.check_value(new_master)
        for index, slot in enumerate(self._slots):
            box = recipients.get(slot.user_id)
            rotated = None if box is None else age_keys.seal_to(box, new_master)
            self._slots[index] = replace(slot, rotated_master=rotated)
        if self._recovery is None or self._recovery.box_recipient is None:
            return False
        self._recovery = replace(self._recovery,
                                 rotated_master=age_keys.seal_to(self._recovery.box_recipient, new_master))
        return True

    def leave_master_for(self, user_id: UserId, box_recipient: str, master_key: bytes) -> None:
        """A re-enabled user's slot may hold an old master key: leave the current one for their box key."""
        for index, slot in enumerate(self._slots):
            if slot.user_id == user_id:
                rotated = age_keys.seal_to(box_recipient, master_key)
                self._slots[index] = replace(slot, rotated_master=rotated)
                return

    def adopt_master(self, user_id: UserId, kek: bytes, master_key: bytes) -> None:
        """A user's unlock found the rotated master: wrap it under their KEK, drop the age copy."""
        for index, slot in enumerate(self._slots):
            if slot.user_id == user_id:
                wrapped = aead.seal(kek, master_key, _master_ad(self.vault_id, slot.id, slot.kdf.to_json()))
                self._slots[index] = replace(slot, wrapped_master=wrapped, rotated_master=None)
                return
        raise VaultError(_("The user has no key slot."))

    def adopt_recovery_master(self, recovery_text: str, master_key: bytes) -> None:
        """A recovery after a rotation: wrap the new master under the recovery KEK, drop the age copy."""
        if self._recovery is None:
            return
        slot = self._recovery
        ad = f"icspa/v1/slot-recovery\0{self.vault_id}\0{slot.id}".encode()
        kek = _recovery_kek(parse_recovery_key(recovery_text), slot.salt)
        self._recovery = replace(slot, wrapped_master=aead.seal(kek, master_key, ad), rotated_master=None)

    @property
    def has_recovery(self) -> bool:
        return self._recovery is not None

    def unlock_recovery(self, recovery_text: str) -> tuple[bytes, ...]:
        """The master keys the recovery key opens, newest first (see ``Unlocked.masters``)."""
        if self._recovery is None:
            raise AuthenticationError(_("This vault has no recovery key slot."))
        key = parse_recovery_key(recovery_text)
        slot = self._recovery
        ad = f"icspa/v1/slot-recovery\0{self.vault_id}\0{slot.id}".encode()
        kek = _recovery_kek(key, slot.salt)
        try:
            master = aead.open_sealed(kek, slot.wrapped_master, ad)
            box = None if slot.wrapped_box is None else aead.open_sealed(kek, slot.wrapped_box,
                                                                          ad + b"\0box").decode("ascii")
        except aead.SealError:
            raise AuthenticationError(_("That recovery key does not open this vault.")) from None
        rotated = _open_rotated(slot.rotated_master, box)
        return (rotated, master) if rotated else (master,)

    @property
    def slot_ids(self) -> list[str]:
        """The ids of the passphrase slots (not the recovery slot, which a rotation may replace)."""
        return [slot.id for slot in self._slots]

    @property
    def slot_params(self) -> list[tuple[UserId, kdf.Argon2Params]]:
        return [(slot.user_id, slot.kdf) for slot in self._slots]


class SlotsNotWritten(VaultError):
    """A key-slot change is committed to the database, but ``keyslots.json`` could not be written yet."""


# ---- the database's copy of the file (schema 10) --------------------------------------------------------
_COPY_TABLE = "key_slot_file"


def has_copy_table(conn: db.Connection) -> bool:
    # A vault below schema 10 (only while an old program's migrations are used, e.g. to make a fixture).
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (_COPY_TABLE,)).fetchone() is not None


def store_copy(conn: db.Connection, data: bytes) -> None:
    """Keep ``data`` (the new ``keyslots.json``) in the database, inside the caller's transaction."""
    if has_copy_table(conn):
        conn.execute(f"INSERT INTO {_COPY_TABLE} (id, document) VALUES (1, ?) "
                     "ON CONFLICT (id) DO UPDATE SET document = excluded.document", (data,))


def stored_copy(conn: db.Connection) -> bytes | None:
    """The database's copy of ``keyslots.json``: the committed one. None before the first unlock at schema 10."""
    if not has_copy_table(conn):
        return None
    row = conn.execute(f"SELECT document FROM {_COPY_TABLE} WHERE id = 1").fetchone()
    return None if row is None else bytes(row[0])
