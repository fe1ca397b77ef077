"""The untrusted bundle reader: real bundles, real age identities and CMS keys; hostile tars built here."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyrage
import pytest

from icspa_desktop.bundle import reader
from icspa_desktop.bundle.format import (
    BUNDLE_FORMAT_VERSION,
    MANIFEST,
    TAGMANIFEST,
    BagSpec,
    PayloadFile,
    tag_file_bytes,
    write_bundle,
)
from icspa_desktop.bundle.reader import BundleCheck, Limits, check_bundle
from icspa_desktop.crypto import cms, x509
from icspa_desktop.domain.errors import Cancelled, IcspaError, RefusedInput
from icspa_desktop.domain.progress import CancelToken

BID = "ICSPA-B-20250102-r3ad"
RECIPIENTS = ["partner-fingerprint-be", "sender-fingerprint-nl"]


def chunks_of(data: bytes, size: int = 70_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def payload_file(name: str, data: bytes) -> PayloadFile:
    return PayloadFile(name, len(data), hashlib.sha256(data).hexdigest(), lambda: chunks_of(data))


PAYLOADS = {
    "item-0001.bin": bytes(range(256)) * 12_289 + b"tail",  # ~3 MiB: many age chunks and write() calls
    "item-0002.txt": b"notes\n" * 100,
    "item-0003.empty": b"",
    # A long name: the writer needs a pax 'path' record for it (more than 100 bytes with the folder).
    "L" * 150 + ".bin": b"long name",
}


def make_spec(info_extra: list[tuple[str, str]] | None = None) -> BagSpec:
    return BagSpec(
        bundle_id=BID,
        info=[("Source-Organization", "Politie Testland"), ("Contact-Name", "Ivan Investigator"),
              ("ICSPA-Format-Version", BUNDLE_FORMAT_VERSION), ("ICSPA-Sender-Agency", "sender-fingerprint-nl"),
              *[("ICSPA-Recipient-Agency", r) for r in RECIPIENTS], *(info_extra or [])],
        tag_files={"metadata/custody.json": b'{"events": []}\n', "metadata/case.jsonld": b"{}\n"},
        payload=[payload_file(name, data) for name, data in PAYLOADS.items()],
    )


class Signer:
    def __init__(self, name: str = "Test Agency") -> None:
        self.key = x509.generate_key()
        self.cert = x509.self_signed(self.key, name, "NL")

    def __call__(self, content: bytes) -> bytes:
        return cms.sign_detached(content, self.cert, self.key)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def identity() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where bundles lie; the process runs in a folder inside it, so a stray relative write would show."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def check(path: Path, identity: pyrage.x25519.Identity, signer: Signer, **kwargs: object) -> BundleCheck:
    """check_bundle, asserting that it wrote nothing anywhere under the test's folder."""
    root = path.parent
    before = snapshot(root)
    result = check_bundle(path, [str(identity)], [signer.cert], **kwargs)  # type: ignore[arg-type]
    assert snapshot(root) == before
    return result


def has(result: BundleCheck, text: str) -> bool:
    return any(text in problem for problem in result.problems)


def reading_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("bundle-read", "bundle-decrypt")]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, signer: Signer, identity: pyrage.x25519.Identity) -> Path:
    folder = tmp_path_factory.mktemp("good")
    other = pyrage.x25519.Identity.generate()
    write_bundle(make_spec(), signer, [str(identity.to_public()), str(other.to_public())], folder / "b.icspa")
    return folder / "b.icspa"


def copy_bundle(good: Path, work: Path, seal: bool = True) -> Path:
    out = work / good.name
    out.write_bytes(good.read_bytes())
    if seal:
        for suffix in (".sha256", ".sha256.p7s"):
            (work / (good.name + suffix)).write_bytes(good.with_name(good.name + suffix).read_bytes())
    return out


# ----------------------------------------------------------------------------------------------- good bundles

