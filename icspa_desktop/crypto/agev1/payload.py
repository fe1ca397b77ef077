"""The age v1 payload (the STREAM construction): the plaintext in 64 KiB chunks, each sealed with
ChaCha20-Poly1305 under the payload cipher the header gives; the chunk nonce is an 11-byte big-endian counter
and a last-chunk flag byte, so truncation, reordering and appending are all detected.

``Encryptor`` and ``Decryptor`` stream both ways in bounded memory (one batch of chunks on each side);
``encrypt``, ``decrypt`` and ``decrypt_io`` are the whole-file forms over them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from icspa_desktop.crypto.agev1.errors import InvalidIdentity, InvalidRecipient, PayloadError, Truncated
from icspa_desktop.crypto.agev1.header import TAG_SIZE, HeaderReader, OpenedHeader, write_header
from icspa_desktop.crypto.agev1.keys import identity_keys, parse_recipient
from icspa_desktop.domain.errors import _

CHUNK_SIZE = 64 * 1024
SEALED_CHUNK = CHUNK_SIZE + TAG_SIZE
BATCH_CHUNKS = 16  # decrypting hands ``write`` at most BATCH_CHUNKS * CHUNK_SIZE (1 MiB) per call
READ_SIZE = 1 << 20


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _pass_chunks(held: bytearray, view: memoryview, size: int, take: Callable[[memoryview, int], None]) -> None:
    """Hand ``take`` (run, count) every complete chunk of ``size`` bytes known not to be the last one, that is
    with at least one more byte after it; keep the rest in ``held`` (a chunk is last only when the input ends)."""
    if not view:
        return
    if held:
        fill = min(size - len(held), len(view))
        held += view[:fill]
        view = view[fill:]
        if not view:
            return  # a full held chunk waits: only more data proves it is not the last one
        with memoryview(held) as chunk:
            take(chunk, 1)
        held.clear()
    full = (len(view) - 1) // size
    if full:
        take(view[:full * size], full)
    held += view[full * size:]


# ---- encryption -----------------------------------------------------------------------------------------
class Encryptor:
    """Streaming age v1 encryption to X25519 recipients.

    ``out_write`` receives the file in order: the header with the payload nonce first (from the constructor),
    then one ``bytes`` object per sealed chunk (64 KiB + 16). Each is a new object never touched again, so the
    consumer may keep it (e.g. queue it to a writer thread). ``write`` may be called with any amount;
    ``finish`` seals the last chunk and must be called exactly once; until it has returned the output is not a
    complete age file. After an exception (from ``out_write`` too) the encryptor refuses further use. Memory:
    at most one 64 KiB chunk of plaintext is held between calls; complete chunks are sealed straight from the
    caller's buffer.
    """

    def __init__(self, out_write: Callable[[bytes], object],
                 recipients: Sequence[str | X25519PublicKey]) -> None:
        if not recipients:
            raise InvalidRecipient(_("age encryption needs at least one recipient."))
        header, self._aead = write_header([parse_recipient(r) if isinstance(r, str) else r for r in recipients])
        self._out = out_write
        self._held = bytearray()  # the plaintext of the chunk not yet known to be the last one
        self._counter = 0
        self._state = "open"  # "open" | "finished" | "failed"
        out_write(header)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` (any length); the caller may reuse its buffer as soon as this returns."""
        if self._state != "open":
            raise ValueError(f"write() on an encryptor that is {self._state}")
        try:
            self._write(memoryview(data).cast("B"))
        except BaseException:
            self._state = "failed"
            raise

    def _write(self, view: memoryview) -> None:
        _pass_chunks(self._held, view, CHUNK_SIZE, self._seal_run)

    def finish(self) -> None:
        """Seal the last chunk (empty only if nothing at all was written)."""
        if self._state != "open":
            raise ValueError(f"finish() on an encryptor that is {self._state}")
        self._state = "failed"  # until the last chunk is out
        self._seal(self._held, last=True)
        self._held = bytearray()
        self._state = "finished"

    def _seal(self, plain: bytes | bytearray | memoryview, last: bool) -> None:
        self._out(self._aead.encrypt(_chunk_nonce(self._counter, last), plain, None))
        self._counter += 1

    def _seal_run(self, run: memoryview, count: int) -> None:
        for i in range(count):
            self._seal(run[i * CHUNK_SIZE:(i + 1) * CHUNK_SIZE], last=False)


