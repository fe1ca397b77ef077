"""The bundle format against the partner's own tools (age, tar, bagit.py, openssl, sha256sum), no mocks."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pyrage
import pytest

from icspa_desktop.bundle.format import (
    BAGIT_TXT_BYTES,
    BUNDLE_FORMAT_VERSION,
    BagSpec,
    PayloadFile,
    WrittenBundle,
    tag_file_bytes,
    write_bundle,
)
from icspa_desktop.crypto import cms, x509
from icspa_desktop.domain.errors import Cancelled, Conflict, IcspaError, RefusedInput, VerificationFailed
from icspa_desktop.domain.progress import CancelToken

REPO = Path(__file__).resolve().parents[2]
BUNDLE_ID = "ICSPA-B-20250101-7f3a"
# Where pip puts bagit.py when the tests run from a virtualenv that is not on PATH.
TOOL_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
ENV = {**os.environ, "PATH": TOOL_PATH}


def tool(name: str) -> str:
    found = shutil.which(name, path=TOOL_PATH)
    if found is None:
        pytest.fail(f"{name} is required for the partner-side tests (Debian: age, openssl; PyPI: bagit)")
    return found


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a partner command exactly as written in DESIGN §5 (bash, pipefail so a failing age is seen)."""
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=120, check=False)


