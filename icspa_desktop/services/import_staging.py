"""Payload files of a bundle being imported, sealed into the blob store's ``staging/`` as they are decrypted.

The walking thread (bundle/reader.py) hashes each payload file and cuts it into whole chunks; a writer
thread of our own creates the staged file, seals the chunks under the file's fresh blob key and writes
them (``BlobWriter``: large files with direct I/O). So decryption, hashing and sealing/writing run side by
side, and a file system that is slow to create files or to write does not hold up the other two.

A large file's chunks are not copied: each is handed over as the parts of the decrypted blocks it lies in
(usually two, as a file starts anywhere in the tar stream), and the writer seals them part by part. The
walk holds those blocks for it (``pipeline.Loan``) until they are sealed, at most ``HELD_BLOCKS`` of them,
and a conveyor of ``POOL_CHUNKS`` tokens bounds the chunks in flight: memory stays bounded. (Copying
them into chunk buffers cost the walk's thread ~0.2-0.35 s per GiB of memory copies under the GIL.)

Small payload files (up to ``SMALL_MAX``) are packed back to back into buffers of a pool of their own and
written by a second thread. Creating a file can cost far more than writing 4 KiB: on this project's machines
ext4 took 0.1-0.4 ms of kernel time per created file in some folders (perf: the inode allocator's
``recently_deleted`` scan) against 0.02 ms in others, so 1,000 small items could take 0.3-0.5 s of one core,
and with one writer thread the walk (and the decryption behind it) stood still meanwhile, each small file
holding a 1 MiB buffer of the pool. Our bundles put the small files first (bundle/format.py): their files
are created while the large payloads stream.

Nothing staged is in the store or the database: ``Staging.discard`` removes every file of an import that
was refused, cancelled or declined, and a crash leaves only ``staging/*.part`` files, which the next
unlock moves to quarantine (vault/blobs.py ``sweep_orphans``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from icspa_desktop import pipeline
from icspa_desktop.bundle.tarwalk import Holder, PayloadSink, TarRefusal, shown_name
from icspa_desktop.crypto import stream
from icspa_desktop.domain.errors import IcspaError, _
from icspa_desktop.vault.blobs import BlobStore, BlobWriter, new_blob_key
from icspa_desktop.vault.layout import Dir

# Plaintext chunks in flight to the writer thread: enough to keep hashing while it waits for a direct write
# of a whole batch (vault/blobs.py, 8 chunks), no more. Their parts keep the decrypted blocks they lie in
# from the reader's pool (the reader's ``sink_holds``): a block is 1 MiB, or less where a 4 MiB read of the
# file ends, so 16 chunks of 1 MiB lie in at most 16 + 4 + 1 blocks, and the chunk being cut in 3 more.
# Fewer would only make decryption wait for the writer to let blocks go; the pool must merely hold more than the
# chunk being cut spans, or the walk would wait for blocks it holds itself.
POOL_CHUNKS = 16
HELD_BLOCKS = POOL_CHUNKS + POOL_CHUNKS // 4 + 4
# Payload files up to SMALL_MAX bytes go packed, PACK_SIZE bytes per buffer, at most PACKS buffers in flight.
SMALL_MAX = 256 << 10
PACK_SIZE = 1 << 20
PACKS = 8


class StagedPayload:
    """One payload file on its way into ``staging/``: whole chunks handed to the writer thread as they fill, each
    as the parts of the decrypted blocks it lies in (held until sealed)."""

    def __init__(self, staging: Staging, size: int) -> None:
        self.key = new_blob_key()
        self.size = size
        self.chunk = stream.DEFAULT_CHUNK_SIZE
        self.writer: BlobWriter | None = None  # created by the writer thread with the file
        self._staging = staging
        self._parts: list[tuple[memoryview, Holder]] = []  # of the chunk being cut
        self._fill = 0
        self._done = 0  # bytes handed over
        self.finished = False

    @property
    def blob_id(self) -> str:
        if self.writer is None:
            raise RuntimeError("the staged payload was not written")
        return self.writer.blob_id

    @property
    def stored_size(self) -> int:
        if self.writer is None:
            raise RuntimeError("the staged payload was not written")
        return self.writer.stored_size

    def write(self, data: memoryview, block: Holder) -> None:
        if self._done + self._fill + len(data) > self.size:
            raise TarRefusal(_("A payload file is longer than its tar header says."))
        while data:
            take = min(len(data), self.chunk - self._fill)
            block.hold()
            self._parts.append((data[:take], block))
            self._fill += take
            data = data[take:]
            if self._fill == self.chunk:
                self._hand_over()

    def close(self) -> None:
        if not self.finished:  # an empty file, or one of whole chunks: its final chunk is still to come
            self._hand_over(final=True)

    def _hand_over(self, final: bool = False) -> None:
        self._done += self._fill
        if self._done > self.size:
            raise TarRefusal(_("A payload file is longer than its tar header says."))
        last = final or self._done == self.size
        parts, self._parts, self._fill = self._parts, [], 0
        try:
            token = self._staging.conveyor.take()  # raises what the writer failed with
        except BaseException:
            _let_go(parts)
            raise
        self._staging.conveyor.send(token, _Chunk(self, parts, last))
        self.finished = last

    def drop_parts(self) -> None:
        """Let go of the blocks held for a chunk never handed over (the stream failed inside this file)."""
        parts, self._parts, self._fill = self._parts, [], 0
        _let_go(parts)

    def discard(self) -> None:
        """Remove the staged file (the writer thread must be done)."""
        if self.writer is not None:
            self.writer.discard()


class PackedPayload(StagedPayload):
    """A small payload file: its bytes go straight into the current pack, from ``start`` on."""

    def __init__(self, staging: Staging, size: int, pack: bytearray, start: int) -> None:
        super().__init__(staging, size)
        self.pack = pack
        self.start = start

    def write(self, data: memoryview, block: Holder) -> None:
        end = self._fill + len(data)
        if end > self.size:
            raise TarRefusal(_("A payload file is longer than its tar header says."))
        self.pack[self.start + self._fill:self.start + end] = data
        self._fill = end

    def close(self) -> None:
        self.finished = True  # written by the pack's thread once the pack is sent (its later entries complete)


@dataclass(frozen=True, slots=True)
class _Chunk:
    payload: StagedPayload
    parts: list[tuple[memoryview, Holder]]  # consecutive, each part's block held for the writer
    last: bool


def _let_go(parts: list[tuple[memoryview, Holder]]) -> None:
    for view, block in parts:
        view.release()
        block.let_go()


def _drop(chunk: _Chunk) -> None:
    """A chunk the writer will not seal (writing failed, or the import is being thrown away)."""
    _let_go(chunk.parts)


class Staging:
    """The payload files of one import and the threads that write them, so all can be thrown away together.

    ``open`` is the reader's payload sink factory; ``finish`` waits until every file is written (raising
    what writing failed with); ``discard`` removes them all, whatever state the writing is in.
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.payloads: dict[str, StagedPayload] = {}
        # Tokens, not buffers: the chunks travel as parts of the reader's decrypted blocks.
        self.conveyor = pipeline.Conveyor[_Chunk](POOL_CHUNKS, 0)
        self.packs = pipeline.Conveyor[list[PackedPayload]](PACKS, PACK_SIZE)
        self._folder: Dir | None = None
        self._writer: pipeline.Drainer[_Chunk] | None = None
        self._pack_writer: pipeline.Drainer[list[PackedPayload]] | None = None
        self._pack: bytearray | None = None  # the pack being filled, its entries and how much of it they take
        self._packed: list[PackedPayload] = []
        self._pack_fill = 0

    def open(self, name: str, size: int) -> PayloadSink:
        if name in self.payloads:
            raise TarRefusal(_("The payload file {name} occurs twice.", name=shown_name(name)))
        if self._folder is None:
            self._folder = self.store.open_staging()
        staged = self._open_packed(size) if size <= SMALL_MAX else self._open_large(size)
        self.payloads[name] = staged
        return staged

    def _open_large(self, size: int) -> StagedPayload:
        self._send_pack()  # the small files before it are written while it streams
        if self._writer is None:
            self._writer = pipeline.Drainer(self.conveyor, self._write, "import-staging", drop=_drop)
        return StagedPayload(self, size)

    def _open_packed(self, size: int) -> PackedPayload:
        if self._pack_writer is None:
            self._pack_writer = pipeline.Drainer(self.packs, self._write_pack, "import-staging-small")
        if self._pack is not None and self._pack_fill + size > PACK_SIZE:
            self._send_pack()
        if self._pack is None:
            self._pack = self.packs.take()
        staged = PackedPayload(self, size, self._pack, self._pack_fill)
        self._packed.append(staged)
        self._pack_fill += size
        return staged

    def _send_pack(self) -> None:
        """Hand the pack being filled to its thread (every entry but the last one opened is complete)."""
        if self._pack is not None:
            self.packs.send(self._pack, self._packed)
            self._pack, self._packed, self._pack_fill = None, [], 0

    def _create(self, payload: StagedPayload) -> BlobWriter:
        """The staged file of ``payload``, in the writing threads."""
        assert self._folder is not None
        return self.store.create_writer(payload.key, payload.chunk, staging=self._folder, size_hint=payload.size)

    def _write(self, _token: bytearray, chunk: _Chunk) -> None:
        """The writer thread: the file is created with its first chunk and closed after its last."""
        try:
            payload = chunk.payload
            if payload.writer is None:
                payload.writer = self._create(payload)
            payload.writer.write_parts([view for view, _block in chunk.parts], last=chunk.last)
        finally:
            _let_go(chunk.parts)
        if chunk.last:
            payload.writer.finish(sync=False)  # made durable together before they are published (commit_import)

    def _write_pack(self, buf: bytearray, packed: list[PackedPayload]) -> None:
        """The small files' thread: each complete file of the pack is created, sealed in one chunk and closed (one
        that never completed, the stream having failed inside it, gets no file)."""
        with memoryview(buf) as view:
            for payload in packed:
                if payload.finished:
                    payload.writer = self._create(payload)
                    payload.writer.write_chunk(view[payload.start:payload.start + payload.size], last=True)
                    payload.writer.finish(sync=False)

    def finish(self) -> None:
        """Wait until every payload file handed over is written and closed; IcspaError if writing failed."""
        self._send_pack()
        failed: BaseException | None = None
        for writer in (self._writer, self._pack_writer):  # both waited for before the folder is closed
            if writer is not None:
                try:
                    writer.finish()
                except BaseException as exc:
                    failed = failed or exc
        self._close_folder()
        if isinstance(failed, OSError):
            raise IcspaError(_("Storing what was read failed: {cause}.", cause=failed.strerror or failed)) from None
        if failed is not None:
            raise failed

    def _close_folder(self) -> None:
        if self._folder is not None:
            self._folder.close()
            self._folder = None

    def discard(self) -> None:
        for writer in (self._writer, self._pack_writer):
            if writer is not None:
                writer.abort()
        self._close_folder()
        for staged in self.payloads.values():
            staged.drop_parts()
            with contextlib.suppress(OSError):
                staged.discard()
        self.payloads.clear()