def test_a_good_bundle_checks_out_layer_by_layer(good: Path, work: Path, signer: Signer,
                                                 identity: pyrage.x25519.Identity) -> None:
    path = copy_bundle(good, work)
    seen: list[tuple[int, int]] = []
    result = check(path, identity, signer, progress=lambda done, total, _: seen.append((done, total)))
    assert result.problems == []
    assert result.ok
    assert result.bundle_id == BID
    assert result.seal == "ok"
    assert result.signer == signer.cert
    data = path.read_bytes()
    assert (result.sha256, result.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert sorted(result.payload) == sorted((name, len(body), hashlib.sha256(body).hexdigest())
                                            for name, body in PAYLOADS.items())
    assert result.recipients == RECIPIENTS
    assert ("External-Identifier", BID) in result.bag_info
    assert result.tag_files["metadata/custody.json"] == b'{"events": []}\n'
    assert set(result.tag_files) == set(tag_file_bytes(make_spec()))
    assert seen[-1] == (len(data), len(data))


def test_without_a_seal_the_seal_is_absent_and_that_is_no_problem(good: Path, work: Path, signer: Signer,
                                                                   identity: pyrage.x25519.Identity) -> None:
    result = check(copy_bundle(good, work, seal=False), identity, signer)
    assert result.seal == "absent"
    assert result.ok


def test_volumes_are_read_in_order_and_each_is_sealed(good: Path, work: Path, signer: Signer,
                                                     identity: pyrage.x25519.Identity) -> None:
    data = good.read_bytes()
    cut = [0, 1_000_000, 2_500_000, len(data)]
    lines = []
    for i in range(3):
        volume = work / f"b.icspa.{i + 1:03d}"
        volume.write_bytes(data[cut[i]:cut[i + 1]])
        lines.append(f"{hashlib.sha256(volume.read_bytes()).hexdigest()}  {volume.name}\n")
    seal = "".join(lines).encode()
    (work / "b.icspa.sha256").write_bytes(seal)
    (work / "b.icspa.sha256.p7s").write_bytes(signer(seal))
    result = check(work / "b.icspa", identity, signer)
    assert result.ok, result.problems
    assert result.seal == "ok"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    (work / "b.icspa.002").write_bytes(data[cut[1]:cut[2] - 1] + b"!")
    damaged = check(work / "b.icspa", identity, signer)
    assert damaged.seal.startswith("bad: the SHA-256 of b.icspa.002 differs from the seal")  # the volume named
    assert damaged.problems[0].startswith("The outer seal is bad") and has(damaged, "failed authentication")


# --------------------------------------------------------------------------------------- keys and signatures

def test_a_bundle_for_someone_else_says_so_and_still_checks_the_seal(good: Path, work: Path,
                                                                      signer: Signer) -> None:
    # Decryption stops at the first block while the reading thread may be blocks ahead: the rest is still read
    # and hashed in order, so the seal is judged over the whole file.
    stranger = pyrage.x25519.Identity.generate()
    path = copy_bundle(good, work)
    result = check(path, stranger, signer)
    assert not result.ok
    assert has(result, "not addressed to any of our identities")
    assert result.seal == "ok"  # the courier's check needs no key
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.bundle_id is None and result.payload == []
    assert reading_threads() == []


def test_without_identities_only_the_seal_is_checked(good: Path, work: Path, signer: Signer) -> None:
    result = check_bundle(copy_bundle(good, work), [], [signer.cert])
    assert result.seal == "ok" and not result.ok
    assert result.problems == ["No age identity was given: only the outer seal was checked."]


def test_an_untrusted_signer_is_named(work: Path, identity: pyrage.x25519.Identity, signer: Signer) -> None:
    mallory = Signer("Mallory Agency")
    path = write_bundle(make_spec(), mallory, [str(identity.to_public())], work / "m.icspa").path
    result = check(path, identity, signer)
    assert not result.ok and result.signer is None
    assert has(result, "unknown certificate") and has(result, "Mallory Agency")
    assert result.seal.startswith("bad:") and "Mallory Agency" in result.seal
    assert result.payload  # everything else was still checked and reported
    assert check(path, identity, mallory).ok


def test_the_signer_must_be_valid_at_the_given_time(good: Path, work: Path, signer: Signer,
                                                    identity: pyrage.x25519.Identity) -> None:
    result = check(copy_bundle(good, work), identity, signer, at=datetime.now(UTC) + timedelta(days=365 * 30))
    assert has(result, "expired") and not result.ok


def test_a_tampered_seal_is_bad(good: Path, work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    path = copy_bundle(good, work)
    seal = work / "b.icspa.sha256"
    text = seal.read_text()
    seal.write_text(("0" if text[0] != "0" else "1") + text[1:])
    result = check(path, identity, signer)
    assert result.seal.startswith("bad:") and "changed after signing" in result.seal
    assert has(result, "outer seal is bad") and not result.ok
    # A correctly signed seal that does not fit the file.
    seal.write_bytes(("0" * 64 + "  b.icspa\n").encode())
    (work / "b.icspa.sha256.p7s").write_bytes(signer(seal.read_bytes()))
    assert check(path, identity, signer).seal.startswith("bad: the file's SHA-256 differs")
    (work / "b.icspa.sha256.p7s").unlink()
    assert check(path, identity, signer).seal == "bad: b.icspa.sha256.p7s is missing (half a seal)"


# ------------------------------------------------------------------------------------------- damaged files

def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["magic", "stanza", "header-mac", "first-chunk", "middle", "last-byte"])
def test_a_flipped_bit_is_a_problem_never_a_crash(good: Path, work: Path, signer: Signer,
                                                  identity: pyrage.x25519.Identity, where: str) -> None:
    path = copy_bundle(good, work)
    data = path.read_bytes()
    header_end = data.index(b"\n---") + 4
    offsets = {"magic": 3, "stanza": 40, "header-mac": header_end + 10, "first-chunk": header_end + 60,
               "middle": len(data) // 2, "last-byte": len(data) - 1}
    flip(path, offsets[where])
    result = check(path, identity, signer)
    assert not result.ok and result.problems
    assert result.seal.startswith("bad:")
    if where in ("middle", "last-byte"):
        assert has(result, "failed authentication")


def test_flips_anywhere_are_never_accepted(good: Path, work: Path, signer: Signer,
                                           identity: pyrage.x25519.Identity) -> None:
    path = copy_bundle(good, work, seal=False)
    original = path.read_bytes()
    for offset in range(0, len(original), len(original) // 23):
        path.write_bytes(original)
        flip(path, offset)
        result = check(path, identity, signer)
        assert not result.ok and result.problems, offset


@pytest.mark.parametrize("keep", [0, 10, 150, 1_000_000, -1])
def test_a_truncated_file_is_a_problem(good: Path, work: Path, signer: Signer, identity: pyrage.x25519.Identity,
                                       keep: int) -> None:
    path = copy_bundle(good, work)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    result = check(path, identity, signer)
    assert not result.ok
    if keep in (1_000_000, -1):
        assert has(result, "failed authentication")
    else:
        assert has(result, "not an age file") or has(result, "cut short")


def test_appended_bytes_are_a_problem(good: Path, work: Path, signer: Signer,
                                      identity: pyrage.x25519.Identity) -> None:
    path = copy_bundle(good, work, seal=False)
    path.write_bytes(path.read_bytes() + b"\0")
    assert has(check(path, identity, signer), "failed authentication")


def test_cancel_raises_and_writes_nothing(good: Path, work: Path, signer: Signer,
                                         identity: pyrage.x25519.Identity) -> None:
    token = CancelToken()

    def progress(done: int, total: int, message: str) -> None:
        if done > 1_000_000:
            token.cancel()

    with pytest.raises(Cancelled):
        check(copy_bundle(good, work), identity, signer, progress=progress, cancel=token)
    assert reading_threads() == []


@pytest.mark.parametrize("failing_read", [1, 2, 4])
def test_a_medium_failing_mid_read_is_a_read_error_not_a_verdict(good: Path, work: Path, signer: Signer,
                                                                  identity: pyrage.x25519.Identity,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  failing_read: int) -> None:
    # The file is read (and hashed) by a thread of its own a few blocks ahead of decryption: an I/O error on
    # any of its reads reaches the caller as the medium's failure, with no thread left reading.
    monkeypatch.setattr(reader, "READ_CHUNK", 256 << 10)  # the test bundle (~3 MiB) takes several reads then
    path = copy_bundle(good, work)
    assert path.stat().st_size > 4 * reader.READ_CHUNK
    reads = 0
    real_readv = os.readv

    def readv(fd: int, buffers: list[bytearray]) -> int:
        nonlocal reads
        reads += 1
        if reads == failing_read:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", readv)
    with pytest.raises(IcspaError, match=r"Reading .*b\.icspa failed: Input/output error \(was the medium removed"):
        check(path, identity, signer)
    assert reading_threads() == []


def test_unusable_arguments_raise(work: Path, signer: Signer) -> None:
    with pytest.raises(RefusedInput, match="does not exist"):
        check_bundle(work / "nothing.icspa", [], [signer.cert])
    (work / "b.icspa").write_bytes(b"x")
    with pytest.raises(RefusedInput, match="not an age X25519 secret key"):
        check_bundle(work / "b.icspa", ["AGE-SECRET-KEY-1NOTAKEY"], [signer.cert])
    os.mkfifo(work / "fifo.icspa")
    with pytest.raises(RefusedInput, match="not a regular file"):
        check_bundle(work / "fifo.icspa", [], [signer.cert])


# --------------------------------------------------------------------------------- hostile archives, built here

Member = tuple[tarfile.TarInfo, bytes]


def entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data)
    info.linkname = link
    info.mtime = 1_700_000_000
    return info, data


def bag_members(signer: Signer, tags: dict[str, bytes] | None = None,
                payload: dict[str, bytes] | None = None) -> list[Member]:
    """The members write_bundle makes, as (TarInfo, bytes) to mutate, in the order of its first version (tag files
    first; it now writes the payloads first: the reader takes either, and these tests keep the older one)."""
    tags = tags if tags is not None else tag_file_bytes(make_spec())
    payload = payload if payload is not None else PAYLOADS
    members = [entry(f"{BID}/", kind=tarfile.DIRTYPE), entry(f"{BID}/metadata/", kind=tarfile.DIRTYPE)]
    members += [entry(f"{BID}/{path}", data) for path, data in tags.items()]
    members.append(entry(f"{BID}.p7s", signer(tags[TAGMANIFEST])))
    members.append(entry(f"{BID}/data/", kind=tarfile.DIRTYPE))
    members += [entry(f"{BID}/data/{name}", data) for name, data in payload.items()]
    return members


def tar_bytes(members: list[Member], **options: object) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=options.pop("format", tarfile.PAX_FORMAT),
                      **options) as archive:  # type: ignore[call-overload]
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def encrypted(work: Path, plain: bytes, identity: pyrage.x25519.Identity) -> Path:
    path = work / "hostile.icspa"
    path.write_bytes(pyrage.encrypt(plain, [identity.to_public()]))
    return path


def resigned_tags(change: dict[str, bytes]) -> dict[str, bytes]:
    """The bag's tag files with ``change`` applied and the tag manifest recomputed (the sender is hostile)."""
    tags = {**tag_file_bytes(make_spec()), **change}
    tags[TAGMANIFEST] = "".join(f"{hashlib.sha256(data).hexdigest()}  {path}\n"
                                for path, data in tags.items() if path != TAGMANIFEST).encode()
    return tags


def test_the_members_built_here_make_a_good_bundle(work: Path, signer: Signer,
                                                   identity: pyrage.x25519.Identity) -> None:
    """The hostile cases below differ from this one only by what each adds or changes."""
    result = check(encrypted(work, tar_bytes(bag_members(signer)), identity), identity, signer)
    assert result.ok, result.problems


HOSTILE_MEMBERS: dict[str, tuple[Member, str]] = {
    "dotdot": (entry("../evil", b"x"), "climbs out of its folder with '..'"),
    "dotdot-inside": (entry(f"{BID}/data/../../evil", b"x"), "climbs out"),
    "absolute": (entry("/abs", b"x"), "absolute path"),
    "symlink": (entry(f"{BID}/data/link", kind=tarfile.SYMTYPE, link="/etc/passwd"), "is a symbolic link"),
    "hardlink": (entry(f"{BID}/data/hard", kind=tarfile.LNKTYPE, link=f"{BID}/bagit.txt"), "is a hard link"),
    "fifo": (entry(f"{BID}/data/fifo", kind=tarfile.FIFOTYPE), "is a FIFO"),
    "device": (entry(f"{BID}/data/tty", kind=tarfile.CHRTYPE), "is a character device"),
    "duplicate": (entry(f"{BID}/metadata/case.jsonld", b"{}\n"), "occurs twice"),
    "case": (entry(f"{BID}/data/ITEM-0002.TXT", b"x"), "collides with"),
    "outside": (entry("other-folder/file.txt", b"x"), "lies outside the bag folder"),
    "odd-characters": (entry(f"{BID}/data/a b;c", b"x"), "characters other than"),
    "hidden": (entry(f"{BID}/data/.hidden", b"x"), "starts with '.'"),
    "fetch": (entry(f"{BID}/fetch.txt", b"http://example.org/x 1 data/x\n"), "BagIt reserves"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MEMBERS))
def test_each_hostile_member_is_a_specific_problem(case: str, work: Path, signer: Signer,
                                                   identity: pyrage.x25519.Identity) -> None:
    member, expected = HOSTILE_MEMBERS[case]
    members = bag_members(signer)
    members.insert(5, member)  # among the tag files, before the payload
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert not result.ok
    assert has(result, expected), result.problems
    assert result.problems[0].startswith("The member")  # the member's own problem comes first
    assert not (work.parent / "evil").exists() and not Path("/abs").exists()


def test_names_equal_after_unicode_normalisation_collide(work: Path, signer: Signer,
                                                         identity: pyrage.x25519.Identity) -> None:
    members = [*bag_members(signer), entry(f"{BID}/data/caf\u00e9", b"1"), entry(f"{BID}/data/cafe\u0301", b"2")]
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "collides with"), result.problems


