"""Reading a sharing bundle that came from outside (DESIGN §5, Import): every byte is untrusted until checked.

One pass, nothing written anywhere (unless the caller's payload sink stages payload files): the file (or
its volumes) is read in 4 MiB blocks and hashed for the outer seal; our age v1 decryptor
(crypto/agev1/) authenticates each chunk before its plaintext is released, and the plaintext is pushed
into ``TarWalk``, an incremental parser of the narrow pax subset our writer produces. Payloads are hashed
on the way (and handed to the sink); tag files and the signature are kept in memory within ``Limits``.
The bag-level checks (manifests, signed bag-info, CMS signature) run only once age has authenticated the
whole stream: age detects truncation only at the end, so nothing seen before is final.

Three threads: one reads the file and hashes the ciphertext a few blocks ahead; one decrypts
(ChaCha20-Poly1305 in ``cryptography`` and hashlib release the GIL); the caller's thread walks the tar,
hashes the plaintext and feeds the sink (AES-GCM sealing and writes, also outside the GIL). They hand over
buffers (4 MiB of ciphertext, 1 MiB of plaintext) from small fixed pools, so memory stays bounded. (Reading
and decrypting in one thread left that thread the slowest stage of the stream: the ciphertext's SHA-256 alone
is 0.5-0.7 s per GiB on our machines. With pyrage, which holds the GIL while it decrypts, a second thread
gained nothing; it is gone from reading.)

Why our own tar parser rather than ``tarfile.open(mode="r|")``: tarfile *pulls* while decryption *pushes*,
so it would need a pipe (every byte copied through the kernel twice); tarfile reads pax and GNU long-name
headers of any declared size into memory, quietly accepts global headers, GNU sparse maps and links whose
data it skips differently from GNU tar, and its header parsing had CVEs in 2024-2025. Here each 512-byte
header is checked (and every declared size bounded) before one byte of its data is consumed, and anything
our writer never makes is refused.

Faults in the bundle are *problems* in the returned ``BundleCheck`` (``ok`` is False), including "not an
age file" and "not addressed to us", so ``bundle verify`` can still report the outer seal (which needs
no key). ``RefusedInput`` is raised only for what the caller handed in: a path that is not a readable
regular file, or an identity that is not an age secret key.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import stat
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import pkcs7

from icspa_desktop import i18n, pipeline
from icspa_desktop.bundle.format import BAG_INFO_TXT, BAGIT_TXT, BUNDLE_FORMAT_VERSION, MANIFEST, SAFE_NAME, TAGMANIFEST
from icspa_desktop.bundle.tarwalk import DEFAULT_LIMITS, Limits, PayloadSinkFactory, TarRefusal, TarWalk, shown_name
from icspa_desktop.crypto import agev1, cms
from icspa_desktop.crypto.x509 import sha256_fingerprint, subject_text
from icspa_desktop.domain.errors import Cancelled, IcspaError, RefusedInput, Text, _, english
from icspa_desktop.domain.progress import CancelToken, ProgressCallback, no_progress
from icspa_desktop.i18n import N_

# Each block handed from the reading thread to decryption wakes a thread and takes the GIL a few times; with 4 MiB
# instead of 1 MiB the stream of a 1 GiB bundle took ~0.15 s less (A/B, 9 pairs, docs/PERFORMANCE.md).
READ_CHUNK = 4 << 20
READ_AHEAD = 3  # ciphertext blocks read and hashed ahead of decryption
MAX_SEAL_BYTES = 64 << 10  # one "<hex>  <name>" line per volume
RECIPIENT_FIELD = "ICSPA-Recipient-Agency"
_OTHER_MANIFEST = re.compile(r"^(tag)?manifest-[A-Za-z0-9]+\.txt$", re.I)
_MANIFEST_LINE = re.compile(r"^([0-9a-fA-F]{64})  (\S(?:.*\S)?)$")
_TAG_FIELD = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*): (.*)$")
_SEAL_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")

@dataclass(frozen=True, slots=True)
class BundleCheck:
    """What a verification found; every field is filled as far as the check got."""

    bundle_id: str | None
    sha256: str  # of the file (or the concatenated volumes) as read
    size: int
    # "ok" | "absent" | "bad: <why>" — the bad state is a message in the reader's language, its English kept
    # beside it (``errors.english``: what --json gives); ``shown_seal`` words every state for the reader.
    seal: str
    signer: x509.Certificate | None
    bag_info: list[tuple[str, str]]
    recipients: list[str]  # ICSPA-Recipient-Agency values of bag-info.txt
    payload: list[tuple[str, int, str]]  # (name under data/, size, sha256) as read
    tag_files: dict[str, bytes]  # the bag's tag files held (all, unless ``keep_tag`` chose), relative to the bag folder
    problems: list[str]  # empty: every layer checked out
    signed_at: datetime | None = None  # the bag signature's signingTime (checked with ``at_signing_time``)
    tag_digests: dict[str, str] = field(default_factory=dict)  # every tag file read, held or not -> its SHA-256

    @property
    def ok(self) -> bool:
        return not self.problems and self.signer is not None


class _Ciphertext:
    """The file or its volumes in order, read in blocks and hashed as read (whole and each)."""

    def __init__(self, volumes: list[Path], progress: ProgressCallback, cancel: CancelToken) -> None:
        self._volumes = volumes
        self._progress = progress
        self._cancel = cancel
        self.total = sum(v.stat().st_size for v in volumes)
        self.done = 0
        self.whole = hashlib.sha256()
        self.each: list[str] = []
        self._current: hashlib._Hash | None = None
        self._index = 0
        self._fd: int | None = None
        self.error: BaseException | None = None

    def blocks(self) -> Generator[memoryview, None, None]:
        """The file's blocks in order, each valid until the next is asked for. A worker thread reads and hashes
        up to ``READ_AHEAD`` blocks ahead, so hashing the ciphertext and decrypting it run on two cores. Close
        the generator (``contextlib.closing``) to stop early: the worker is stopped and joined before it returns.
        """

        def read(conveyor: pipeline.Conveyor[int]) -> None:
            while n := self._read_into(buf := conveyor.take()):
                conveyor.send(buf, n)

        blocks = pipeline.drained(pipeline.Conveyor[int](READ_AHEAD, READ_CHUNK), read, "bundle-read")
        with contextlib.closing(blocks):
            for buf, n in blocks:
                yield memoryview(buf)[:n]

    def drain(self) -> None:
        """Read (and hash) whatever decryption left unread, so the seal is checked over the whole file."""
        buf = bytearray(READ_CHUNK)
        while self._read_into(buf):
            pass

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read_into(self, buf: bytearray) -> int:
        """Read the next block of the file into ``buf`` and hash it; 0 at the end of the last volume."""
        try:
            while True:
                if self._fd is None:
                    if self._index == len(self._volumes):
                        return 0
                    self._fd = _open_regular(self._volumes[self._index])
                    self._current = hashlib.sha256()
                n = os.readv(self._fd, [buf])
                if n:
                    self._cancel.check()
                    chunk = memoryview(buf)[:n]
                    self.whole.update(chunk)
                    if len(self._volumes) > 1:
                        assert self._current is not None
                        self._current.update(chunk)
                    self.done += n
                    self._progress(self.done, self.total, _("Decrypting and checking the bundle"))
                    return n
                self.close()
                assert self._current is not None
                self.each.append((self._current if len(self._volumes) > 1 else self.whole).hexdigest())
                self._index += 1
        except BaseException as exc:
            self.error = self.error or exc
            raise


def _open_regular(path: Path) -> int:
    # O_NONBLOCK: opening a FIFO put in place of the bundle must not hang; regular files ignore it.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise RefusedInput(_("Cannot open {path}: {cause}.", path=path, cause=exc.strerror or exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RefusedInput(_("{path} is not a regular file.", path=path))
    return fd


_VOLUME_NAME = re.compile(r"^(.+)\.([0-9]{3})$")


def bundle_volumes(path: Path) -> tuple[Path, list[Path]]:
    """(the bundle's name NAME, the files that hold it): NAME itself, or its volumes NAME.001, NAME.002, … when
    NAME is absent — also when the first volume is the path given (the export names it so). RefusedInput when
    they cannot be one bundle: a later volume given, a volume missing before one that is there."""
    numbered = _VOLUME_NAME.match(path.name)
    if numbered and not os.path.lexists(path.with_name(numbered[1])) and os.path.lexists(path):
        if numbered[2] != "001":
            raise RefusedInput(_("{path} is volume {n} of the bundle {name}: give {name} or its first volume "
                                 "{name}.001, and keep every volume in the same folder.", path=path,
                                 n=int(numbered[2]), name=numbered[1]))
        path = path.with_name(numbered[1])
    if os.path.lexists(path):
        os.close(_open_regular(path))
        return path, [path]
    volumes: list[Path] = []
    while os.path.lexists(volume := path.with_name(f"{path.name}.{len(volumes) + 1:03d}")):
        os.close(_open_regular(volume))
        volumes.append(volume)
    if not volumes:
        raise RefusedInput(_("{path} does not exist (nor its volumes {name}.001, …).", path=path, name=path.name))
    later = sorted(p.name for p in path.parent.glob(f"{glob.escape(path.name)}.[0-9][0-9][0-9]")
                   if p.name > volumes[-1].name)
    if later:
        raise RefusedInput(_("The volume {missing} of the bundle {name} is missing, but {later} is there: a volume "
                             "was lost or renamed. Copy every volume from the medium again.",
                             missing=f"{path.name}.{len(volumes) + 1:03d}", name=path.name, later=later[0]))
    return path, volumes


def _identities(identities: Sequence[str]) -> list[X25519PrivateKey]:
    parsed: list[X25519PrivateKey] = []
    for text in identities:
        try:
            parsed.append(agev1.parse_identity(text.strip()))
        except agev1.KeyFormatError:
            raise RefusedInput(_("An identity given is not an age X25519 secret key (AGE-SECRET-KEY-1…).")) from None
    return parsed


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when longer than ``limit``."""
    fd = _open_regular(path)
    try:
        data = b""
        while len(data) <= limit and (chunk := os.read(fd, limit + 1 - len(data))):
            data += chunk
    finally:
        os.close(fd)
    return None if len(data) > limit else data


def _claimed_signer(signature: bytes, trusted: Sequence[x509.Certificate]) -> str:
    """Whom an untrusted signature names, to say who it is *not* — never trusted for anything else."""
    # Everything in ``signature`` is hostile: a ContentInfo that is not SignedData (UnsupportedAlgorithm), a
    # certificate with a bad version (InvalidVersion) or subject (ValueError) — then it names nobody.
    try:
        with warnings.catch_warnings():  # "falling back to parsing as BER": not a line for the user's terminal
            warnings.simplefilter("ignore")
            carried = pkcs7.load_der_pkcs7_certificates(signature)
        known = {sha256_fingerprint(cert) for cert in trusted}
        strangers = [cert for cert in carried if sha256_fingerprint(cert) not in known]
        names = ", ".join(f"{shown_name(subject_text(c))} (SHA-256 {sha256_fingerprint(c)[:16]}…)"
                          for c in strangers)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        return ""
    # A sentence appended to another one (its leading space included).
    return _(" It carries the certificate of {names}, which is not trusted.", names=names) if strangers else ""


# How the seal's fixed states read; a bad state is already a message (errors.Text).
SEAL_STATES = {"ok": N_("the seal's signature and hashes match"),
               "absent": N_("no seal beside the file (it is optional)")}


def shown_seal(state: str) -> str:
    """A ``BundleCheck.seal`` in the reader's language."""
    return i18n._(SEAL_STATES[state]) if state in SEAL_STATES else str(state)


def seal_is_bad(state: str) -> bool:
    return english(state).startswith("bad: ")


@dataclass(slots=True)
class _Seal:
    status: str  # "absent" | "pending" (signature good, hashes to compare) | "bad: …" (errors.Text)
    signer: x509.Certificate | None = None
    hashes: dict[str, str] | None = None


def _verify(signature: bytes, content: bytes, trusted: Sequence[x509.Certificate], at: datetime | None,
            at_signing_time: bool) -> tuple[x509.Certificate, datetime | None]:
    if at_signing_time:
        return cms.verify_detached_signed_at(signature, content, trusted, now=at)
    return cms.verify_detached(signature, content, trusted, at=at), None


def _read_seal(path: Path, volumes: list[Path], trusted: Sequence[x509.Certificate], at: datetime | None,
               at_signing_time: bool) -> _Seal:
    seal_path = path.with_name(path.name + ".sha256")
    signature_path = path.with_name(path.name + ".sha256.p7s")
    have_seal, have_signature = os.path.lexists(seal_path), os.path.lexists(signature_path)
    if not have_seal and not have_signature:
        return _Seal("absent")
    if not have_seal or not have_signature:
        missing = seal_path if not have_seal else signature_path
        return _Seal(_("bad: {name} is missing (half a seal)", name=missing.name))
    try:
        seal = _read_bounded(seal_path, MAX_SEAL_BYTES)
        signature = _read_bounded(signature_path, cms.MAX_SIGNATURE_BYTES)
    except RefusedInput as exc:
        return _Seal(_("bad: {error}", error=exc))
    if seal is None or signature is None:
        return _Seal(_("bad: the seal files are too large to be a seal"))
    try:
        signer, _signed_at = _verify(signature, seal, trusted, at, at_signing_time)
    except RefusedInput as exc:
        return _Seal(_("bad: {name}: {error}{signer}", name=signature_path.name, error=exc,
                       signer=_claimed_signer(signature, trusted)))
    hashes: dict[str, str] = {}
    try:
        lines = seal.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return _Seal(_("bad: {name} is not text", name=seal_path.name))
    for line in filter(None, lines):
        match = _SEAL_LINE.match(line)
        if not match or match[2] in hashes:
            return _Seal(_("bad: {name} has an unreadable or repeated line", name=seal_path.name))
        hashes[match[2]] = match[1]
    if set(hashes) != {v.name for v in volumes}:
        return _Seal(_("bad: {name} names {named}, not the file(s) {files}", name=seal_path.name,
                       named=sorted(hashes), files=[v.name for v in volumes]))
    return _Seal("pending", signer, hashes)


def _tag_fields(data: bytes | None, name: str, problems: list[str]) -> list[tuple[str, str]]:
    """``Label: value`` lines of bagit.txt / bag-info.txt; we never fold lines, so folded ones are refused."""
    if data is None:
        problems.append(_("{name} is missing.", name=name))
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(_("{name} is not UTF-8.", name=name))
        return []
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        match = _TAG_FIELD.match(line)
        if not match or "\r" in line:
            problems.append(_("{name} line {number} is not a 'Label: value' line.", name=name, number=number))
            continue
        fields.append((match[1], match[2]))
    return fields


def _manifest(data: bytes | None, name: str, problems: list[str]) -> dict[str, str]:
    """path -> lower-case SHA-256 of a ``<hex>  <path>`` manifest; our paths never need percent-encoding."""
    if data is None:
        problems.append(_("{name} is missing.", name=name))
        return {}
    entries: dict[str, str] = {}
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        problems.append(_("{name} is not UTF-8.", name=name))
        return {}
    for number, line in enumerate(filter(None, lines), 1):
        match = _MANIFEST_LINE.match(line)
        if not match or any(not SAFE_NAME.match(p) or p.startswith(".") for p in match[2].split("/")):
            problems.append(_("{name} entry {number} is not '<sha256>  <path>' with a usable path.",
                              name=name, number=number))
            continue
        if match[2] in entries:
            problems.append(_("{name} lists {path} twice.", name=name, path=shown_name(match[2])))
        entries[match[2]] = match[1].lower()
    return entries


def _one(fields: list[tuple[str, str]], label: str, problems: list[str]) -> str | None:
    values = [value for key, value in fields if key.casefold() == label.casefold()]
    if len(values) != 1:
        problems.append(_("bag-info.txt has {count} {label} fields; exactly one is required.",
                          count=len(values), label=label))
        return None
    return values[0]


# (signer, its signing time, bag-info fields, recipient agency fingerprints)
_BagVerdict = tuple[x509.Certificate | None, datetime | None, list[tuple[str, str]], list[str]]


def _check_bag(walk: TarWalk, trusted: Sequence[x509.Certificate], at: datetime | None, at_signing_time: bool,
               problems: list[str]) -> _BagVerdict:
    """The bag as a whole, once the stream is authenticated: signature, manifests, bag-info."""
    tags = walk.tag_files  # what is held; ``digests`` names every tag file read
    digests = walk.tag_digests
    signer = signed_at = None
    tagmanifest = tags.get(TAGMANIFEST)
    if walk.signature is None:
        problems.append(_("The signature {bundle_id}.p7s is missing: the bag is not signed.",
                          bundle_id=walk.bundle_id))
    elif tagmanifest is not None:
        try:
            signer, signed_at = _verify(walk.signature, tagmanifest, trusted, at, at_signing_time)
        except RefusedInput as exc:
            problems.append(_("The bag's signature {bundle_id}.p7s: {error}{signer}", bundle_id=walk.bundle_id,
                              error=exc, signer=_claimed_signer(walk.signature, trusted)))

    for clash in walk.folder_file_clashes():
        problems.append(_("{path} is both a file and a folder.", path=shown_name(clash)))
    for name in digests:
        if _OTHER_MANIFEST.match(name) and name not in (MANIFEST, TAGMANIFEST):
            problems.append(_("The bag holds {name}; bundles carry SHA-256 manifests only.",
                              name=shown_name(name)))

    tag_entries = _manifest(tagmanifest, TAGMANIFEST, problems)
    for path, digest in tag_entries.items():
        if path.startswith("data/") or path == TAGMANIFEST:
            problems.append(_("{manifest} lists {path}, which it must not cover.",
                              manifest=TAGMANIFEST, path=shown_name(path)))
        elif path not in digests:
            problems.append(_("The tag file {path} is listed in {manifest} but not in the bundle.",
                              path=shown_name(path), manifest=TAGMANIFEST))
        elif digests[path] != digest:
            problems.append(_("The tag file {path} does not match {manifest} (changed after signing).",
                              path=shown_name(path), manifest=TAGMANIFEST))
    if tagmanifest is not None:
        for path in digests:
            if path != TAGMANIFEST and path not in tag_entries:
                problems.append(_("The tag file {path} is not covered by {manifest} (not signed).",
                                  path=shown_name(path), manifest=TAGMANIFEST))

    bagit = dict(_tag_fields(tags.get(BAGIT_TXT), BAGIT_TXT, problems))
    if BAGIT_TXT in tags and (bagit.get("BagIt-Version"), bagit.get("Tag-File-Character-Encoding")) != ("1.0", "UTF-8"):
        problems.append(_("bagit.txt does not declare BagIt 1.0 in UTF-8."))

    info = _tag_fields(tags.get(BAG_INFO_TXT), BAG_INFO_TXT, problems)
    recipients = [value for label, value in info if label.casefold() == RECIPIENT_FIELD.casefold()]
    if BAG_INFO_TXT in tags:
        if not recipients:
            problems.append(_("bag-info.txt names no {field}.", field=RECIPIENT_FIELD))
        if (identifier := _one(info, "External-Identifier", problems)) not in (None, walk.bundle_id):
            problems.append(_("bag-info.txt names the bundle {named}, but the bag folder is {bundle_id}.",
                              named=shown_name(identifier or ""), bundle_id=walk.bundle_id))
        if (version := _one(info, "ICSPA-Format-Version", problems)) not in (None, BUNDLE_FORMAT_VERSION):
            problems.append(_("The bundle has format version {version}; this program reads version {supported} only.",
                              version=shown_name(version or ""), supported=BUNDLE_FORMAT_VERSION))
        _one(info, "ICSPA-Sender-Agency", problems)
        oxum = f"{sum(size for _path, size, _digest in walk.payload)}.{len(walk.payload)}"
        if (declared := _one(info, "Payload-Oxum", problems)) not in (None, oxum):
            problems.append(_("bag-info.txt declares Payload-Oxum {declared}; the payload is {oxum}.",
                              declared=shown_name(declared or ""), oxum=oxum))

    expected = _manifest(tags.get(MANIFEST), MANIFEST, problems)
    seen = {f"data/{name}": digest for name, _size, digest in walk.payload}
    for path, digest in expected.items():
        if not path.startswith("data/"):
            problems.append(_("{manifest} lists {path}, which is not under data/.",
                              manifest=MANIFEST, path=shown_name(path)))
        elif path not in seen:
            problems.append(_("The payload file {path} is listed in {manifest} but not in the bundle.",
                              path=shown_name(path), manifest=MANIFEST))
        elif seen[path] != digest:
            problems.append(_("The payload file {path} does not match its SHA-256 in {manifest}.",
                              path=shown_name(path), manifest=MANIFEST))
    if MANIFEST in tags:
        for path in seen.keys() - expected.keys():
            problems.append(_("The payload file {path} is in the bundle but not in {manifest}.",
                              path=shown_name(path), manifest=MANIFEST))
    return signer, signed_at, info, recipients


def _read_error(exc: BaseException, path: Path) -> BaseException:
    """Our own reading of the file failed (the medium, not the bundle): that is no verdict on the bundle."""
    if isinstance(exc, IcspaError | Cancelled) or not isinstance(exc, OSError):
        return exc
    return IcspaError(_("Reading {path} failed: {cause} (was the medium removed?).",
                        path=path, cause=exc.strerror or exc))


def _decrypt_problem(exc: BaseException, walk: TarWalk) -> str:
    if isinstance(exc, TarRefusal):
        return exc.message  # translated, its English kept for --json and the stored check
    if isinstance(exc, agev1.NoMatchingIdentity):
        return _("The bundle is not addressed to any of our identities (no age recipient opens with our keys), or "
                 "its age header is damaged.")
    if isinstance(exc, agev1.NotAgeFile):
        return agev1.message(exc)
    if isinstance(exc, agev1.PassphraseEncrypted):
        return _("{error} Bundles are encrypted to agency keys, never with a passphrase.", error=agev1.message(exc))
    if isinstance(exc, agev1.HeaderError):
        return _("The age header is not valid: {error}", error=agev1.message(exc))
    if isinstance(exc, agev1.PayloadError):
        return _("{error} Nothing read from the bundle counts.", error=agev1.message(exc))
    return _("age decryption failed: {error}", error=agev1.message(exc))


_BLOCK = agev1.BATCH_CHUNKS * agev1.CHUNK_SIZE  # the most plaintext the decryptor hands over at once
_POOL = 4  # plaintext blocks in flight between the two threads (besides those a payload sink holds)


def _decrypt_and_walk(ciphertext: _Ciphertext, identities: Sequence[X25519PrivateKey], walk: TarWalk,
                      cancel: CancelToken, held: int) -> None:
    """Decrypt (a worker thread) into the tar walk (the caller's thread); raises what either side raised.

    Each decrypted block is lent to the walk, and by it to the payload sink, which may hold up to ``held`` blocks
    beyond the walk's (payload bytes waiting to be sealed by a thread of its own: no copy of them is made).

    AgeError: the bundle's encryption failed; TarRefusal: its archive; anything from ``ciphertext`` (reading)
    or from the walk's payload sink propagates as it is.
    """

    def produce(conveyor: pipeline.Conveyor[int]) -> None:
        # Decrypted straight into the pool's buffers (a 1 MiB copy per block saved, made while holding the GIL).
        taken: list[bytearray] = []

        def fresh() -> bytearray:
            taken.append(conveyor.take())
            return taken[-1]

        def give(view: memoryview) -> None:
            if taken and view.obj is taken[-1]:  # a buffer of ours, decrypted into: passed on as it is
                conveyor.send(taken.pop(), len(view))
                return
            buf = conveyor.take()  # the final chunk, decrypted apart
            buf[:len(view)] = view
            conveyor.send(buf, len(view))

        decryptor = agev1.Decryptor(identities, give, fresh)
        with contextlib.closing(ciphertext.blocks()) as blocks:
            for block in blocks:
                decryptor.feed(block)
        decryptor.finish()

    blocks = pipeline.lent(pipeline.Conveyor[int](_POOL + held, _BLOCK), produce, "bundle-decrypt")
    with contextlib.closing(blocks):
        for loan, length in blocks:
            cancel.check()
            walk.feed(memoryview(loan.buf)[:length], loan)


def check_bundle(path: Path, identities: Sequence[str], trusted: Sequence[x509.Certificate], *,
                 limits: Limits = DEFAULT_LIMITS, at: datetime | None = None, at_signing_time: bool = False,
                 payload_sink: PayloadSinkFactory | None = None, sink_holds: int = 0,
                 keep_tag: Callable[[str], bool] | None = None, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> BundleCheck:
    """Check every layer of the bundle at ``path`` in one streaming pass, writing nothing anywhere.

    ``identities``: age secret keys to try; ``trusted``: certificates the bag and seal signer must be
    (exact pinning, see ``cms.verify_detached``); ``at``: when that certificate must be valid (default
    now) — or, with ``at_signing_time``, the signatures' own signing time is used (and must not lie after
    ``at``). ``payload_sink``: called for each payload file as its data begins; it receives the bytes as
    they are decrypted, *before* the stream is authenticated to its end, so whatever it keeps must be
    thrown away unless the result is ``ok`` (bundle import stages into the blob store this way).
    ``sink_holds``: how many decrypted blocks (1 MiB each) the sink may hold at once past its ``write`` calls.
    ``keep_tag``: which tag files (besides BagIt's own) the caller reads, to be held in ``tag_files`` within
    ``limits``; the others are only hashed (a big case's CASE/UCO graph and PDF report need not be in memory to be
    checked). None: all are held. Problems in the bundle are reported in the result; Cancelled and RefusedInput
    (unusable arguments) are raised, as is whatever ``payload_sink`` raises that is not a ``TarRefusal``.
    """
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    path, volumes = bundle_volumes(path)
    age_identities = _identities(identities)
    seal = _read_seal(path, volumes, trusted, at, at_signing_time)
    problems: list[str] = []
    walk = TarWalk(limits, payload_sink, keep_tag)
    ciphertext = _Ciphertext(volumes, progress, cancel)
    signer: x509.Certificate | None = None
    signed_at: datetime | None = None
    info: list[tuple[str, str]] = []
    recipients: list[str] = []
    try:
        if not age_identities:
            problems.append(_("No age identity was given: only the outer seal was checked."))
        else:
            try:
                _decrypt_and_walk(ciphertext, age_identities, walk, cancel, sink_holds)
                walk.finish()
            except (agev1.AgeError, TarRefusal) as exc:
                problems.append(_decrypt_problem(exc, walk))
            except OSError as exc:
                if exc is ciphertext.error:
                    raise _read_error(exc, path) from None
                raise IcspaError(_("Storing what was read failed: {cause}.", cause=exc.strerror or exc)) from None
            else:
                signer, signed_at, info, recipients = _check_bag(walk, trusted, at, at_signing_time, problems)
            problems[:0] = walk.problems  # per-member refusals first, in archive order
        ciphertext.drain()
    except OSError as exc:
        raise _read_error(exc, path) from None
    finally:
        ciphertext.close()

    seal_status = seal.status
    if seal.hashes is not None:
        names = [v.name for v in volumes]
        if len(ciphertext.each) == len(names) and len(names) > 1 and (differ := [
                name for name, digest in zip(names, ciphertext.each, strict=True) if seal.hashes[name] != digest]):
            seal_status = _("bad: the SHA-256 of {names} differs from the seal (changed, damaged or swapped since it "
                            "was sealed)", names=", ".join(differ))
        elif [seal.hashes[name] for name in names] != ciphertext.each:
            seal_status = _("bad: the file's SHA-256 differs from the seal (changed since it was sealed)")
        else:
            seal_status = "ok"
            if signer is not None and seal.signer is not None and seal.signer != signer:
                problems.append(_("The outer seal and the bag were signed by different certificates."))
    if seal_is_bad(seal_status):
        state = Text(seal_status.rstrip("."), english(seal_status).rstrip("."))  # the sentence ends it
        # A bundle in volumes: a volume lost, damaged or swapped shows first in the seal, which names it; the
        # decryption's failing chunk says less.
        problems.insert(0 if len(volumes) > 1 else len(problems), _("The outer seal is {state}.", state=state))
    elif len(volumes) > 1 and problems and seal_status == "absent" and signer is None:
        problems.append(_("The bundle was read from {n} volumes ({first} …): one may be missing, damaged or out of "
                          "order.", n=len(volumes), first=volumes[0].name))
    return BundleCheck(bundle_id=walk.bundle_id, sha256=ciphertext.whole.hexdigest(), size=ciphertext.done,
                       seal=seal_status, signer=signer, bag_info=info, recipients=recipients,
                       payload=list(walk.payload), tag_files=dict(walk.tag_files), problems=problems,
                       signed_at=signed_at, tag_digests=dict(walk.tag_digests))
