"""Valid inputs of every parser of untrusted input, made by the real product from two real agency vaults.

``build(root)`` makes an NL→DE exchange (tests/bundle/exchange.py, cheap test KDF), exports a small bundle,
imports it at DE and writes DE's receipt, and keeps one valid sample per parser as files under
``root/samples/`` (so the long run's child processes read them without building anything). The caller
sets up the environment: the test KDF profile and a private HOME and witness folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from icspa_desktop.bundle import records
from icspa_desktop.crypto import agev1
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.services import agency, bundle_import, receipts
from tests.bundle.exchange import make_exchange
from tests.data.bundles.make_corpus import Bag, keys_of

# Every sample file under samples/, by the parser it feeds.
FILES = {
    "age": "small.age", "identity": "de.identity", "tar": "bundle.tar", "bundle": "bundle.icspa",
    "case": "case.json", "items": "items.json", "custody": "custody.json", "card": "nl.icspa-card",
    "cms": "tagmanifest.p7s", "cms-content": "tagmanifest-sha256.txt", "cms-signer": "nl.pem",
    "checkpoint": "witness.checkpoint", "receipt": "receipt.txt", "receipt-signer": "de.pem",
    "keyslots": "keyslots.json", "vault-header": "vault.json",
}
_PEM = Encoding.PEM
CARD_TIME = "card-time"  # when the card was read as valid (a file beside the samples)


@dataclass(frozen=True)
class Samples:
    folder: Path
    nl: Path  # NL's vault (the sender, which imports receipts)
    de: Path  # DE's vault (the recipient)

    def path(self, kind: str) -> Path:
        return self.folder / FILES[kind]

    def read(self, kind: str) -> bytes:
        return self.path(kind).read_bytes()

    @property
    def card_time(self) -> datetime:
        return datetime.fromisoformat((self.folder / CARD_TIME).read_text())


def build(root: Path) -> Samples:
    """The exchange under ``root/scene`` and the samples under ``root/samples``."""
    exchange = make_exchange(root / "scene", (300, 2_000))
    folder = root / "samples"
    folder.mkdir()
    keys = keys_of(exchange)
    bundle = exchange.export("fuzz").path
    shutil.copyfile(bundle, folder / FILES["bundle"])
    plain = keys.decrypt(bundle.read_bytes())
    (folder / FILES["tar"]).write_bytes(plain)
    bag = Bag.read(plain)
    for kind, rel in (("case", records.CASE_JSON), ("items", records.ITEMS_JSON), ("custody", records.CUSTODY_JSON)):
        (folder / FILES[kind]).write_bytes(bag.get(rel))
    (folder / FILES["cms"]).write_bytes(next(m.data for m in bag.members if m.info.name == bag.signature_name))
    (folder / FILES["cms-content"]).write_bytes(bag.get("tagmanifest-sha256.txt"))
    (folder / FILES["cms-signer"]).write_bytes(keys.nl_certificate.public_bytes(_PEM))
    with exchange.open_de() as de:
        identity = agency.age_identity(de)
        prepared = bundle_import.prepare_import(de, bundle)
        bundle_import.commit_import(de, prepared)
        receipts.write_receipt(de, prepared.bundle_id, folder / FILES["receipt"])
        (folder / FILES["receipt-signer"]).write_bytes(agency.agency_identity(de).certificate.public_bytes(_PEM))
    (folder / FILES["identity"]).write_text(identity)
    (folder / FILES["age"]).write_bytes(agev1.encrypt(b"evidence " * 20, [agev1.recipient_of(identity)]))
    with exchange.open_nl() as nl:
        (folder / FILES["card"]).write_bytes(agency.make_card(nl))
        vault_id = nl.vault.header.vault_id
    (folder / CARD_TIME).write_text(datetime.now(UTC).isoformat())
    shutil.copyfile(cp.witness_path(vault_id), folder / FILES["checkpoint"])
    shutil.copyfile(exchange.nl / "keyslots.json", folder / FILES["keyslots"])
    shutil.copyfile(exchange.nl / "vault.json", folder / FILES["vault-header"])
    return Samples(folder, exchange.nl, exchange.de)


def vault_id_of(samples: Samples) -> str:
    return str(json.loads(samples.read("vault-header"))["vault_id"])


def load(root: Path) -> Samples:
    """Samples that ``build(root)`` made earlier (the long run's children)."""
    return Samples(root / "samples", root / "scene" / "nl", root / "scene" / "de")
