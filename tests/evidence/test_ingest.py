"""The one-pass ingest pipeline and blob store on real files (no database)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from icspa_desktop.crypto import stream
from icspa_desktop.domain.errors import Cancelled, RefusedInput
from icspa_desktop.domain.evidence import HashAlgorithm
from icspa_desktop.domain.progress import CancelToken, no_progress
from icspa_desktop.files import make_private_dir
from icspa_desktop.services import ingest
from icspa_desktop.vault.blobs import BlobStore
from icspa_desktop.vault.layout import VaultLayout

CHUNK = stream.MIN_CHUNK_SIZE
ALL = [HashAlgorithm.SHA256, HashAlgorithm.MD5, HashAlgorithm.SHA1]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    layout = VaultLayout(tmp_path / "v")
    make_private_dir(layout.blobs)
    make_private_dir(layout.staging)
    return BlobStore(layout)


def _read_back(store: BlobStore, blob_id: str, key: bytes) -> bytes:
    return b"".join(bytes(c) for c in store.open_reader(blob_id, key).chunks())


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "buffered"])
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK, 7 * CHUNK + 3])
def test_hashes_and_content_survive_the_pipeline(store: BlobStore, tmp_path: Path, size: int, direct: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if not direct:
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    data = os.urandom(size)
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    seen: list[tuple[int, int]] = []
    sealed = ingest.seal_file(store, source, ALL, lambda d, t, m: seen.append((d, t)), CancelToken(),
                              grand_total=size, chunk_size=CHUNK)
    assert sealed.hashes == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),
                             "sha1": hashlib.sha1(data).hexdigest()}
    assert sealed.plain_size == size
    assert sealed.stored_size == stream.ciphertext_size(size, CHUNK)
    assert seen[-1] == (size, size)
    store.publish(sealed.blob_id)
    assert not any(store.layout.staging.iterdir())
    assert _read_back(store, sealed.blob_id, sealed.key) == data
    assert sealed.head == data[: ingest.SNIFF_LEN]


def test_blob_is_named_randomly_and_owner_only(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(b"abc")
    sealed = ingest.seal_file(store, source, [], no_progress, CancelToken())
    path = store.publish(sealed.blob_id)
    assert hashlib.sha256(b"abc").hexdigest() not in str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert sealed.hashes == {"sha256": hashlib.sha256(b"abc").hexdigest()}


def test_cancel_mid_file_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(os.urandom(20 * CHUNK))
    token = CancelToken()

    def progress(done: int, total: int, message: str) -> None:
        if done >= 5 * CHUNK:
            token.cancel()

    with pytest.raises(Cancelled):
        ingest.seal_file(store, source, ALL, progress, token, chunk_size=CHUNK)
    assert not any(store.layout.staging.iterdir())
    assert not any(store.layout.blobs.iterdir())


class _FailingSource(io.RawIOBase):
    """A file object that fails after N bytes (a disk that dies mid-read)."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._fail_after:
            raise OSError(5, "Input/output error")
        n = min(len(buffer), len(self._data) - self._pos, self._fail_after - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_read_error_mid_file_leaves_nothing(store: BlobStore, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(b"")
    data = os.urandom(10 * CHUNK)
    real_open = open

    def fake_open(path: object, *args: object, **kwargs: object) -> object:
        if path == source:
            return _FailingSource(data, 4 * CHUNK + 17)
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(OSError, match="Input/output"):
        ingest.seal_file(store, source, ALL, no_progress, CancelToken(), chunk_size=CHUNK)
    assert not any(store.layout.staging.iterdir())


def test_write_error_in_the_writer_thread_leaves_nothing(store: BlobStore, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(os.urandom(10 * CHUNK))
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: object) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OSError, match="No space"):
        ingest.seal_file(store, source, ALL, no_progress, CancelToken(), chunk_size=CHUNK)
    assert not any(store.layout.staging.iterdir())


def test_tampered_blob_file_fails_in_the_threaded_reader(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "s"
    data = os.urandom(4 * CHUNK + 10)
    source.write_bytes(data)
    sealed = ingest.seal_file(store, source, [], no_progress, CancelToken(), chunk_size=CHUNK)
    path = store.publish(sealed.blob_id)
    original = path.read_bytes()
    sealed_chunk = CHUNK + stream.TAG_LEN
    header, body = original[: stream.HEADER_LEN], original[stream.HEADER_LEN :]
    chunks = [body[i : i + sealed_chunk] for i in range(0, len(body), sealed_chunk)]
    variants = {
        "flip": original[:100] + bytes([original[100] ^ 1]) + original[101:],
        "drop-final": header + b"".join(chunks[:-1]),
        "reorder": header + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "duplicate": header + chunks[0] + b"".join(chunks),
        "extend": original + b"\x00" * 20,
    }
    for name, damaged in variants.items():
        path.write_bytes(damaged)
        with pytest.raises(stream.StreamError):
            _read_back(store, sealed.blob_id, sealed.key)
        assert name
    path.write_bytes(original)
    assert _read_back(store, sealed.blob_id, sealed.key) == data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK])
