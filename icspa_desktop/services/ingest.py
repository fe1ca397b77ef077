"""One-pass ingest of a source file into a staged, encrypted blob: hash and encrypt together.

Two threads share the work (RESEARCH.md: SHA-256 alone is ~1.5 GB/s on one core and is the ceiling
for one file; hashlib and AES-GCM release the GIL on 1 MiB buffers):

* the calling thread reads into preallocated buffers (``readinto``) and updates SHA-256 (and SHA-1);
* a worker thread updates MD5 when asked, seals each chunk with ``encrypt_into`` and writes it.

A small fixed pool of buffers travels between them, so memory stays bounded whatever the file size.
Nothing here touches the database: the caller publishes the staged blob and commits the item row.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import mimetypes
import os
import queue
import stat
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from icspa_desktop.crypto import stream
from icspa_desktop.domain.errors import RefusedInput, _
from icspa_desktop.domain.evidence import HashAlgorithm
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.vault.blobs import BlobStore, BlobWriter, new_blob_key

# Buffers in flight between reader and writer; 8 × 1 MiB lets the reader run ahead while the writer waits
# for a direct write (4 measured ~15% slower; see bench/bench_ingest.py).
POOL_SIZE = 8
SNIFF_LEN = 64

# MD5 is the slowest digest (~0.67 GB/s); it runs beside AES-GCM on the writer so the reader keeps up.
_WRITER_SIDE = frozenset({HashAlgorithm.MD5})


@dataclass(frozen=True, slots=True)
class SealedContent:
    """A source file sealed into ``staging/``; not yet in the store, not yet in the database."""

    blob_id: str
    key: bytes
    chunk_size: int
    plain_size: int
    stored_size: int
    hashes: dict[str, str]
    head: bytes  # the first bytes of the plaintext, for MIME sniffing (kept in memory only)


def new_hashers(algorithms: Iterable[HashAlgorithm]) -> dict[HashAlgorithm, hashlib._Hash]:
    hashers: dict[HashAlgorithm, hashlib._Hash] = {}
    for algorithm in algorithms:
        # usedforsecurity=False: MD5/SHA-1 are identification digests for legacy tools here, not security.
        hashers[algorithm] = hashlib.new(algorithm.value, usedforsecurity=algorithm is HashAlgorithm.SHA256)
    return hashers


def _fill(source: io.RawIOBase, view: memoryview) -> int:
    """Read until ``view`` is full or the source ends (pipes and devices may return short reads)."""
    got = 0
    while got < len(view):
        n = source.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def source_size(path: Path) -> int:
    """The byte size of a regular file or a block device (RefusedInput for anything else)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RefusedInput(_("{path} does not exist.", path=path)) from None
    except PermissionError:
        raise RefusedInput(_("{path} cannot be read (permission denied).", path=path)) from None
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    if stat.S_ISBLK(info.st_mode):
        with open(path, "rb") as device:
            return device.seek(0, os.SEEK_END)
    raise RefusedInput(_("{path} is not a regular file or a block device; it cannot be ingested.", path=path))


