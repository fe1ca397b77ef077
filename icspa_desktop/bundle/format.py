"""Writing a sharing bundle (DESIGN §5): age v1 ( pax tar ( BagIt 1.0 bag + detached CMS over its tagmanifest ) ).

The tar stream is produced piece by piece and pushed into our streaming age encryptor (``agev1``), so the
whole bundle is made in one pass with one payload chunk in memory at a time: tar headers come from
``tarfile.TarInfo.tobuf``, payload bytes straight from ``PayloadFile.chunks()`` (hashed on the way) and
sealed straight from their buffers, and the ciphertext goes through ``media.VolumeWriter``'s thread to a
temporary file on the target that gets its final name only once it is complete, synced and has passed its
size and hash checks. ChaCha20-Poly1305 and SHA-256 release the GIL, so the producer (payload hash,
encryption) and the writer thread (ciphertext hash, write) run on two cores.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from icspa_desktop.bundle import media
from icspa_desktop.crypto import agev1
from icspa_desktop.domain.errors import Conflict, NotFound, RefusedInput, VerificationFailed, _
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.files import fsync_dir
from icspa_desktop.i18n import N_

BUNDLE_FORMAT_VERSION = "1"
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # payload file names under data/ (ids, never human names)
MAX_NAME_BYTES = 200  # below every file system's 255-byte component limit, room for ".partial-…"

BAGIT_TXT = "bagit.txt"
BAG_INFO_TXT = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
BAG_FILES = frozenset({BAGIT_TXT, BAG_INFO_TXT, MANIFEST, TAGMANIFEST})  # BagIt's own tag files
BAGIT_TXT_BYTES = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_RESERVED_TAG = re.compile(r"^(bagit\.txt|bag-info\.txt|fetch\.txt|(tag)?manifest-[A-Za-z0-9]+\.txt|data)$", re.I)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
FILE_MODE = 0o644
DIR_MODE = 0o755


@dataclass(frozen=True, slots=True)
class PayloadFile:
    name: str  # file name under data/, SAFE_NAME only (checked)
    size: int  # exact plaintext size
    sha256: str  # lower-case hex, known beforehand (the vault recorded it at ingest)
    chunks: Callable[[], Iterator[bytes | memoryview]]  # streams the plaintext once
    # True only when ``chunks`` authenticates every chunk and the end of the stream of exactly the bytes that
    # were hashed to ``sha256`` as they were sealed: the vault's blobs (vault/blobs.py ``BlobReader``: STREAM
    # with a per-blob key, a chunk counter and a final-chunk flag; ingest and import hash what they seal).
    # The plaintext is then not hashed a second time on its way out; its size is checked either way.
    authenticated: bool = False
    # Given when ``chunks`` hashes what it yields itself (the vault's blob reader, in its reading thread beside
    # decryption, so the writing thread only encrypts): the SHA-256 of the chunks yielded, asked once they are
    # exhausted, and compared with ``sha256`` instead of hashing them here.
    hexdigest: Callable[[], str] | None = None


@dataclass(frozen=True, slots=True)
class BagSpec:
    bundle_id: str  # also the bag directory name and External-Identifier
    info: list[tuple[str, str]]  # bag-info.txt fields in order; Payload-Oxum, Bagging-Date added if absent
    tag_files: dict[str, bytes]  # relative to the bag root, e.g. "metadata/custody.json"
    payload: list[PayloadFile]
    # More tag files, made while the payloads stream (an export's custody report, drawn in a separate process
    # meanwhile): asked for once, after the last payload; they follow ``tag_files`` in the bag.
    later_tag_files: Callable[[], dict[str, bytes]] | None = None


@dataclass(frozen=True, slots=True)
class WrittenBundle:
    path: Path  # the final file
    size: int
    sha256: str  # of the age file bytes as written and read back
    seal_path: Path  # NAME.icspa.sha256
    seal_signature_path: Path  # NAME.icspa.sha256.p7s
    # Every file of the bundle in order: (path,) or the volumes NAME.icspa.001, .002, … (path is the first);
    # their concatenation is the age file that size and sha256 describe. Empty only when built by hand.
    volumes: tuple[Path, ...] = ()


def _check_name(name: str, refusal: str) -> None:
    """One path component: SAFE_NAME, not hidden, not '.'/'..', short enough for any medium (else ``refusal``, an
    ``N_()`` text with the field ``{name}``)."""
    if not SAFE_NAME.match(name) or name.startswith(".") or len(name.encode()) > MAX_NAME_BYTES:
        raise RefusedInput(_(refusal, name=repr(name)))


def _check_spec(spec: BagSpec, tag_files: dict[str, bytes]) -> None:
    _check_name(spec.bundle_id, N_("The bundle id {name} is not allowed: use [A-Za-z0-9._-] only, not starting "
                                   "with '.'."))
    seen: set[str] = set()
    for item in spec.payload:
        _check_name(item.name, N_("The payload file name {name} is not allowed: use [A-Za-z0-9._-] only, not "
                                  "starting with '.'."))
        # FAT/exFAT fold case: two names differing in case would overwrite each other on the partner's side.
        if item.name.casefold() in seen:
            raise RefusedInput(_("The payload file name {name} occurs twice (ignoring case).", name=repr(item.name)))
        seen.add(item.name.casefold())
        if item.size < 0 or not _SHA256_HEX.match(item.sha256):
            raise RefusedInput(_("The payload file {name} has no valid size and lower-case SHA-256.",
                                 name=repr(item.name)))
    files: set[str] = set()
    dirs: set[str] = set()
    for path in tag_files:
        parts = path.split("/")
        for part in parts:
            _check_name(part, N_("The tag file path part {name} is not allowed: use [A-Za-z0-9._-] only, not "
                                 "starting with '.'."))
        if _RESERVED_TAG.match(parts[0]):
            raise RefusedInput(_("The tag file {path} would replace a file BagIt reserves.", path=repr(path)))
        key = path.casefold()
        if key in files:
            raise RefusedInput(_("The tag file {path} occurs twice (ignoring case).", path=repr(path)))
        files.add(key)
        dirs.update("/".join(parts[:i]).casefold() for i in range(1, len(parts)))
    if files & dirs:
        raise RefusedInput(_("A tag file has the name of a folder: {name}.", name=repr(sorted(files & dirs)[0])))


def _bag_info(spec: BagSpec) -> bytes:
    fields = list(spec.info)
    labels = {label.casefold(): value for label, value in fields}
    oxum = f"{sum(item.size for item in spec.payload)}.{len(spec.payload)}"
    if labels.get("payload-oxum", oxum) != oxum:
        raise RefusedInput(_("bag-info.txt declares Payload-Oxum {declared}; the payload is {oxum}.",
                             declared=repr(labels["payload-oxum"]), oxum=oxum))
    if labels.get("external-identifier", spec.bundle_id) != spec.bundle_id:
        raise RefusedInput(_("bag-info.txt declares an External-Identifier other than the bundle id."))
    if "bagging-date" not in labels:
        fields.append(("Bagging-Date", datetime.now(UTC).date().isoformat()))
    if "external-identifier" not in labels:
        fields.append(("External-Identifier", spec.bundle_id))
    if "payload-oxum" not in labels:
        fields.append(("Payload-Oxum", oxum))
    lines = []
    for label, value in fields:
        # A line break would start a new field (or a continuation) in the signed file: refuse, never fold.
        if not _LABEL.match(label) or any(c in value for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
            raise RefusedInput(_("The bag-info.txt field {label} has an unusable label or a line break in its value.",
                                 label=repr(label)))
        lines.append(f"{label}: {value}\n")
    return "".join(lines).encode("utf-8")


def _manifest(entries: Sequence[tuple[str, str]]) -> bytes:
    """sha256sum format: ``<hex>  <path>``; our paths never need BagIt's percent-encoding."""
    return "".join(f"{digest}  {path}\n" for digest, path in entries).encode("ascii")


