"""Payload files of a bundle being imported, sealed into the blob store's ``staging/`` as they are decrypted.

Nothing staged is in the store or the database: ``Staging.discard`` removes every file of an import that
was refused, cancelled or declined, and a crash leaves only ``staging/*.part`` files, which the next
unlock moves to quarantine (vault/blobs.py ``sweep_orphans``).
"""

from __future__ import annotations

import contextlib

from icspa_desktop.bundle.tarwalk import PayloadSink, TarRefusal, shown_name
from icspa_desktop.crypto import stream
from icspa_desktop.vault.blobs import BlobStore, BlobWriter, new_blob_key
from icspa_desktop.vault.layout import Dir


class StagedPayload:
    """One payload file on its way into ``staging/``: whole chunks sealed as they fill."""

    def __init__(self, store: BlobStore, size: int, staging: Dir) -> None:
        self.key = new_blob_key()
        self.writer: BlobWriter = store.create_writer(self.key, staging=staging, size_hint=size)
        self.size = size
        self.chunk = stream.DEFAULT_CHUNK_SIZE
        # Only as large as the file needs, and released at close: an import stages thousands of small files.
        self._buf = bytearray(min(self.chunk, max(size, 1)))
        self._fill = 0
        self._done = 0
        self.finished = False

    def write(self, data: memoryview) -> None:
        while data:
            take = min(len(data), len(self._buf) - self._fill)
            if not take:
                raise TarRefusal("A payload file is longer than its tar header says.")
            self._buf[self._fill:self._fill + take] = data[:take]
            self._fill += take
            data = data[take:]
            if self._fill == self.chunk:
                self._done += self._fill
                if self._done > self.size:
                    raise TarRefusal("A payload file is longer than its tar header says.")
                self.writer.write_chunk(memoryview(self._buf), last=self._done == self.size)
                self._fill = 0

    def close(self) -> None:
        if not self.writer.encryptor.finished:
            self.writer.write_chunk(memoryview(self._buf)[:self._fill], last=True)
            self._done += self._fill
        self.writer.finish(sync=False)  # made durable together before they are published (commit_import)
        self._buf = bytearray()
        self.finished = True


class Staging:
    """The payload sinks of one import, so that all of them can be thrown away together."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.payloads: dict[str, StagedPayload] = {}
        self._folder: Dir | None = None

    def open(self, name: str, size: int) -> PayloadSink:
        if name in self.payloads:
            raise TarRefusal(f"The payload file {shown_name(name)} occurs twice.")
        if self._folder is None:
            self._folder = self.store.open_staging()
        staged = StagedPayload(self.store, size, self._folder)
        self.payloads[name] = staged
        return staged

    def close_folder(self) -> None:
        """The folder handle kept while payload files are being created (closed once the reading ends)."""
        if self._folder is not None:
            self._folder.close()
            self._folder = None

    def discard(self) -> None:
        self.close_folder()
        for staged in self.payloads.values():
            with contextlib.suppress(OSError):
                staged.writer.discard()
        self.payloads.clear()