def test_a_file_and_a_folder_of_the_same_name_clash(work: Path, signer: Signer,
                                                    identity: pyrage.x25519.Identity) -> None:
    members = [*bag_members(signer), entry(f"{BID}/data/x", b"1"), entry(f"{BID}/data/X/y", b"2")]
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "is both a file and a folder"), result.problems


def test_a_link_with_data_stops_the_reading(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    """tarfile writes a symlink's size without data; GNU tar and tarfile would disagree on what follows."""
    link, _ = entry(f"{BID}/data/link", kind=tarfile.SYMTYPE, link="target")
    link.size = 512
    members = bag_members(signer)
    members.insert(3, (link, b""))
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "tools disagree on how to read past it"), result.problems


def test_an_oversize_tag_file_is_not_read(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    tags = resigned_tags({"metadata/big.json": b"[" + b"0," * 5000 + b"0]\n"})
    path = encrypted(work, tar_bytes(bag_members(signer, tags)), identity)
    assert check(path, identity, signer).ok
    result = check(path, identity, signer, limits=Limits(max_tag_file_bytes=4096))
    assert has(result, "The tag file 'metadata/big.json' has 10,004 bytes, more than the limit of 4,096")
    assert "metadata/big.json" not in result.tag_files


def test_tag_files_the_caller_does_not_read_are_hashed_not_held(work: Path, signer: Signer,
                                                               identity: pyrage.x25519.Identity) -> None:
    """``keep_tag``: a big tag file the caller does not read (an import never reads the CASE/UCO graph or the PDF
    report; a case of 10,000 items carries 82 MB of the graph) is checked against the tag manifest as it passes,
    neither held nor counted against the bounds of what is held — and still refused when it was changed."""
    big = b"[" + b"0," * 5000 + b"0]\n"
    tags = resigned_tags({"metadata/big.json": big})
    path = encrypted(work, tar_bytes(bag_members(signer, tags)), identity)
    small = Limits(max_tag_file_bytes=4096)
    result = check(path, identity, signer, limits=small, keep_tag=lambda name: name != "metadata/big.json")
    assert result.ok, result.problems
    assert "metadata/big.json" not in result.tag_files and "metadata/custody.json" in result.tag_files
    assert result.tag_digests["metadata/big.json"] == hashlib.sha256(big).hexdigest()
    assert set(result.tag_digests) == set(tags)
    members = bag_members(signer, tags)
    changed = next(i for i, (info, _data) in enumerate(members) if info.name.endswith("metadata/big.json"))
    members[changed] = (members[changed][0], big.replace(b"0,", b"1,", 1))  # the same size, after signing
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer,
                   limits=small, keep_tag=lambda name: name != "metadata/big.json")
    assert has(result, "The tag file 'metadata/big.json' does not match tagmanifest-sha256.txt"), result.problems


