"""Writing one file to removable media: temp name, fsync, no-replace rename, fsync dir, read back cold."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import secrets
from pathlib import Path

from icspa_desktop.domain.errors import Conflict, IcspaError, VerificationFailed
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.vault.atomic import fsync_dir

FILE_MODE = 0o600
READ_CHUNK = 1 << 20
# Hard links are how we rename without replacing; FAT/exFAT and some network file systems refuse them.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


def temp_name(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial-{secrets.token_hex(8)}")


def open_exclusive(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)


class HashingFdWriter:
    """The ``writer`` handed to pyrage: hashes and writes the ciphertext; keeps the first error it raised."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._hash = hashlib.sha256()
        self.size = 0
        self.error: BaseException | None = None

    def write(self, data: bytes) -> int:
        try:
            view = memoryview(data)
            self._hash.update(view)
            while view:
                view = view[os.write(self._fd, view):]
            self.size += len(data)
            return len(data)
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        """pyrage flushes at the end; everything already went to the kernel."""

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def place_without_replacing(tmp: Path, out: Path) -> None:
    """Give ``tmp`` the name ``out``; Conflict if ``out`` exists, never overwrite it."""
    try:
        os.link(tmp, out, follow_symlinks=False)
    except FileExistsError:
        raise Conflict(f"{out} already exists; it was left untouched.") from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        # No links on this file system: a check-then-rename window remains; nobody else writes our media.
        if os.path.lexists(out):
            raise Conflict(f"{out} already exists; it was left untouched.") from None
        os.rename(tmp, out)
    else:
        os.unlink(tmp)
    fsync_dir(out.parent)


def read_back_sha256(path: Path, size: int, progress: ProgressCallback, cancel: CancelToken) -> str:
    """SHA-256 of the file as the device returns it, with the page cache for it dropped first."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with io.FileIO(fd, "rb", closefd=True) as handle:
        # The data was fsynced, so its pages are clean and DONTNEED really drops them: we read the medium.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        digest = hashlib.sha256()
        buf = bytearray(READ_CHUNK)
        view = memoryview(buf)
        done = 0
        while n := handle.readinto(buf):
            cancel.check()
            digest.update(view[:n])
            done += n
            progress(done, size, "Reading the bundle back from the target")
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if done != size:
        raise VerificationFailed(f"Read back {done} bytes of {path.name} but wrote {size}; the target is unreliable.")
    return digest.hexdigest()


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def media_error(exc: OSError, target: Path) -> IcspaError:
    """A user-facing message for an OS failure while writing ``target``."""
    where = target.parent
    messages = {
        errno.ENOSPC: f"The target disk is full ({where}); the bundle was not written and nothing was left there.",
        errno.EDQUOT: f"The disk quota on {where} is exhausted; the bundle was not written.",
        errno.EROFS: f"The target {where} is read-only (write-protected or mounted read-only); nothing was written.",
        errno.EFBIG: (f"The bundle is too large for the file system of {where} (FAT32 holds at most 4 GiB − 1 "
                      "per file); use an exFAT/NTFS/ext4 medium. Nothing was written."),
        errno.EIO: f"The target {where} reported an I/O error (was it removed?); the bundle was not written.",
        errno.EACCES: f"No permission to write in {where}; nothing was written.",
        errno.ENOENT: f"The target folder {where} does not exist (was the medium removed?).",
        errno.ENODEV: f"The target {where} is gone (was the medium removed?); the bundle was not written.",
    }
    message = messages.get(exc.errno or 0, f"Writing the bundle to {where} failed: {exc.strerror or exc}.")
    return IcspaError(message)
