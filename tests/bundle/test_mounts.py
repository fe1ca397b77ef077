"""Bundle targets: mountinfo parsing, removable detection through a fake sysfs, and one real call."""

from __future__ import annotations

import os
from pathlib import Path

from icspa_desktop.bundle import mounts
from icspa_desktop.bundle.mounts import MountTarget, list_targets, parse_mountinfo, target_for

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683652k
27 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
60 27 7:3 / /snap/core/17200 ro,nodev,relatime shared:30 - squashfs /dev/loop3 ro
61 27 7:4 / /mnt/image rw,relatime - ext4 /dev/loop4 rw
70 27 8:17 / /media/alice/EVIDENCE\\040USB rw,nosuid,nodev,relatime shared:40 - vfat /dev/sdb1 rw,fmask=0022
71 27 179:1 / /run/media/alice/CARD rw,nosuid shared:41 shared:42 - exfat /dev/mmcblk0p1 rw
72 27 8:33 / /srv/archive ro,relatime - xfs /dev/sdc1 rw
73 27 0:50 / /net/share rw,relatime - nfs4 server:/export rw,vers=4.2
74 27 8:2 /var/lib/docker/x /srv/bind rw,relatime - ext4 /dev/sda2 rw
80 27 8:49 / /srv/data rw,relatime - ext4 /dev/sdd1 rw
81 27 8:50 / /srv/data rw,relatime - ext4 /dev/sdd2 ro
garbage line
"""


def test_parser_keeps_real_file_systems_and_unescapes_mount_points() -> None:
    entries = {str(e.mount_point): e for e in parse_mountinfo(MOUNTINFO)}
    assert sorted(entries) == ["/", "/media/alice/EVIDENCE USB", "/run/media/alice/CARD", "/srv/archive",
                               "/srv/bind", "/srv/data"]
    usb = entries["/media/alice/EVIDENCE USB"]
    assert (usb.device, usb.fs_type, usb.major_minor, usb.read_only) == ("/dev/sdb1", "vfat", "8:17", False)
    assert entries["/srv/archive"].read_only  # read-only per mount, read-write super block
    # Mounted over: the later (visible) mount wins.
    assert entries["/srv/data"].device == "/dev/sdd2" and entries["/srv/data"].read_only
    assert entries["/run/media/alice/CARD"].fs_type == "exfat"  # several optional fields before "-"


def _disk(sys_root: Path, major_minor: str, device_path: str, removable: str, partition: bool) -> None:
    device = sys_root / "devices" / device_path
    device.mkdir(parents=True)
    disk = device.parent if partition else device
    (disk / "removable").write_text(removable + "\n")
    if partition:
        (device / "partition").write_text("1\n")
    link = sys_root / "dev" / "block" / major_minor
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(device, link.parent))


def _fake_statvfs(path: Path) -> os.statvfs_result:
    if str(path) == "/srv/archive":
        raise PermissionError(13, "denied")
    # f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_flag, f_namemax
    return os.statvfs_result((4096, 4096, 1000, 600, 500, 0, 0, 0, 0, 255))


def test_removable_from_sysfs_usb_path_or_media_folder(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    _disk(sys_root, "8:2", "pci0000:00/0000:00:17.0/ata1/host0/block/sda/sda2", "0", partition=True)
    # A USB disk that says removable=0: judged by its bus.
    _disk(sys_root, "8:49", "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/block/sdd/sdd1", "0", partition=True)
    _disk(sys_root, "8:50", "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/block/sdd/sdd2", "0", partition=True)
    _disk(sys_root, "8:33", "platform/sata/block/sdc", "1", partition=False)  # whole disk, removable flag
    entries = {str(e.mount_point): e for e in parse_mountinfo(MOUNTINFO)}
    assert not mounts.is_removable(entries["/"], sys_root)
    assert mounts.is_removable(entries["/srv/data"], sys_root)
    assert mounts.is_removable(entries["/srv/archive"], sys_root)
    # No sysfs entry at all, but mounted by the desktop under /media or /run/media.
    assert mounts.is_removable(entries["/media/alice/EVIDENCE USB"], sys_root)
    assert mounts.is_removable(entries["/run/media/alice/CARD"], sys_root)
    assert not mounts.is_removable(entries["/srv/bind"], tmp_path / "nothing")


def test_list_targets_adds_space_and_leaves_out_what_cannot_be_queried(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    _disk(sys_root, "8:2", "pci0000:00/ata1/block/sda/sda2", "0", partition=True)
    folder = tmp_path / "USB STICK"
    folder.mkdir()
    text = (f"27 1 8:2 / / rw - ext4 /dev/sda2 rw\n"
            f"70 27 8:17 / {str(folder).replace(' ', chr(92) + '040')} rw - vfat /dev/sdb1 rw\n"
            "72 27 8:33 / /srv/archive ro - xfs /dev/sdc1 rw\n"
            "90 27 8:65 / /nonexistent-mount-point rw - ext4 /dev/sde1 rw\n")
    found = list_targets(text, sys_root=sys_root, statvfs=_fake_statvfs)
    assert [t.mount_point for t in found] == [Path("/"), folder]  # /srv/archive: statvfs refused; last: no dir
    root, usb = found
    assert (root.free_bytes, root.total_bytes, root.removable) == (500 * 4096, 1000 * 4096, False)
    assert usb.fs_type == "vfat" and usb.max_file_size == (4 << 30) - 1 and root.max_file_size is None
    assert target_for(folder / "sub" / "x.icspa", found) == usb
    assert target_for(Path("/etc"), found) == root
    assert target_for(Path("/etc"), [usb]) is None


def test_real_call_lists_the_file_system_of_this_folder(tmp_path: Path) -> None:
    targets = list_targets()
    assert all(isinstance(t, MountTarget) and t.total_bytes >= t.free_bytes >= 0 for t in targets)
    assert not any(t.fs_type in mounts.PSEUDO_FS for t in targets)
    here = target_for(tmp_path.resolve(), targets)
    if here is not None:  # tmp on a tmpfs is left out, as it should be
        st = os.statvfs(here.mount_point)
        assert here.total_bytes == st.f_blocks * st.f_frsize
    assert Path("/proc") not in {t.mount_point for t in targets}
    real = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    if any(e.mount_point == Path("/") for e in real):  # a root on a block device (not an overlay)
        assert target_for(Path("/"), targets) is not None
