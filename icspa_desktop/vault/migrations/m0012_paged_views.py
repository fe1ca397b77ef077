"""Schema 12: an index for the evidence table's first page in natural exhibit order (issue 11).

The desktop reads a case's items a page at a time (``services/item_pages.py``), in the order the table shows:
by default exhibit numbers in natural order (``BIG/001-999`` before ``BIG/001-1000``). This index holds that
order per case, so the first page of a 100,000-item case is read from the index instead of sorting every item.
``icspa_natural`` is registered on every connection the vault opens (``vault/db.py``)."""

from __future__ import annotations

from icspa_desktop.vault.db import Connection

VERSION = 12


def apply(conn: Connection) -> None:
    conn.execute("CREATE INDEX items_natural_exhibit ON items(case_id, icspa_natural(exhibit_number))")
