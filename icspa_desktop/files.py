"""Files, away from the vault's internals: what both front ends and the core read and write on disk.

Reading a file the user named, safely: regular files only, and never more than a bound. A card, certificate or
key file is small; a FIFO or a device put in its place (``/dev/zero``, a named pipe) would block or never end,
and a 512 MiB "card" would be read into memory whole before being refused (issue 13).

Writing crash-safe: restrictive mode first, temp file, fsync, rename, fsync directory. Two ways to publish a
file: ``atomic_write`` replaces a state file (key slots, a witness, a checkpoint) so a crash leaves the old or
the new content; ``create_new`` writes an output the user asked for (a receipt, a report) that must not replace
anything, so a crash leaves it complete or absent — and a failure reported to the user leaves it absent. A
temporary name a killed process left behind is removed by the next writer of the same file (``sweep_temps``),
and the vault's own by the next unlock.

Where the vault is by default (``default_vault_path``) — what the CLI and the desktop both start from.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import stat
from pathlib import Path

import platformdirs

from icspa_desktop.domain.errors import RefusedInput, UsageError, _
from icspa_desktop.i18n import N_

MAX_INPUT_BYTES = 4 << 20  # cards, certificates and key files are a few KiB
# What callers name the files they read (``what``), shown translated inside the messages below.
FILE_KINDS = (N_("file"), N_("card"), N_("certificate file"), N_("key file"), N_("receipt"), N_("witness"),
              N_("witness file"), N_("vault header"), N_("key-slot file"))


def read_bounded(path: str | Path, what: str = "file", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path``; UsageError if it cannot be opened, RefusedInput if it is not a
    regular file or larger than ``limit`` (checked before reading, and again while reading)."""
    try:
        return read_regular(path, what, limit)
    except OSError as exc:
        raise UsageError(_("Cannot read the {what} {path}: {reason}.", what=_(what), path=path,
                           reason=exc.strerror)) from None


def read_regular(path: str | Path, what: str, limit: int) -> bytes:
    """Like ``read_bounded``, for callers that handle ``OSError`` themselves (FileNotFoundError: there is none)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # NONBLOCK: a FIFO must not hang us
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedInput(_("The {what} {path} is not a regular file (a device, pipe or folder); refused.",
                                 what=_(what), path=path))
        if info.st_size > limit:
            raise RefusedInput(_("The {what} {path} has {size:,} bytes; a {what} is at most {limit:,}.", what=_(what),
                                 path=path, size=info.st_size, limit=limit))
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise RefusedInput(_("The {what} {path} grew beyond {limit:,} bytes while it was read; refused.",
                                     what=_(what), path=path, limit=limit))
        return b"".join(chunks)
    finally:
        os.close(fd)


# ---- writing ------------------------------------------------------------------------------------------
FILE_MODE = 0o600
DIR_MODE = 0o700
# Hard links are how we rename without replacing; FAT/exFAT and some network file systems refuse them.
NO_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV})
# O_TMPFILE refused: a file system without it (FAT, exFAT, NFS) or an old kernel (EISDIR).
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL})
_TEMP = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<pid>\d+)$")


def temp_path(path: Path) -> Path:
    """``.NAME.tmp-PID``: the writer's process id in the name, so that a later writer can tell a dead one's."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_temps(directory: Path, target: str | None = None) -> list[str]:
    """Remove the temporary files of ``atomic_write``/``create_new`` in ``directory`` (for the file ``target``,
    or all) whose writing process no longer runs: a process killed between creating and renaming one. Best
    effort; the names removed."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or (target is not None and match["target"] != target):
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _running(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path) -> tuple[Path, int]:
    sweep_temps(path.parent, path.name)  # what a killed writer of the same file left
    tmp = temp_path(path)
    return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)


def _write_synced(fd: int, data: bytes) -> None:
    write_all(fd, memoryview(data))
    os.fsync(fd)


def _fill(fd: int, data: bytes) -> None:
    """Write and sync ``data`` to the new file ``fd``, then close it."""
    try:
        _write_synced(fd, data)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content, never a mix; on any
    error before the rename, nothing of the attempt is left (no temporary file)."""
    tmp, fd = _write_temp(path)
    try:
        _fill(fd, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def create_new(path: Path, data: bytes) -> None:
    """Write the new file ``path`` (FileExistsError if it exists; nothing is replaced) complete or not at all:
    the data have no name until they are written and synced (O_TMPFILE, linked into place), or a temporary
    name where the file system lacks that. If making the name durable fails, the file is removed again before
    the error is raised, so a failure never leaves the output behind."""
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno not in _NO_TMPFILE:
            raise
        fd = -1
    if fd >= 0:
        _fill_and_link(fd, data, path)
    else:
        tmp, fd = _write_temp(path)
        try:
            _fill(fd, data)
            place_new(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    try:
        fsync_dir(path.parent)
    except BaseException:
        remove_published(path)
        raise


def _fill_and_link(fd: int, data: bytes, path: Path) -> None:
    """Write and sync the anonymous file ``fd`` (O_TMPFILE), name it ``path`` while it is still open, close it.

    linkat(AT_SYMLINK_FOLLOW) through /proc names the anonymous file; it fails if ``path`` exists. (A directory
    fd makes CPython call linkat with that flag; without one it calls link(), which does not follow the /proc
    link.)"""
    try:
        _write_synced(fd, data)
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=parent, follow_symlinks=True)
        except OSError as exc:  # named by the user's path, not the /proc link
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        finally:
            os.close(parent)
    finally:
        os.close(fd)


def remove_published(path: Path) -> None:
    """Take back a file this process just published (its step failed after all): unlink it, sync the directory;
    best effort, the step's own error is what the user sees."""
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)


