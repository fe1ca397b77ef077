"""Product bugs the fuzzing found (2026-11-30), one test each; all fixed the same day: an scrypt work factor of
thousands of digits (crypto/agev1/header.py), an unpaired surrogate in a card (services/partners.py), a hostile seal
signature's certificates (bundle/reader.py _claimed_signer), a key-slot file's version type and nesting
(vault/keyslots.py) and a vault header's missing fields and nesting (vault/store.py). A new one found by the fuzz
tests goes here as a strict xfail (and into targets.KNOWN) until it is fixed."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from asn1crypto import cms as acms

from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.crypto import agev1
from icspa_desktop.domain.errors import RefusedInput, VaultError
from icspa_desktop.services import partners
from icspa_desktop.vault.keyslots import KeySlotFile
from icspa_desktop.vault.layout import VaultLayout
from icspa_desktop.vault.store import VaultHeader
from tests.fuzz.samples import Samples
from tests.fuzz.targets import Context


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def test_an_scrypt_work_factor_of_thousands_of_digits_is_a_header_error(tmp_path: Path) -> None:
    header = (b"age-encryption.org/v1\n-> scrypt " + _b64(bytes(16)) + b" " + b"9" * 5000 + b"\n"
              + _b64(bytes(32)) + b"\n--- " + b"A" * 43 + b"\n")
    identity = agev1.generate_identity()[0]
    with pytest.raises(agev1.HeaderError):
        agev1.decrypt(header + bytes(16 + 32), [identity])
    path = tmp_path / "x.icspa"
    path.write_bytes(header + bytes(16 + 32))
    assert not bundle_reader.check_bundle(path, [identity], []).ok


def test_a_card_with_an_unpaired_surrogate_is_refused(fuzz_context: Context) -> None:
    card = json.loads(fuzz_context.samples.read("card"))
    card["body"]["contact"] = "\ud800"
    with pytest.raises(RefusedInput):
        partners.read_card(json.dumps(card).encode(), now=fuzz_context.card_time)


def test_a_seal_signature_that_is_not_signed_data_is_a_bad_seal(tmp_path: Path,
                                                                 fuzz_samples_built: Samples) -> None:
    usb = fuzz_samples_built.nl.parent / "usb"
    for name in ("fuzz.icspa", "fuzz.icspa.sha256"):
        shutil.copyfile(usb / name, tmp_path / name)
    (tmp_path / "fuzz.icspa.sha256.p7s").write_bytes(
        acms.ContentInfo({"content_type": "data", "content": b"not a signature"}).dump())
    check = bundle_reader.check_bundle(tmp_path / "fuzz.icspa", [], [])
    assert check.seal.startswith("bad")


def test_a_key_slot_file_with_a_list_as_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyslots.json"
    path.write_text('{"format": "icspa-keyslots", "version": [], "vault_id": "v", "slots": []}')
    with pytest.raises(VaultError):
        KeySlotFile.load(path, "v")  # type: ignore[arg-type]


def test_a_deeply_nested_key_slot_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyslots.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(VaultError):
        KeySlotFile.load(path, "v")  # type: ignore[arg-type]


def test_a_vault_header_without_its_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vault.json").write_text('{"format": "icspa-vault", "version": 1}')
    with pytest.raises(VaultError):
        VaultHeader.load(VaultLayout(tmp_path))


def test_a_deeply_nested_vault_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vault.json").write_bytes(b"[" * 60_000)
    with pytest.raises(VaultError):
        VaultHeader.load(VaultLayout(tmp_path))
