"""The pax tar walk of an untrusted bundle (bundle/reader.py): fed the plaintext age pushes, block by block.

Only the narrow subset our writer produces is followed; every header is checked, and every declared size
bounded by ``Limits``, before one byte of its data is consumed (see reader.py for why not ``tarfile``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from icspa_desktop.bundle.format import BAG_FILES, SAFE_NAME
from icspa_desktop.crypto import cms
from icspa_desktop.domain.errors import Text, _
from icspa_desktop.i18n import N_

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_USTAR = b"ustar\x0000"  # POSIX ustar magic + version; GNU ("ustar  \0") and v7 headers are refused
_REGULAR = (b"0", b"\0")
_DIRECTORY = b"5"
_KIND_NAMES = {b"1": N_("a hard link"), b"2": N_("a symbolic link"), b"3": N_("a character device"),
               b"4": N_("a block device"), b"6": N_("a FIFO"), b"7": N_("a contiguous file"),
               b"L": N_("a GNU long-name header"), b"K": N_("a GNU long-link header"), b"S": N_("a GNU sparse file")}
# pax keywords that cannot change what a member *is* beyond its name and size; anything else is refused
# (linkpath too: a bundle holds no links, and a link target on a regular file means something to some tools).
_PAX_KEYS = {"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds checked against each declared size before the data is read (bundles can be hostile)."""

    max_members: int = 100_000
    max_total_bytes: int = 1 << 40  # plaintext of all members
    # Tag files held in memory (the import's records; every tag file for a reader that keeps them all). A case of
    # 10,000 items carries ~72 MB of custody proofs (two events per item): the first bounds (64 and 256 MiB) refused
    # such bundles, our own exports among them. Tag files the caller does not read are hashed, not held.
    max_tag_file_bytes: int = 256 << 20  # one tag file
    max_tag_total_bytes: int = 512 << 20  # all of them together
    max_path_bytes: int = 1024
    max_pax_header_bytes: int = 64 << 10
    max_signature_bytes: int = cms.MAX_SIGNATURE_BYTES


class Holder(Protocol):
    """What keeps a fed block's memory from being reused (``pipeline.Loan``)."""

    def hold(self) -> None: ...

    def let_go(self) -> None: ...


class _Kept:
    """The holder of a block that nothing reuses (the walk's own copy of what it was fed without a holder)."""

    def hold(self) -> None:
        pass

    def let_go(self) -> None:
        pass


KEPT = _Kept()


class PayloadSink(Protocol):
    """Where a payload file's bytes go as they are read (bundle import: the blob store's staging)."""

    def write(self, data: memoryview, block: Holder) -> None:
        """The next bytes of the file: valid during the call only, unless the sink calls ``block.hold()`` — then
        until its own ``block.let_go()`` (so a thread of its own can seal them later without a copy)."""

    def close(self) -> None:
        """The member's data is complete (its hash is not yet compared with anything)."""


# (name under data/, declared size) -> the sink for that member's bytes.
PayloadSinkFactory = Callable[[str, int], PayloadSink]


def no_end_action() -> None:
    """A member whose data needs nothing done at its end."""


DEFAULT_LIMITS = Limits()  # frozen: one shared default is safe


class TarRefusal(Exception):
    """The tar stream cannot be followed further: framing broken, ambiguous, or a bound exceeded.

    Its message is shown translated; ``message`` keeps it as a ``Text`` whose ``english`` goes into records."""

    @property
    def message(self) -> Text:
        text = self.args[0] if self.args else ""
        return text if isinstance(text, Text) else Text(str(text))