def place_new(name: str | Path, target: str | Path, dir_fd: int | None = None) -> None:
    """Give the file ``name`` the name ``target`` (relative to ``dir_fd`` if given) without replacing anything:
    FileExistsError if ``target`` exists. Where the file system has no hard links (FAT, exFAT) a check right
    before the rename stands in. The caller makes the directory durable."""
    try:
        os.link(name, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            raise
        try:
            os.stat(target, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(name, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
    try:
        os.unlink(name, dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):  # not placed after all
            os.unlink(target, dir_fd=dir_fd)
        raise


def make_private_dir(path: Path) -> None:
    """Create a directory readable by its owner only (parents as needed, with the same mode)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte of ``data``, resuming after short writes."""
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_full(fd: int, view: memoryview) -> int:
    """Read until ``view`` is full or the file ends; the number of bytes read."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            break
        got += n
    return got


def syncfs(fd: int) -> bool:
    """Linux syncfs(2): write back every dirty page of the file system holding ``fd`` (one call for thousands
    of files); False where the call is unavailable. A failure raises the errno's own OSError, naming the
    file system by the path of ``fd``."""
    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    if call(fd) != 0:
        code = ctypes.get_errno()
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = None
        raise OSError(code, os.strerror(code), where)
    return True


# ---- the vault's default place -----------------------------------------------------------------------
VAULT_ENV = "ICSPA_VAULT"


def default_vault_path() -> Path:
    """``ICSPA_VAULT`` if set, else the platform data dir (``~/.local/share/icspa/vault`` on Linux)."""
    env = os.environ.get(VAULT_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("icspa", appauthor=False)) / "vault"


# ---- names a file system refuses ------------------------------------------------------------------------
# Removable media are FAT32/exFAT (NTFS at times): their drivers refuse these characters in a name, and Windows
# its device names; a POSIX file system takes any name but "/" and NUL (bundle/mounts.FAT_NAME_RULES: which).
_FAT_FORBIDDEN = frozenset('\\/:*?"<>|')
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                              *(f"LPT{n}" for n in range(1, 10))})


def fat_name_problem(name: str) -> str | None:
    """Why FAT32/exFAT/NTFS media (or Windows reading them) cannot hold ``name`` as it is, or None."""
    bad = sorted({ch for ch in name if ch in _FAT_FORBIDDEN or ord(ch) < 32})
    if bad:
        shown = " ".join(repr(ch)[1:-1] for ch in bad)
        return _("it contains characters FAT and exFAT do not allow ({characters})", characters=shown)
    if name.endswith((".", " ")):
        return _("it ends with a dot or a space, which FAT and exFAT drop")
    if name.split(".")[0].upper() in _WINDOWS_DEVICES:
        return _("{name} is a reserved device name on Windows", name=repr(name.split(".")[0]))
    if len(name) > 255:
        return _("it is longer than the 255 characters FAT and exFAT allow")
    return None
