"""Schema 10: the database keeps the committed copy of ``keyslots.json``.

A key-slot change (a user added, a passphrase changed, a master-key rotation) used to write the file before the
database commit it belongs to, and put it back if the commit failed — which a disk that keeps failing does not
allow, leaving a slot for a user the database never got. Now the new file is stored here in the change's own
transaction and written out after the commit; the next unlock writes it out if that did not happen
(vault/keyslots.py ``KeySlotFile.change``, vault/store.py). The row is filled at the first unlock after this
upgrade, from the file that unlock used."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 10


def apply(conn: Connection) -> None:
    conn.execute("""CREATE TABLE key_slot_file (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        document BLOB NOT NULL              -- the bytes of keyslots.json as last committed
    )""")
