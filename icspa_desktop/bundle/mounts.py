"""Where a bundle can be written: the mounted file systems, with free space and whether they are removable.

Linux only (``/proc/self/mountinfo``, ``/sys``). The parser is a pure function of the mountinfo text so
tests feed it any table; ``list_targets`` adds what only the running system knows (sysfs, ``statvfs``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# File systems that never hold a user's files: kernel interfaces, RAM, images of installed software.
PSEUDO_FS = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
    "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs",
    "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "iso9660", "udf",
})
# FAT32 keeps files below 4 GiB; exFAT, NTFS and the Linux file systems have no limit that matters here.
FAT_MAX_FILE = (4 << 30) - 1
FAT_FILE_SYSTEMS = frozenset({"vfat", "msdos", "fat", "umsdos"})  # how the kernel names FAT (the 4 GiB limit)
# The file systems of removable media whose drivers refuse some names (files.fat_name_problem says which).
FAT_NAME_RULES = FAT_FILE_SYSTEMS | {"exfat", "ntfs", "ntfs3"}
REMOVABLE_ROOTS = (Path("/media"), Path("/run/media"))

_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of mountinfo: what is mounted where (no system calls made)."""

    mount_point: Path
    device: str  # the source, e.g. /dev/sdb1
    fs_type: str
    major_minor: str  # "8:17"
    read_only: bool


@dataclass(frozen=True, slots=True)
class MountTarget:
    """A mounted file system a bundle could be written to."""

    mount_point: Path
    device: str
    fs_type: str
    free_bytes: int
    total_bytes: int
    removable: bool
    read_only: bool

    @property
    def max_file_size(self) -> int | None:
        """The largest file the file system takes (FAT32: 4 GiB − 1), None when there is no such limit."""
        return FAT_MAX_FILE if self.fs_type in FAT_FILE_SYSTEMS else None


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_all_mounts(text: str) -> list[MountEntry]:
    """Every mount of a ``/proc/self/mountinfo`` text, pseudo file systems included, in mount order."""
    found: list[MountEntry] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue  # not a mountinfo line (or a truncated one)
        dash = fields.index("-", 6)
        if len(fields) < dash + 3:
            continue
        fs_type, source = fields[dash + 1], _unescape(fields[dash + 2])
        super_options = fields[dash + 3].split(",") if len(fields) > dash + 3 else []
        read_only = "ro" in fields[5].split(",") or "ro" in super_options
        found.append(MountEntry(Path(_unescape(fields[4])), source, fs_type, fields[2], read_only))
    return found


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The real (block-device) file systems of a ``/proc/self/mountinfo`` text; pseudo file systems left out.

    When a mount point appears more than once (a mount over another), the last one is the visible one.
    """
    found: dict[Path, MountEntry] = {}
    for entry in parse_all_mounts(text):
        fs_type, source = entry.fs_type, entry.device
        if fs_type in PSEUDO_FS or fs_type.split(".")[0] in PSEUDO_FS or not source.startswith("/dev/"):
            continue
        if source.startswith("/dev/loop"):
            continue  # images (snaps, ISO files) mounted from files, not media
        found.pop(entry.mount_point, None)
        found[entry.mount_point] = entry
    return list(found.values())


def is_removable(entry: MountEntry, sys_root: Path = Path("/sys")) -> bool:
    """Removable media: the kernel says so, the disk hangs off USB, or a desktop mounted it under /media."""
    if any(entry.mount_point.is_relative_to(root) for root in REMOVABLE_ROOTS):
        return True
    try:
        device = (sys_root / "dev" / "block" / entry.major_minor).resolve(strict=True)
    except OSError:
        return False
    disk = device.parent if (device / "partition").exists() else device
    try:
        if (disk / "removable").read_text().strip() == "1":
            return True
    except OSError:
        pass
    # Many USB sticks and disks report removable=0; their sysfs path still runs through the USB bus.
    return "/usb" in str(disk)


def target_for(path: Path, targets: list[MountTarget]) -> MountTarget | None:
    """The mounted file system holding ``path`` (the longest mount point above it)."""
    above = [t for t in targets if path == t.mount_point or path.is_relative_to(t.mount_point)]
    return max(above, key=lambda t: len(t.mount_point.parts), default=None)


def list_targets(mountinfo: str | None = None, *, sys_root: Path = Path("/sys"),
                 statvfs: Callable[[Path], os.statvfs_result] = os.statvfs) -> list[MountTarget]:
    """Mounted real file systems with free and total bytes; those that cannot be queried are left out."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            return []
    targets: list[MountTarget] = []
    for entry in parse_mountinfo(mountinfo):
        if not entry.mount_point.is_dir():
            continue  # a single file bind-mounted (containers' /etc/hosts), or not ours to look at
        try:
            st = statvfs(entry.mount_point)
        except OSError:
            continue  # gone, or not ours to look at
        targets.append(MountTarget(entry.mount_point, entry.device, entry.fs_type, st.f_bavail * st.f_frsize,
                                   st.f_blocks * st.f_frsize, is_removable(entry, sys_root), entry.read_only))
    return targets