def pseudo_random(seed: int, size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Deterministic, incompressible bytes made chunk by chunk (never held whole)."""
    counter = 0
    left = size
    while left:
        block = b"".join(hashlib.sha512(f"{seed}:{counter}:{i}".encode()).digest() for i in range(chunk // 64))
        counter += 1
        piece = block[: min(chunk, left)]
        left -= len(piece)
        yield piece


def payload(name: str, size: int, seed: int, chunk: int = 1 << 20) -> PayloadFile:
    digest = hashlib.sha256()
    for piece in pseudo_random(seed, size, chunk):
        digest.update(piece)
    return PayloadFile(name, size, digest.hexdigest(), lambda: pseudo_random(seed, size, chunk))


def make_spec(payloads: list[PayloadFile] | None = None, bundle_id: str = BUNDLE_ID) -> BagSpec:
    files = payloads if payloads is not None else [
        payload("item-0001.bin", 3 * (1 << 20) + 17, 1),
        payload("item-0002.txt", 1000, 2, chunk=333),
        payload("item-0003.empty", 0, 3),
    ]
    return BagSpec(
        bundle_id=bundle_id,
        info=[("Source-Organization", "Politie Testland"), ("Contact-Name", "Ivan Investigator"),
              ("ICSPA-Sender-Agency", "NL-TEST"), ("ICSPA-Recipient-Agencies", "BE-TEST"),
              ("ICSPA-Format-Version", BUNDLE_FORMAT_VERSION)],
        tag_files={"metadata/custody.json": b'{"events": []}\n', "metadata/case.jsonld": b"{}\n"},
        payload=files,
    )


class Signer:
    def __init__(self, directory: Path) -> None:
        self.key = x509.generate_key()
        self.cert = x509.self_signed(self.key, "Test Agency", "NL")
        self.pem = directory / "sender.pem"
        self.pem.write_text(x509.cert_pem(self.cert))

    def __call__(self, content: bytes) -> bytes:
        return cms.sign_detached(content, self.cert, self.key)


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path)


@pytest.fixture
def identities() -> list[pyrage.x25519.Identity]:
    return [pyrage.x25519.Identity.generate() for _ in range(3)]


def recipients_of(*ids: pyrage.x25519.Identity) -> list[str]:
    return [str(identity.to_public()) for identity in ids]


def leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name not in keep)


def test_partner_commands_of_design_5_verbatim(tmp_path: Path, signer: Signer,
                                               identities: list[pyrage.x25519.Identity]) -> None:
    for name in ("age", "tar", "openssl", "sha256sum", "bagit.py"):
        tool(name)
    media = tmp_path / "usb"
    media.mkdir()
    seen: list[tuple[int, int, str]] = []
    written = write_bundle(make_spec(), signer, recipients_of(identities[0], identities[1]), media / "bundle.icspa",
                           progress=lambda done, total, message: seen.append((done, total, message)))
    assert written.path == media / "bundle.icspa"
    data = written.path.read_bytes()
    assert written.size == len(data) and written.sha256 == hashlib.sha256(data).hexdigest()
    assert data.startswith(b"age-encryption.org/v1\n")
    assert seen and seen[-1][0] == seen[-1][1] and any(done < total for done, total, _ in seen)
    assert leftovers(media, set()) == ["bundle.icspa", "bundle.icspa.sha256", "bundle.icspa.sha256.p7s"]

    partner = tmp_path / "partner"
    (partner / "out").mkdir(parents=True)
    shutil.copy(written.path, partner / "bundle.icspa")
    (partner / "identity.txt").write_text(str(identities[1]) + "\n")
    shutil.copy(signer.pem, partner / "sender.pem")
    steps = [
        "age -d -i identity.txt bundle.icspa | tar -x -C out/",
        f"bagit.py --validate out/{BUNDLE_ID}",
        f"openssl cms -verify -binary -inform DER -in out/{BUNDLE_ID}.p7s "
        f"-content out/{BUNDLE_ID}/tagmanifest-sha256.txt -CAfile sender.pem -purpose any",
    ]
    for step in steps:
        result = sh(step, partner)
        assert result.returncode == 0, f"{step}\n{result.stdout}\n{result.stderr}"
    bag = partner / "out" / BUNDLE_ID
    assert (bag / "bagit.txt").read_bytes() == BAGIT_TXT_BYTES
    assert (bag / "data" / "item-0001.bin").stat().st_size == 3 * (1 << 20) + 17
    info = (bag / "bag-info.txt").read_text()
    assert f"External-Identifier: {BUNDLE_ID}\n" in info
    assert f"Payload-Oxum: {3 * (1 << 20) + 17 + 1000}.3\n" in info
    assert "ICSPA-Recipient-Agencies: BE-TEST\n" in info
    assert (bag / "metadata" / "custody.json").read_bytes() == b'{"events": []}\n'

    # The courier's check: no key, only the seal beside the bundle.
    courier = tmp_path / "courier"
    courier.mkdir()
    for path in (written.path, written.seal_path, written.seal_signature_path, signer.pem):
        shutil.copy(path, courier / path.name)
    seal = sh("openssl cms -verify -binary -inform DER -in bundle.icspa.sha256.p7s -content bundle.icspa.sha256 "
              "-CAfile sender.pem -purpose any && sha256sum -c bundle.icspa.sha256", courier)
    assert seal.returncode == 0, seal.stderr
    assert "bundle.icspa: OK" in seal.stdout


def test_the_partner_tools_fail_on_damage(tmp_path: Path, signer: Signer,
                                          identities: list[pyrage.x25519.Identity]) -> None:
    """The commands above really check something: a changed payload or seal makes them fail."""
    written = write_bundle(make_spec(), signer, recipients_of(identities[0]), tmp_path / "bundle.icspa")
    (tmp_path / "out").mkdir()
    (tmp_path / "identity.txt").write_text(str(identities[0]) + "\n")
    assert sh("age -d -i identity.txt bundle.icspa | tar -x -C out/", tmp_path).returncode == 0
    target = tmp_path / "out" / BUNDLE_ID / "data" / "item-0002.txt"
    target.write_bytes(b"X" + target.read_bytes()[1:])
    assert sh(f"bagit.py --validate out/{BUNDLE_ID}", tmp_path).returncode != 0
    bag_info = tmp_path / "out" / BUNDLE_ID / "tagmanifest-sha256.txt"
    bag_info.write_bytes(bag_info.read_bytes().replace(b"bag-info.txt", b"bag-info.txx"))
    assert sh(f"openssl cms -verify -binary -inform DER -in out/{BUNDLE_ID}.p7s "
              f"-content out/{BUNDLE_ID}/tagmanifest-sha256.txt -CAfile sender.pem -purpose any",
              tmp_path).returncode != 0
    with written.path.open("r+b") as handle:
        handle.seek(written.size // 2)
        middle = handle.read(1)
        handle.seek(written.size // 2)  # the byte read is the one changed
        handle.write(b"\x00" if middle != b"\x00" else b"\x01")
    assert sh("sha256sum -c bundle.icspa.sha256", tmp_path).returncode != 0


def test_only_the_addressed_identities_decrypt(tmp_path: Path, signer: Signer,
                                               identities: list[pyrage.x25519.Identity]) -> None:
    first, second, outsider = identities
    written = write_bundle(make_spec(), signer, recipients_of(first, second), tmp_path / "b.icspa")
    data = written.path.read_bytes()
    assert pyrage.decrypt(data, [first]) == pyrage.decrypt(data, [second])
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(data, [outsider])
    (tmp_path / "outsider.txt").write_text(str(outsider) + "\n")
    assert sh("age -d -i outsider.txt b.icspa > /dev/null", tmp_path).returncode != 0


def test_tar_members_are_plain_files_and_folders_owned_by_nobody(
        tmp_path: Path, signer: Signer, identities: list[pyrage.x25519.Identity]) -> None:
    spec = make_spec()
    written = write_bundle(spec, signer, recipients_of(identities[0]), tmp_path / "b.icspa")
    plain = pyrage.decrypt(written.path.read_bytes(), [identities[0]])
    assert plain[257:265] == b"ustar\x0000"  # POSIX ustar/pax header, not GNU
    assert len(plain) % tarfile.RECORDSIZE == 0
    members = []
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r|") as archive:
        for member in archive:
            members.append(member.name)
            assert member.isfile() or member.isdir()
            assert member.mode == (0o755 if member.isdir() else 0o644)
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
            assert not member.name.startswith("/") and ".." not in member.name.split("/")
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                content = handle.read()
                if member.name == f"{BUNDLE_ID}.p7s":
                    cms.verify_detached(content, tag_file_bytes(spec)["tagmanifest-sha256.txt"], [signer.cert])
    tags = [f"{BUNDLE_ID}/{name}" for name in tag_file_bytes(spec)]
    data = [f"{BUNDLE_ID}/data/{item.name}" for item in sorted(spec.payload, key=lambda item: item.size)]
    assert [item.size for item in spec.payload] != sorted(item.size for item in spec.payload)  # order is tested
    files = [name for name in members if name in tags or name in data or name.endswith(".p7s")]
    # The payloads first, smallest first (an importer creates the small files while the large ones stream), then
    # the tag files (an export's custody report is drawn while the payloads stream), the manifests and the
    # signature over them; the reader checks the bag once the whole stream is authenticated.
    assert files == [*data, *tags, f"{BUNDLE_ID}.p7s"]
    assert f"{BUNDLE_ID}/metadata" in members and f"{BUNDLE_ID}/data" in members


def test_tag_files_and_manifests(signer: Signer) -> None:
    spec = make_spec()
    tags = tag_file_bytes(spec)
    assert list(tags)[:4] == ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"]
    manifest = tags["manifest-sha256.txt"].decode().splitlines()
    assert manifest == [f"{item.sha256}  data/{item.name}" for item in spec.payload]
    lines = tags["tagmanifest-sha256.txt"].decode().splitlines()
    covered = {line.split("  ")[1]: line.split("  ")[0] for line in lines}
    assert set(covered) == {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", *spec.tag_files}
    assert all(hashlib.sha256(tags[path]).hexdigest() == digest for path, digest in covered.items())
    given = BagSpec(BUNDLE_ID, [("Bagging-Date", "2024-02-29"), ("Payload-Oxum", "1000.1")], {},
                    [payload("a", 1000, 5)])
    assert tag_file_bytes(given)["bag-info.txt"] == (
        f"Bagging-Date: 2024-02-29\nPayload-Oxum: 1000.1\nExternal-Identifier: {BUNDLE_ID}\n".encode())
    wrong_oxum = BagSpec(BUNDLE_ID, [("Payload-Oxum", "999.1")], {}, [payload("a", 1000, 5)])
    with pytest.raises(RefusedInput, match="Payload-Oxum"):
        tag_file_bytes(wrong_oxum)


def _spec_with_payload(name: str) -> BagSpec:
    return make_spec([payload(name, 10, 9)])


@pytest.mark.parametrize("spec", [
    _spec_with_payload("../x"), _spec_with_payload("a/b"), _spec_with_payload("é"), _spec_with_payload(".."),
    _spec_with_payload(".hidden"), _spec_with_payload(""), _spec_with_payload("x" * 201),
    make_spec([payload("Same", 10, 1), payload("same", 10, 2)]),
    make_spec(bundle_id="../escape"), make_spec(bundle_id="a/b"),
    BagSpec(BUNDLE_ID, [], {"../evil": b""}, []), BagSpec(BUNDLE_ID, [], {"/abs": b""}, []),
    BagSpec(BUNDLE_ID, [], {"data/extra": b""}, []), BagSpec(BUNDLE_ID, [], {"bagit.txt": b""}, []),
    BagSpec(BUNDLE_ID, [], {"Manifest-MD5.txt": b""}, []),
    BagSpec(BUNDLE_ID, [], {"metadata": b"", "metadata/x": b""}, []),
    BagSpec(BUNDLE_ID, [("Contact-Name", "Eve\nPayload-Oxum: 0.0")], {}, []),
    BagSpec(BUNDLE_ID, [("Bad Label", "x")], {}, []),
    BagSpec(BUNDLE_ID, [], {}, [PayloadFile("a", 1, "ABC", lambda: iter([b"x"]))]),
], ids=lambda spec: repr((spec.bundle_id, spec.info, list(spec.tag_files), [p.name for p in spec.payload]))[:60])
def test_bad_names_and_fields_are_refused(tmp_path: Path, signer: Signer, spec: BagSpec,
                                          identities: list[pyrage.x25519.Identity]) -> None:
    with pytest.raises(RefusedInput):
        write_bundle(spec, signer, recipients_of(identities[0]), tmp_path / "b.icspa")
    assert os.listdir(tmp_path) == ["sender.pem"]


def test_bad_recipients_are_refused(tmp_path: Path, signer: Signer) -> None:
    for recipients in ([], ["age1notakey"], ["ssh-ed25519 AAAA"]):
        with pytest.raises(RefusedInput):
            write_bundle(make_spec(), signer, recipients, tmp_path / "b.icspa")
    assert os.listdir(tmp_path) == ["sender.pem"]


def _lying(item: PayloadFile, *, sha256: str | None = None, size: int | None = None) -> PayloadFile:
    return PayloadFile(item.name, item.size if size is None else size, sha256 or item.sha256, item.chunks)


@pytest.mark.parametrize("change", [
    lambda item: _lying(item, sha256="0" * 64),
    lambda item: _lying(item, size=item.size + 1),
    lambda item: _lying(item, size=item.size - 1),
    lambda item: PayloadFile(item.name, item.size, item.sha256,
                             lambda: (bytes(len(c)) if i == 2 else c for i, c in enumerate(item.chunks()))),
], ids=["wrong-sha256", "shorter-than-declared", "longer-than-declared", "bytes-changed"])
def test_a_payload_that_does_not_match_its_record_leaves_nothing(
        tmp_path: Path, signer: Signer, identities: list[pyrage.x25519.Identity],
        change: Callable[[PayloadFile], PayloadFile]) -> None:
    spec = make_spec()
    bad = BagSpec(spec.bundle_id, spec.info, spec.tag_files, [spec.payload[1], change(spec.payload[0])])
    with pytest.raises(VerificationFailed, match=r"item-0001\.bin"):
        write_bundle(bad, signer, recipients_of(identities[0]), tmp_path / "b.icspa")
    assert os.listdir(tmp_path) == ["sender.pem"]


def test_cancel_midway_leaves_nothing(tmp_path: Path, signer: Signer,
                                      identities: list[pyrage.x25519.Identity]) -> None:
    token = CancelToken()
    calls: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        calls.append(done)
        if len(calls) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        write_bundle(make_spec(), signer, recipients_of(identities[0]), tmp_path / "b.icspa",
                     progress=progress, cancel=token)
    assert 0 < calls[-1] < 3 * (1 << 20)
    assert os.listdir(tmp_path) == ["sender.pem"]


def test_an_existing_target_is_a_conflict_and_untouched(tmp_path: Path, signer: Signer,
                                                        identities: list[pyrage.x25519.Identity]) -> None:
    out = tmp_path / "b.icspa"
    out.write_bytes(b"someone else's bundle")
    with pytest.raises(Conflict):
        write_bundle(make_spec(), signer, recipients_of(identities[0]), out)
    assert out.read_bytes() == b"someone else's bundle"
    out.unlink()
    (tmp_path / "b.icspa.sha256").write_text("old seal")
    with pytest.raises(Conflict):
        write_bundle(make_spec(), signer, recipients_of(identities[0]), out)
    assert sorted(os.listdir(tmp_path)) == ["b.icspa.sha256", "sender.pem"]
    with pytest.raises(IcspaError, match="does not exist"):
        write_bundle(make_spec(), signer, recipients_of(identities[0]), tmp_path / "missing" / "b.icspa")


CHILD = textwrap.dedent("""
    import hashlib, json, os, resource, signal, sys
    from pathlib import Path
    import pyrage
    from icspa_desktop.bundle.format import BagSpec, PayloadFile, write_bundle
    from icspa_desktop.crypto import cms, x509
    from icspa_desktop.domain.errors import IcspaError

    out_dir, size, fsize_limit = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    fill_after_start = len(sys.argv) > 4 and sys.argv[4] == "fill"
    volume_size = int(sys.argv[4].removeprefix("volumes=")) if sys.argv[4:5] and "volumes=" in sys.argv[4] else None
    key = x509.generate_key(); cert = x509.self_signed(key, "T", "NL")
    sign = lambda data: cms.sign_detached(data, cert, key)
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    block = hashlib.sha512(b"seed").digest() * (1 << 14)  # 1 MiB, the only buffer the generator keeps

    def chunks(n):
        for i in range(n // len(block)):
            yield block
        yield block[: n % len(block)]

    def spec(bundle_id, n):
        digest = hashlib.sha256()
        for piece in chunks(n):
            digest.update(piece)
        return BagSpec(bundle_id, [], {}, [PayloadFile("big", n, digest.hexdigest(), lambda: chunks(n))])

    write_bundle(spec("warmup", 2 << 20), sign, [recipient], out_dir / "warmup.icspa")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if fsize_limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
    def fill(done, total, message):
        # Something else takes the free space once writing has begun (after the up-front check passed).
        global fill_after_start
        if fill_after_start:
            fill_after_start = False
            with open(out_dir.parent / "filler", "wb") as handle:
                try:
                    while True:
                        handle.write(bytes(1 << 16))
                        handle.flush()
                except OSError:
                    pass

    try:
        written = write_bundle(spec("big", size), sign, [recipient], out_dir / "big.icspa", progress=fill,
                               volume_size=volume_size)
        result = {"size": written.size, "volumes": len(written.volumes)}
    except IcspaError as exc:
        result = {"error": type(exc).__name__, "message": str(exc)}
    result["growth_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    result["left"] = sorted(os.listdir(out_dir))
    print(json.dumps(result))
""")


def run_child(out_dir: Path, size: int, fsize_limit: int = 0, prefix: list[str] | None = None,
              mode: str = "") -> dict[str, object]:
    import json

    result = subprocess.run([*(prefix or []), sys.executable, "-c", CHILD, str(out_dir), str(size), str(fsize_limit),
                             mode],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def test_a_64_mib_payload_streams_in_bounded_memory(tmp_path: Path) -> None:
    size = 64 << 20
    result = run_child(tmp_path, size)
    assert "error" not in result, result
    assert isinstance(result["size"], int) and result["size"] > size
    growth = result["growth_kib"]
    assert isinstance(growth, int) and growth < 16 * 1024, f"peak RSS grew by {growth} KiB for a 64 MiB payload"


def test_a_file_too_big_for_the_medium_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE gives a real EFBIG, as FAT32's 4 GiB cap does."""
    result = run_child(tmp_path, 3 << 20, fsize_limit=1 << 20)
    assert result["error"] == "IcspaError" and "too large" in str(result["message"]), result
    assert result["left"] == ["warmup.icspa", "warmup.icspa.sha256", "warmup.icspa.sha256.p7s"]


def test_too_little_free_space_is_refused_before_writing(tmp_path: Path) -> None:
    """A real 6 MiB tmpfs in a user namespace (no root needed): the free-space check refuses up front."""
    tool("unshare")
    media = tmp_path / "usb"
    media.mkdir()
    mount = f"mount -t tmpfs -o size=6m tmpfs {media} && exec \"$@\""
    result = run_child(media, 8 << 20, prefix=["unshare", "-Urm", "sh", "-c", mount, "sh"])
    assert result["error"] == "IcspaError", result
    assert re.search(r"has \d\.\d MiB free; the bundle needs about 9\.\d MiB", str(result["message"])), result
    assert result["left"] == ["warmup.icspa", "warmup.icspa.sha256", "warmup.icspa.sha256.p7s"]


def test_a_disk_that_fills_up_while_writing_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """A real ENOSPC mid-write: the check passed, then another file takes the space of a 12 MiB tmpfs."""
    tool("unshare")
    mount_dir = tmp_path / "mnt"
    mount_dir.mkdir()
    media = mount_dir / "usb"
    mount = f"mount -t tmpfs -o size=12m tmpfs {mount_dir} && mkdir {media} && exec \"$@\""
    result = run_child(media, 8 << 20, prefix=["unshare", "-Urm", "sh", "-c", mount, "sh"], mode="fill")
    assert result["error"] == "IcspaError" and "disk is full" in str(result["message"]), result
    assert result["left"] == ["warmup.icspa", "warmup.icspa.sha256", "warmup.icspa.sha256.p7s"]


def test_written_bundle_fields(tmp_path: Path, signer: Signer, identities: list[pyrage.x25519.Identity]) -> None:
    written = write_bundle(make_spec(), signer, recipients_of(identities[0]), tmp_path / "b.icspa")
    assert written == WrittenBundle(tmp_path / "b.icspa", written.path.stat().st_size, written.sha256,
                                    tmp_path / "b.icspa.sha256", tmp_path / "b.icspa.sha256.p7s",
                                    (tmp_path / "b.icspa",))
    assert written.seal_path.read_text() == f"{written.sha256}  b.icspa\n"
    assert (written.path.stat().st_mode & 0o777) == 0o600