def seal_file(
    store: BlobStore,
    source: Path,
    algorithms: Sequence[HashAlgorithm],
    progress: ProgressCallback,
    cancel: CancelToken,
    *,
    done_before: int = 0,
    grand_total: int = 0,
    chunk_size: int = stream.DEFAULT_CHUNK_SIZE,
) -> SealedContent:
    """Hash and encrypt ``source`` in one pass into a staged blob; on any failure nothing is left behind."""
    key = new_blob_key()
    writer = store.create_writer(key, chunk_size)
    try:
        try:
            src = open(source, "rb", buffering=0)  # noqa: SIM115 - closed below, after the pipeline
        except OSError as exc:
            raise RefusedInput(_("{source} cannot be read: {cause}.", source=source,
                                 cause=exc.strerror or exc)) from None
        with src:
            with contextlib.suppress(AttributeError, OSError):
                os.posix_fadvise(src.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            hashes, size, head = _pipeline(src, writer, algorithms, progress, cancel, source.name,
                                           done_before, grand_total, chunk_size)
        writer.finish()
    except BaseException:
        writer.discard()
        raise
    return SealedContent(writer.blob_id, key, chunk_size, size, writer.stored_size, hashes, head)


def _pipeline(
    src: io.RawIOBase,
    writer: BlobWriter,
    algorithms: Sequence[HashAlgorithm],
    progress: ProgressCallback,
    cancel: CancelToken,
    label: str,
    done_before: int,
    grand_total: int,
    chunk_size: int,
) -> tuple[dict[str, str], int, bytes]:
    wanted = list(dict.fromkeys([HashAlgorithm.SHA256, *algorithms]))
    front = new_hashers(a for a in wanted if a not in _WRITER_SIDE)
    back = new_hashers(a for a in wanted if a in _WRITER_SIDE)
    free: queue.Queue[bytearray] = queue.Queue()
    for _worker in range(POOL_SIZE):
        free.put(bytearray(chunk_size))
    filled: queue.Queue[tuple[bytearray, int, bool] | None] = queue.Queue()
    failure: list[BaseException] = []

    def write_side() -> None:
        while True:
            job = filled.get()
            if job is None:
                return
            buf, length, last = job
            if not failure:
                try:
                    view = memoryview(buf)[:length]
                    for hasher in back.values():
                        hasher.update(view)
                    writer.write_chunk(view, last)
                except BaseException as exc:  # re-raised in the reading thread
                    failure.append(exc)
            free.put(buf)

    worker = threading.Thread(target=write_side, name="ingest-writer", daemon=True)
    worker.start()
    total = 0
    head = b""
    try:
        current = free.get()
        length = _fill(src, memoryview(current))
        head = bytes(current[: min(length, SNIFF_LEN)])
        while True:
            cancel.check()
            if failure:
                break
            view = memoryview(current)[:length]
            for hasher in front.values():
                hasher.update(view)
            total += length
            if length < chunk_size:
                filled.put((current, length, True))
                break
            following = free.get()
            more = _fill(src, memoryview(following))
            if more == 0:
                free.put(following)
                filled.put((current, length, True))
                break
            filled.put((current, length, False))
            current, length = following, more
            progress(done_before + total, grand_total, label)
    finally:
        filled.put(None)
        worker.join()
    if failure:
        raise failure[0]
    progress(done_before + total, grand_total, label)
    hashes = {a.value: h.hexdigest() for a, h in {**front, **back}.items()}
    return {a.value: hashes[a.value] for a in wanted}, total, head


# ---- MIME type ------------------------------------------------------------------------------------
# Magic bytes of formats investigators meet every day; no libmagic needed for these.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"EVF\x09\x0d\x0a\xff\x00", "application/x-ewf"),  # EnCase E01
    (0, b"EVF2\x0d\x0a\x81\x00", "application/x-ewf2"),  # EnCase Ex01
    (0, b"LVF\x09\x0d\x0a\xff\x00", "application/x-ewf-logical"),  # EnCase L01
    (0, b"AFF", "application/x-aff"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\xd4\xc3\xb2\xa1", "application/vnd.tcpdump.pcap"),
    (0, b"\xa1\xb2\xc3\xd4", "application/vnd.tcpdump.pcap"),
    (0, b"\x0a\x0d\x0d\x0a", "application/x-pcapng"),
    (0, b"\x7fELF", "application/x-elf"),
    (0, b"MZ", "application/vnd.microsoft.portable-executable"),
    (0, b"regf", "application/x-ms-registry-hive"),
    (0, b"ElfFile\x00", "application/x-ms-evtx"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"RIFF", "application/x-riff"),
    (4, b"ftyp", "video/mp4"),
    (0, b"bplist00", "application/x-bplist"),
)

# Formats that are containers of another: an extension naming a member format wins over the sniffed one.
_CONTAINER_FAMILIES = {
    "application/zip": ("application/vnd.openxmlformats", "application/vnd.oasis", "application/java-archive",
                        "application/vnd.android.package-archive", "application/epub+zip"),
    "application/x-ole-storage": ("application/msword", "application/vnd.ms-"),
    "application/x-riff": ("audio/", "video/", "image/webp"),
    "video/mp4": ("video/", "audio/", "image/heic", "image/heif"),
}


def sniff(head: bytes) -> str | None:
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return None


def detect_mime(name: str, head: bytes) -> str:
    """MIME type from the content's first bytes, refined by the file name's extension where they agree."""
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    sniffed = sniff(head)
    if sniffed is None:
        if guessed:
            return guessed
        if not head:
            return "application/x-empty"
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return "application/octet-stream"
        return "application/octet-stream" if b"\x00" in head else "text/plain"
    if guessed and guessed != sniffed and guessed.startswith(_CONTAINER_FAMILIES.get(sniffed, ())):
        return guessed
    return sniffed
