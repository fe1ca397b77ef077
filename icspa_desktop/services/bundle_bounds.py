"""What an export must fit: the bounds a partner's import reads within (bundle/tarwalk.py ``Limits``).

Our import refused our own export of 10,000 items once (72 MB of custody proofs beyond a 64 MiB bound), so the
export checks against the import's bounds: ``check_plan`` before anything is recorded (its member count, and a
low bound of a whole case's custody proofs), ``check_records`` once the records are made, before a byte is
written.
"""

from __future__ import annotations

from icspa_desktop.bundle import records
from icspa_desktop.bundle.tarwalk import Limits
from icspa_desktop.domain.errors import UsageError, _
from icspa_desktop.domain.models import Case
from icspa_desktop.services.session import Session

# Tar members of a bundle beside its payload files: the bag and data folders, BagIt's four files, the metadata
# folder and its five documents, the signature; and a margin.
MEMBERS_BESIDE_PAYLOAD = 16


def check_plan(session: Session, case: Case, items: int, whole_case: bool, limits: Limits) -> None:
    """Refuse a selection of ``items`` a partner's import would not read, as far as it is known before the export."""
    if items + MEMBERS_BESIDE_PAYLOAD > limits.max_members:
        raise UsageError(_("A bundle carries at most {limit:,} items (what a partner's import reads); this one would "
                           "carry {n:,}. Send them in several bundles (--items), fewer in each.",
                           limit=limits.max_members - MEMBERS_BESIDE_PAYLOAD, n=items))
    if whole_case and (at_least := custody_json_at_least(session, case)) > limits.max_tag_file_bytes:
        raise UsageError(_("The bundle's {name} would hold more than {size:,} bytes for {n:,} items; a partner's "
                           "import reads at most {limit:,}. Send the items in several bundles (--items), fewer in "
                           "each.", name=records.CUSTODY_JSON, size=at_least, n=items,
                           limit=limits.max_tag_file_bytes))


def custody_json_at_least(session: Session, case: Case) -> int:
    """A low bound of the custody proofs' size in a bundle of every stored item of ``case``, before anything is
    recorded (``check_records`` checks every export once its records are made): each event it carries appears as
    its signed body in base64 (4/3 of its bytes) and as its readable copy (at least its bytes), so a refusal on
    this bound is never one the export itself would not make."""
    carried = int(session.conn.execute(
        "SELECT COALESCE(SUM(LENGTH(e.body)), 0) FROM custody_events e WHERE e.case_id = ? AND (NOT EXISTS"
        " (SELECT 1 FROM custody_event_items x WHERE x.event_idx = e.idx) OR EXISTS (SELECT 1 FROM custody_event_items"
        " x JOIN items i ON i.id = x.item_id WHERE x.event_idx = e.idx AND i.blob_id IS NOT NULL))",
        (case.id,)).fetchone()[0])
    return carried * 7 // 3


def check_records(tag_files: dict[str, bytes], items: int, limits: Limits) -> None:
    """Refuse, before anything is written, a bundle whose records a partner's import (ours, within ``limits``)
    would refuse to read: what it holds in memory to parse (bundle/records.py ``READ_ON_IMPORT``)."""
    held = {name: len(data) for name, data in tag_files.items() if name in records.READ_ON_IMPORT}
    for name, size in held.items():
        if size > limits.max_tag_file_bytes:
            raise UsageError(_("The bundle's {name} would hold {size:,} bytes for {n:,} items; a partner's import "
                               "reads at most {limit:,}. Send the items in several bundles, fewer in each.",
                               name=name, size=size, n=items, limit=limits.max_tag_file_bytes))
    if sum(held.values()) > limits.max_tag_total_bytes:
        raise UsageError(_("The bundle's records would hold {size:,} bytes for {n:,} items; a partner's import reads "
                           "at most {limit:,}. Send the items in several bundles, fewer in each.",
                           size=sum(held.values()), n=items, limit=limits.max_tag_total_bytes))
