"""Records of the domain as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from icspa_desktop.domain.enums import CaseStatus, HandlingCode, Role, Tlp
from icspa_desktop.domain.ids import CaseId, UserId


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    name: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime
    signing_public_key: bytes  # raw Ed25519 public key currently in use


@dataclass(frozen=True, slots=True)
class CaseFields:
    """What a user may set on a case (create and edit)."""

    number: str
    title: str
    description: str = ""
    lead_investigator: str = ""
    jurisdiction: str = ""
    legal_authority: str = ""
    handling_code: HandlingCode = HandlingCode.H0
    handling_text: str = ""  # the stated restriction; required for H3
    tlp: Tlp = Tlp.AMBER


@dataclass(frozen=True, slots=True)
class Case:
    id: CaseId
    fields: CaseFields
    status: CaseStatus
    created_at: datetime
    updated_at: datetime
    created_by: UserId

    @property
    def number(self) -> str:
        return self.fields.number

    @property
    def title(self) -> str:
        return self.fields.title
