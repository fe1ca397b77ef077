"""Names of the files inside a vault directory, and the no-follow access that guards them.

DESIGN §2 "Opening never destroys": every path of the layout is opened without following links, a
link or a foreign file type is refused, and what unlock would once have deleted is moved into
``quarantine/`` instead. Moves and removals work on directory file descriptors opened with
``O_NOFOLLOW``, so a link swapped in after the check cannot redirect them outside the vault.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from icspa_desktop.domain.errors import VaultError, _, ngettext
from icspa_desktop.files import DIR_MODE
from icspa_desktop.i18n import N_

QUARANTINE = "quarantine"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class VaultLayout:
    root: Path

    @property
    def header(self) -> Path:
        return self.root / "vault.json"

    @property
    def keyslots(self) -> Path:
        return self.root / "keyslots.json"

    @property
    def database(self) -> Path:
        return self.root / "metadata.db"

    @property
    def lock(self) -> Path:
        return self.root / "vault.lock"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def staging(self) -> Path:
        """Encrypted partial writes (ingest in progress); leftovers are moved to quarantine at every open."""
        return self.root / "staging"

    @property
    def quarantine(self) -> Path:
        """What unlock moved aside instead of deleting; emptied only by an administrator's logged repair."""
        return self.root / QUARANTINE


# ---- checking the layout with lstat -------------------------------------------------------

_FILES = ("vault.json", "keyslots.json", "metadata.db", "metadata.db-wal", "metadata.db-shm", "vault.lock")
_DIRS = ("blobs", "staging", QUARANTINE)


# The kinds below are compared by code (English tokens); a refusal shows them translated (``refusal``).
_KIND_NAMES = (N_("directory"), N_("regular file"), N_("symbolic link"), N_("named pipe"), N_("socket"),
               N_("device file"))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device file"


def entry_kind(entry: os.DirEntry[str]) -> str:
    """The kind of a directory entry, from ``d_type`` where the file system gives it (no extra syscall)."""
    if entry.is_symlink():
        return "symbolic link"
    if entry.is_dir(follow_symlinks=False):
        return "directory"
    if entry.is_file(follow_symlinks=False):
        return "regular file"
    return _kind(entry.stat(follow_symlinks=False).st_mode)


def refusal(path: Path, found: str, expected: str) -> VaultError:
    """The one-line refusal for a layout entry of the wrong type."""
    if found == "symbolic link":
        return VaultError(_("Refused: {path} is a symbolic link; the vault layout may not contain links (nothing was "
                            "opened or changed).", path=path))
    return VaultError(_("Refused: {path} is a {found}, not a {expected} as the vault layout expects (nothing was "
                        "opened or changed).", path=path, found=_(found), expected=_(expected)))


def _expect(path: Path, mode: int, expected: str) -> None:
    found = _kind(mode)
    if found != expected:
        raise refusal(path, found, expected)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _check_children(directory: Path, allowed: tuple[str, ...], grandchildren: tuple[str, ...] = ()) -> None:
    """Entries of ``directory`` must be of an ``allowed`` kind; a directory's entries of a ``grandchildren`` kind."""
    with os.scandir(directory) as entries:
        for entry in entries:
            found = entry_kind(entry)
            if found not in allowed:
                raise refusal(Path(entry.path), found, " or ".join(allowed))
            if grandchildren and found == "directory":
                _check_children(Path(entry.path), grandchildren)


def check_layout(layout: VaultLayout) -> None:
    """Refuse a vault whose layout holds a link or a foreign file type; looks with ``lstat`` only.

    Missing entries are left to the code that needs them (each has its own message); the vault root
    itself must exist. Unknown names in the root are not part of the layout and are left alone.
    """
    root = _lstat(layout.root)
    if root is None:
        raise VaultError(_("No vault at {root}. Create one with 'icspa vault init'.", root=layout.root))
    _expect(layout.root, root.st_mode, "directory")
    for name in _FILES:
        found = _lstat(layout.root / name)
        if found is not None:
            _expect(layout.root / name, found.st_mode, "regular file")
    for name in _DIRS:
        found = _lstat(layout.root / name)
        if found is not None:
            _expect(layout.root / name, found.st_mode, "directory")
    if _lstat(layout.blobs) is not None:
        # blobs/<fan-out>/<blob>: a stray regular file (an editor's backup) is tolerated, not a link or pipe.
        _check_children(layout.blobs, ("directory", "regular file"), ("regular file",))
    if _lstat(layout.staging) is not None:
        _check_children(layout.staging, ("regular file", "directory"))
    if _lstat(layout.quarantine) is not None:
        _check_children(layout.quarantine, ("directory",))


