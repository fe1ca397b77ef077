"""Two real agency vaults that trust each other, the sender holding one large and many small items: the setting
of the export and import benchmarks (cheap test KDF: unlocking is not what they measure)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PASS = "bench-import-passphrase"
CASE = "BENCH/1"
PARTNER = "BKA"  # the recipient's name in the sender's partner list


@dataclass(frozen=True)
class PartnerVaults:
    sender: Path  # NL's vault: case BENCH/1 with the items
    recipient: Path  # DE's vault
    files: Path  # the ingested plaintext, as files (big.bin, small-00000.bin, …)
    recipient_secret: str  # DE's age identity (AGE-SECRET-KEY-1…)
    recipient_public: str  # DE's age recipient (age1…)


def build(base: Path, size: int, small: int, small_size: int) -> PartnerVaults:
    from cryptography.hazmat.primitives import serialization

    from icspa_desktop.crypto import kdf
    from icspa_desktop.domain.models import CaseFields
    from icspa_desktop.services import agency, cases, evidence, partners
    from icspa_desktop.services.session import unlock
    from icspa_desktop.services.vault_service import AgencyInfo, init_vault

    kdf.use_insecure_test_profile()
    files = base / "files"
    files.mkdir()
    block = os.urandom(1 << 20)
    with open(files / "big.bin", "wb") as handle:
        for _ in range(size >> 20):
            handle.write(block)
    for i in range(small):
        (files / f"small-{i:05d}.bin").write_bytes(os.urandom(small_size))
    nl, de = base / "nl", base / "de"
    init_vault(nl, "admin", PASS, agency=AgencyInfo("Bench Politie", "NL", "", ""))
    init_vault(de, "admin", PASS, agency=AgencyInfo("Bench BKA", "DE", "", ""))
    with unlock(nl, "admin", PASS) as s_nl, unlock(de, "admin", PASS) as s_de:
        for one, other, name, country in ((s_nl, s_de, PARTNER, "DE"), (s_de, s_nl, "Politie", "NL")):
            identity = agency.agency_identity(other)
            partners.add_partner(one, name, country, identity.age_recipient,
                                 identity.certificate.public_bytes(serialization.Encoding.PEM))
        secret = str(agency.age_identity(s_de))
        public = agency.agency_identity(s_de).age_recipient
        case = cases.create_case(s_nl, CaseFields(CASE, "Export and import benchmark"))
        evidence.add_files(s_nl, case.id, [files])
    return PartnerVaults(nl, de, files, secret, public)
