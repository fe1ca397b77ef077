"""The encrypted blob store: evidence content as STREAM-sealed files under ``blobs/``, named by random ids.

Life of a blob: sealed chunks are written to ``staging/<id>.part``, fsynced, then moved to
``blobs/<id[:2]>/<id>`` with ``os.replace`` and the directory fsynced. Only after that does the database
row that names the blob commit; a blob file without a row (a crash between rename and commit, or an
older ``metadata.db`` put back) is moved into ``quarantine/`` at the next unlock by ``sweep_orphans`` —
never deleted there (DESIGN §2). File names are random and say nothing about the content (DESIGN §2:
never the plaintext's hash). Every move and removal here works on directory descriptors opened without
following links.

Each blob has its own random key, wrapped with the vault's blob-key subkey; the associated data binds the
wrapped key to its blob id and item id, so swapping keys or rows between items is detected.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from icspa_desktop import pipeline
from icspa_desktop.crypto import aead, stream
from icspa_desktop.domain.errors import VaultError, _
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.domain.recorded import Phrasebook
from icspa_desktop.files import DIR_MODE, FILE_MODE, read_full, syncfs, write_all
from icspa_desktop.i18n import N_
from icspa_desktop.vault.db import Connection
from icspa_desktop.vault.layout import Dir, Quarantine, QuarantinedFile, VaultLayout, entry_kind, refusal

# A blob's damage, raised as the stream's (English: verification records it); DAMAGE shows both translated.
_KEY_NOT_OPENING = N_("the blob key does not open for this item (record damaged or swapped)")
_TRUNCATED_HEADER = N_("the blob is truncated inside its header")
_CHANGED_SIZE = N_("the blob changed size while being read")
DAMAGE = stream.DAMAGE | Phrasebook(_KEY_NOT_OPENING, _TRUNCATED_HEADER, _CHANGED_SIZE)

BLOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_PART_SUFFIX = ".part"
# Decrypted chunks in flight between the reading and the consuming thread (bounded memory).
_READ_AHEAD = 3
# Without O_DIRECT, start the kernel's writeback every this many bytes (see BlobWriter._drain).
WRITEBACK_WINDOW = 8 << 20
# O_DIRECT wants block-aligned buffers, lengths and offsets; sealed chunks go out this many at a time.
_ALIGN = 4096
_BATCH_CHUNKS = 8
# Blobs smaller than this are written through the page cache (see BlobStore.create_writer).
DIRECT_MIN = 8 << 20


def new_blob_id() -> str:
    return secrets.token_hex(16)


def new_blob_key() -> bytes:
    return os.urandom(stream.KEY_LEN)


def _key_ad(blob_id: str, item_id: str) -> bytes:
    return f"icspa/v1/blob-key\0{blob_id}\0{item_id}".encode()


def wrap_key(wrapping_key: bytes, blob_id: str, item_id: str, blob_key: bytes) -> bytes:
    return aead.seal(wrapping_key, blob_key, _key_ad(blob_id, item_id))


def unwrap_key(wrapping_key: bytes, blob_id: str, item_id: str, wrapped: bytes) -> bytes:
    try:
        return aead.open_sealed(wrapping_key, wrapped, _key_ad(blob_id, item_id))
    except aead.SealError:
        raise stream.StreamError(_KEY_NOT_OPENING) from None




class BlobStore:
    """Paths and file operations of one vault's blob store."""

    def __init__(self, layout: VaultLayout) -> None:
        self.layout = layout

    def path(self, blob_id: str) -> Path:
        if not BLOB_ID_RE.fullmatch(blob_id):
            raise VaultError(_("Blob id {blob_id!r} in the database is malformed; the vault is damaged.",
                               blob_id=blob_id))
        return self.layout.blobs / blob_id[:2] / blob_id

    def staging_path(self, blob_id: str) -> Path:
        return self.layout.staging / (blob_id + _PART_SUFFIX)

    def create_writer(self, key: bytes, chunk_size: int = stream.DEFAULT_CHUNK_SIZE,
                      staging: Dir | None = None, size_hint: int | None = None) -> BlobWriter:
        """A writer of a new staged blob; ``staging`` (from ``open_staging``) saves opening the folders again
        for each of thousands of small blobs. ``size_hint``: the plaintext size when known — a small blob is
        written through the page cache (a direct write is synchronous: ~0.1 ms each, for a 4 KiB file that is
        most of its cost) and made durable with the others by ``sync_staging``."""
        blob_id = new_blob_id()
        direct = size_hint is None or size_hint >= DIRECT_MIN
        if staging is not None:
            return BlobWriter(self, blob_id, key, chunk_size, staging, direct=direct, size_hint=size_hint)
        with Dir.open_root(self.layout.root) as root, root.sub("staging", create=True) as opened:
            return BlobWriter(self, blob_id, key, chunk_size, opened, direct=direct, size_hint=size_hint)

    def open_staging(self) -> Dir:
        """The ``staging/`` folder, opened without following links (the caller closes it)."""
        with Dir.open_root(self.layout.root) as root:
            return root.sub("staging", create=True)

    def sync_staging(self, blob_ids: list[str]) -> None:
        """Make staged blobs durable in one go: ``syncfs`` on the vault's file system (one call for thousands
        of small files, where an fsync each cost ~0.5 ms), or an fsync of each where syncfs is missing."""
        with Dir.open_root(self.layout.root) as root, root.sub("staging") as staging:
            if syncfs(staging.fd):
                return
            for blob_id in blob_ids:
                fd = os.open(blob_id + _PART_SUFFIX, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=staging.fd)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def publish(self, blob_id: str) -> Path:
        """Move a finished (fsynced) staged blob into the store and make the rename durable."""
        return self.publish_many([blob_id])[0]

    def publish_many(self, blob_ids: list[str], made: list[str] | None = None) -> list[Path]:
        """Move finished staged blobs into the store; the renames are made durable once, after all of them.
        ``made``: the fan-out folders this call created are added to it (``remove_folders`` after a failure)."""
        finals = [self.path(blob_id) for blob_id in blob_ids]  # checks every id before anything moves
        fan_outs: dict[str, Dir] = {}
        created = False
        with Dir.open_root(self.layout.root) as root, root.sub("staging") as staging, \
                root.sub("blobs", create=True) as store:
            try:
                for blob_id in blob_ids:
                    fan_name = blob_id[:2]
                    if fan_name not in fan_outs:
                        # A new fan-out folder is made durable with the renames below, not with an fsync of
                        # blobs/ each (~3 ms apiece: a first import of 1,000 files creates most of the 256).
                        try:
                            os.mkdir(fan_name, DIR_MODE, dir_fd=store.fd)
                            created = True
                            if made is not None:
                                made.append(fan_name)
                        except FileExistsError:
                            pass
                        fan_outs[fan_name] = store.sub(fan_name, create=True)
                    os.replace(blob_id + _PART_SUFFIX, blob_id, src_dir_fd=staging.fd,
                               dst_dir_fd=fan_outs[fan_name].fd)
                # Many folders (an import of thousands of small files touches most of the 256): one syncfs of
                # the file system makes every rename and new folder durable at once; otherwise an fsync per
                # folder, and of blobs/ when a folder was created in it.
                if len(fan_outs) <= 8 or not syncfs(store.fd):
                    for name in sorted(fan_outs):
                        fan_outs[name].fsync()
                    if created:
                        store.fsync()
            finally:
                for directory in fan_outs.values():
                    directory.close()
        return finals

    def remove_folders(self, names: list[str]) -> None:
        """Remove fan-out folders a failed publish created (``publish_many(made=…)``), those left empty: the store
        is as it was before. Only for folders nobody else may be publishing into meanwhile."""
        with Dir.open_root(self.layout.root) as root:
            store = _open_path(root, ("blobs",))
            if store is None:
                return
            with store:
                for name in names:
                    if len(name) == 2 and all(ch in "0123456789abcdef" for ch in name):
                        with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                            os.rmdir(name, dir_fd=store.fd)
                with contextlib.suppress(OSError):
                    store.fsync()

    def remove(self, blob_id: str) -> None:
        """Delete a blob of an ingest that failed, wherever it is (staging or store); missing is fine."""
        self.path(blob_id)  # checks the id
        with Dir.open_root(self.layout.root) as root:
            for parts, name in ((("staging",), blob_id + _PART_SUFFIX), (("blobs", blob_id[:2]), blob_id)):
                directory = _open_path(root, parts)
                if directory is None:
                    continue
                with directory:
                    try:
                        os.unlink(name, dir_fd=directory.fd)
                    except FileNotFoundError:
                        continue
                    with contextlib.suppress(OSError):
                        directory.fsync()

    def open_reader(self, blob_id: str, key: bytes) -> BlobReader:
        return BlobReader(self.path(blob_id), key)


