"""The agency's evidence settings: the digests every ingest computes beyond SHA-256, and the exhibit-number
format with the numbering it gives new items. Changing either is an administrator's act, recorded as an
agency change."""

from __future__ import annotations

from collections.abc import Sequence

from icspa_desktop.custody.events import EventDraft
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.errors import UsageError, _
from icspa_desktop.domain.evidence import HashAlgorithm
from icspa_desktop.domain.models import Case
from icspa_desktop.i18n import N_
from icspa_desktop.services import cases
from icspa_desktop.services.item_checks import check_text
from icspa_desktop.services.permissions import Permission
from icspa_desktop.services.session import Session, set_setting, setting
from icspa_desktop.vault import db

SETTING_HASHES = "evidence.hash_algorithms"  # agency default beyond SHA-256, e.g. "md5,sha1"
SETTING_EXHIBIT_FORMAT = "evidence.exhibit_format"
DEFAULT_EXHIBIT_FORMAT = "{case}-{seq:03d}"


def _change_setting(session: Session, key: str, old: str, new: str) -> None:
    """Store an agency setting with the custody event that records it, old → new, in one transaction."""
    with session.transaction() as conn:
        set_setting(conn, key, new)
        session.record(EventDraft(CustodyAction.AGENCY_CHANGED, details={"changes": {key: {"old": old, "new": new}}}))


# ---- hash algorithms --------------------------------------------------------------------------------
def parse_algorithms(text: str) -> tuple[HashAlgorithm, ...]:
    """``"md5,sha1"`` → the algorithms, SHA-256 first and always included."""
    chosen: list[HashAlgorithm] = [HashAlgorithm.SHA256]
    for part in text.replace(" ", "").lower().split(","):
        if not part:
            continue
        name = part.replace("-", "")
        try:
            algorithm = HashAlgorithm(name)
        except ValueError:
            raise UsageError(_("Unknown hash algorithm {part!r}: choose from sha256, md5, sha1.", part=part)) from None
        if algorithm not in chosen:
            chosen.append(algorithm)
    return tuple(chosen)


def default_algorithms(session: Session) -> tuple[HashAlgorithm, ...]:
    return parse_algorithms(setting(session.conn, SETTING_HASHES, ""))


def set_default_algorithms(session: Session, algorithms: Sequence[HashAlgorithm]) -> tuple[HashAlgorithm, ...]:
    """The agency default digests for every ingest (administrators); recorded as an agency change."""
    session.require(Permission.MANAGE_AGENCY, attempted="change the default evidence hash algorithms")
    chosen = parse_algorithms(",".join(a.value for a in algorithms))
    old = setting(session.conn, SETTING_HASHES, "")
    new = ",".join(a.value for a in chosen if a is not HashAlgorithm.SHA256)
    _change_setting(session, SETTING_HASHES, old, new)
    return chosen


# ---- exhibit numbers --------------------------------------------------------------------------------
def exhibit_format(conn: db.Connection) -> str:
    return setting(conn, SETTING_EXHIBIT_FORMAT, DEFAULT_EXHIBIT_FORMAT)


def get_exhibit_format(session: Session) -> str:
    """The agency's exhibit number pattern (for display)."""
    session.require(Permission.READ)
    return exhibit_format(session.conn)


def set_exhibit_format(session: Session, pattern: str) -> str:
    """The agency's exhibit-number format, e.g. ``{case}-{seq:03d}`` or ``EX-{seq:05d}`` (administrators)."""
    session.require(Permission.MANAGE_AGENCY, attempted="change the exhibit number format")
    pattern = check_text(N_("The exhibit number format"), pattern, 64)
    try:
        first, second = pattern.format(case="C", seq=1), pattern.format(case="C", seq=2)
    except (KeyError, ValueError, IndexError):
        raise UsageError(
            _("The exhibit number format may use only {case} and {seq} (e.g. {case}-{seq:03d}).")) from None
    if first == second:
        raise UsageError(_("The exhibit number format must contain {seq} so that numbers differ."))
    old = exhibit_format(session.conn)
    if old != pattern:
        _change_setting(session, SETTING_EXHIBIT_FORMAT, old, pattern)
    return pattern


def suggest_exhibit_numbers(session: Session, case_ref: str, count: int = 1) -> list[str]:
    """The next ``count`` free exhibit numbers of a case in the agency format (default ``<case>-001``)."""
    case = cases.get_case(session, case_ref)
    return next_exhibits(session.conn, case, count)


def next_exhibits(conn: db.Connection, case: Case, count: int) -> list[str]:
    """The next ``count`` exhibit numbers of ``case`` in the agency format that no item of it has yet."""
    pattern = exhibit_format(conn)
    existing = {str(row[0]) for row in conn.execute("SELECT exhibit_number FROM items WHERE case_id = ?",
                                                     (case.id,)).fetchall()}
    found: list[str] = []
    seq = 1
    while len(found) < count:
        try:
            candidate = pattern.format(case=case.number, seq=seq)
        except (KeyError, ValueError, IndexError):
            candidate = DEFAULT_EXHIBIT_FORMAT.format(case=case.number, seq=seq)
        if candidate not in existing:
            found.append(candidate)
            existing.add(candidate)
        seq += 1
    return found
