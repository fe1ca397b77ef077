"""Each user's own witness of the newest log head they saw (DESIGN §7 errata, insider issue).

A chained log can still lose its *tail*: an insider who deletes the newest events (another user's
included) leaves a consistent chain. So at every lock the session writes, into the user's OS account
(``<config>/icspa/witness/<vault id>.<user id>.head``), the index and leaf hash of the newest event,
signed with the user's own key; at the next unlock, and in every verification, the log must still hold
exactly that event. The remaining window (events after the last lock, one OS account shared by several
users) is stated in docs/SECURITY.md.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from icspa_desktop.crypto import signing
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody.checkpoints import witness_dir
from icspa_desktop.custody.events import leaf_bytes, leaf_hash
from icspa_desktop.domain.errors import RefusedInput, english
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.files import atomic_write, make_private_dir, read_regular
from icspa_desktop.i18n import N_
from icspa_desktop.vault import db

FORMAT = "icspa-user-witness/v1"
_CONTEXT = b"icspa-user-witness/v1\n"
MAX_BYTES = 4096

# Why the log no longer fits a witness: English (custody verify's damage quotes it, so does the unlock's warning);
# ``PROBLEMS.shown`` gives it in the reader's language.
_UNREADABLE = N_("the witness {path} cannot be read ({cause})")
_DAMAGED = N_("the witness {path} is damaged")
_NOT_SIGNED = N_("the witness {path} is not signed by its user")
_TRUNCATED = N_("the log no longer contains event #{idx}, the newest one this user saw (witness {path}): the log was "
                "truncated or the vault rolled back")
_REPLACED = N_("event #{idx}, the newest one this user saw, was replaced (witness {path}): the log's tail was "
               "rewritten")
_SEEN_MORE = N_("the witness {path} has seen {size} events, the log holds {count}")
_COVERS_MORE = N_("the witness {path} covers {size} events, the log holds {count}")
PROBLEMS = Phrasebook(_UNREADABLE, _DAMAGED, _NOT_SIGNED, _TRUNCATED, _REPLACED, _SEEN_MORE, _COVERS_MORE)


@dataclass(frozen=True, slots=True)
class Head:
    user_id: str
    size: int
    last_leaf: bytes  # leaf hash of event size-1


def path_for(vault_id: str, user_id: str, directory: Path | None = None) -> Path:
    return witness_dir(directory) / f"{vault_id}.{user_id}.head"


def current(conn: db.Connection, user_id: str) -> Head | None:
    row = conn.execute("SELECT idx, leaf_hash FROM custody_events ORDER BY idx DESC LIMIT 1").fetchone()
    return None if row is None else Head(user_id, int(row[0]) + 1, bytes(row[1]))


def write(path: Path, head: Head, signing_private: bytes) -> None:
    body = {"format": FORMAT, "user_id": head.user_id, "tree_size": head.size,
            "last_leaf": base64.b64encode(head.last_leaf).decode("ascii")}
    signature = signing.sign(signing_private, _CONTEXT + canonical_json(body))
    make_private_dir(path.parent)
    atomic_write(path, json.dumps({**body, "signature": base64.b64encode(signature).decode("ascii")}).encode())


def check(conn: db.Connection, path: Path, user_keys: dict[str, list[bytes]]) -> str | None:
    """Why the log no longer fits this witness (None when it does, or when there is no witness).

    ``user_keys``: user id → every public key the signed log granted them."""
    try:
        raw = read_regular(path, "witness", MAX_BYTES)  # bounded, regular only: a FIFO must not hang the unlock
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _UNREADABLE.format(path=path, cause=exc.strerror)
    except RefusedInput as exc:
        return english(exc).rstrip(".")  # a custody damage text: English
    try:
        if len(raw) > MAX_BYTES:
            raise ValueError
        doc = json.loads(raw)
        signature = base64.b64decode(doc.pop("signature"), validate=True)
        size, leaf, user_id = int(doc["tree_size"]), base64.b64decode(doc["last_leaf"], validate=True), str(
            doc["user_id"])
        if doc.get("format") != FORMAT or size < 1 or len(leaf) != 32:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        return _DAMAGED.format(path=path)
    message = _CONTEXT + canonical_json(doc)
    if not any(signing.verify(k, signature, message) for k in user_keys.get(user_id, [])):
        return _NOT_SIGNED.format(path=path)
    row = conn.execute("SELECT body, signature, public_key, leaf_hash FROM custody_events WHERE idx = ?",
                       (size - 1,)).fetchone()
    if row is None:
        return _TRUNCATED.format(idx=size - 1, path=path)
    body, sig, pk, stored = (bytes(v) for v in row)
    if stored != leaf or leaf_hash(leaf_bytes(body, sig, pk)) != leaf:
        return _REPLACED.format(idx=size - 1, path=path)
    return None


def rollback_signs(conn: db.Connection, vault_id: str, directory: Path | None = None) -> str | None:
    """A quick look, before unlock touches anything, for a database older than a witness says: a user
    witness whose newest event is gone, or an agency witness covering more events than the log holds.
    Signatures are not checked here (verification does); this only decides to leave stray files alone."""
    count = int(conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0])
    for path in all_for_vault(vault_id, directory):
        try:
            size = int(json.loads(read_regular(path, "witness", MAX_BYTES))["tree_size"])
        except (OSError, ValueError, KeyError, TypeError, RefusedInput):
            continue
        if size > count:
            return _SEEN_MORE.format(path=path, size=size, count=count)
    agency = witness_dir(directory) / f"{vault_id}.checkpoint"
    try:
        lines = read_regular(agency, "witness", MAX_BYTES).split(b"\n")
        size = int(lines[1]) if len(lines) > 1 else 0
    except (OSError, ValueError, RefusedInput):
        return None
    return _COVERS_MORE.format(path=agency, size=size, count=count) if size > count else None


def all_for_vault(vault_id: str, directory: Path | None = None) -> list[Path]:
    """Every user witness of this vault in the witness directory (users sharing one OS account)."""
    base = witness_dir(directory)
    try:
        return sorted(p for p in base.glob(f"{vault_id}.*.head") if p.is_file() and not p.is_symlink())
    except OSError:
        return []