def test_tag_files_together_are_bounded(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    path = encrypted(work, tar_bytes(bag_members(signer)), identity)
    result = check(path, identity, signer, limits=Limits(max_tag_total_bytes=600))
    assert has(result, "would bring the tag files beyond 600 bytes")


@pytest.mark.parametrize(("limits", "expected"), [
    (Limits(max_members=5), "more than 5 members"),
    (Limits(max_total_bytes=100_000), "more than 100,000 bytes"),
    (Limits(max_path_bytes=60), "name longer than 60 bytes"),
    (Limits(max_pax_header_bytes=100), "A pax header of"),
    (Limits(max_signature_bytes=100), "more than a CMS signature can need"),
])
def test_counts_and_sizes_beyond_the_limits(good: Path, work: Path, signer: Signer,
                                            identity: pyrage.x25519.Identity, limits: Limits, expected: str) -> None:
    result = check(copy_bundle(good, work), identity, signer, limits=limits)
    assert has(result, expected), result.problems


def test_an_extra_payload_not_in_the_manifest(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    members = [*bag_members(signer), entry(f"{BID}/data/smuggled.bin", b"extra")]
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "The payload file 'data/smuggled.bin' is in the bundle but not in manifest-sha256.txt")
    assert has(result, "Payload-Oxum")


def test_a_missing_payload(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    members = [m for m in bag_members(signer) if not m[0].name.endswith("item-0002.txt")]
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "The payload file 'data/item-0002.txt' is listed in manifest-sha256.txt but not in the bundle")


def test_a_changed_payload(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    members = bag_members(signer, payload={**PAYLOADS, "item-0002.txt": b"Notes\n" * 100})
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert result.problems == ["The payload file 'data/item-0002.txt' does not match its SHA-256 in "
                               "manifest-sha256.txt."]


def test_a_tag_file_outside_the_signature(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    members = [*bag_members(signer), entry(f"{BID}/metadata/extra.json", b"{}")]
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert result.problems == ["The tag file 'metadata/extra.json' is not covered by tagmanifest-sha256.txt "
                               "(not signed)."]


def test_a_changed_tag_file(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    tags = tag_file_bytes(make_spec())
    members = bag_members(signer, tags)
    members = [(info, b'{"events": [1]}\n' if info.name.endswith("custody.json") else data)
               for info, data in members]
    for info, data in members:
        info.size = len(data) if info.isreg() else 0
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "'metadata/custody.json' does not match tagmanifest-sha256.txt")


def test_a_changed_tag_manifest_breaks_the_signature(work: Path, signer: Signer,
                                                     identity: pyrage.x25519.Identity) -> None:
    tags = tag_file_bytes(make_spec())
    members = bag_members(signer, tags)
    forged = resigned_tags({MANIFEST: tags[MANIFEST] + b"0" * 64 + b"  data/ghost\n"})[TAGMANIFEST]
    members = [(entry(info.name, forged)[0], forged) if info.name.endswith(TAGMANIFEST) else (info, data)
               for info, data in members]
    result = check(encrypted(work, tar_bytes(members), identity), identity, signer)
    assert has(result, "The signed content does not match")


@pytest.mark.parametrize(("change", "expected"), [
    ({"bag-info.txt": b"External-Identifier: OTHER-ID\n"}, "bag folder is"),
    ({"bag-info.txt": b"ICSPA-Format-Version: 99\n"}, "format version '99'"),
    ({"bag-info.txt": b"Payload-Oxum: 1.1\n"}, "declares Payload-Oxum '1.1'"),
    ({"bag-info.txt": b"Contact-Name: folded\n  continuation\n"}, "is not a 'Label: value' line"),
    ({"bagit.txt": b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"}, "does not declare BagIt 1.0"),
    ({"manifest-md5.txt": b""}, "SHA-256 manifests only"),
])
def test_signed_but_wrong_tag_files(work: Path, signer: Signer, identity: pyrage.x25519.Identity,
                                    change: dict[str, bytes], expected: str) -> None:
    """The sender signs what it likes: signed content is still checked against the format."""
    spec_tags = tag_file_bytes(make_spec())
    if "bag-info.txt" in change:  # the field replaces its namesake; other fields stay
        label = change["bag-info.txt"].split(b":")[0]
        kept = b"".join(line + b"\n" for line in spec_tags["bag-info.txt"].splitlines()
                        if not line.startswith(label + b":"))
        change = {"bag-info.txt": kept + change["bag-info.txt"]}
    result = check(encrypted(work, tar_bytes(bag_members(signer, resigned_tags(change))), identity),
                   identity, signer)
    assert result.signer == signer.cert
    assert has(result, expected), result.problems


@pytest.mark.parametrize(("plain", "expected"), [
    ("gnu", "not a POSIX ustar/pax header"),
    ("global-pax", "global pax header"),
    ("unknown-pax-keyword", "keyword 'SCHILY.xattr.user.x'"),
    ("linkpath-on-a-file", "keyword 'linkpath'"),  # accepted before (an audit)
    ("no-end-marker", "without its end-of-archive marker"),
    ("hidden-after-end", "data after its end-of-archive marker"),
    ("bad-checksum", "fails its checksum"),
    ("not-starting-with-the-bag", "does not start with the bag folder"),
])
def test_tar_framing_we_never_write_is_refused(work: Path, signer: Signer, identity: pyrage.x25519.Identity,
                                               plain: str, expected: str) -> None:
    members = bag_members(signer)
    good_tar = tar_bytes(members)
    if plain == "gnu":
        data = tar_bytes(members, format=tarfile.GNU_FORMAT)
    elif plain == "global-pax":
        data = tar_bytes(members, pax_headers={"comment": "hello"})
    elif plain == "unknown-pax-keyword":
        members[5][0].pax_headers = {"SCHILY.xattr.user.x": "1"}
        data = tar_bytes(members)
    elif plain == "linkpath-on-a-file":
        members[5][0].pax_headers = {"linkpath": "/etc/shadow"}
        data = tar_bytes(members)
    elif plain == "no-end-marker":
        data = good_tar.rstrip(b"\0")
        data += bytes(-len(data) % 512)
    elif plain == "hidden-after-end":
        data = good_tar + tar_bytes([entry(f"{BID}/data/hidden.bin", b"secret")])
    elif plain == "bad-checksum":
        data = bytes([good_tar[0] ^ 0x01]) + good_tar[1:]
    else:
        data = tar_bytes(members[1:])
    result = check(encrypted(work, data, identity), identity, signer)
    assert not result.ok
    assert has(result, expected), result.problems


def test_not_an_age_file(work: Path, signer: Signer, identity: pyrage.x25519.Identity) -> None:
    path = work / "plain.icspa"
    path.write_bytes(tar_bytes(bag_members(signer)))
    result = check(path, identity, signer)
    assert has(result, "not an age file")
