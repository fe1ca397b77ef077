"""Schema 12: the natural order of exhibit numbers, stored and indexed per case (issue 11).

The desktop reads a case's items a page at a time (``services/item_pages.py``), in the order the table shows: by
default exhibit numbers in natural order (``BIG/001-999`` before ``BIG/001-1000``). ``items.exhibit_sort`` holds
``vault.db.natural_key(exhibit_number)`` (written with every item, ``evidence.insert_item_row``), and the index
gives the first page of a 100,000-item case without sorting it. A stored column, not an index on an SQL function
of ours: every connection that writes items would need that function, and a Python function called back from a
statement can deadlock two threads sharing a connection (``vault/db.py`` ``register_functions``)."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection, natural_key

VERSION = 12


def apply(conn: Connection) -> None:
    conn.execute("ALTER TABLE items ADD COLUMN exhibit_sort TEXT NOT NULL DEFAULT ''")
    rows = conn.execute("SELECT rowid, exhibit_number FROM items").fetchall()
    conn.executemany("UPDATE items SET exhibit_sort = ? WHERE rowid = ?",
                     [(natural_key(str(exhibit)), rowid) for rowid, exhibit in rows])
    conn.execute("CREATE INDEX items_exhibit_sort ON items(case_id, exhibit_sort)")
