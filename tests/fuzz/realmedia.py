"""Real removable-media file systems for the tests: an exFAT volume mounted through FUSE (exfat-fuse on a loop
device: the driver's own rules for names, case folding and free space) and a FAT32 image written with mtools
(the rules of the VFAT long-name format as mtools, the reference user-space implementation, applies them).

This machine's kernel has neither vfat nor exfat (``/proc/filesystems``); FUSE (``/dev/fuse``) and loop devices
(root) are what it has. ``./dev.sh test`` installs the Debian packages (exfat-fuse, exfatprogs, dosfstools,
mtools); without root, loop devices or /dev/fuse the tests that need a mount are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TOOLS = ("mkfs.exfat", "mount.exfat-fuse", "losetup", "mkfs.fat", "mcopy", "mdir")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]


def can_mount() -> str | None:
    """Why this machine cannot mount an image (None when it can)."""
    if os.geteuid() != 0:
        return "loop devices need root"
    if not Path("/dev/fuse").exists():
        return "no /dev/fuse"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control)"
    return None


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@contextlib.contextmanager
def exfat_volume(image: Path, mount_point: Path, size: int) -> Iterator[Path]:
    """A fresh exFAT file system of ``size`` bytes mounted at ``mount_point`` (unmounted and detached after)."""
    reason = can_mount()
    if reason:
        pytest.skip(f"a real exFAT volume cannot be mounted here: {reason}")
    with image.open("wb") as handle:
        handle.truncate(size)
    subprocess.run([_tool("mkfs.exfat"), "-L", "EVIDENCE", str(image)], check=True, capture_output=True)
    device = subprocess.run([_tool("losetup"), "-f", "--show", str(image)], check=True, capture_output=True,
                            text=True).stdout.strip()
    mount_point.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([_tool("mount.exfat-fuse"), device, str(mount_point)], check=True, capture_output=True)
        try:
            yield mount_point
        finally:
            for _attempt in range(50):  # a file still being closed keeps the mount busy for a moment
                if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
    finally:
        subprocess.run([_tool("losetup"), "-d", device], capture_output=True)


def fat32_image(image: Path, size: int = 64 << 20) -> Path:
    """A fresh FAT32 image (mkfs.fat -F 32)."""
    with image.open("wb") as handle:
        handle.truncate(size)
    subprocess.run([_tool("mkfs.fat"), "-F", "32", "-n", "EVIDENCE", str(image)], check=True, capture_output=True)
    return image


def mcopy_in(image: Path, files: list[Path]) -> None:
    subprocess.run(["mcopy", "-i", str(image), "-o", *map(str, files), "::/"], check=True, capture_output=True,
                   env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})


def mcopy_out(image: Path, names: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mcopy", "-i", str(image), "-n", *[f"::/{n}" for n in names], str(folder)], check=True,
                   capture_output=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})


def mdir_names(image: Path) -> list[str]:
    """The long names in the image's root folder, as FAT stores them."""
    out = subprocess.run(["mdir", "-i", str(image), "-b", "::/"], check=True, capture_output=True, text=True,
                         env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    return sorted(line.strip().removeprefix("::/") for line in out.splitlines() if line.strip())
