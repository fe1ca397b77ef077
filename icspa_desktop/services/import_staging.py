"""Payload files of a bundle being imported, sealed into the blob store's ``staging/`` as they are decrypted.

The walking thread (bundle/reader.py) hashes each payload file and copies it into whole chunks; a writer
thread of our own creates the staged file, seals the chunks under the file's fresh blob key and writes
them (``BlobWriter``: large files with direct I/O). So decryption, hashing and sealing/writing run side by
side, and a file system that is slow to create files or to write does not hold up the other two. The
chunks travel in a fixed pool of buffers (``pipeline.Conveyor``): memory stays bounded.

Nothing staged is in the store or the database: ``Staging.discard`` removes every file of an import that
was refused, cancelled or declined, and a crash leaves only ``staging/*.part`` files, which the next
unlock moves to quarantine (vault/blobs.py ``sweep_orphans``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from icspa_desktop import pipeline
from icspa_desktop.bundle.tarwalk import PayloadSink, TarRefusal, shown_name
from icspa_desktop.crypto import stream
from icspa_desktop.domain.errors import IcspaError, _
from icspa_desktop.vault.blobs import BlobStore, BlobWriter, new_blob_key
from icspa_desktop.vault.layout import Dir

# Plaintext chunks in flight to the writer thread: enough to keep hashing while it waits for a direct write
# of a whole batch (vault/blobs.py, 8 chunks), no more.
POOL_CHUNKS = 16


class StagedPayload:
    """One payload file on its way into ``staging/``: whole chunks handed to the writer thread as they fill."""

    def __init__(self, staging: Staging, size: int) -> None:
        self.key = new_blob_key()
        self.size = size
        self.chunk = stream.DEFAULT_CHUNK_SIZE
        self.writer: BlobWriter | None = None  # created by the writer thread with the file
        self._staging = staging
        self._buf: bytearray | None = None
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

    def write(self, data: memoryview) -> None:
        if self._done + self._fill + len(data) > self.size:
            raise TarRefusal(_("A payload file is longer than its tar header says."))
        while data:
            if self._buf is None:
                self._buf = self._staging.conveyor.take()
            take = min(len(data), self.chunk - self._fill)
            self._buf[self._fill:self._fill + take] = data[:take]
            self._fill += take
            data = data[take:]
            if self._fill == self.chunk:
                self._hand_over()

    def close(self) -> None:
        if not self.finished:
            if self._buf is None:  # an empty file, or one of whole chunks: its final chunk is still to come
                self._buf = self._staging.conveyor.take()
            self._hand_over(final=True)

    def _hand_over(self, final: bool = False) -> None:
        assert self._buf is not None
        self._done += self._fill
        if self._done > self.size:
            raise TarRefusal(_("A payload file is longer than its tar header says."))
        last = final or self._done == self.size
        self._staging.conveyor.send(self._buf, _Chunk(self, self._fill, last))
        self._buf, self._fill = None, 0
        self.finished = last

    def discard(self) -> None:
        """Remove the staged file (the writer thread must be done)."""
        if self.writer is not None:
            self.writer.discard()


@dataclass(frozen=True, slots=True)
class _Chunk:
    payload: StagedPayload
    length: int
    last: bool


class Staging:
    """The payload files of one import and the thread that writes them, so all can be thrown away together.

    ``open`` is the reader's payload sink factory; ``finish`` waits until every file is written (raising
    what writing failed with); ``discard`` removes them all, whatever state the writing is in.
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.payloads: dict[str, StagedPayload] = {}
        self.conveyor = pipeline.Conveyor[_Chunk](POOL_CHUNKS, stream.DEFAULT_CHUNK_SIZE)
        self._folder: Dir | None = None
        self._writer: pipeline.Drainer[_Chunk] | None = None

    def open(self, name: str, size: int) -> PayloadSink:
        if name in self.payloads:
            raise TarRefusal(_("The payload file {name} occurs twice.", name=shown_name(name)))
        if self._writer is None:
            self._folder = self.store.open_staging()
            self._writer = pipeline.Drainer(self.conveyor, self._write, "import-staging")
        staged = StagedPayload(self, size)
        self.payloads[name] = staged
        return staged

    def _write(self, buf: bytearray, chunk: _Chunk) -> None:
        """The writer thread: the file is created with its first chunk and closed after its last."""
        payload = chunk.payload
        if payload.writer is None:
            assert self._folder is not None
            payload.writer = self.store.create_writer(payload.key, payload.chunk, staging=self._folder,
                                                      size_hint=payload.size)
        payload.writer.write_chunk(memoryview(buf)[:chunk.length], last=chunk.last)
        if chunk.last:
            payload.writer.finish(sync=False)  # made durable together before they are published (commit_import)

    def finish(self) -> None:
        """Wait until every payload file handed over is written and closed; IcspaError if writing failed."""
        try:
            if self._writer is not None:
                self._writer.finish()
        except OSError as exc:
            raise IcspaError(_("Storing what was read failed: {cause}.", cause=exc.strerror or exc)) from None
        finally:
            self._close_folder()

    def _close_folder(self) -> None:
        if self._folder is not None:
            self._folder.close()
            self._folder = None

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        self._close_folder()
        for staged in self.payloads.values():
            with contextlib.suppress(OSError):
                staged.discard()
        self.payloads.clear()