# ---- directory descriptors -------------------------------------------------------------------


class Dir:
    """A directory opened with ``O_NOFOLLOW``; names inside it are resolved relative to its descriptor."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def open_root(cls, root: Path) -> Dir:
        return cls(_open_dir(str(root), None, root), root)

    def sub(self, name: str, *, create: bool = False) -> Dir:
        """Open (or create, owner-only) the subdirectory ``name``; a link or a non-directory is refused."""
        if create:
            try:
                os.mkdir(name, DIR_MODE, dir_fd=self.fd)
            except FileExistsError:
                pass
            else:
                os.fsync(self.fd)
        sub = Dir(_open_dir(name, self.fd, self.path / name), self.path / name)
        if create:
            os.fchmod(sub.fd, DIR_MODE)
        return sub

    def sub_if_exists(self, name: str) -> Dir | None:
        try:
            return self.sub(name)
        except FileNotFoundError:
            return None

    def entries(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.fd) as it:
            return list(it)

    def kind(self, name: str) -> str:
        return _kind(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_dir(name: str, dir_fd: int | None, shown: Path) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refusal(shown, "symbolic link", "directory") from None
        if exc.errno == errno.ENOTDIR:
            found = _kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            raise refusal(shown, found, "directory") from None
        raise


# ---- quarantine ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    """A file or directory moved aside into ``quarantine/`` (paths relative to the vault root)."""

    origin: str  # where it was, e.g. "staging/3f…a1.part" or "blobs/ab/ab…"
    location: str  # where it is now, e.g. "quarantine/20240501T101500Z/staging/3f…a1.part"
    kind: str  # "regular file", "directory", …
    size: int  # bytes (0 for a directory)

    @property
    def reason(self) -> str:
        if self.origin.startswith("blobs/"):
            return "blob named by no database row"
        if self.origin.startswith("staging/"):
            return "unfinished write"
        if self.origin == "keyslots.json":
            return "key-slot file with slots the database never committed"
        return "not part of the vault"


def quarantine_notice(moved: Sequence[QuarantinedFile]) -> str | None:
    """The one-line warning for an unlock that moved files into quarantine (None if it moved none)."""
    if not moved:
        return None
    folders = sorted({"/".join(f.location.split("/")[:2]) + "/" for f in moved})
    # The English keeps its "(s)" in both forms; the translations say singular and plural properly.
    return ngettext("{n} stray file(s) moved to {folders}; 'icspa vault check' lists them.",
                    "{n} stray file(s) moved to {folders}; 'icspa vault check' lists them.", len(moved),
                    folders=", ".join(folders))


class Quarantine:
    """Moves strays into ``quarantine/<UTC time>/<their path>``; the time directory is made on first use."""

    def __init__(self, root: Dir) -> None:
        self._root = root
        self._base: Dir | None = None
        self._stamp: Dir | None = None
        self._stamp_name = ""
        self._dirs: dict[tuple[str, ...], Dir] = {}
        self.moved: list[QuarantinedFile] = []

    def _target(self, parts: tuple[str, ...]) -> Dir:
        if self._stamp is None:
            self._base = self._root.sub(QUARANTINE, create=True)
            self._stamp_name, self._stamp = _new_stamp_dir(self._base)
            self._dirs[()] = self._stamp
        if parts not in self._dirs:
            parent = self._target(parts[:-1])
            self._dirs[parts] = parent.sub(parts[-1], create=True)
        return self._dirs[parts]

    def move(self, source: Dir, name: str, origin: tuple[str, ...]) -> QuarantinedFile:
        """Move ``name`` from ``source`` (the vault path ``origin``) into quarantine; links are not followed."""
        st = os.stat(name, dir_fd=source.fd, follow_symlinks=False)
        target = self._target(origin)
        # rename(2) moves the entry itself, never what a link points to; the target directory is new.
        os.rename(name, name, src_dir_fd=source.fd, dst_dir_fd=target.fd)
        kind = _kind(st.st_mode)
        moved = QuarantinedFile("/".join((*origin, name)), "/".join((QUARANTINE, self._stamp_name, *origin, name)),
                                kind, st.st_size if kind == "regular file" else 0)
        self.moved.append(moved)
        return moved

    def keep_copy(self, source: Dir, name: str, origin: tuple[str, ...]) -> QuarantinedFile:
        """Keep the current content of ``name`` in quarantine (a second link: the caller then replaces the file)."""
        st = os.stat(name, dir_fd=source.fd, follow_symlinks=False)
        target = self._target(origin)
        os.link(name, name, src_dir_fd=source.fd, dst_dir_fd=target.fd, follow_symlinks=False)
        kept = QuarantinedFile("/".join((*origin, name)), "/".join((QUARANTINE, self._stamp_name, *origin, name)),
                               _kind(st.st_mode), st.st_size)
        self.moved.append(kept)
        return kept

    def close(self) -> None:
        """Make the moves durable and close every descriptor."""
        for directory in self._dirs.values():
            directory.fsync()
            directory.close()
        if self._base is not None:
            self._base.fsync()
            self._base.close()
        self._dirs.clear()


def _new_stamp_dir(base: Dir) -> tuple[str, Dir]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        name = stamp if n == 1 else f"{stamp}-{n}"
        try:
            os.mkdir(name, DIR_MODE, dir_fd=base.fd)
        except FileExistsError:
            continue
        base.fsync()
        made = base.sub(name)
        os.fchmod(made.fd, DIR_MODE)
        return name, made
    raise VaultError(_("Cannot make a new folder in {path}: too many named {stamp}.", path=base.path, stamp=stamp))


def _walk(directory: Dir, prefix: tuple[str, ...]) -> Iterator[QuarantinedFile]:
    for entry in sorted(directory.entries(), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        kind = _kind(st.st_mode)
        parts = (*prefix, entry.name)
        if kind == "directory":
            with directory.sub(entry.name) as sub:
                inside = list(_walk(sub, parts))
            if inside:
                yield from inside
                continue
        # A quarantined path is "<stamp>/<where it was>"; listed with both.
        yield QuarantinedFile("/".join(parts[1:]), "/".join((QUARANTINE, *parts)), kind,
                              st.st_size if kind == "regular file" else 0)


def list_quarantine(layout: VaultLayout) -> list[QuarantinedFile]:
    """Everything in ``quarantine/``: files, links and empty directories, never following a link."""
    with Dir.open_root(layout.root) as root:
        base = root.sub_if_exists(QUARANTINE)
        if base is None:
            return []
        with base:
            return list(_walk(base, ()))


def purge_quarantine(layout: VaultLayout, stamps: set[str]) -> None:
    """Permanently remove the named ``quarantine/<stamp>`` entries, never following a link."""
    if not shutil.rmtree.avoids_symlink_attacks:
        raise VaultError(_("This platform cannot remove directories without following links; nothing was removed."))
    with Dir.open_root(layout.root) as root:
        base = root.sub_if_exists(QUARANTINE)
        if base is None:
            return
        with base:
            for name in sorted(stamps):
                if "/" in name or name in ("", ".", ".."):
                    raise ValueError(f"not a quarantine entry: {name!r}")
                with contextlib.suppress(FileNotFoundError):
                    if base.kind(name) == "directory":
                        shutil.rmtree(name, dir_fd=base.fd)
                    else:
                        os.unlink(name, dir_fd=base.fd)
            base.fsync()
