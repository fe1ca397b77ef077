"""Payloads marked ``authenticated`` (bundle/format.py): their plaintext is not hashed again on the way out.

That is sound only because the chunks come from the vault's blob store, which authenticates every chunk, its
position and the end of the stream (vault/blobs.py, crypto/stream.py). These tests take real blobs of a real
vault: a faithful blob makes a bundle whose payload is the ingested bytes, and every way of changing a blob
on disk (a flipped byte, a chunk cut off the end, bytes appended, another item's blob in its place) still
fails the export, as does a recorded size that is wrong, with nothing left in the target folder.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pyrage
import pytest

from icspa_desktop.bundle.format import BagSpec, PayloadFile, write_bundle
from icspa_desktop.crypto import stream
from icspa_desktop.domain.errors import VerificationFailed
from icspa_desktop.domain.evidence import Item
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.services import cases, evidence, fixity
from icspa_desktop.services.session import Session
from icspa_desktop.vault.blobs import BlobStore
from tests.bundle.test_format import BUNDLE_ID, Signer, make_spec, recipients_of

BIG = 3 * stream.DEFAULT_CHUNK_SIZE + 12345  # four sealed chunks, the last one short


@pytest.fixture
def stored(admin: Session, tmp_path: Path) -> tuple[list[Item], dict[str, bytes]]:
    """Two ingested items (a multi-chunk one and a small one) and their original bytes by item id."""
    cases.create_case(admin, CaseFields(number="AUTH-1", title="Authenticated payloads"))
    source = tmp_path / "source"
    source.mkdir()
    contents = {"big.bin": os.urandom(BIG), "small.txt": b"small evidence\n"}
    for name, data in contents.items():
        (source / name).write_bytes(data)
    items = evidence.add_files(admin, "AUTH-1", [source / "big.bin", source / "small.txt"]).items
    return items, {item.id: contents[item.original_name] for item in items}


def _payloads(session: Session, items: list[Item]) -> list[PayloadFile]:
    return [PayloadFile(str(item.id), int(item.size or 0), str(item.sha256),
                        functools.partial(fixity.content_chunks, session, item, None), authenticated=True)
            for item in items]


def _spec(payloads: list[PayloadFile]) -> BagSpec:
    base = make_spec([])
    return BagSpec(BUNDLE_ID, base.info, base.tag_files, payloads)


def _blob(session: Session, item: Item) -> Path:
    assert item.blob_id is not None
    return BlobStore(session.vault.layout).path(item.blob_id)


def test_a_faithful_blob_makes_a_bundle_of_the_ingested_bytes(admin: Session, tmp_path: Path,
                                                              stored: tuple[list[Item], dict[str, bytes]]) -> None:
    items, originals = stored
    identity = pyrage.x25519.Identity.generate()
    out = tmp_path / "target"
    out.mkdir()
    written = write_bundle(_spec(_payloads(admin, items)), Signer(tmp_path), recipients_of(identity),
                           out / "b.icspa")
    plain = pyrage.decrypt(written.path.read_bytes(), [identity])
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        for item in items:
            member = tar.extractfile(f"{BUNDLE_ID}/data/{item.id}")
            assert member is not None and member.read() == originals[item.id]
        manifest = tar.extractfile(f"{BUNDLE_ID}/manifest-sha256.txt")
        assert manifest is not None
        lines = manifest.read().decode().splitlines()
    assert sorted(lines) == sorted(f"{hashlib.sha256(originals[i.id]).hexdigest()}  data/{i.id}" for i in items)


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _cut_last_chunk(path: Path) -> None:
    data = path.read_bytes()
    last = (len(data) - stream.HEADER_LEN) % (stream.DEFAULT_CHUNK_SIZE + stream.TAG_LEN)
    path.write_bytes(data[: len(data) - last])


def _append(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(bytes(stream.TAG_LEN + 1))


@pytest.mark.parametrize("damage", [_flip_middle, _cut_last_chunk, _append, "swapped"],
                         ids=["byte-flipped", "last-chunk-cut", "bytes-appended", "other-items-blob"])
def test_a_changed_blob_still_fails_the_export_and_leaves_nothing(
        admin: Session, tmp_path: Path, stored: tuple[list[Item], dict[str, bytes]],
        damage: Callable[[Path], None] | str) -> None:
    items, _ = stored
    big = next(item for item in items if item.original_name == "big.bin")
    small = next(item for item in items if item.original_name == "small.txt")
    if damage == "swapped":
        shutil.copyfile(_blob(admin, small), _blob(admin, big))
    else:
        assert callable(damage)
        damage(_blob(admin, big))
    out = tmp_path / "target"
    out.mkdir()
    with pytest.raises((stream.StreamError, VerificationFailed)):
        write_bundle(_spec(_payloads(admin, items)), Signer(tmp_path), recipients_of(pyrage.x25519.Identity.generate()),
                     out / "b.icspa")
    assert os.listdir(out) == []


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_wrong_recorded_size_is_refused_without_the_hash(admin: Session, tmp_path: Path,
                                                          stored: tuple[list[Item], dict[str, bytes]],
                                                          delta: int) -> None:
    items, _ = stored
    lying = [PayloadFile(p.name, p.size + delta, p.sha256, p.chunks, authenticated=True)
             for p in _payloads(admin, items)]
    out = tmp_path / "target"
    out.mkdir()
    with pytest.raises(VerificationFailed, match="recorded"):
        write_bundle(_spec(lying), Signer(tmp_path), recipients_of(pyrage.x25519.Identity.generate()),
                     out / "b.icspa")
    assert os.listdir(out) == []


def test_without_the_mark_the_plaintext_is_still_hashed(admin: Session, tmp_path: Path,
                                                        stored: tuple[list[Item], dict[str, bytes]]) -> None:
    """A recorded hash that does not fit the content is caught by the default (unmarked) payload."""
    items, _ = stored
    wrong = [PayloadFile(p.name, p.size, "0" * 64, p.chunks) for p in _payloads(admin, items)]
    out = tmp_path / "target"
    out.mkdir()
    with pytest.raises(VerificationFailed, match="does not match its recorded SHA-256"):
        write_bundle(_spec(wrong), Signer(tmp_path), recipients_of(pyrage.x25519.Identity.generate()),
                     out / "b.icspa")
    assert os.listdir(out) == []


def _reseal(session: Session, item: Item, plaintext: bytes) -> None:
    """Put ``plaintext`` in place of the item's blob, sealed under the item's own blob key: what an insider holding
    the vault's keys can do. It decrypts and authenticates like the original; only its hash tells it apart."""
    _blob_id, key = fixity._blob_key(session, item)
    sealer = stream.StreamEncryptor(key)
    size = stream.DEFAULT_CHUNK_SIZE
    pieces = [plaintext[i:i + size] for i in range(0, len(plaintext), size)] or [b""]
    sealed = bytearray(sealer.header)
    for n, piece in enumerate(pieces):
        out = bytearray(len(piece) + stream.TAG_LEN)
        sealed += out[:sealer.seal_into(piece, n == len(pieces) - 1, out)]
    _blob(session, item).write_bytes(bytes(sealed))