def encrypt(plaintext: bytes | bytearray | memoryview, recipients: Sequence[str | X25519PublicKey]) -> bytes:
    """The whole age file for ``plaintext`` (in memory: for small data and tests)."""
    parts: list[bytes] = []
    encryptor = Encryptor(parts.append, recipients)
    encryptor.write(plaintext)
    encryptor.finish()
    return b"".join(parts)


# ---- decryption -----------------------------------------------------------------------------------------
class Decryptor:
    """Push-style age v1 decryption: ``feed`` the file in pieces of any size, then ``finish``.

    ``write`` receives the plaintext in order, as non-empty memoryviews of an internal buffer that are valid
    only during the call (copy what you keep), at most ``BATCH_CHUNKS * CHUNK_SIZE`` (1 MiB) each. Guarantees:

    * nothing is written before the header has parsed strictly, a stanza opened with one of ``identities``
      and the header MAC matched;
    * every byte written belongs to a chunk that authenticated under its own position (chunk counter) —
      never plaintext of a chunk that failed;
    * the stream is complete only when ``finish`` returns: truncation at a chunk boundary is detectable only
      there (``Truncated``), and data after the last chunk raises ``PayloadError``.

    Failures raise an ``AgeError`` subclass; the object is then unusable. ``PayloadError.offset`` counts the
    (authenticated) plaintext bytes written before the failure. Exceptions from ``write`` propagate as is.

    ``buffers`` (optional) saves the consumer a copy: each call returns a fresh buffer of at least
    ``BATCH_CHUNKS * CHUNK_SIZE`` bytes to decrypt into, and a view ``write`` receives of such a buffer (``view.obj``)
    starts at its first byte and hands the buffer over: the decryptor never touches it again. Views of other
    memory (the final chunk) are valid during the call only, as without ``buffers``.
    """

    def __init__(self, identities: Sequence[str | X25519PrivateKey], write: Callable[[memoryview], object],
                 buffers: Callable[[], bytearray] | None = None) -> None:
        keys = identity_keys(identities)
        if not keys:
            raise InvalidIdentity(_("age decryption needs at least one identity."))
        self._write = write
        self._header: HeaderReader | None = HeaderReader(keys)  # None once the header and payload nonce are read
        self._aead: ChaCha20Poly1305 | None = None
        self._held = bytearray()  # sealed bytes not yet known to be (or not to be) the last chunk
        self._buffers = buffers
        self._out = bytearray(BATCH_CHUNKS * CHUNK_SIZE) if buffers is None else bytearray()
        self._counter = 0
        self.offset = 0  # plaintext bytes written so far
        self._state = "open"  # "open" | "done" | "failed"

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next piece of the file (any size, possibly empty)."""
        self._check_open()
        try:
            view = memoryview(data).cast("B")
            if self._header is not None:
                opened, view = self._header.feed(view)
                if opened is None:
                    return
                self._start_payload(opened)
            self._take_payload(view)
        except BaseException:
            self._state = "failed"
            raise

    def finish(self) -> None:
        """The input ended: check the last chunk and the end of the stream; raises if anything is amiss."""
        self._check_open()
        try:
            if self._header is not None:
                self._start_payload(self._header.finish())
            self._last_chunk()
        except BaseException:
            self._state = "failed"
            raise
        self._state = "done"

    def _check_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"the decryptor is {self._state}")

    def _start_payload(self, opened: OpenedHeader) -> None:
        self._header = None
        self._aead = opened.payload
        self._take_payload(memoryview(opened.rest))

    # -- payload --
    def _take_payload(self, view: memoryview) -> None:
        _pass_chunks(self._held, view, SEALED_CHUNK, self._open_run)

    def _fresh(self) -> memoryview:
        """Where the next batch of plaintext goes: our own buffer (the consumer copies), or a fresh one of theirs."""
        return memoryview(self._out if self._buffers is None else self._buffers())[:BATCH_CHUNKS * CHUNK_SIZE]

    def _open_run(self, sealed: memoryview, count: int) -> None:
        """Open ``count`` full chunks that more data follows; write their plaintext in batches."""
        aead = self._aead
        assert aead is not None
        out = self._fresh()
        filled = 0
        for i in range(count):
            if filled == len(out):
                self._release(out[:filled])
                out, filled = self._fresh(), 0
            chunk = sealed[i * SEALED_CHUNK:(i + 1) * SEALED_CHUNK]
            try:
                aead.decrypt_into(_chunk_nonce(self._counter, False), chunk, None, out[filled:filled + CHUNK_SIZE])
            except InvalidTag:
                # decrypt_into leaves unauthenticated plaintext behind on failure: wiped, never released.
                out[filled:filled + CHUNK_SIZE] = bytes(CHUNK_SIZE)
                self._release(out[:filled])  # what authenticated before the failure (``out`` is theirs now)
                self._refuse_followed_chunk(aead, chunk, self._fresh()[:CHUNK_SIZE])
            filled += CHUNK_SIZE
            self._counter += 1
        self._release(out[:filled])

    def _refuse_followed_chunk(self, aead: ChaCha20Poly1305, chunk: memoryview, out: memoryview) -> None:
        """A full chunk with more data after it failed as a middle chunk: say why, always raising."""
        try:
            aead.decrypt_into(_chunk_nonce(self._counter, True), chunk, None, out)
        except InvalidTag:
            out[:] = bytes(len(out))
            raise self._damaged() from None
        # A valid last chunk with data after it. Its plaintext is authentic (age's own reader releases it too).
        self._release(out)
        self._counter += 1
        raise PayloadError(_("The age file has data after its final chunk (appended or spliced bytes); refused."),
                           self.offset, self._counter)

    def _last_chunk(self) -> None:
        aead = self._aead
        assert aead is not None
        sealed = bytes(self._held)
        self._held = bytearray()
        if not sealed:
            raise Truncated(_("The age payload has no chunks at all: the file is cut short after its header."),
                            self.offset, self._counter)
        if len(sealed) < TAG_SIZE:
            raise PayloadError(_("The age payload ends with an incomplete chunk (chunk {chunk}, {size} bytes): the "
                                 "file is damaged or cut short.", chunk=self._counter, size=len(sealed)),
                               self.offset, self._counter)
        if len(sealed) == TAG_SIZE and self._counter > 0:
            raise PayloadError(_("The age payload ends with an empty final chunk, which the format forbids unless "
                                 "the whole payload is empty."), self.offset, self._counter)
        try:
            plain = aead.decrypt(_chunk_nonce(self._counter, True), sealed, None)
        except InvalidTag:
            if len(sealed) == SEALED_CHUNK:
                try:
                    plain = aead.decrypt(_chunk_nonce(self._counter, False), sealed, None)
                except InvalidTag:
                    raise self._damaged() from None
                # Authentic, but a middle chunk: the file was cut right after it.
                self._release(memoryview(plain))
                self._counter += 1
                raise Truncated(_("The age file is cut short: it ends after {size:,} bytes of plaintext without its "
                                  "final chunk.", size=self.offset), self.offset, self._counter) from None
            raise self._damaged() from None
        self._release(memoryview(plain))
        self._counter += 1

    def _damaged(self) -> PayloadError:
        return PayloadError(_("Chunk {chunk} of the age payload failed authentication (after {size:,} bytes of "
                              "plaintext): the file is damaged, altered or cut short.", chunk=self._counter,
                              size=self.offset), self.offset, self._counter)

    def _release(self, plain: memoryview) -> None:
        if plain:
            self._write(plain)
            self.offset += len(plain)


def decrypt_io(read: Callable[[int], bytes | bytearray | memoryview], write: Callable[[memoryview], object],
               identities: Sequence[str | X25519PrivateKey], *, read_size: int = READ_SIZE) -> None:
    """Decrypt the age file that ``read`` returns into ``write``; see ``Decryptor`` for the guarantees.

    ``read(n)`` returns up to ``n`` bytes (short reads are fine) and an empty result only at the end.
    ``write`` gets memoryviews valid during the call only. Raises an ``AgeError`` subclass for anything
    wrong with the data (the plaintext written so far must then be discarded), ``InvalidIdentity`` for an
    identity that is not an X25519 secret key; exceptions from ``read`` or ``write`` propagate unchanged.
    """
    decryptor = Decryptor(identities, write)
    while data := read(read_size):
        decryptor.feed(data)
    decryptor.finish()


def decrypt(data: bytes | bytearray | memoryview, identities: Sequence[str | X25519PrivateKey]) -> bytes:
    """The whole plaintext of an age file held in memory (for small data and tests)."""
    parts: list[bytes] = []
    decryptor = Decryptor(identities, lambda view: parts.append(bytes(view)))
    decryptor.feed(data)
    decryptor.finish()
    return b"".join(parts)
