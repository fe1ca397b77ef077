"""Writing one file to removable media: temp name, fsync, no-replace rename, fsync dir, read back cold."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import mmap
import os
import queue
import re
import secrets
import stat
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

from icspa_desktop.bundle import mounts
from icspa_desktop.domain.errors import Conflict, IcspaError, VerificationFailed, _
from icspa_desktop.domain.progress import CancelToken, ProgressCallback
from icspa_desktop.files import create_new, fsync_dir, place_new, remove_published
from icspa_desktop.i18n import N_, format_size

FILE_MODE = 0o600
READ_CHUNK = 4 << 20  # per read of the read-back: with O_DIRECT one request each, so not too small
WRITE_BATCH = 1 << 20  # ciphertext bytes per writev
WRITE_DEPTH = 4  # batches queued for the writer thread: bounds memory to ~5 MiB
_IOV_MAX = 1024  # buffers per writev (Linux's IOV_MAX)
WRITEBACK_STEP = 8 << 20  # start the write-back of every 8 MiB written, instead of all of it at the final fsync
DIRECT_ALIGN = 4096  # O_DIRECT: buffer address, file offset and length multiples of this (>= any logical block)
DIRECT_BUFFER = 8 << 20  # ciphertext gathered per direct write: one request keeps a USB stick busy for a while


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None if it is gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat_line.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


_PARTIAL = re.compile(r"^\..+\.partial-(\d+)-(\d+)-[0-9a-f]{8}(?:\.\d{3})?$")


def temp_name(out: Path) -> Path:
    """``.NAME.partial-<pid>-<start time>-<random>``: the writing process is in the name, so that the partial
    files of an export that was killed (nothing could clean up) are recognised and removed next time."""
    pid = os.getpid()
    return out.with_name(f".{out.name}.partial-{pid}-{_start_time(pid) or 0}-{secrets.token_hex(4)}")


def sweep_partials(folder: Path) -> list[str]:
    """Remove the partial files (ciphertext only) that exports killed on this machine left in ``folder``: those
    whose writing process no longer runs. A live writer's files, and anything else, are left alone."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _PARTIAL.match(name)
        if match is None:
            continue
        pid, started = int(match[1]), int(match[2])
        if pid == os.getpid() or _start_time(pid) == started:
            continue  # still being written (or by us)
        path = folder / name
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                removed.append(name)
    if removed:
        with contextlib.suppress(OSError):
            fsync_dir(folder)
    return removed


def open_exclusive(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)


@dataclass(frozen=True, slots=True)
class Volume:
    tmp: Path  # where it was written (a temporary name on the target)
    size: int
    sha256: str