@pytest.mark.parametrize("name", ["big.bin", "small.txt"])
def test_the_export_hashes_each_payload_in_the_blob_readers_thread_and_refuses_a_resealed_one(
        admin: Session, tmp_path: Path, stored: tuple[list[Item], dict[str, bytes]], name: str) -> None:
    """The export's payloads (bundles._payload_file) are hashed by the blob reader as it decrypts them, not by the
    thread that encrypts the bundle: a faithful blob makes the bundle, one resealed with other content is refused
    by its recorded SHA-256 with nothing left in the target (big.bin: the pipelined reader; small.txt: one chunk)."""
    from icspa_desktop.services import bundles

    items, originals = stored
    identity = pyrage.x25519.Identity.generate()
    good = tmp_path / "good"
    good.mkdir()
    written = write_bundle(_spec([bundles._payload_file(admin, i) for i in items]), Signer(tmp_path),
                           recipients_of(identity), good / "b.icspa")
    with tarfile.open(fileobj=io.BytesIO(pyrage.decrypt(written.path.read_bytes(), [identity]))) as tar:
        for item in items:
            member = tar.extractfile(f"{BUNDLE_ID}/data/{item.id}")
            assert member is not None and member.read() == originals[item.id]
    item = next(i for i in items if i.original_name == name)
    forged = bytes(reversed(originals[item.id]))
    _reseal(admin, item, forged)
    assert b"".join(bytes(c) for c in fixity.content_chunks(admin, item, None)) == forged  # decrypts fine
    out = tmp_path / "target"
    out.mkdir()
    with pytest.raises(VerificationFailed, match="does not match its recorded SHA-256"):
        write_bundle(_spec([bundles._payload_file(admin, i) for i in items]), Signer(tmp_path),
                     recipients_of(identity), out / "b.icspa")
    assert os.listdir(out) == []
