"""Writing bundles to media: checks before writing, FAT32 volumes, the background writer, with real tools."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyrage
import pytest

from icspa_desktop.bundle import media
from icspa_desktop.bundle.format import write_bundle
from icspa_desktop.domain.errors import Cancelled, Conflict, IcspaError
from icspa_desktop.domain.progress import CancelToken
from tests.bundle.test_format import (
    BUNDLE_ID,
    REPO,
    Signer,
    leftovers,
    make_spec,
    payload,
    recipients_of,
    run_child,
    sh,
    tool,
)

MiB = 1 << 20


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path)


@pytest.fixture
def identity() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


def test_volumes_concatenate_to_the_age_file_and_the_seal_covers_each(
        tmp_path: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    for name in ("age", "tar", "openssl", "sha256sum"):
        tool(name)
    usb = tmp_path / "usb"
    usb.mkdir()
    spec = make_spec([payload("item-0001.bin", 3 * MiB, 1), payload("item-0002.txt", 1000, 2)])
    seen: list[tuple[int, int, str]] = []
    written = write_bundle(spec, signer, recipients_of(identity), usb / "b.icspa", volume_size=MiB,
                           progress=lambda done, total, message: seen.append((done, total, message)))
    names = [f"b.icspa.{i:03d}" for i in range(1, 5)]
    assert written.volumes == tuple(usb / name for name in names) and written.path == usb / "b.icspa.001"
    assert leftovers(usb, set()) == sorted([*names, "b.icspa.sha256", "b.icspa.sha256.p7s"])
    sizes = [path.stat().st_size for path in written.volumes]
    assert sizes[:3] == [MiB] * 3 and 0 < sizes[3] <= MiB and sum(sizes) == written.size
    whole = b"".join(path.read_bytes() for path in written.volumes)
    assert hashlib.sha256(whole).hexdigest() == written.sha256
    assert written.seal_path.read_text() == "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n" for path in written.volumes)
    reading = [done for done, total, message in seen if message.startswith("Reading")]
    assert reading[-1] == written.size and all(total == written.size for _, total, m in seen if m.startswith("R"))

    (tmp_path / "identity.txt").write_text(str(identity) + "\n")
    listing = sh("cat usb/b.icspa.0* | age -d -i identity.txt | tar -t", tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"{BUNDLE_ID}/data/item-0001.bin" in listing.stdout.splitlines()
    shutil.copy(signer.pem, usb / "sender.pem")
    seal = sh("openssl cms -verify -binary -inform DER -in b.icspa.sha256.p7s -content b.icspa.sha256 "
              "-CAfile sender.pem -purpose any && sha256sum -c b.icspa.sha256", usb)
    assert seal.returncode == 0, seal.stderr
    assert seal.stdout.count(": OK") == 4
    # A damaged volume fails its line of the seal.
    with written.volumes[2].open("r+b") as handle:
        first = handle.read(1)
        handle.seek(0)  # the byte read, changed (writing after the read changed the next byte, which could be it)
        handle.write(b"\x00" if first != b"\x00" else b"\x01")
    assert "b.icspa.003: FAILED" in sh("sha256sum -c b.icspa.sha256", usb).stdout


def test_a_bundle_in_volumes_is_read_by_its_name_or_its_first_volume_and_named_volume_problems(
        tmp_path: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    """The export reports NAME.icspa.001 as written: verify and import take that name as well as NAME.icspa (an
    audit found NAME.icspa.001 read as a whole bundle, "chunk 255 failed authentication"). A later volume given, a
    missing one, or two swapped are named, not left to the decryption's failing chunk. Glob characters in the
    name are names."""
    from icspa_desktop.bundle import reader
    from icspa_desktop.domain.errors import RefusedInput

    usb = tmp_path / "usb"
    usb.mkdir()
    spec = make_spec([payload("item-0001.bin", 3 * MiB, 1)])
    spec = dataclasses.replace(spec, info=[*spec.info, (reader.RECIPIENT_FIELD, "BE-TEST")])
    written = write_bundle(spec, signer, recipients_of(identity), usb / "case[1].icspa", volume_size=MiB)
    first, second, third = written.volumes[:3]
    secret, trusted = [str(identity)], [signer.cert]
    for given in (usb / "case[1].icspa", first):
        assert reader.bundle_volumes(given) == (usb / "case[1].icspa", list(written.volumes))
        check = reader.check_bundle(given, secret, trusted)
        assert check.ok and check.seal == "ok" and check.sha256 == written.sha256, check.problems
    with pytest.raises(RefusedInput, match=r"case\[1\]\.icspa\.002 is volume 2 of the bundle case\[1\]\.icspa"):
        reader.check_bundle(second, secret, trusted)
    swapped = second.read_bytes()
    second.write_bytes(third.read_bytes())
    third.write_bytes(swapped)
    check = reader.check_bundle(first, secret, trusted)
    assert not check.ok
    assert check.problems[0] == ("The outer seal is bad: the SHA-256 of case[1].icspa.002, case[1].icspa.003 differs "
                                 "from the seal (changed, damaged or swapped since it was sealed).")
    written.seal_path.unlink()
    written.seal_signature_path.unlink()
    check = reader.check_bundle(first, secret, trusted)
    assert not check.ok and check.problems[-1].startswith("The bundle was read from 4 volumes (case[1].icspa.001 …)")
    second.unlink()
    with pytest.raises(RefusedInput, match=r"The volume case\[1\]\.icspa\.002 of the bundle case\[1\]\.icspa is "
                                           r"missing, but case\[1\]\.icspa\.003 is there"):
        reader.check_bundle(first, secret, trusted)


def test_a_bundle_that_fits_one_volume_is_one_file(tmp_path: Path, signer: Signer,
                                                   identity: pyrage.x25519.Identity) -> None:
    written = write_bundle(make_spec(), signer, recipients_of(identity), tmp_path / "b.icspa", volume_size=64 * MiB)
    assert written.volumes == (tmp_path / "b.icspa",) == (written.path,)
    assert written.seal_path.read_text() == f"{written.sha256}  b.icspa\n"


def test_cancel_while_writing_volumes_leaves_nothing(tmp_path: Path, signer: Signer,
                                                     identity: pyrage.x25519.Identity) -> None:
    token = CancelToken()

    def progress(done: int, total: int, message: str) -> None:
        if done > 2 * MiB + 100:  # the first volumes are complete by now
            token.cancel()

    spec = make_spec([payload("item-0001.bin", 4 * MiB, 1, chunk=64 * 1024)])
    with pytest.raises(Cancelled):
        write_bundle(spec, signer, recipients_of(identity), tmp_path / "b.icspa", volume_size=MiB,
                     progress=progress, cancel=token)
    assert os.listdir(tmp_path) == ["sender.pem"]


def test_an_existing_volume_name_is_a_conflict_before_writing(tmp_path: Path, signer: Signer,
                                                             identity: pyrage.x25519.Identity) -> None:
    (tmp_path / "b.icspa.002").write_bytes(b"someone else's")
    with pytest.raises(Conflict, match=r"b\.icspa\.002"):
        write_bundle(make_spec(), signer, recipients_of(identity), tmp_path / "b.icspa", volume_size=MiB)
    assert sorted(os.listdir(tmp_path)) == ["b.icspa.002", "sender.pem"]
    assert (tmp_path / "b.icspa.002").read_bytes() == b"someone else's"


def test_volumes_get_past_a_file_size_cap(tmp_path: Path) -> None:
    """RLIMIT_FSIZE = 1 MiB (FAT32's cap in small): one file fails cleanly (test_format), volumes succeed."""
    result = run_child(tmp_path, 3 * MiB, fsize_limit=MiB, mode=f"volumes={MiB - 4096}")
    assert "error" not in result, result
    assert result["volumes"] == 4
    left = result["left"]
    assert isinstance(left, list)
    assert [name for name in left if name.startswith("big")] == [
        "big.icspa.001", "big.icspa.002", "big.icspa.003", "big.icspa.004", "big.icspa.sha256",
        "big.icspa.sha256.p7s"]


def test_volume_writer_cuts_exactly_and_makes_no_empty_last_volume(tmp_path: Path) -> None:
    writer = media.VolumeWriter(lambda i: tmp_path / f"v{i}", 1000, batch=700)
    data = os.urandom(3000)
    for start in range(0, 3000, 300):
        assert writer.write(data[start:start + 300]) == 300
    volumes = writer.finish()
    assert [v.tmp.name for v in volumes] == ["v1", "v2", "v3"] and [v.size for v in volumes] == [1000] * 3
    assert [v.sha256 for v in volumes] == [hashlib.sha256(data[i:i + 1000]).hexdigest() for i in (0, 1000, 2000)]
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest() and writer.size == 3000
    assert b"".join((tmp_path / f"v{i}").read_bytes() for i in (1, 2, 3)) == data
    empty = media.VolumeWriter(lambda i: tmp_path / f"e{i}")
    assert [(v.tmp.name, v.size) for v in empty.finish()] == [("e1", 0)]


def test_volume_writer_reports_the_threads_error_to_the_producer(tmp_path: Path) -> None:
    (tmp_path / "v2").write_bytes(b"")  # the second volume cannot be created exclusively
    writer = media.VolumeWriter(lambda i: tmp_path / f"v{i}", 100, batch=50)
    with pytest.raises(FileExistsError):
        for _ in range(1000):
            writer.write(bytes(50))
        writer.finish()
    writer.close()
    assert writer.created == [tmp_path / "v1"]


MOUNTINFO = textwrap.dedent("""\
    22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
    40 22 8:17 / /media/ivan/EVIDENCE\\040STICK rw,nosuid shared:9 - vfat /dev/sdb1 rw,fmask=0022
    41 22 8:33 / /media/ivan/EVIDENCE rw,nosuid shared:10 - exfat /dev/sdc1 rw
    42 41 0:50 / /media/ivan/EVIDENCE/inner rw - tmpfs tmpfs rw
    """)


@pytest.mark.parametrize(("folder", "expected"), [
    ("/media/ivan/EVIDENCE STICK/out", ("vfat", "/media/ivan/EVIDENCE STICK")),
    ("/media/ivan/EVIDENCE", ("exfat", "/media/ivan/EVIDENCE")),
    ("/media/ivan/EVIDENCE/inner/x", ("tmpfs", "/media/ivan/EVIDENCE/inner")),
    ("/media/ivan/EVIDENCEX", ("ext4", "/")),  # a prefix of the name is not a parent folder
])
def test_file_system_by_longest_mount_point(folder: str, expected: tuple[str, str]) -> None:
    assert media.file_system_of(Path(folder), MOUNTINFO) == expected


def test_the_real_target_file_system_and_free_space(tmp_path: Path) -> None:
    info = media.inspect_target(tmp_path)
    stats = os.statvfs(tmp_path)
    assert info.fs_type and not info.read_only
    assert abs(info.free - stats.f_bavail * stats.f_frsize) < 64 * MiB


READ_ONLY_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from icspa_desktop.bundle import media
    from icspa_desktop.domain.errors import IcspaError
    info = media.inspect_target(Path(sys.argv[1]))
    try:
        media.check_target(Path(sys.argv[1]), 1000)
    except IcspaError as exc:
        print(info.fs_type, info.read_only, exc)
""")


def test_a_read_only_mount_is_refused_up_front(tmp_path: Path) -> None:
    tool("unshare")
    usb = tmp_path / "usb"
    usb.mkdir()
    mount = f"mount -t tmpfs -o ro,size=1m tmpfs {usb} && exec \"$@\""
    result = subprocess.run(["unshare", "-Urm", "sh", "-c", mount, "sh", sys.executable, "-c", READ_ONLY_CHILD,
                             str(usb)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tmpfs True ") and "read-only" in result.stdout


def test_refusal_message_names_free_and_needed_space(tmp_path: Path) -> None:
    info = media.TargetInfo("vfat", "/media/x", 3 * MiB, read_only=False)
    with pytest.raises(IcspaError, match=r"has 3\.0 MiB free; the bundle needs about 6\.0 MiB"):
        media.check_target(tmp_path, 5 * MiB - 50_000, info=info)
    assert media.check_target(tmp_path, MiB, info=info) is info


@pytest.mark.parametrize("direct", [True, False])
def test_volume_writer_direct_and_buffered_write_the_same_bytes(tmp_path: Path, direct: bool) -> None:
    """O_DIRECT (the default where the file system allows it) gathers whole aligned buffers and writes the
    last partial block of each file through the page cache; volumes cut anywhere, pieces of any size."""
    volume = 3 * media.DIRECT_BUFFER + 12345  # neither the buffer nor a block divides it
    data = os.urandom(2 * volume + 777)
    writer = media.VolumeWriter(lambda i: tmp_path / f"v{i}", volume, direct=direct)
    for start in range(0, len(data), 65552):  # age's chunk with its tag, as the encryptor hands them over
        writer.write(data[start:start + 65552])
    volumes = writer.finish()
    assert writer.direct_files == (3 if direct else 0)
    assert [v.size for v in volumes] == [volume, volume, 777]
    assert b"".join((tmp_path / f"v{i}").read_bytes() for i in (1, 2, 3)) == data
    assert [v.sha256 for v in volumes] == [hashlib.sha256(data[i:i + volume]).hexdigest()
                                           for i in (0, volume, 2 * volume)]