class BlobWriter:
    """Sealed chunks into ``staging/<id>.part``; ``finish`` fsyncs, ``discard`` removes the partial file.

    Chunks are sealed straight into one page-aligned buffer and written out a few at a time with
    ``O_DIRECT`` where the file system allows it: measured here, buffered writes of multi-GB blobs fell
    to ~0.3 GB/s once the page cache filled with dirty pages, while direct writes held ~2 GB/s, and
    evidence that is only stored should not evict the investigator's working set from the cache anyway.
    """

    def __init__(self, store: BlobStore, blob_id: str, key: bytes, chunk_size: int, staging: Dir, *,
                 direct: bool = True, size_hint: int | None = None) -> None:
        self.store = store
        self.blob_id = blob_id
        self.encryptor = stream.StreamEncryptor(key, chunk_size)
        self._batch = _BATCH_CHUNKS * (chunk_size + stream.TAG_LEN)
        need = self._batch + chunk_size + stream.TAG_LEN + _ALIGN
        if size_hint is not None:  # a small blob needs only its own size (an import stages thousands)
            need = min(need, stream.ciphertext_size(size_hint, chunk_size) + _ALIGN)
        capacity = -(-need // _ALIGN) * _ALIGN
        # Anonymous mappings are page-aligned, as O_DIRECT needs; a blob written through the cache takes plain
        # memory (mapping and unmapping thousands of small buffers costs more than their writes).
        self._buffer: mmap.mmap | bytearray = mmap.mmap(-1, capacity) if direct else bytearray(capacity)
        self._view = memoryview(self._buffer)
        self._released = False
        self._fill = 0
        self.stored_size = 0
        self._flushed = 0
        self._fd: int | None = None
        self._direct = False
        name = blob_id + _PART_SUFFIX
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        direct_flag = getattr(os, "O_DIRECT", 0) if direct else 0
        if direct_flag:
            try:
                self._fd = os.open(name, flags | direct_flag, FILE_MODE, dir_fd=staging.fd)
                self._direct = True
            except OSError as exc:  # e.g. tmpfs: no direct I/O; the file was not created
                if exc.errno != errno.EINVAL:
                    raise
        if self._fd is None:
            self._fd = os.open(name, flags, FILE_MODE, dir_fd=staging.fd)
        header = self.encryptor.header
        self._view[: len(header)] = header
        self._fill = len(header)

    def _drain(self, final: bool) -> None:
        """Write out the buffered bytes: block-aligned ones directly, the last tail through the cache."""
        assert self._fd is not None
        fill = self._fill
        ready = fill - fill % _ALIGN if self._direct else fill
        if ready:
            write_all(self._fd, self._view[:ready])
            self.stored_size += ready
        rest = fill - ready
        if rest and final:
            if self._direct:
                fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
                self._direct = False
            write_all(self._fd, self._view[ready:fill])
            self.stored_size += rest
            rest = 0
        elif rest:
            self._view[:rest] = self._view[ready:fill]  # less than one block: never overlaps
        self._fill = rest
        if not self._direct and self.stored_size - self._flushed >= 2 * WRITEBACK_WINDOW:
            # Buffered fallback: POSIX_FADV_DONTNEED on dirty pages makes Linux start writing them out
            # without waiting (WB_SYNC_NONE), so the final fsync waits for little. A hint only.
            with contextlib.suppress(AttributeError, OSError):
                os.posix_fadvise(self._fd, self._flushed, WRITEBACK_WINDOW, os.POSIX_FADV_DONTNEED)
            self._flushed += WRITEBACK_WINDOW

    def write_chunk(self, plaintext: memoryview, last: bool) -> None:
        """Seal one chunk (full size unless ``last``) straight into the output buffer."""
        need = len(plaintext) + stream.TAG_LEN
        written = self.encryptor.seal_into(plaintext, last, self._view[self._fill : self._fill + need])
        self._sealed(written)

    def write_parts(self, parts: Sequence[memoryview], last: bool) -> None:
        """``write_chunk`` of a chunk given as consecutive parts (never copied together first)."""
        self._sealed(self.encryptor.seal_parts_into(parts, last, self._view[self._fill :]))

    def _sealed(self, written: int) -> None:
        self._fill += written
        if self._fill >= self._batch:
            self._drain(final=False)

    def finish(self, sync: bool = True) -> None:
        """Close the staged blob (the final chunk must have been written), durable unless ``sync`` is False —
        then the caller makes a batch durable at once with ``BlobStore.sync_staging`` before publishing it."""
        if not self.encryptor.finished:
            raise ValueError("the final chunk was not written")
        assert self._fd is not None
        self._drain(final=True)
        if sync:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        self._release()

    def _release(self) -> None:
        # Views of the buffer may still be referenced by a traceback; then the GC unmaps it later.
        with contextlib.suppress(BufferError):
            self._view.release()
            if isinstance(self._buffer, mmap.mmap):
                self._buffer.close()
            # Let go of a small blob's buffer too: an import keeps its writers until the commit, and 10,000 small
            # files held 119 MiB of finished buffers.
            self._buffer = bytearray()
            self._released = True

    def discard(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if not self._released:
            self._release()
        self.store.remove(self.blob_id)


class Hasher(Protocol):
    """What ``BlobReader.chunks`` updates with the plaintext (a ``hashlib`` object)."""

    def update(self, data: memoryview, /) -> None: ...


class BlobReader:
    """Decrypts a stored blob chunk by chunk; a second thread reads and decrypts ahead of the consumer."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key

    def chunks(self, cancel: CancelToken | None = None, hashers: Sequence[Hasher] = ()) -> Iterator[memoryview]:
        """Plaintext chunks in order. Each view is valid until the next one is requested.

        Raises StreamError when the blob was tampered with, truncated, extended or reordered, and
        FileNotFoundError when it is missing. Nothing is final before the last chunk authenticated.
        ``hashers`` are updated with each chunk before it is handed out — by the reading thread, beside
        decryption, so the consumer's thread need not hash (a bundle export encrypts meanwhile).
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            size = os.fstat(fd).st_size
            header = os.read(fd, stream.HEADER_LEN)
            if len(header) < stream.HEADER_LEN:
                raise stream.StreamError(_TRUNCATED_HEADER)
            decryptor = stream.StreamDecryptor(self._key, header)
            body_size = size - stream.HEADER_LEN
            if body_size <= decryptor.sealed_chunk_size:
                yield from _open_single(fd, body_size, decryptor, cancel, hashers)
                return
            with contextlib.suppress(AttributeError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            yield from _pipelined_open(fd, body_size, decryptor, cancel, hashers)
        finally:
            os.close(fd)


def _open_single(fd: int, body_size: int, decryptor: stream.StreamDecryptor,
                 cancel: CancelToken | None, hashers: Sequence[Hasher]) -> Iterator[memoryview]:
    """A blob of one chunk (most of a case's files), opened in the caller's thread: a reading thread of its own
    cost ~1 ms per blob in starting and joining it, more than reading and decrypting a small file."""
    if cancel is not None:
        cancel.check()
    sealed = bytearray(body_size)
    if read_full(fd, memoryview(sealed)) != body_size:
        raise stream.StreamError("the blob changed size while being read")
    if os.read(fd, 1):
        raise stream.StreamError("the blob changed size while being read")
    plain = bytearray(max(body_size - stream.TAG_LEN, 0))
    view = memoryview(plain)[:decryptor.open_into(memoryview(sealed), True, plain)]
    for hasher in hashers:
        hasher.update(view)
    yield view


def _pipelined_open(
    fd: int, body_size: int, decryptor: stream.StreamDecryptor, cancel: CancelToken | None,
    hashers: Sequence[Hasher],
) -> Iterator[memoryview]:
    """A worker thread reads each sealed chunk and decrypts it into a free buffer; they are handed out in order.

    The chunk that ends at end of file is opened as the final one, so cutting whole chunks off the
    end, or appending anything, fails authentication.
    """
    sealed_size = decryptor.sealed_chunk_size

    def read_and_open(conveyor: pipeline.Conveyor[int]) -> None:
        sealed = bytearray(sealed_size)
        remaining = body_size
        while True:
            buf = conveyor.take()
            want = min(sealed_size, remaining)
            got = read_full(fd, memoryview(sealed)[:want])
            if got != want:
                raise stream.StreamError(_CHANGED_SIZE)
            remaining -= got
            last = remaining <= 0
            length = decryptor.open_into(memoryview(sealed)[:got], last, buf)
            for hasher in hashers:
                hasher.update(memoryview(buf)[:length])
            conveyor.send(buf, length)
            if last:
                return

    chunks = pipeline.drained(pipeline.Conveyor[int](_READ_AHEAD, decryptor.chunk_size), read_and_open,
                              "blob-reader")
    with contextlib.closing(chunks):
        for buf, length in chunks:
            if cancel is not None:
                cancel.check()
            yield memoryview(buf)[:length]


def _open_path(root: Dir, parts: tuple[str, ...]) -> Dir | None:
    """The directory ``root/parts…`` opened without following links, or None if a part is missing."""
    current = root.sub_if_exists(parts[0])
    for part in parts[1:]:
        if current is None:
            return None
        with current:
            current = current.sub_if_exists(part)
    return current


def sweep_orphans(root: Dir, conn: Connection, quarantine: Quarantine) -> list[QuarantinedFile]:
    """Move blob files that no database row names into quarantine (a crash between rename and commit,
    or an older database put back). Links and foreign file types are refused, not followed."""
    has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blobs'").fetchone()
    if has_table is None:
        return []
    store = root.sub_if_exists("blobs")
    if store is None:
        return []
    known = {str(row[0]) for row in conn.execute("SELECT id FROM blobs").fetchall()}
    moved: list[QuarantinedFile] = []
    with store:
        for fan_entry in sorted(store.entries(), key=lambda e: e.name):
            kind = entry_kind(fan_entry)
            if kind == "regular file":
                continue  # not ours (e.g. an editor's backup file); it is not evidence we wrote
            if kind != "directory":
                raise refusal(store.path / fan_entry.name, kind, "directory")
            with store.sub(fan_entry.name) as fan_out:
                before = len(moved)
                for entry in sorted(fan_out.entries(), key=lambda e: e.name):
                    kind = entry_kind(entry)
                    if kind != "regular file":
                        raise refusal(fan_out.path / entry.name, kind, "regular file")
                    if entry.name in known or not BLOB_ID_RE.fullmatch(entry.name):
                        continue  # a live blob, or a file that is not ours: left where it is
                    moved.append(quarantine.move(fan_out, entry.name, ("blobs", fan_entry.name)))
                if len(moved) > before:
                    fan_out.fsync()
    return moved