def shown_name(name: str) -> str:
    """An untrusted name made safe to print: control and invisible characters escaped, length capped."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in name[:120])
    return f"'{text}{'…' if len(name) > 120 else ''}'"


def _code_points(*names: str) -> str:
    """The names spelled in ASCII when any is not: NFC and NFD spellings of one name look identical in print."""
    if all(name.isascii() for name in names):
        return ""
    spelled = [f"'{name[:120].encode('ascii', 'backslashreplace').decode('ascii')}{'…' if len(name) > 120 else ''}'"
               for name in names]
    return _("; as code points: {names}", names=_(" and ").join(spelled))


def _folded(name: str) -> str:
    # NFKC is broader than what any file system does: more names collide, none slips through.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def _number(field: bytes, what: str) -> int:
    """A ustar numeric field: octal digits, NUL/space terminated. Base-256 is never written by us."""
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text or any(c not in b"01234567" for c in text):
        raise TarRefusal(_("A tar header has an unreadable {field} field; the archive is damaged or not ours.",
                            field=_(what)))
    return int(text, 8)


def _text(field: bytes) -> str:
    try:
        return field.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise TarRefusal(_("A tar header holds a name that is not UTF-8.")) from None


def _parse_header(block: bytes) -> tuple[str, int, bytes]:
    """(name, size, type flag) of one ustar header block, checksum verified."""
    if block[257:265] != _USTAR:
        raise TarRefusal(_("A tar header is not a POSIX ustar/pax header; the archive is damaged or not ours."))
    checksum = _number(block[148:156], N_("checksum"))
    if checksum != sum(block[:148]) + 8 * 0x20 + sum(block[156:]):
        raise TarRefusal(_("A tar header fails its checksum; the archive is damaged."))
    name, prefix = _text(block[0:100]), _text(block[345:500])
    return (f"{prefix}/{name}" if prefix else name), _number(block[124:136], N_("size")), block[156:157]


def _pax_records(data: bytes) -> dict[str, str]:
    """``LEN KEY=VALUE\\n`` records; duplicates and keywords we never write are refused, not guessed at."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 21)
        length_text = data[pos:space] if space > pos else b""
        if not length_text.isdigit():
            raise TarRefusal(_("A pax header record has no length; the archive is damaged."))
        end = pos + int(length_text)
        if end <= space + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise TarRefusal(_("A pax header record has a wrong length; the archive is damaged."))
        key, equals, value = data[space + 1:end - 1].partition(b"=")
        try:
            key_text, value_text = key.decode("ascii"), value.decode("utf-8")
        except UnicodeDecodeError:
            raise TarRefusal(_("A pax header record is not UTF-8.")) from None
        if not equals or key_text not in _PAX_KEYS:
            raise TarRefusal(_("A pax header uses the keyword {keyword}, which bundles never use (it could change how "
                                "the member is read).", keyword=shown_name(key_text)))
        if key_text in records:
            raise TarRefusal(_("A pax header gives {keyword} twice; tools disagree on which one counts.",
                                keyword=repr(key_text)))
        records[key_text] = value_text
        pos = end
    # At most 20 digits (2^64 has 20): int() of a longer one is wasted work, and past 4,300 digits a ValueError.
    if "size" in records and not (records["size"].isascii() and records["size"].isdigit()
                                  and len(records["size"]) <= 20):
        raise TarRefusal(_("A pax header gives an unreadable size."))
    return records