def tag_file_bytes(spec: BagSpec, later: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file of the bag but data/: bagit.txt, bag-info.txt, both manifests, then spec.tag_files and the
    ``later`` ones (what ``spec.later_tag_files`` made)."""
    given = {**spec.tag_files, **(later or {})}
    if later and len(given) != len(spec.tag_files) + len(later):
        raise RefusedInput(_("A later tag file has the name of one already given: {path}.",
                             path=repr(sorted(set(spec.tag_files) & set(later))[0])))
    _check_spec(spec, given)
    tags = {
        BAGIT_TXT: BAGIT_TXT_BYTES,
        BAG_INFO_TXT: _bag_info(spec),
        MANIFEST: _manifest([(item.sha256, f"data/{item.name}") for item in spec.payload]),
    }
    covered = {**tags, **given}
    tagmanifest = _manifest([(hashlib.sha256(data).hexdigest(), path) for path, data in covered.items()])
    return {**tags, TAGMANIFEST: tagmanifest, **given}


def _tar_header(name: str, size: int, mtime: int, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name + "/" if directory else name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = DIR_MODE if directory else FILE_MODE
    info.size = 0 if directory else size
    info.mtime = mtime  # an int: a float would add a pax record for sub-second time
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _padding(size: int) -> bytes:
    return bytes(-size % tarfile.BLOCKSIZE)


class _TarPieces:
    """The plain tar stream as a sequence of byte pieces; checks every payload's size and hash on the way.

    The payloads come first, smallest first, then the tag files and the signature: the tag files of an export (its
    custody report above all) are made while the payloads stream, and the manifests and the signature can only
    follow them. A reader checks the bag once the whole stream is authenticated anyway (bundle/reader.py), in
    either order."""

    def __init__(self, spec: BagSpec, sign_detached: Callable[[bytes], bytes], progress: ProgressCallback,
                 cancel: CancelToken, before_tags: Callable[[int], None]) -> None:
        self._spec = spec
        self._sign = sign_detached
        self._progress = progress
        self._cancel = cancel
        self._before_tags = before_tags
        self.total = sum(item.size for item in spec.payload) + sum(map(len, spec.tag_files.values()))
        self.done = 0
        self.length = 0  # bytes of tar stream produced so far

    def _file(self, name: str, data: bytes, mtime: int) -> Iterator[bytes]:
        yield _tar_header(name, len(data), mtime)
        yield data
        yield _padding(len(data))
        self.done += len(data)

    def __iter__(self) -> Iterator[bytes | memoryview]:
        for piece in self._pieces():
            self.length += len(piece)
            yield piece
        end = bytes(2 * tarfile.BLOCKSIZE)  # end-of-archive, then pad to whole records as tar(1) does
        yield end + bytes(-(self.length + len(end)) % tarfile.RECORDSIZE)

    def _pieces(self) -> Iterator[bytes | memoryview]:
        spec = self._spec
        root = spec.bundle_id
        mtime = int(time.time())
        yield _tar_header(root, 0, mtime, directory=True)
        yield _tar_header(f"{root}/data", 0, mtime, directory=True)
        # Smallest first: a reader creating one file per payload (ours: services/import_staging.py) creates the
        # many small ones while the large ones stream, rather than all of them after the last large byte.
        for item in sorted(spec.payload, key=lambda payload: payload.size):
            yield _tar_header(f"{root}/data/{item.name}", item.size, mtime)
            yield from self._payload(item)
            yield _padding(item.size)
        later = spec.later_tag_files() if spec.later_tag_files is not None else None
        self._cancel.check()
        tags = tag_file_bytes(spec, later)
        signature = self._sign(tags[TAGMANIFEST])
        plain = sum(map(len, tags.values())) + len(signature)
        self.total = self.done + plain
        self._before_tags(_tar_bound(plain, len(tags) + 1, _folders(tags)))
        made = {root, f"{root}/data"}
        for path, data in tags.items():
            parts = f"{root}/{path}".split("/")
            for i in range(2, len(parts)):
                folder = "/".join(parts[:i])
                if folder not in made:
                    made.add(folder)
                    yield _tar_header(folder, 0, mtime, directory=True)
            yield from self._file(f"{root}/{path}", data, mtime)
        yield from self._file(f"{root}.p7s", signature, mtime)
        self._progress(self.done, self.total, _("Encrypting and writing the bundle"))

    def _payload(self, item: PayloadFile) -> Iterator[bytes | memoryview]:
        digest = None if item.authenticated or item.hexdigest is not None else hashlib.sha256()
        size = 0
        for raw in item.chunks():
            self._cancel.check()
            chunk = memoryview(raw).cast("B")
            size += len(chunk)
            if size > item.size:  # the tar header promised item.size bytes: stop before breaking the stream
                raise VerificationFailed(_("The payload {name} is longer than its recorded {size} bytes; nothing was "
                                           "written.", name=item.name, size=item.size))
            if digest is not None:
                digest.update(chunk)
            yield chunk
            self.done += len(chunk)
            self._progress(self.done, self.total, _("Encrypting and writing the bundle"))
        if size != item.size:
            raise VerificationFailed(_("The payload {name} has {size} bytes, not its recorded {recorded}; nothing was "
                                       "written.", name=item.name, size=size, recorded=item.size))
        actual = item.hexdigest() if item.hexdigest is not None else digest.hexdigest() if digest else None
        if actual is not None and actual != item.sha256:
            raise VerificationFailed(_("The payload {name} does not match its recorded SHA-256 (changed or damaged "
                                       "since ingest); nothing was written.", name=item.name))


def _age_recipients(recipients: Sequence[str]) -> list[X25519PublicKey]:
    if not recipients:
        raise RefusedInput(_("A bundle needs at least one recipient."))
    parsed: list[X25519PublicKey] = []
    for text in recipients:
        try:
            parsed.append(agev1.parse_recipient(text.strip()))
        except agev1.InvalidRecipient as exc:
            raise RefusedInput(agev1.message(exc)) from None
    return parsed


def _check_target(out: Path, *others: Path) -> None:
    if "\n" in out.name or "\\" in out.name or "\r" in out.name:
        raise RefusedInput(_("The bundle file name may not contain a line break or a backslash (sha256sum -c)."))
    if not out.parent.is_dir():
        raise NotFound(_("The target folder {folder} does not exist.", folder=out.parent))
    for path in (out, *others):
        if os.path.lexists(path):
            raise Conflict(_("{path} already exists; it was left untouched.", path=path))


# Room kept for an export's later tag files (custody report, proofs) when the target is first checked; the target
# is checked again for the tag files' real size before they are written.
LATER_TAGS_ALLOWANCE = 16 << 20
SIGNATURE_ALLOWANCE = 16 << 10  # a detached CMS signature with its certificate


def _folders(tags: dict[str, bytes]) -> int:
    """An upper bound of the folders the tag files' paths make (each gets a tar header)."""
    return sum(path.count("/") for path in tags)


def _tar_bound(plain: int, files: int, folders: int) -> int:
    """An upper bound of a tar stream's size: ``plain`` bytes in ``files`` files (a header, a pax header and padding
    each), ``folders`` folders, the end-of-archive record."""
    return plain + files * 3 * tarfile.BLOCKSIZE + folders * 2 * tarfile.BLOCKSIZE + tarfile.RECORDSIZE


def estimated_size(spec: BagSpec, recipients: int) -> int:
    """An upper bound of the age file's size: tar headers, padding and end blocks, age's header and tags (with
    ``LATER_TAGS_ALLOWANCE`` for what ``spec.later_tag_files`` will make)."""
    tags = tag_file_bytes(spec)
    later = LATER_TAGS_ALLOWANCE if spec.later_tag_files is not None else 0
    plain = sum(item.size for item in spec.payload) + sum(map(len, tags.values())) + SIGNATURE_ALLOWANCE + later
    return _age_bound(_tar_bound(plain, len(spec.payload) + len(tags) + 1, 2 + _folders(tags)), recipients)


def _age_bound(plain: int, recipients: int) -> int:
    """An upper bound of the age file of ``plain`` bytes: ~100 bytes of header line per recipient and the MAC, then
    a 16-byte tag per 64 KiB chunk."""
    return plain + (plain // 65536 + 1) * 16 + 256 * recipients + 1024


# Before the bag's documents exist: per item, its record in items.json, its manifest line and CASE/UCO object;
# per custody event carried, its signed body and proof in custody.json and its CASE/UCO action (measured: ~3 KB
# and ~3.7 KB a event in a 1,000-item export, ~1 KB an item).
PER_ITEM_ALLOWANCE = 4 << 10
PER_EVENT_ALLOWANCE = 8 << 10


def upfront_size(payload_sizes: Sequence[int], events: int, recipients: int) -> int:
    """An upper bound of ``estimated_size`` for payloads of these sizes and at most ``events`` custody events
    carried, known before the bag's documents are made: the export checks the target with it before it records
    anything, so that the check ``write_bundle`` makes later does not refuse what this one let pass."""
    plain = (sum(payload_sizes) + len(payload_sizes) * PER_ITEM_ALLOWANCE + events * PER_EVENT_ALLOWANCE
             + LATER_TAGS_ALLOWANCE + SIGNATURE_ALLOWANCE + (1 << 20))  # and bagit.txt, bag-info, case.json, …
    return _age_bound(_tar_bound(plain, len(payload_sizes) + 16, 8), recipients)


def _volume_name(out: Path, index: int) -> Path:
    return out.with_name(f"{out.name}.{index:03d}")


def _claim(created: list[Path], path: Path, make: Callable[[], None]) -> None:
    """Make ``path``, and remember it for the cleanup once it is ours (even if a later step of ``make`` fails)."""
    try:
        make()
    except Conflict:
        raise  # someone else's file: never to be removed by us
    except BaseException:
        created.append(path)
        raise
    created.append(path)


def write_bundle(spec: BagSpec, sign_detached: Callable[[bytes], bytes], recipients: Sequence[str], out: Path,
                 *, progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 volume_size: int | None = None) -> WrittenBundle:
    """Encrypt the bag to ``recipients`` into ``out`` (which must not exist), read it back, seal it.

    The target is checked first: read-only or too little free space is refused before anything is written.
    On FAT (or with ``volume_size``) a bundle larger than one volume is written as ``out.001``, ``out.002``, …
    that concatenate to the age file, each listed in the seal; a bundle that fits in one volume is ``out``.
    On any failure or cancel, nothing is left under ``out``, a volume's or a seal's name, or a temporary name.
    """
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    age_recipients = _age_recipients(recipients)
    seal_path = out.with_name(out.name + ".sha256")
    seal_signature_path = out.with_name(out.name + ".sha256.p7s")
    _check_target(out, seal_path, seal_signature_path)
    expected = estimated_size(spec, len(age_recipients))
    target = media.check_target(out.parent, expected)
    if volume_size is None and target.fs_type in media.FAT_TYPES:
        volume_size = media.DEFAULT_VOLUME_SIZE
    if volume_size is not None:
        if volume_size <= 0:
            raise RefusedInput(_("The volume size must be positive."))
        _check_target(out, *(_volume_name(out, i) for i in range(1, expected // volume_size + 3)))

    media.sweep_partials(out.parent)  # what a killed export left here (ciphertext; its process is gone)
    stem = media.temp_name(out)
    created: list[Path] = []
    writer = media.VolumeWriter(lambda index: stem.with_name(f"{stem.name}.{index:03d}"), volume_size)
    try:
        try:
            encryptor = agev1.Encryptor(writer.write, age_recipients)

            def room_for_tags(size: int) -> None:
                # Checked again with their real size (an export's custody report was drawn meanwhile): a medium
                # that filled up meanwhile is the same "disk full" as a failed write, before any is attempted.
                if media.inspect_target(out.parent).free < media.space_needed(size):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out.parent))

            for piece in _TarPieces(spec, sign_detached, progress, cancel, room_for_tags):
                encryptor.write(piece)
            encryptor.finish()
            volumes = writer.finish()
        finally:
            writer.close()
            created.extend(writer.created)
        sha256, size = writer.hexdigest(), writer.size
        finals = [out] if len(volumes) == 1 else [_volume_name(out, i) for i in range(1, len(volumes) + 1)]
        seal = "".join(f"{volume.sha256}  {final.name}\n" for volume, final in zip(volumes, finals, strict=True))
        seal_signature = sign_detached(seal.encode())
        # Read back before any final name exists: the data were synced and their cache dropped, so this reads
        # the medium, and a rename does not touch them.
        done = 0
        for volume, final in zip(volumes, finals, strict=True):
            if media.read_back_sha256(volume.tmp, volume.size, progress, cancel, done_before=done,
                                      grand_total=size) != volume.sha256:
                raise VerificationFailed(_("{name} read back from the target differs from what was written; the "
                                           "medium is unreliable. The bundle was removed.", name=final.name))
            done += volume.size
        cancel.check()
        # Seals first, the first volume (``path``) last: whoever finds ``path`` (after a crash too) finds a
        # complete, verified bundle with its seal; a crash in between leaves only a seal or later volumes.
        for path, data in ((seal_path, seal.encode()), (seal_signature_path, seal_signature)):
            _claim(created, path, functools.partial(media.write_new_file, path, data))
        for volume, final in reversed(list(zip(volumes, finals, strict=True))):
            _claim(created, final, functools.partial(media.place_without_replacing, volume.tmp, final))
    except BaseException as exc:
        for path in created:
            media.remove_quietly(path)
        with contextlib.suppress(OSError):
            fsync_dir(out.parent)
        if isinstance(exc, OSError):
            raise media.media_error(exc, out) from exc
        raise
    return WrittenBundle(path=finals[0], size=size, sha256=sha256, seal_path=seal_path,
                         seal_signature_path=seal_signature_path, volumes=tuple(finals))
