"""Evidence items as plain data: the record of a digital or physical exhibit, and results of checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from icspa_desktop.domain.enums import HandlingCode, InformationEvaluation, SourceEvaluation, Tlp
from icspa_desktop.domain.ids import CaseId, ItemId, UserId


class ItemKind(StrEnum):
    DIGITAL = "digital"
    PHYSICAL = "physical"


class HashAlgorithm(StrEnum):
    """Digests computed at ingest. SHA-256 always; MD5 and SHA-1 only for legacy tools."""

    SHA256 = "sha256"
    MD5 = "md5"
    SHA1 = "sha1"

    @property
    def hex_length(self) -> int:
        return {"sha256": 64, "md5": 32, "sha1": 40}[self.value]


class FixityResult(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class Markings:
    handling_code: HandlingCode = HandlingCode.H0
    handling_text: str = ""
    tlp: Tlp = Tlp.AMBER
    source_evaluation: SourceEvaluation | None = None
    information_evaluation: InformationEvaluation | None = None


@dataclass(frozen=True, slots=True)
class MarkingChanges:
    """The markings fields a user changes; None keeps the item's current value (CLI flags given one by one)."""

    handling_code: str | None = None
    handling_text: str | None = None
    tlp: str | None = None
    source_evaluation: str | None = None
    information_evaluation: str | None = None

    def any(self) -> bool:
        return any(value is not None for value in (self.handling_code, self.handling_text, self.tlp,
                                                   self.source_evaluation, self.information_evaluation))


@dataclass(frozen=True, slots=True)
class Acquisition:
    """Who acquired the item, when, where and how (issue #3 item 2)."""

    acquired_by: str = ""
    acquired_at: str = ""  # ISO 8601 as the investigator gave it; empty = time of ingest
    location: str = ""
    method: str = ""
    tool: str = ""
    tool_version: str = ""
    source_device: str = ""
    source_serial: str = ""
    seal_number: str = ""


@dataclass(frozen=True, slots=True)
class ItemFields:
    """What a user states about an item when adding it (the rest is measured)."""

    description: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()
    exhibit_number: str = ""  # empty: the next number in the agency format
    markings: Markings | None = None  # None: inherit the case's markings
    acquisition: Acquisition = field(default_factory=Acquisition)
    parent_id: ItemId | None = None
    storage_location: str = ""  # physical items


@dataclass(frozen=True, slots=True)
class Item:
    id: ItemId
    case_id: CaseId
    exhibit_number: str
    kind: ItemKind
    original_name: str
    original_path: str
    size: int | None
    hashes: dict[str, str]  # algorithm value → lower-case hex
    mime_type: str
    description: str
    notes: str
    tags: tuple[str, ...]
    markings: Markings
    acquisition: Acquisition
    parent_id: ItemId | None
    storage_location: str
    checked_out: bool
    holder: str
    created_at: str
    created_by: UserId
    updated_at: str
    blob_id: str | None = None

    @property
    def sha256(self) -> str | None:
        return self.hashes.get(HashAlgorithm.SHA256.value)


@dataclass(frozen=True, slots=True)
class FixityReport:
    """The outcome of re-reading and re-hashing one item."""

    item_id: ItemId
    exhibit_number: str
    case_id: CaseId
    result: FixityResult
    expected: dict[str, str]
    actual: dict[str, str]
    problem: str = ""  # why it failed, one sentence; empty when ok

    @property
    def ok(self) -> bool:
        return self.result is FixityResult.OK