class VolumeWriter:
    """The ciphertext sink of ``agev1.Encryptor``: a bounded queue to a thread that hashes, writes and syncs.

    The encryptor hands over one new ``bytes`` per 64 KiB chunk; they are queued in ~1 MiB batches, and the
    thread hashes them (hashlib releases the GIL for large updates) and writes each batch with one ``writev``,
    without joining it first, while the producer goes on hashing and encrypting (ChaCha20-Poly1305 releases
    the GIL too): the two threads use two cores. With ``volume_size`` the
    stream is cut into consecutive files of exactly that size (the last one shorter) that concatenate to it.
    Files are opened on demand under ``temp_path(i)`` (i = 1, 2, …); each is fsynced and its page cache
    dropped when full. The first error of the thread is kept and raised to the producer at its next write.

    ``direct`` (the default) writes with O_DIRECT where the file system allows it: the ciphertext is gathered
    into a page-aligned buffer and goes from there to the device, not through the page cache. Copying a
    gigabyte into the page cache cost this machine 0.3-1.6 s of kernel time (new pages for every write), a
    direct write ~0.1 s; the medium is written as the export goes, so the progress is the medium's and the
    final fsync has nothing left to wait for, and no cached copy exists that the read-back could be served
    from. Only the last partial block of each file goes through the page cache (O_DIRECT needs whole blocks);
    a file system that refuses O_DIRECT (some FUSE ones) gets the buffered writes with early write-back.
    """

    def __init__(self, temp_path: Callable[[int], Path], volume_size: int | None = None, *,
                 batch: int = WRITE_BATCH, depth: int = WRITE_DEPTH, direct: bool = True) -> None:
        if volume_size is not None and volume_size <= 0:
            raise ValueError("volume_size must be positive")
        self._temp_path = temp_path
        self._volume_size = volume_size
        self._batch = batch
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=depth)
        self._hash = hashlib.sha256()
        self._fd: int | None = None
        self._volume_hash = hashlib.sha256()
        self._volume_bytes = 0
        self._written_back = 0  # bytes of the current volume whose write-back was started
        self._direct = direct
        self._io: _DirectWrites | None = None  # the thread writing O_DIRECT files, once one was opened
        self._stage: mmap.mmap | None = None  # the aligned buffer being filled while the current file is O_DIRECT
        self._staged = 0
        self.direct_files = 0  # files written with O_DIRECT (the rest went through the page cache)
        self.size = 0
        self.created: list[Path] = []  # every file opened, for cleanup (appended by the thread)
        self.volumes: list[Volume] = []
        self.error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="bundle-writer", daemon=True)
        self._thread.start()

    # ---- producer side (the encrypting thread) ----
    def write(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        # Immutable bytes that the encryptor never touches again: safe to hold until the thread has written them.
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= self._batch:
            self._submit()
        return len(data)

    def _submit(self) -> None:
        if self._pending:
            self._queue.put(self._pending)
            self._pending, self._pending_size = [], 0

    def finish(self) -> list[Volume]:
        """Write what is left, sync and close the last file; raise the thread's error if it had one."""
        self._submit()
        self.close()
        if self.error is not None:
            raise self.error
        return self.volumes

    def close(self) -> None:
        """Stop the thread (idempotent); on an error path the files stay for the caller to remove."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        if self._io is not None:  # before the fd closes: nothing may still write to it (or to its number reused)
            self._io.close()
            self._io = None
        self._stage = None
        if self._fd is not None:  # only after an error in the thread
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    # ---- the thread ----
    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drain, so the producer never blocks on a full queue
            try:
                self._write_batch(batch)
            except BaseException as exc:  # kept for the producer; the thread itself must not die silently
                self.error = exc
        if self.error is None:
            try:
                if not self.volumes and self._fd is None:  # an empty stream still makes one (empty) file
                    self._open_next()
                if self._fd is not None:  # not when the stream ended exactly at a volume's end
                    self._end_volume()
            except BaseException as exc:
                self.error = exc

    def _write_batch(self, batch: list[bytes]) -> None:
        # The pieces are written as they are (no join: that copy would hold the GIL); only a piece that
        # straddles the end of a volume is cut in two.
        pieces = [memoryview(piece) for piece in batch if piece]
        pieces.reverse()  # pop() from the end takes them in order
        while pieces:
            if self._fd is None:
                self._open_next()
            room = None if self._volume_size is None else self._volume_size - self._volume_bytes
            group: list[memoryview] = []
            size = 0
            while pieces and (room is None or size < room):
                piece = pieces.pop()
                if room is not None and size + len(piece) > room:
                    pieces.append(piece[room - size:])
                    piece = piece[:room - size]
                group.append(piece)
                size += len(piece)
            for piece in group:
                self._hash.update(piece)
                if self._volume_size is not None:
                    self._volume_hash.update(piece)
            fd = self._current_fd()
            if self._stage is not None:
                for piece in group:
                    self._gather(piece)
            else:
                _writev_all(fd, group)
            self._volume_bytes += size
            self.size += size
            if self._volume_bytes == self._volume_size:
                self._end_volume()
            elif self._stage is None and self._volume_bytes - self._written_back >= WRITEBACK_STEP:
                # On Linux DONTNEED on dirty pages starts their write-back without waiting for it: the medium
                # works while we encrypt, the final fsync has little left to wait for, and the page cache is
                # not filled with ciphertext that the read-back must not be served from anyway.
                os.posix_fadvise(fd, self._written_back, self._volume_bytes - self._written_back,
                                 os.POSIX_FADV_DONTNEED)
                self._written_back = self._volume_bytes

    def _current_fd(self) -> int:
        assert self._fd is not None
        return self._fd

    def _open_next(self) -> None:
        path = self._temp_path(len(self.volumes) + 1)
        self._fd = open_exclusive(path)
        self.created.append(path)
        self._volume_hash = hashlib.sha256()
        self._volume_bytes = 0
        self._written_back = 0
        if self._direct and _set_direct(self._fd, True):
            if self._io is None:
                self._io = _DirectWrites()
            self._stage, self._staged = self._io.take(), 0
            self.direct_files += 1

    def _gather(self, piece: memoryview) -> None:
        """Copy ``piece`` into the aligned buffer, handing the buffer to the I/O thread whenever it is full."""
        while piece:
            stage, io = self._stage, self._io
            assert stage is not None
            assert io is not None
            take = min(len(piece), DIRECT_BUFFER - self._staged)
            stage[self._staged:self._staged + take] = piece[:take]
            self._staged += take
            piece = piece[take:]
            if self._staged == DIRECT_BUFFER:
                io.submit(self._current_fd(), stage, DIRECT_BUFFER)
                self._stage, self._staged = io.take(), 0

    def _end_volume(self) -> None:
        fd = self._current_fd()
        if self._stage is not None:
            assert self._io is not None
            stage, self._stage = self._stage, None
            self._io.submit(fd, stage, self._staged)
            self._io.wait()  # every write of this file is done (or its error raised here)
        os.fsync(fd)
        # The data is clean after fsync, so DONTNEED really drops it: the read-back will come from the medium.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        self._fd = None
        os.close(fd)
        digest = self._volume_hash.hexdigest() if self._volume_size is not None else self._hash.hexdigest()
        self.volumes.append(Volume(self.created[-1], self._volume_bytes, digest))


class _DirectWrites:
    """A thread writing page-aligned buffers to O_DIRECT files while the gathering thread fills the next one.

    A direct write waits for the device; on its own thread that wait overlaps the hashing and gathering of
    what follows. ``count`` buffers exist (bounded memory); ``take`` waits for a free one. The first error
    of the thread is raised by the next ``take`` or ``wait``; what was queued after it is not written.
    """

    def __init__(self, count: int = 3, size: int = DIRECT_BUFFER) -> None:
        self._buffers = [mmap.mmap(-1, size) for _ in range(count)]  # anonymous mappings are page-aligned
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        for buf in self._buffers:
            self._free.put(buf)
        self._todo: queue.Queue[tuple[int, mmap.mmap, int] | None] = queue.Queue()
        self.error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="bundle-direct-writes", daemon=True)
        self._thread.start()

    def take(self) -> mmap.mmap:
        buf = self._free.get()
        if self.error is not None:
            self._free.put(buf)
            raise self.error
        return buf

    def submit(self, fd: int, buf: mmap.mmap, length: int) -> None:
        """Write ``buf[:length]`` at ``fd``'s position; a length that is not whole blocks ends the file."""
        self._todo.put((fd, buf, length))

    def wait(self) -> None:
        """Until everything submitted is written; raises the thread's error."""
        self._todo.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the thread; what is still queued (only after an error) is not written."""
        self._closing = True
        self._todo.put(None)
        self._thread.join()
        # Not mmap.close(): after a failed write the error's traceback may still hold a view of a buffer (closing
        # would raise BufferError and lose the cleanup); each mapping goes when its last reference does.
        self._buffers = []

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            fd, buf, length = job
            try:
                if self.error is None and not self._closing:
                    _write_direct(fd, buf, length)
            except BaseException as exc:  # raised in the gathering thread at its next take or wait
                self.error = exc
            finally:
                self._free.put(buf)
                self._todo.task_done()
        self._todo.task_done()


def _write_direct(fd: int, buf: mmap.mmap, length: int) -> None:
    """Whole blocks with O_DIRECT; a partial last block (the end of a file) through the page cache."""
    whole = length - length % DIRECT_ALIGN
    with memoryview(buf) as view:
        done = 0
        while done < whole:
            written = os.write(fd, view[done:whole])
            done += written
            if written % DIRECT_ALIGN:  # a short write that is not whole blocks (a size limit): the rest buffered
                _set_direct(fd, False)
                _writev_all(fd, [view[done:whole]])
                done = whole
        if whole < length:
            _set_direct(fd, False)
            _writev_all(fd, [view[whole:length]])


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; False when the file system does not support it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return False
        raise
    return True


def _writev_all(fd: int, buffers: list[memoryview]) -> None:
    """Write every buffer in order, resuming after short writes."""
    first = 0
    while first < len(buffers):
        written = os.writev(fd, buffers[first:first + _IOV_MAX])
        while first < len(buffers) and written >= len(buffers[first]):
            written -= len(buffers[first])
            first += 1
        if written:
            buffers[first] = buffers[first][written:]


def place_without_replacing(tmp: Path, out: Path) -> None:
    """Give ``tmp`` the name ``out``; Conflict if ``out`` exists, never overwrite it."""
    try:
        place_new(tmp, out)
    except FileExistsError:
        raise Conflict(_("{path} already exists; it was left untouched.", path=out)) from None
    try:
        fsync_dir(out.parent)
    except BaseException:
        remove_published(out)
        raise


def write_new_file(path: Path, data: bytes) -> None:
    """A small file, synced, given ``path`` without replacing anything (complete or absent after a crash)."""
    try:
        create_new(path, data)
    except FileExistsError:
        raise Conflict(_("{path} already exists; it was left untouched.", path=path)) from None


class _ReadAhead:
    """Reads a file on a thread into a few rotating buffers while the caller hashes the ones already read.

    Reading from the medium and SHA-256 both release the GIL, so they overlap: the read-back takes about the
    longer of the two instead of their sum (1 GiB on our 2-core CI VM: 0.6-0.75 s, against 0.6-1.4 s when one
    thread reads and hashes in turn).
    """

    def __init__(self, fd: int, chunk: int = READ_CHUNK, depth: int = 3) -> None:
        self._fd = fd
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        self._full: queue.Queue[tuple[mmap.mmap, int] | BaseException] = queue.Queue()
        # Page-aligned (anonymous mappings), so an O_DIRECT fd reads straight into them.
        self._buffers = [mmap.mmap(-1, chunk) for _slot in range(depth)]
        for buf in self._buffers:
            self._free.put(buf)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="bundle-read-back", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                buf = self._free.get()
                if self._stop:
                    return
                n = os.readv(self._fd, [buf])
                self._full.put((buf, n))
                if not n:
                    return
        except BaseException as exc:  # handed to the caller, which raises it
            self._full.put(exc)

    def blocks(self) -> Generator[memoryview, None, None]:
        """The file's bytes in order; each view is valid until the next one is asked for."""
        while True:
            item = self._full.get()
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            if not n:
                return
            with memoryview(buf) as whole, whole[:n] as view:  # released before the buffer is reused or closed
                yield view
            self._free.put(buf)

    def close(self) -> None:
        """Stop and join the thread (idempotent); the fd may be closed only after this."""
        self._stop = True
        self._free.put(self._buffers[0])  # wakes the thread if it waits for a buffer
        self._thread.join()
        self._buffers = []  # unmapped with their last reference (as _DirectWrites.close says why)


def read_back_sha256(path: Path, size: int, progress: ProgressCallback, cancel: CancelToken, *,
                     done_before: int = 0, grand_total: int | None = None) -> str:
    """SHA-256 of the file as the device returns it, with the page cache for it dropped first."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with io.FileIO(fd, "rb", closefd=True):
        # The data was fsynced, so its pages are clean and DONTNEED really drops them: we read the medium.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        # O_DIRECT where the file system allows it: straight from the device into our buffers, never a cached
        # copy, and no page cache to fill (new pages cost this machine more than the reading itself).
        if not _set_direct(fd, True):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)  # a larger read-ahead on slow sticks
        digest = hashlib.sha256()
        done = 0
        reader = _ReadAhead(fd)
        blocks = reader.blocks()
        try:
            for block in blocks:
                cancel.check()
                digest.update(block)
                done += len(block)
                progress(done_before + done, grand_total or size, _("Reading the bundle back from the target"))
        finally:
            blocks.close()  # releases its view of the last buffer
            reader.close()
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if done != size:
        raise VerificationFailed(_("Read back {done} bytes of {name} but wrote {size}; the target is unreliable.",
                                   done=done, name=path.name, size=size))
    return digest.hexdigest()


# ---- what the target can take, checked before anything is written --------------------------------------
FAT_TYPES = mounts.FAT_FILE_SYSTEMS
FAT_MAX_FILE = mounts.FAT_MAX_FILE
DEFAULT_VOLUME_SIZE = (4 << 30) - (1 << 20)


@dataclass(frozen=True, slots=True)
class TargetInfo:
    fs_type: str  # as the kernel names it ("vfat", "exfat", "ext4", …); "" when unknown
    mount_point: str
    free: int  # bytes an unprivileged writer may use
    read_only: bool


def file_system_of(folder: Path, mountinfo: str | None = None) -> tuple[str, str]:
    """(file system type, mount point) of the mount holding ``folder``: the longest mount point prefix wins."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "", ""
    target = Path(os.path.realpath(folder))
    best = ("", "")
    for entry in mounts.parse_all_mounts(mountinfo):
        mount_point = str(entry.mount_point)
        # ">=": a later mount on the same point hides the earlier one.
        if target.is_relative_to(entry.mount_point) and len(mount_point) >= len(best[1]):
            best = (entry.fs_type, mount_point)
    return best


def inspect_target(folder: Path) -> TargetInfo:
    stats = os.statvfs(folder)
    fs_type, mount_point = file_system_of(folder)
    return TargetInfo(fs_type, mount_point, stats.f_bavail * stats.f_frsize, bool(stats.f_flag & os.ST_RDONLY))


def space_needed(bundle_size: int) -> int:
    """Free space to ask for: the estimated bundle plus a margin for clusters, directory entries and seals."""
    return bundle_size + bundle_size // 100 + (1 << 20)


def check_target(folder: Path, bundle_size: int, *, info: TargetInfo | None = None, probe: bool = False) -> TargetInfo:
    """Refuse up front a read-only target or one without room for ``bundle_size`` bytes (estimated); ``probe``:
    also create and remove a file there (a folder we may not write in, an immutable one, is found now)."""
    info = info or inspect_target(folder)
    if info.read_only:
        raise IcspaError(_("The target {folder} is mounted read-only (or write-protected); nothing was written.",
                           folder=folder))
    if probe:
        trial = temp_name(folder / "write-check")  # swept like a partial bundle if this process dies here
        try:
            os.close(open_exclusive(trial))
        except OSError as exc:
            raise media_error(exc, folder / "bundle") from None
        remove_quietly(trial)
    needed = space_needed(bundle_size)
    if info.free < needed:
        raise IcspaError(_("The target {folder} has {free} free; the bundle needs about {needed}. Nothing was "
                           "written.", folder=folder, free=format_size(info.free), needed=format_size(needed)))
    return info


def remove_quietly(path: Path) -> None:
    """Remove a file of ours while an error is being handled: a medium that was pulled fails this too (EIO), and
    that must not replace the error that explains what happened."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def media_error(exc: OSError, target: Path) -> IcspaError:
    """A user-facing message for an OS failure while writing ``target``."""
    where = target.parent
    messages = {
        errno.ENOSPC: N_("The target disk is full ({where}); the bundle was not written and nothing was left there."),
        errno.EDQUOT: N_("The disk quota on {where} is exhausted; the bundle was not written."),
        errno.EROFS: N_("The target {where} is read-only (write-protected or mounted read-only); nothing was written."),
        errno.EFBIG: N_("The bundle is too large for the file system of {where} (FAT32 holds at most 4 GiB − 1 per "
                        "file); use an exFAT/NTFS/ext4 medium. Nothing was written."),
        errno.EIO: N_("The target {where} reported an I/O error (was it removed?); the bundle was not written."),
        errno.EACCES: N_("No permission to write in {where}; nothing was written."),
        errno.EPERM: N_("Writing in {where} is not permitted (a protected or immutable folder); nothing was written."),
        errno.ENOENT: N_("The target folder {where} does not exist (was the medium removed?)."),
        errno.ENODEV: N_("The target {where} is gone (was the medium removed?); the bundle was not written."),
    }
    message = messages.get(exc.errno or 0)
    if message is None:
        return IcspaError(_("Writing the bundle to {where} failed: {cause}.", where=where, cause=exc.strerror or exc))
    return IcspaError(_(message, where=where))
