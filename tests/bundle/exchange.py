"""Two agencies that trust each other's cards, with evidence to send: the scene of the import tests."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.evidence import ItemFields, Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import agency, bundles, cases, evidence, partners
from icspa_desktop.services.session import Session, unlock
from tests.agency.conftest import PASS, make_agency_vault

CASE = "2026/041"


@dataclass
class Exchange:
    nl: Path  # the sender (Politie, NL)
    de: Path  # the recipient (BKA, DE)
    files: Path
    usb: Path

    def open_nl(self) -> Session:
        return unlock(self.nl, "admin", PASS)

    def open_de(self) -> Session:
        return unlock(self.de, "admin", PASS)

    def export(self, name: str = "nightjar", items: list[str] | None = None, to: str = "BKA") -> bundles.ExportResult:
        with self.open_nl() as nl:
            plan = bundles.plan_export(nl, CASE, [to], items, purpose="JIT Nightjar", authority="MLA 2026/17")
            return bundles.export(nl, plan, self.usb / name)


def _trust(one: Session, other: Session, name: str, country: str) -> None:
    identity = agency.agency_identity(other)
    partners.add_partner(one, name, country, identity.age_recipient,
                         identity.certificate.public_bytes(serialization.Encoding.PEM))


def make_exchange(root: Path, sizes: tuple[int, ...] = (15_000, 3 << 20)) -> Exchange:
    nl = make_agency_vault(root / "nl", "Politie Landelijke Eenheid", "NL")
    de = make_agency_vault(root / "de", "Bundeskriminalamt", "DE")
    files = root / "seized"
    files.mkdir()
    (files / "chat export.txt").write_bytes((b"meeting at the harbour, 23:00\n" * (sizes[0] // 30 + 1))[:sizes[0]])
    for n, size in enumerate(sizes[1:], 1):
        (files / f"image-{n}.bin").write_bytes(os.urandom(size))
    with unlock(nl, "admin", PASS) as s_nl, unlock(de, "admin", PASS) as s_de:
        _trust(s_nl, s_de, "BKA", "DE")
        _trust(s_de, s_nl, "Politie NL", "NL")
        case = cases.create_case(s_nl, CaseFields(CASE, "Operation Nightjar", handling_code=HandlingCode.H1,
                                                   tlp=Tlp.AMBER))
        evidence.add_files(s_nl, case.id, [files])
        note = files.parent / "restricted.txt"
        note.write_text("informant notes\n")
        evidence.add_files(s_nl, case.id, [note], fields=ItemFields(
            description="H2 notes", markings=Markings(handling_code=HandlingCode.H2, tlp=Tlp.RED)))
    usb = root / "usb"
    usb.mkdir()
    return Exchange(nl, de, files, usb)


def tree_digest(vault: Path) -> dict[str, str]:
    """Every file of a vault directory and its SHA-256 (the database included), to compare before/after."""
    found: dict[str, str] = {}
    for path in sorted(vault.rglob("*")):
        if path.is_file() and not path.name.endswith((".lock", "-shm", "-wal")):
            found[str(path.relative_to(vault))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