class TarWalk:
    """Incremental reader of the tar stream pushed by pyrage: checks every member before its data."""

    def __init__(self, limits: Limits, payload_sink: PayloadSinkFactory | None = None,
                 keep_tag: Callable[[str], bool] | None = None) -> None:
        self.limits = limits
        self._payload_sink = payload_sink
        # Which tag files (paths in the bag) are held in ``tag_files``; None: all. BagIt's own files always are
        # (the bag's checks read them); the others are hashed as they pass, into ``tag_digests`` only.
        self._keep_tag = keep_tag
        self.tag_digests: dict[str, str] = {}  # every tag file read (held or not) -> its SHA-256
        self.problems: list[str] = []
        self.bundle_id: str | None = None
        self.payload: list[tuple[str, int, str]] = []
        self.tag_files: dict[str, bytes] = {}
        self.signature: bytes | None = None
        self.ended = False  # the end-of-archive marker was read
        self.offset = 0  # plaintext bytes received
        self._files: dict[str, str] = {}  # folded path -> path, regular files
        self._dirs: dict[str, str] = {}  # folded path -> path, explicit and implied folders
        self._seen: dict[str, str] = {}  # folded name -> first name seen, every member
        self._members = 0
        self._total = 0
        self._tag_total = 0
        self._pax: dict[str, str] | None = None
        self._trailer = False
        # What the next bytes are: skipped padding, then member data, then a block collected for a callback.
        self._skip = 0
        self._body_left = 0
        self._body_sink: Callable[[memoryview], object] | None = None
        self._body_done: Callable[[], None] = no_end_action
        self._buf = bytearray()
        self._block: Holder = KEPT  # what holds the block being fed
        self._need = BLOCK
        self._on_collected: Callable[[bytes], None] = self._header

    def feed(self, data: bytes | memoryview, block: Holder | None = None) -> None:
        """The next plaintext. ``block``: what a payload sink may hold to keep ``data`` past this call; None: the
        caller reuses the memory, so a sink gets a copy (only what a payload sink receives is copied)."""
        if block is None and self._payload_sink is not None and not isinstance(data, bytes):
            data = bytes(data)
        self._block = block or KEPT
        view = memoryview(data)
        pos, end = 0, len(view)
        self.offset += end
        while pos < end:
            if self._trailer:
                if view[pos:].tobytes().strip(b"\0"):
                    raise TarRefusal(_("The archive has data after its end-of-archive marker (a hidden member?)."))
                return
            if self._skip:
                take = min(self._skip, end - pos)
                self._skip -= take
                pos += take
            elif self._body_left:
                take = min(self._body_left, end - pos)
                if self._body_sink is not None:
                    self._body_sink(view[pos:pos + take])
                self._body_left -= take
                pos += take
                if not self._body_left:
                    self._body_done()
            else:
                take = min(self._need - len(self._buf), end - pos)
                self._buf += view[pos:pos + take]
                pos += take
                if len(self._buf) == self._need:
                    collected = bytes(self._buf)
                    self._buf.clear()
                    self._on_collected(collected)

    def finish(self) -> None:
        """After age authenticated the whole stream: was the archive complete?"""
        if not self.ended:
            raise TarRefusal(_("The archive ends without its end-of-archive marker: it was cut short before it "
                               "was encrypted."))

    def _collect(self, size: int, then: Callable[[bytes], None]) -> None:
        self._need, self._on_collected = size, then
        if size == 0:
            then(b"")

    def _count(self, size: int) -> None:
        self._total += size
        if self._total > self.limits.max_total_bytes:
            raise TarRefusal(_("The bundle holds more than {limit:,} bytes, the limit; not read further.",
                               limit=self.limits.max_total_bytes))

    def _header(self, block: bytes) -> None:
        if block == _ZERO_BLOCK:
            if self._pax is not None:
                raise TarRefusal(_("A pax header is followed by the end of the archive."))
            self._collect(BLOCK, self._second_zero)
            return
        name, size, kind = _parse_header(block)
        if kind == b"x":
            if self._pax is not None:
                raise TarRefusal(_("Two pax headers follow each other; the archive is damaged or not ours."))
            if size > self.limits.max_pax_header_bytes:
                raise TarRefusal(_("A pax header of {size:,} bytes exceeds the limit of {limit:,}.", size=size,
                                   limit=self.limits.max_pax_header_bytes))
            self._count(size)
            self._collect(size, lambda data: self._pax_done(data, size))
            return
        if kind == b"g":
            raise TarRefusal(_("The archive has a global pax header (it would change how every later member is "
                               "read)."))
        pax, self._pax = self._pax or {}, None
        name = pax.get("path", name)
        size = int(pax["size"]) if "size" in pax else size
        self._members += 1
        if self._members > self.limits.max_members:
            raise TarRefusal(_("The bundle has more than {limit:,} members, the limit; not read further.",
                               limit=self.limits.max_members))
        self._count(size)
        self._member(name, size, kind)

    def _pax_done(self, data: bytes, size: int) -> None:
        self._pax = _pax_records(data)
        self._skip = -size % BLOCK
        self._collect(BLOCK, self._header)

    def _second_zero(self, block: bytes) -> None:
        if block != _ZERO_BLOCK:
            raise TarRefusal(_("The archive has an empty block in the middle (members after it would be hidden)."))
        self.ended = self._trailer = True

    def _body(self, size: int, sink: Callable[[memoryview], object] | None, done: Callable[[], None]) -> None:
        def finished() -> None:
            done()
            self._skip = -size % BLOCK
            self._collect(BLOCK, self._header)

        self._body_left, self._body_sink, self._body_done = size, sink, finished
        if size == 0:
            finished()

    def _member(self, name: str, size: int, kind: bytes) -> None:
        regular, directory = kind in _REGULAR, kind == _DIRECTORY
        if not (regular or directory) and size:
            kind_name = _(_KIND_NAMES[kind]) if kind in _KIND_NAMES else _("of an unknown type")
            raise TarRefusal(_("The member {name} is {kind} with {size:,} bytes of data; tools disagree on how to "
                               "read past it.", name=shown_name(name), kind=kind_name, size=size))
        if directory and size:
            raise TarRefusal(_("The folder {name} claims {size:,} bytes of data; the archive is damaged.",
                               name=shown_name(name), size=size))
        problem = self._name_problem(name, regular, directory, kind)
        if self.bundle_id is None:
            if problem is None and directory and "/" not in name.rstrip("/"):
                self.bundle_id = name.rstrip("/")
            else:
                if problem:
                    self.problems.append(problem)
                raise TarRefusal(_("The archive does not start with the bag folder; not read further."))
        if problem is not None:
            self.problems.append(problem)
            self._body(size, None, no_end_action)
            return
        self._accept(name.rstrip("/"), size, directory)

    def _name_problem(self, name: str, regular: bool, directory: bool, kind: bytes) -> str | None:
        shown = shown_name(name)
        if len(name.encode()) > self.limits.max_path_bytes:
            return _("The member {name} has a name longer than {limit} bytes.", name=shown,
                     limit=self.limits.max_path_bytes)
        if not name:
            return _("A member has an empty name.")
        if name.startswith("/"):
            return _("The member {name} has an absolute path.", name=shown)
        parts = name.rstrip("/").split("/") if directory else name.split("/")
        if ".." in parts:
            return _("The member {name} climbs out of its folder with '..'.", name=shown)
        if not (regular or directory):
            what = _(_KIND_NAMES[kind]) if kind in _KIND_NAMES else _("of an unknown type ({kind})", kind=repr(kind))
            return _("The member {name} is {kind}; links, devices and FIFOs are refused.", name=shown, kind=what)
        if "" in parts or "." in parts:
            return _("The member {name} has an empty or '.' path component.", name=shown)
        path = "/".join(parts)
        key = _folded(path)
        earlier = self._seen.get(key)
        if earlier == path:
            return _("The member {name} occurs twice.", name=shown)
        if earlier is not None:
            return _("The member {name} collides with {other} after case folding or Unicode normalisation (one "
                     "would overwrite the other on FAT/exFAT, macOS or Windows){code_points}.", name=shown,
                     other=shown_name(earlier), code_points=_code_points(path, earlier))
        self._seen[key] = path
        if any(not SAFE_NAME.match(part) or part.startswith(".") for part in parts):
            return _("The member {name} has characters other than [A-Za-z0-9._-] or starts with '.'.", name=shown)
        if self.bundle_id is not None and parts[0] != self.bundle_id and path != f"{self.bundle_id}.p7s":
            return _("The member {name} lies outside the bag folder {bundle_id}/.", name=shown,
                     bundle_id=self.bundle_id)
        if path == f"{self.bundle_id}.p7s" and directory:
            return _("The member {name} should be the signature file but is a folder.", name=shown)
        if len(parts) == 2 and regular and parts[1].casefold() in ("fetch.txt", "data"):
            return _("The member {name} is not allowed in a bundle (BagIt reserves that name).", name=shown)
        return None

    def _accept(self, path: str, size: int, directory: bool) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            self._dirs.setdefault(_folded(parent), parent)
        if directory:
            self._dirs.setdefault(_folded(path), path)
            self._body(0, None, no_end_action)
            return
        self._files[_folded(path)] = path
        if path == f"{self.bundle_id}.p7s":
            if size > self.limits.max_signature_bytes:
                self.problems.append(_("The signature file {name} has {size:,} bytes, more than a CMS signature can "
                                       "need; it was not read.", name=shown_name(path), size=size))
                self._body(size, None, no_end_action)
                return
            signature = bytearray()
            self._body(size, signature.extend, lambda: setattr(self, "signature", bytes(signature)))
        elif len(parts) > 2 and parts[1] == "data":
            self._payload("/".join(parts[2:]), size)
        else:
            self._tag("/".join(parts[1:]), size)

    def _payload(self, name: str, size: int) -> None:
        digest = hashlib.sha256()
        if self._payload_sink is None:
            self._body(size, digest.update, lambda: self.payload.append((name, size, digest.hexdigest())))
            return
        sink = self._payload_sink(name, size)

        def write(data: memoryview) -> None:
            digest.update(data)
            sink.write(data, self._block)

        def done() -> None:
            sink.close()
            self.payload.append((name, size, digest.hexdigest()))

        self._body(size, write, done)

    def _tag(self, name: str, size: int) -> None:
        if self._keep_tag is not None and name not in BAG_FILES and not self._keep_tag(name):
            digest = hashlib.sha256()
            self._body(size, digest.update, lambda: self.tag_digests.__setitem__(name, digest.hexdigest()))
            return
        if size > self.limits.max_tag_file_bytes:
            self.problems.append(_("The tag file {name} has {size:,} bytes, more than the limit of {limit:,}; it was "
                                   "not read.", name=shown_name(name), size=size, limit=self.limits.max_tag_file_bytes))
            self._body(size, None, no_end_action)
            return
        if self._tag_total + size > self.limits.max_tag_total_bytes:
            self.problems.append(_("The tag file {name} would bring the tag files beyond {limit:,} bytes, the limit; "
                                   "it was not read.", name=shown_name(name), limit=self.limits.max_tag_total_bytes))
            self._body(size, None, no_end_action)
            return
        self._tag_total += size
        data = bytearray()

        def held() -> None:
            self.tag_files[name] = bytes(data)
            self.tag_digests[name] = hashlib.sha256(data).hexdigest()

        self._body(size, data.extend, held)

    def folder_file_clashes(self) -> list[str]:
        return sorted(self._files[key] for key in self._files.keys() & self._dirs.keys())
