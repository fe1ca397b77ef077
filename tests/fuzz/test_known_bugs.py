"""Product bugs the fuzzing found in files this suite may not change: each test fails (strict xfail) while the bug
is there. When one is fixed its test passes and pytest says so: move it out of xfail and drop its ``KnownBug``
in targets.py, so the fuzz tests stop tolerating it."""

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


@pytest.mark.xfail(strict=True, reason=(
    "crypto/agev1.py _check_stanzas: int(args[1]) of an scrypt work factor of more than 4,300 digits raises "
    "ValueError (Python's integer-string limit), which is no AgeError: check_bundle lets it out, and "
    "'bundle import' / 'bundle verify' of such a file ends in 'unexpected error'"))
def test_an_scrypt_work_factor_of_thousands_of_digits_is_a_header_error(tmp_path: Path) -> None:
    header = (b"age-encryption.org/v1\n-> scrypt " + _b64(bytes(16)) + b" " + b"9" * 5000 + b"\n"
              + _b64(bytes(32)) + b"\n--- " + b"A" * 43 + b"\n")
    identity = agev1.generate_identity()[0]
    with pytest.raises(agev1.HeaderError):
        agev1.decrypt(header + bytes(16 + 32), [identity])
    path = tmp_path / "x.icspa"
    path.write_bytes(header + bytes(16 + 32))
    assert not bundle_reader.check_bundle(path, [identity], []).ok


@pytest.mark.xfail(strict=True, reason=(
    "services/partners.py read_card → services/agency.py card_message → crypto/canonical.py: a card whose body "
    "holds an unpaired surrogate escape (\"\\ud800\", valid JSON) raises UnicodeEncodeError before the signature "
    "is checked, instead of RefusedInput: 'partner import' of such a card is an 'unexpected error'"))
def test_a_card_with_an_unpaired_surrogate_is_refused(fuzz_context: Context) -> None:
    card = json.loads(fuzz_context.samples.read("card"))
    card["body"]["contact"] = "\ud800"
    with pytest.raises(RefusedInput):
        partners.read_card(json.dumps(card).encode(), now=fuzz_context.card_time)


@pytest.mark.xfail(strict=True, reason=(
    "bundle/reader.py _claimed_signer catches only ValueError from pkcs7.load_der_pkcs7_certificates; a "
    "PKCS#7 ContentInfo that is not SignedData raises cryptography's UnsupportedAlgorithm, a carried certificate "
    "with a bad version field x509.InvalidVersion, one with a bad subject a ValueError from crypto/x509.py "
    "subject_text, outside the try (all three found by the fuzzing; the bag's own .p7s reaches it too). "
    "Anyone can put such a NAME.icspa.sha256.p7s beside a bundle (the outer seal is not encrypted): "
    "check_bundle raises instead of reporting a bad seal, and import/verify end in 'unexpected error'"))
def test_a_seal_signature_that_is_not_signed_data_is_a_bad_seal(tmp_path: Path,
                                                                 fuzz_samples_built: Samples) -> None:
    usb = fuzz_samples_built.nl.parent / "usb"
    for name in ("fuzz.icspa", "fuzz.icspa.sha256"):
        shutil.copyfile(usb / name, tmp_path / name)
    (tmp_path / "fuzz.icspa.sha256.p7s").write_bytes(
        acms.ContentInfo({"content_type": "data", "content": b"not a signature"}).dump())
    check = bundle_reader.check_bundle(tmp_path / "fuzz.icspa", [], [])
    assert check.seal.startswith("bad")


@pytest.mark.xfail(strict=True, reason=(
    "vault/keyslots.py KeySlotFile.load: a 'version' that is a list or object is looked up in a frozenset: "
    "TypeError (unhashable) instead of VaultError"))
def test_a_key_slot_file_with_a_list_as_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyslots.json"
    path.write_text('{"format": "icspa-keyslots", "version": [], "vault_id": "v", "slots": []}')
    with pytest.raises(VaultError):
        KeySlotFile.load(path, "v")  # type: ignore[arg-type]


@pytest.mark.xfail(strict=True, reason=(
    "vault/keyslots.py KeySlotFile.load catches OSError and ValueError from json.loads, not RecursionError: "
    "keyslots.json of 100,000 '[' ends the unlock in 'unexpected error' instead of 'damaged'"))
def test_a_deeply_nested_key_slot_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyslots.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(VaultError):
        KeySlotFile.load(path, "v")  # type: ignore[arg-type]


@pytest.mark.xfail(strict=True, reason=(
    "vault/store.py VaultHeader.load indexes raw['vault_id'] and raw['created_at'] after checking only format "
    "and version: a vault.json without them raises KeyError instead of VaultError"))
def test_a_vault_header_without_its_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vault.json").write_text('{"format": "icspa-vault", "version": 1}')
    with pytest.raises(VaultError):
        VaultHeader.load(VaultLayout(tmp_path))


@pytest.mark.xfail(strict=True, reason=(
    "vault/store.py VaultHeader.load catches OSError and ValueError from json.loads, not RecursionError: a "
    "vault.json of 60,000 '[' raises RecursionError instead of VaultError"))
def test_a_deeply_nested_vault_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vault.json").write_bytes(b"[" * 60_000)
    with pytest.raises(VaultError):
        VaultHeader.load(VaultLayout(tmp_path))
