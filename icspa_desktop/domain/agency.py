"""Agency identity and partner records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class AgencyIdentity:
    """Public facts about this installation's agency."""

    key_id: str
    name: str
    country: str
    unit: str
    contact: str
    certificate: x509.Certificate
    age_recipient: str
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    lineage: str
    name: str
    country: str
    unit: str
    contact: str
    certificate: x509.Certificate
    age_recipient: str
    fingerprint: str
    source: str
    card_expires: datetime | None
    status: PartnerStatus
    status_reason: str
    created_at: datetime
    status_changed: datetime | None = None  # when it was revoked or superseded

    @property
    def expires(self) -> datetime:
        """The earlier of the certificate's end and the card's expiry."""
        ends = self.certificate.not_valid_after_utc
        return min(ends, self.card_expires) if self.card_expires else ends
