"""A case with every kind of custody the CASE/UCO export models, made through the services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from icspa_desktop.domain.enums import HandlingCode, InformationEvaluation, SourceEvaluation, Tlp
from icspa_desktop.domain.evidence import Acquisition, HashAlgorithm, Item, ItemFields, Markings
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence, fixity, physical
from icspa_desktop.services.session import Session

CASE = "2026-077"
WARRANT = "Warrant 12 Gs 345/26"
SERIAL = "R58N90ABCDE"


@dataclass
class Scene:
    phone: Item  # physical, seized
    image: Item  # digital, acquired from the phone with a tool, under a seal
    carved: Item  # digital, derived from the image
    tampered: Item  # digital, its stored content damaged: verification fails
    extract_to: Path


@pytest.fixture
def scene(admin: Session, tmp_path: Path) -> Scene:
    cases.create_case(admin, CaseFields(number=CASE, title="Operation Kestrel", lead_investigator="KHK Müller",
                                        legal_authority=WARRANT, handling_code=HandlingCode.H2, tlp=Tlp.AMBER))
    phone = physical.add_physical(admin, CASE, "Samsung Galaxy S21, black", ItemFields(
        storage_location="Evidence room B, locker 4",
        acquisition=Acquisition(acquired_by="KOK Schmidt", acquired_at="2026-03-01T08:30:00+01:00",
                                location="Wiesbaden, Hauptstraße 1", method="seizure", source_serial=SERIAL,
                                seal_number="S-0001")))
    source = tmp_path / "phone.img"
    source.write_bytes(os.urandom(20_000))
    image = evidence.add_files(admin, CASE, [source], ItemFields(
        description="Physical image of the phone", parent_id=phone.id,
        markings=Markings(HandlingCode.H3, "only for the JIT Kestrel", Tlp.RED, SourceEvaluation.B,
                          InformationEvaluation.TWO),
        acquisition=Acquisition(acquired_by="KOK Schmidt", acquired_at="2026-03-02T10:00:00+01:00",
                                location="BKA lab 3", method="physical image", tool="Cellebrite UFED",
                                tool_version="7.69", source_device="Samsung Galaxy S21", source_serial=SERIAL,
                                seal_number="S-0002")),
        algorithms=[HashAlgorithm.SHA256, HashAlgorithm.MD5]).items[0]
    carved_file = tmp_path / "IMG_0001.jpg"
    carved_file.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(3000))
    carved = evidence.add_files(admin, CASE, [carved_file], ItemFields(
        description="Photo carved from the image", parent_id=image.id)).items[0]
    other = tmp_path / "notes.txt"
    other.write_bytes(b"notes of the seizure\n")
    # A date without a time of day is no xsd:dateTime: it stays in the description, as written.
    tampered = evidence.add_files(admin, CASE, [other], ItemFields(
        acquisition=Acquisition(acquired_by="KOK Schmidt", acquired_at="2026-03-01"))).items[0]
    physical.check_out(admin, phone.id, "Dr. Weber", "examination at the lab", authority="Order 7/26")
    physical.check_in(admin, phone.id, "Dr. Weber", storage_location="Evidence room B, locker 5")
    extract_to = tmp_path / "out" / "IMG_0001.jpg"
    extract_to.parent.mkdir()
    fixity.extract(admin, carved.id, extract_to, "court exhibit preparation")
    blob = admin.vault.layout.blobs / tampered.blob_id[:2] / tampered.blob_id  # type: ignore[index]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    fixity.verify_case(admin, CASE)
    return Scene(evidence.get_item(admin, phone.id), evidence.get_item(admin, image.id),
                 evidence.get_item(admin, carved.id), evidence.get_item(admin, tampered.id), extract_to)