def test_a_damaged_one_chunk_blob_fails_in_the_callers_thread(store: BlobStore, tmp_path: Path, size: int) -> None:
    """A blob of one chunk is opened without the reading thread (most files of a case are that small)."""
    source = tmp_path / "s"
    data = os.urandom(size)
    source.write_bytes(data)
    sealed = ingest.seal_file(store, source, [], no_progress, CancelToken(), chunk_size=CHUNK)
    path = store.publish(sealed.blob_id)
    original = path.read_bytes()
    assert len(original) == stream.HEADER_LEN + size + stream.TAG_LEN  # one sealed chunk
    variants = {
        "flip": original[:-1] + bytes([original[-1] ^ 1]),
        "cut": original[:-1],
        "header only": original[: stream.HEADER_LEN],
        "extend": original + b"\x00",
        "a second chunk": original + original[stream.HEADER_LEN:],
    }
    for name, damaged in variants.items():
        path.write_bytes(damaged)
        with pytest.raises(stream.StreamError):
            _read_back(store, sealed.blob_id, sealed.key)
        assert name
    path.write_bytes(original)
    assert _read_back(store, sealed.blob_id, sealed.key) == data


def test_reader_can_be_abandoned_midway(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(os.urandom(10 * CHUNK))
    sealed = ingest.seal_file(store, source, [], no_progress, CancelToken(), chunk_size=CHUNK)
    store.publish(sealed.blob_id)
    token = CancelToken()
    chunks = store.open_reader(sealed.blob_id, sealed.key).chunks(token)
    next(chunks)
    token.cancel()
    with pytest.raises(Cancelled):
        next(chunks)


def test_special_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(RefusedInput, match="not a regular file"):
        ingest.source_size(tmp_path / "fifo")
    with pytest.raises(RefusedInput, match="does not exist"):
        ingest.source_size(tmp_path / "missing")


@pytest.mark.parametrize(("name", "head", "expected"), [
    ("disk.E01", b"EVF\x09\x0d\x0a\xff\x00\x01", "application/x-ewf"),
    ("renamed.txt", b"EVF\x09\x0d\x0a\xff\x00\x01", "application/x-ewf"),
    ("a.zip", b"PK\x03\x04rest", "application/zip"),
    ("report.docx", b"PK\x03\x04rest", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("x", b"%PDF-1.7", "application/pdf"),
    ("photo.png", b"\xff\xd8\xff\xe0", "image/jpeg"),  # content wins over a misleading extension
    ("p", b"\x89PNG\r\n\x1a\n", "image/png"),
    ("chat.db", b"SQLite format 3\x00", "application/vnd.sqlite3"),
    ("readme", b"plain words", "text/plain"),
    ("blob", b"\x00\x01\x02\xff", "application/octet-stream"),
    ("empty", b"", "application/x-empty"),
    ("page.html", b"<html>", "text/html"),
])
def test_mime_detection(name: str, head: bytes, expected: str) -> None:
    assert ingest.detect_mime(name, head) == expected


def test_a_finished_writer_holds_no_buffer(store: BlobStore) -> None:
    """An import keeps the writers of its staged files until the commit: a finished one must not keep its output
    buffer (10,000 small files held 119 MiB of them)."""
    import tracemalloc

    writers = []
    tracemalloc.start()
    try:
        for n in range(500):
            key = os.urandom(stream.KEY_LEN)
            writer = store.create_writer(key, size_hint=4096)
            writer.write_chunk(memoryview(n.to_bytes(2, "big") * 2048), last=True)
            writer.finish(sync=False)
            writers.append(writer)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 1 << 20, f"{held:,} bytes held by 500 finished writers"
    for writer in writers:
        store.remove(writer.blob_id)
