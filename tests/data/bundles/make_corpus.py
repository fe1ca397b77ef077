"""Hostile sharing bundles, made from a real export (issue 10, "Must hold"; DESIGN §5, Import).

Every bundle here starts as a genuine NL→DE export of ``tests/bundle/exchange.py``: it is decrypted with
DE's age identity, its tar read with ``tarfile`` (our own, trusted output at this point), changed in one
way, written again as a pax tar and encrypted again to DE. Where a change has to get past the bag's
signature to reach a deeper check, the manifests and ``Payload-Oxum`` are recomputed and
``tagmanifest-sha256.txt`` is signed again with NL's real agency key, so that the refusal proves *that*
check and not the signature. Each case names the class it belongs to, the recipient vault (DE in the
state the case needs: NL revoked, superseded, a bundle already imported) and a regular expression of the
specific message the import must refuse it with.

Two ways to use it:

* ``build(exchange, out_dir)`` (or ``build_corpus`` for the positive controls too), from the tests;
* ``python -m tests.data.bundles.make_corpus [OUT]`` (default ``tests/data/bundles/corpus/``, git-ignored):
  makes its own exchange under ``OUT/scene`` and prints how many bundles of each class it wrote.

The recipient vaults are *copies* of DE's vault; each has its own witness folder (``ICSPA_WITNESS_DIR``),
since the copies share a vault id and their logs diverge.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyrage
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.bundle.format import BAG_INFO_TXT, BAGIT_TXT, MANIFEST, TAGMANIFEST
from icspa_desktop.crypto import cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import merkle
from icspa_desktop.services import agency, bundle_import, custody, partners
from icspa_desktop.services.session import Session, unlock
from tests.agency.conftest import PASS, make_agency_vault
from tests.bundle.exchange import Exchange, make_exchange

Signer = Callable[[bytes], bytes]

# Every class issue 10 names, in the order they are reported.
CLASSES = (
    "unknown-sender", "revoked-key", "expired-key", "superseded-key", "not-addressed", "bad-signature",
    "missing-signature", "payload-hash", "tag-hash", "missing-payload", "extra-payload", "extra-tag",
    "absolute-path", "dotdot", "symlink", "hardlink", "device", "fifo", "duplicate", "case-collision",
    "unicode-collision", "bounds", "malformed-json", "malformed-tag", "format-version", "inconsistent-log",
    "truncated", "bit-flip", "appended", "not-age",
)
DEFAULT_OUT = Path(__file__).resolve().parent / "corpus"
FR_NAME = "Police Nationale"
EXPIRED_NAME = "Expired Agency"
SMALL_SIZES = (15_000, 150_000)  # three items; one payload spans several 64 KiB age chunks
AGE_CHUNK = 65536 + 16  # an age payload chunk and its tag
_MTIME = 1_767_225_600  # 2026-01-01: the members we add have a fixed time

# Product bugs: the cases below are expected to fail (xfail, strict) until these are fixed.
REUSED_ID = (
    "services/bundle_import.py _place (line ~227) recognises an earlier import by the bundle id alone: a "
    "different bag signed by the partner under an id already imported (other items.json) is reported as "
    "'This bundle was imported on …; nothing was changed' and its content silently dropped, instead of refused "
    "as a second, different bundle under the same id (compare the signed tag manifest's SHA-256).")
PARENT_CYCLE = (
    "services/bundle_import.py _write (lines ~350-360) inserts items in items.json order with parent_id already "
    "mapped, so an item whose parent comes later in items.json (or a parent cycle) violates the foreign key "
    "items.parent_id at commit time; evidence.insert_item_row (line ~482) turns that IntegrityError into "
    "Conflict('Exhibit number … is already used …'): wrong message, exit code 5 not 4, raised by commit_import "
    "after prepare_import reported every check passed. parent_id is not validated in prepare (bundle_import._verify).")
# Case name -> why it is not refused as it should be (the tests mark these xfail, strict).
XFAIL: dict[str, str] = {}  # hostile cases the product did not yet refuse as it should (none now)


# ---- the recipient vaults ---------------------------------------------------------------------------
@contextlib.contextmanager
def witness_env(directory: Path) -> Iterator[None]:
    """``ICSPA_WITNESS_DIR`` set to ``directory`` for as long as the block runs (sessions write it on lock)."""
    old = os.environ.get(cp.WITNESS_ENV)
    os.environ[cp.WITNESS_ENV] = str(directory)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(cp.WITNESS_ENV, None)
        else:
            os.environ[cp.WITNESS_ENV] = old


@dataclass(frozen=True, slots=True)
class Recipient:
    """A copy of DE's vault in one state, with its own witness folder."""

    state: str  # "base", "revoked", "superseded", "imported", "control", ...
    vault: Path
    witness_dir: Path

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with witness_env(self.witness_dir), unlock(self.vault, "admin", PASS) as session:
            yield session

    def copy(self, state: str, root: Path) -> Recipient:
        target = Recipient(state, root / state, root / f"{state}.witness")
        shutil.copytree(self.vault, target.vault)
        if self.witness_dir.exists():
            shutil.copytree(self.witness_dir, target.witness_dir)
        return target


@dataclass(frozen=True, slots=True)
class HostileCase:
    name: str  # "<class>/<variant>"
    kind: str  # one of CLASSES
    path: Path  # the bundle file
    message: str  # regex (re.search) of the RefusedInput message
    recipient: Recipient
    problems: tuple[str, ...] = ()  # regexes check_bundle's problems must all match (checks a later problem too)
    xfail: str = ""  # a product bug: why this case is not refused as it should be


@dataclass(frozen=True, slots=True)
class Corpus:
    cases: list[HostileCase]
    original: Path  # the untouched export NL→DE
    roundtrip: Path  # the same bag decrypted, re-tarred, re-signed by NL and re-encrypted, unchanged
    base: Recipient  # DE as it trusts NL (and the expired partner)
    control: Recipient  # a copy of ``base`` that no case is imported into (positive controls)
    keys: Keys

    def counts(self) -> dict[str, int]:
        found = collections.Counter(case.kind for case in self.cases)
        return {kind: found[kind] for kind in CLASSES}


# ---- the layers: age, tar, bag ------------------------------------------------------------------------
@dataclass(frozen=True)
class Keys:
    """What the generator needs from the two agencies."""

    de_identity: pyrage.x25519.Identity
    de_recipient: str
    nl_recipient: str
    nl_sign: Signer  # NL's real agency key, detached CMS
    nl_certificate: x509.Certificate

    def decrypt(self, ciphertext: bytes) -> bytes:
        return bytes(pyrage.decrypt(ciphertext, [self.de_identity]))

    def encrypt(self, plaintext: bytes) -> bytes:
        """To DE, and to NL as every real bundle is (the sender can re-open what it sent)."""
        recipients = [pyrage.x25519.Recipient.from_str(r) for r in (self.de_recipient, self.nl_recipient)]
        return bytes(pyrage.encrypt(plaintext, recipients))


def keys_of(exchange: Exchange) -> Keys:
    with exchange.open_de() as de:
        de_identity = pyrage.x25519.Identity.from_str(agency.age_identity(de))
        de_recipient = agency.agency_identity(de).age_recipient
    with exchange.open_nl() as nl:
        signer = agency.agency_signer(nl)  # holds the key, not the session
        nl_recipient = agency.agency_identity(nl).age_recipient
    return Keys(de_identity, de_recipient, nl_recipient, signer.sign_detached, signer.certificate)


@dataclass(slots=True)
class Member:
    info: tarfile.TarInfo
    data: bytes  # written after the header as it is; may differ from info.size on purpose (bombs)


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, *, size: int | None = None,
           linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if size is None else size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return Member(info, data)


def header(m: Member) -> bytes:
    return m.info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def tar_bytes(members: list[Member], *, end: bool = True) -> bytes:
    """A pax tar of ``members`` in order, as tar(1) ends it: two zero blocks, padded to 10 KiB records."""
    out = bytearray()
    for m in members:
        out += header(m)
        out += m.data
        out += bytes(-len(m.data) % tarfile.BLOCKSIZE)
    if end:
        out += bytes(2 * tarfile.BLOCKSIZE)
        out += bytes(-len(out) % tarfile.RECORDSIZE)
    return bytes(out)


def _manifest_lines(data: bytes) -> list[tuple[str, str]]:
    return [(line[:64], line[66:]) for line in data.decode("utf-8").splitlines() if line]


def _dump(value: Any) -> bytes:
    """As the export writes its JSON records."""
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


class Bag:
    """The members of a bundle's tar, to change and write again; paths are relative to the bag folder."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.bid = members[0].info.name.rstrip("/")

    @classmethod
    def read(cls, plaintext: bytes) -> Bag:
        members: list[Member] = []
        with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:") as tar:
            for info in tar:
                handle = tar.extractfile(info) if info.isfile() else None
                members.append(Member(info, handle.read() if handle else b""))
        return cls(members)

    def copy(self) -> Bag:
        return Bag([Member(copy.copy(m.info), m.data) for m in self.members])

    def tar(self) -> bytes:
        return tar_bytes(self.members)

    @property
    def signature_name(self) -> str:
        return f"{self.bid}.p7s"

    def full(self, rel: str) -> str:
        return f"{self.bid}/{rel}"

    def index(self, name: str) -> int:
        return next(i for i, m in enumerate(self.members) if m.info.name == name)

    def get(self, rel: str) -> bytes:
        return self.members[self.index(self.full(rel))].data

    def put(self, rel: str, data: bytes) -> None:
        m = self.members[self.index(self.full(rel))]
        m.data = data
        m.info.size = len(data)

    def drop(self, name: str) -> Member:
        return self.members.pop(self.index(name))

    def insert_after(self, name: str, *added: Member) -> None:
        at = self.index(name) + 1
        self.members[at:at] = added

    def append(self, *added: Member) -> None:
        self.members.extend(added)

    def payload(self) -> list[Member]:
        prefix = self.full("data/")
        return [m for m in self.members if m.info.name.startswith(prefix) and m.info.isfile()]

    def first_payload(self) -> Member:
        """The largest payload file (it spans several age chunks)."""
        return max(self.payload(), key=lambda m: m.info.size)

    def json(self, rel: str) -> Any:
        return json.loads(self.get(rel))

    # -- bag-info, manifests, signature --
    def info_fields(self) -> list[tuple[str, str]]:
        lines = self.get(BAG_INFO_TXT).decode("utf-8").splitlines()
        return [(label, value) for label, _, value in (line.partition(": ") for line in lines)]

    def set_info(self, fields: list[tuple[str, str]]) -> None:
        self.put(BAG_INFO_TXT, "".join(f"{k}: {v}\n" for k, v in fields).encode("utf-8"))

    def replace_info(self, label: str, value: str) -> None:
        self.set_info([(k, value if k == label else v) for k, v in self.info_fields()])

    def refresh(self, *, manifest: bool = False, oxum: bool = True) -> None:
        """Make the bag's own bookkeeping agree with its members again (what a forger with the key does)."""
        payload = self.payload()
        if manifest:
            lines = [(hashlib.sha256(m.data).hexdigest(), m.info.name[len(self.bid) + 1:]) for m in payload]
            self.put(MANIFEST, "".join(f"{h}  {p}\n" for h, p in lines).encode("ascii"))
        if oxum:
            self.replace_info("Payload-Oxum", f"{sum(len(m.data) for m in payload)}.{len(payload)}")
        entries = []
        for digest, path in _manifest_lines(self.get(TAGMANIFEST)):
            present = any(m.info.name == self.full(path) for m in self.members)
            entries.append(f"{hashlib.sha256(self.get(path)).hexdigest() if present else digest}  {path}\n")
        self.put(TAGMANIFEST, "".join(entries).encode("ascii"))

    def list_tag(self, rel: str) -> None:
        """Add ``rel`` (a tag file of the bag) to the tag manifest."""
        digest = hashlib.sha256(self.get(rel)).hexdigest()
        self.put(TAGMANIFEST, self.get(TAGMANIFEST) + f"{digest}  {rel}\n".encode())

    def sign(self, sign: Signer) -> None:
        m = self.members[self.index(self.signature_name)]
        m.data = sign(self.get(TAGMANIFEST))
        m.info.size = len(m.data)

    def reseal(self, sign: Signer, *, manifest: bool = False, oxum: bool = True) -> None:
        self.refresh(manifest=manifest, oxum=oxum)
        self.sign(sign)


def stranger(name: str = "Unknown Agency", country: str = "XX") -> tuple[certs.SigningKey, x509.Certificate, Signer]:
    key = certs.generate_key()
    cert = certs.self_signed(key, name, country)
    return key, cert, lambda content: cms.sign_detached(content, cert, key)


def impostor_of(genuine: x509.Certificate) -> Signer:
    """A fresh key under a certificate with the genuine one's subject, issuer *and* serial number."""
    key = certs.generate_key()
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(genuine.subject).issuer_name(genuine.issuer)
            .public_key(key.public_key()).serial_number(genuine.serial_number)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA384()))
    return lambda content: cms.sign_detached(content, cert, key)


def other_letter(data: bytes, at: int) -> bytes:
    """Another base64 letter at ``at`` (still parses, unlike most bit flips in the age header's text)."""
    return data[:at] + (b"B" if data[at:at + 1] == b"A" else b"A") + data[at + 1:]


def flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    at %= len(data)
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1:]


# ---- the corpus ----------------------------------------------------------------------------------------
class _Writer:
    def __init__(self, out: Path, keys: Keys) -> None:
        self.out = out
        self.keys = keys
        self.cases: list[HostileCase] = []

    def raw(self, kind: str, variant: str, ciphertext: bytes, message: str, recipient: Recipient,
            problems: tuple[str, ...] = (), beside: dict[str, bytes] | None = None) -> None:
        """The bundle file ``<kind>/<variant>.icspa``; ``beside``: suffix -> bytes of files next to it (a seal)."""
        assert kind in CLASSES, kind
        folder = self.out / "bundles" / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{variant}.icspa"
        path.write_bytes(ciphertext)
        for suffix, data in (beside or {}).items():
            path.with_name(path.name + suffix).write_bytes(data)
        name = f"{kind}/{variant}"
        assert all(case.name != name for case in self.cases), name
        self.cases.append(HostileCase(name, kind, path, message, recipient, problems, XFAIL.get(name, "")))

    def bag(self, kind: str, variant: str, bag: Bag | bytes, message: str, recipient: Recipient,
            problems: tuple[str, ...] = ()) -> None:
        plain = bag.tar() if isinstance(bag, Bag) else bag
        self.raw(kind, variant, self.keys.encrypt(plain), message, recipient, problems)


def _expired_partner(de: Recipient, seconds: int = 2) -> tuple[x509.Certificate, Signer]:
    """A partner DE trusted while its certificate was valid; the certificate ends ``seconds`` from now.

    ``add_partner`` refuses a certificate that has already expired, so the partner is added first and the
    bag is signed once the validity has ended (``sign_expired`` waits for that if it has to)."""
    key = certs.generate_key()
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
    cert = certs.self_signed(key, EXPIRED_NAME, "BE", now=ends - timedelta(days=1), validity_days=1)
    with de.session() as session:
        partners.add_partner(session, EXPIRED_NAME, "BE", str(pyrage.x25519.Identity.generate().to_public()),
                             cert.public_bytes(serialization.Encoding.PEM))
    return cert, lambda content: cms.sign_detached(content, cert, key)


def _forged_custody(bag: Bag, exchange: Exchange, sign: Signer, origin: str | None = None) -> bytes:
    """custody.json with a checkpoint of the same size as the real one but another root: one event the
    bundle does not carry is rewritten, the carried events' proofs are recomputed, and NL's key signs it
    (under the log's own name, or under ``origin``: the rewritten log sent as a new log)."""
    doc = bag.json("metadata/custody.json")
    head = cp.parse_body(doc["checkpoint"]["text"].encode("utf-8"))
    with exchange.open_nl() as nl:
        tree = custody.stored_tree(nl.conn)
    leaves = [tree.leaf_hash(i) for i in range(head.size)]
    carried = {event["leaf_index"] for event in doc["events"]}
    victim = min(set(range(head.size)) - carried)
    leaves[victim] = hashlib.sha256(b"a rewritten event").digest()
    forged = merkle.MerkleTree(leaves)
    text = cp.format_body(origin or head.origin, head.size, forged.root(), head.timestamp)
    doc["checkpoint"] = {"text": text.decode("utf-8"), "signature_der_b64": base64.b64encode(sign(text)).decode()}
    for event in doc["events"]:
        event["inclusion_proof"] = [base64.b64encode(node).decode()
                                    for node in forged.inclusion_proof(event["leaf_index"], head.size)]
    return _dump(doc)


def _many_members(bag: Bag, count: int) -> bytes:
    """The bag folder, then ``count`` empty folders: past the member bound before anything else is wrong.

    Headers are patched from one template (``TarInfo.tobuf`` for each would take seconds)."""
    template = bytearray(header(member(f"{bag.bid}/d/000000", kind=tarfile.DIRTYPE)))
    blocks = bytearray()
    for n in range(count):
        block = bytearray(template)
        block[0:100] = f"{bag.bid}/d/{n:06d}/".encode().ljust(100, b"\0")
        block[148:156] = b" " * 8
        block[148:155] = f"{sum(block):06o}\0".encode()
        blocks += block
    return tar_bytes(bag.members[:1], end=False) + bytes(blocks) + bytes(2 * tarfile.BLOCKSIZE)


def _not_age_files(plain: bytes) -> dict[str, bytes]:
    return {
        "plain-tar": plain,  # the bundle's own plaintext, never encrypted
        "pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
        "zip": b"PK\x05\x06" + bytes(18),
        "random": hashlib.sha512(b"random").digest() * 64,
    }


def _planted(sc: _Scene, kind: str, variant: str, added: Member, message: str) -> None:
    """The genuine bag with ``added`` right after its data/ folder."""
    bag = sc.genuine.copy()
    bag.insert_after(bag.full("data"), added)
    sc.w.bag(kind, variant, bag, message, sc.base)


def _who_signed(sc: _Scene) -> None:
    """Who signed, and for whom."""
    w, keys, genuine, base, nl_sign = sc.w, sc.keys, sc.genuine, sc.base, sc.keys.nl_sign
    b = genuine.copy()
    b.sign(sc.unknown_sign)
    w.bag("unknown-sender", "fresh-key", b, r"unknown certificate \(not a trusted agency key\)\. It carries the "
          r"certificate of 'CN=Unknown Agency,O=Unknown Agency,C=XX' \(SHA-256 [0-9a-f]{16}…\), which is not "
          "trusted", base)
    _k, _c, lookalike_sign = stranger("Politie Landelijke Eenheid", "NL")
    b = genuine.copy()
    b.sign(lookalike_sign)
    w.bag("unknown-sender", "same-name-other-key", b, r"unknown certificate \(not a trusted agency key\)", base)
    b = genuine.copy()
    b.sign(impostor_of(keys.nl_certificate))
    w.bag("unknown-sender", "same-issuer-and-serial", b, r"CMS signature is not valid \(bad signature\)", base)

    with base.session() as session:
        own_sign = agency.agency_signer(session).sign_detached
    b = genuine.copy()
    b.sign(own_sign)
    w.bag("unknown-sender", "signed-by-de-itself", b, r"signed by this agency itself \(our own copy of a bundle we "
          r"sent\); only bundles from partner agencies are imported", base)

    w.raw("revoked-key", "nl-revoked", sc.ciphertext, r"revoked on \d{4}-\d\d-\d\d: key reported stolen.*whatever "
          "their date", sc.revoked)
    w.raw("superseded-key", "replaced-before-signing", sc.ciphertext, r"had been replaced by a newer one on "
          r"\d{4}-\d\d-\d\d before it signed", sc.superseded)

    w.bag("not-addressed", "signed-for-fr", sc.fr_plain, r"not addressed to this agency: the recipients named in its "
          r"signed bag-info\.txt are [0-9A-F ]+; ours is [0-9A-F ]+\.", base)
    w.raw("not-addressed", "age-to-someone-else",
          bytes(pyrage.encrypt(sc.plain, [pyrage.x25519.Identity.generate().to_public()])),
          r"not addressed to any of our identities", base)
    b = genuine.copy()
    b.set_info([(k, v) for k, v in b.info_fields() if k != "ICSPA-Recipient-Agency"])
    b.reseal(nl_sign)
    w.bag("not-addressed", "no-recipient-field", b, r"bag-info\.txt names no ICSPA-Recipient-Agency", base)
    b = genuine.copy()
    b.replace_info("ICSPA-Sender-Agency", "0" * 64)
    b.reseal(nl_sign)
    w.bag("not-addressed", "sender-field-lies", b, r"bag-info\.txt names the sender '0{64}', but the bag is signed "
          "by Politie NL", base)


def _signature(sc: _Scene) -> None:
    """The signature."""
    w, genuine, second, base, nl_sign = sc.w, sc.genuine, sc.second, sc.base, sc.keys.nl_sign
    sig = genuine.members[genuine.index(genuine.signature_name)].data
    for variant, changed, message in (
            ("last-byte", flip(sig, -1), r"CMS signature is not valid \(bad signature\)"),
            ("first-byte", flip(sig, 0, 0x80), r"not a CMS signature \(cannot parse the SignedData\)"),
            ("truncated", sig[:-40], r"not a CMS signature \(cannot parse the SignedData\)"),
            ("empty", b"", r"not a CMS signature \(cannot parse the SignedData\)"),
            ("other-bag", nl_sign(second.get(TAGMANIFEST)), r"signed content does not match: it was changed after "
                                                           "signing")):
        b = genuine.copy()
        m = b.members[b.index(b.signature_name)]
        m.data, m.info.size = changed, len(changed)
        w.bag("bad-signature", variant, b, message, base)
    b = genuine.copy()
    b.drop(b.signature_name)
    w.bag("missing-signature", "dropped", b, r"The signature [0-9a-f-]+\.p7s is missing: the bag is not signed", base)
    b = genuine.copy()
    b.drop(b.signature_name)
    b.append(member(b.full("signature.p7s"), sig))
    b.list_tag("signature.p7s")
    w.bag("missing-signature", "moved-into-bag", b, r"The signature [0-9a-f-]+\.p7s is missing", base)

    # The outer seal beside an untouched bundle: only the seal can be at fault.
    def seal(variant: str) -> bytes:
        return f"{hashlib.sha256(sc.ciphertext).hexdigest()}  {variant}.icspa\n".encode()

    wrong = f"{'0' * 64}  seal-hash-differs.icspa\n".encode()
    for variant, files, message in (
            ("seal-hash-differs", {".sha256": wrong, ".sha256.p7s": nl_sign(wrong)}, r"The outer seal is bad: the "
             r"file's SHA-256 differs from the seal \(changed since it was sealed\)"),
            ("seal-unknown-signer", {".sha256": seal("seal-unknown-signer"),
                                     ".sha256.p7s": sc.unknown_sign(seal("seal-unknown-signer"))},
             r"The outer seal is bad: seal-unknown-signer\.icspa\.sha256\.p7s: The signature was made by an unknown "
             "certificate"),
            ("seal-signature-of-other-content", {".sha256": seal("seal-signature-of-other-content"),
                                                 ".sha256.p7s": nl_sign(wrong)},
             r"The outer seal is bad: .*signed content does not match"),
            ("half-a-seal", {".sha256": seal("half-a-seal")}, r"The outer seal is bad: half-a-seal\.icspa\.sha256\.p7s "
             r"is missing \(half a seal\)")):
        w.raw("bad-signature", variant, sc.ciphertext, message, base, beside=files)


def _hashes(sc: _Scene) -> None:
    """Hashes."""
    w, genuine, base, nl_sign = sc.w, sc.genuine, sc.base, sc.keys.nl_sign
    b = genuine.copy()
    victim = b.first_payload()
    victim.data = flip(victim.data, len(victim.data) // 2)
    w.bag("payload-hash", "flipped-byte", b, r"payload file 'data/[0-9a-f-]+' does not match its SHA-256 in "
          r"manifest-sha256\.txt", base)
    b = genuine.copy()
    victim = b.first_payload()
    victim.data = flip(victim.data, 7)
    b.reseal(nl_sign, manifest=True)
    w.bag("payload-hash", "manifest-and-signature-redone", b, r"Item '[^']+': its record states another size or "
          "SHA-256 than its payload file has", base)
    b = genuine.copy()
    victim = b.first_payload()
    victim.data = victim.data[:-1]
    victim.info.size -= 1
    w.bag("payload-hash", "shortened", b, r"Payload-Oxum", base,
          problems=(r"payload file 'data/[0-9a-f-]+' does not match its SHA-256",))

    b = genuine.copy()
    b.put("metadata/case.jsonld", flip(b.get("metadata/case.jsonld"), 10))
    w.bag("tag-hash", "jsonld-changed", b, r"tag file 'metadata/case\.jsonld' does not match "
          r"tagmanifest-sha256\.txt \(changed after signing\)", base)
    b = genuine.copy()
    b.put("metadata/custody-report.pdf", b.get("metadata/custody-report.pdf") + b"%%EOF\n")
    w.bag("tag-hash", "report-appended", b, r"'metadata/custody-report\.pdf' does not match tagmanifest", base)
    b = genuine.copy()
    b.put("metadata/items.json", b.get("metadata/items.json").replace(b'"H2"', b'"H1"'))
    b.refresh()
    w.bag("tag-hash", "tagmanifest-updated-not-signed", b, r"signed content does not match: it was changed after "
          "signing", base)
    b = genuine.copy()
    b.put(MANIFEST, b.get(MANIFEST) + b"0" * 64 + b"  data/ghost\n")
    w.bag("tag-hash", "manifest-changed", b, r"'manifest-sha256\.txt' does not match tagmanifest", base)


def _which_files(sc: _Scene) -> None:
    """Which files."""
    w, genuine, base, nl_sign = sc.w, sc.genuine, sc.base, sc.keys.nl_sign
    b = genuine.copy()
    b.drop(b.first_payload().info.name)
    b.reseal(nl_sign)
    w.bag("missing-payload", "dropped-oxum-redone", b, r"payload file 'data/[0-9a-f-]+' is listed in "
          r"manifest-sha256\.txt but not in the bundle", base)
    b = genuine.copy()
    b.drop(b.first_payload().info.name)
    b.reseal(nl_sign, manifest=True)
    w.bag("missing-payload", "dropped-manifest-redone", b, r"payload files under data/ and the item records of "
          r"metadata/items\.json do not match one to one", base)
    b = genuine.copy()
    b.drop(b.first_payload().info.name)
    w.bag("missing-payload", "dropped", b, r"Payload-Oxum '\d+\.3'; the payload is \d+\.2", base,
          problems=(r"is listed in manifest-sha256\.txt but not in the bundle",))

    b = genuine.copy()
    b.append(member(b.full("data/extra-0001"), b"planted\n"))
    b.reseal(nl_sign)
    w.bag("extra-payload", "unlisted-oxum-redone", b, r"payload file 'data/extra-0001' is in the bundle but not in "
          r"manifest-sha256\.txt", base)
    b = genuine.copy()
    b.append(member(b.full("data/extra-0001"), b"planted\n"))
    b.reseal(nl_sign, manifest=True)
    w.bag("extra-payload", "listed-and-signed", b, r"do not match one to one", base)
    b = genuine.copy()
    b.append(member(b.full("data/extra-0001"), b"planted\n"))
    w.bag("extra-payload", "unlisted", b, r"declares Payload-Oxum", base,
          problems=(r"'data/extra-0001' is in the bundle but not in manifest-sha256\.txt",))

    b = genuine.copy()
    b.insert_after(b.full("metadata/items.json"), member(b.full("metadata/notes.txt"), b"not signed\n"))
    w.bag("extra-tag", "unlisted-metadata", b, r"tag file 'metadata/notes\.txt' is not covered by "
          r"tagmanifest-sha256\.txt \(not signed\)", base)
    b = genuine.copy()
    b.insert_after(b.full(BAGIT_TXT), member(b.full("manifest-md5.txt"), b""))
    b.list_tag("manifest-md5.txt")
    b.reseal(nl_sign)
    w.bag("extra-tag", "md5-manifest-signed", b, r"holds 'manifest-md5\.txt'; bundles carry SHA-256 manifests only",
          base)
    b = genuine.copy()
    b.insert_after(b.full(BAGIT_TXT), member(b.full("fetch.txt"), b"https://example.org/x 10 data/x\n"))
    w.bag("extra-tag", "fetch-txt", b, r"'[0-9a-f-]+/fetch\.txt' is not allowed in a bundle \(BagIt reserves", base)
    b = genuine.copy()
    b.insert_after(b.full(BAGIT_TXT), member(b.full("notes.txt"), b"top level\n"))
    b.list_tag("notes.txt")
    w.bag("extra-tag", "listed-not-signed", b, r"signed content does not match", base)


def _members(sc: _Scene) -> None:
    """Names and kinds of members."""
    w, genuine, base, bid = sc.w, sc.genuine, sc.base, sc.genuine.bid
    _planted(sc, "absolute-path", "inside-bag", member(f"/{bid}/data/abs", b"x"), rf"'/{bid}/data/abs' has an absolute "
            "path")
    _planted(sc, "absolute-path", "etc", member("/etc/cron.d/icspa", b"* * * * * root id\n"),
             r"'/etc/cron\.d/icspa' has an absolute path")
    b = genuine.copy()
    b.members.insert(0, member("/tmp/first", b"x"))
    w.bag("absolute-path", "first-member", b, r"'/tmp/first' has an absolute path", base,
          problems=(r"does not start with the bag folder",))
    _planted(sc, "dotdot", "out-of-bag", member(f"{bid}/../escape.txt", b"x"), r"climbs out of its folder with '\.\.'")
    _planted(sc, "dotdot", "deep", member(f"{bid}/data/../../../home/x/.bashrc", b"x"), r"climbs out of its folder")
    _planted(sc, "dotdot", "folder", member(f"{bid}/data/../..", kind=tarfile.DIRTYPE), r"climbs out of its folder")
    _planted(sc, "symlink", "to-etc-passwd", member(f"{bid}/data/link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
            r"'[0-9a-f-]+/data/link' is a symbolic link; links, devices and FIFOs are refused")
    b = genuine.copy()
    b.insert_after(b.full("data"), member(f"{bid}/out", kind=tarfile.SYMTYPE, linkname="/tmp"),
                   member(f"{bid}/out/planted", b"x"))
    w.bag("symlink", "folder-then-file-through-it", b, r"'[0-9a-f-]+/out' is a symbolic link", base)
    _planted(sc, "hardlink", "to-payload", member(f"{bid}/data/hard", kind=tarfile.LNKTYPE,
                                             linkname=genuine.first_payload().info.name), r"is a hard link; links")
    _planted(sc, "hardlink", "to-etc-shadow",
             member(f"{bid}/data/shadow", kind=tarfile.LNKTYPE, linkname="/etc/shadow"),
             r"'[0-9a-f-]+/data/shadow' is a hard link")
    _planted(sc, "device", "character", member(f"{bid}/data/mem", kind=tarfile.CHRTYPE),
             r"is a character device; links, devices and FIFOs are refused")
    _planted(sc, "device", "block", member(f"{bid}/data/sda", kind=tarfile.BLKTYPE), r"is a block device")
    _planted(sc, "fifo", "in-data", member(f"{bid}/data/pipe", kind=tarfile.FIFOTYPE), r"'[0-9a-f-]+/data/pipe' is a "
            "FIFO; links, devices and FIFOs are refused")

    b = genuine.copy()
    first = b.first_payload()
    b.append(Member(copy.copy(first.info), first.data))
    w.bag("duplicate", "payload-same-content", b, r"'[0-9a-f-]+/data/[0-9a-f-]+' occurs twice", base)
    b = genuine.copy()
    items = b.json("metadata/items.json")
    items[0]["description"] = "the second copy wins in most tar tools"
    b.append(member(b.full("metadata/items.json"), _dump(items)))
    w.bag("duplicate", "items-json-second-copy", b, r"'[0-9a-f-]+/metadata/items\.json' occurs twice", base)
    b = genuine.copy()
    b.append(member(b.signature_name, sc.unknown_sign(b.get(TAGMANIFEST))))
    w.bag("duplicate", "signature-twice", b, r"'[0-9a-f-]+\.p7s' occurs twice", base)
    b = genuine.copy()
    b.insert_after(b.full("data"), member(b.full("data"), kind=tarfile.DIRTYPE))
    w.bag("duplicate", "folder-twice", b, r"'[0-9a-f-]+/data/?' occurs twice", base)

    b = genuine.copy()
    b.insert_after(b.full("data"), member(f"{bid}/data/ABC", b"upper"), member(f"{bid}/data/abc", b"lower"))
    w.bag("case-collision", "data-ABC-abc", b, r"'[0-9a-f-]+/data/abc' collides with '[0-9a-f-]+/data/ABC' after "
          "case folding or Unicode normalisation", base)
    b = genuine.copy()
    b.append(member(b.full("METADATA/items.json"), _dump(items)))
    w.bag("case-collision", "METADATA-items", b, r"'[0-9a-f-]+/METADATA/items\.json' collides with", base)
    b = genuine.copy()
    b.append(member(b.full("Bag-Info.txt"), b"ICSPA-Recipient-Agency: everyone\n"))
    w.bag("case-collision", "Bag-Info", b, r"'[0-9a-f-]+/Bag-Info\.txt' collides with '[0-9a-f-]+/bag-info\.txt'",
          base)
    b = genuine.copy()
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    b.insert_after(b.full("data"), member(f"{bid}/data/{nfc}", b"composed"), member(f"{bid}/data/{nfd}", b"split"))
    w.bag("unicode-collision", "nfc-nfd", b, r"'[0-9a-f-]+/data/café' has characters other than", base,
          problems=(r"/data/caf\S+' collides with '[0-9a-f-]+/data/caf\S+' after case folding or Unicode "
                    r"normalisation .*; as code points: '[0-9a-f-]+/data/cafe\\u0301' and "
                    r"'[0-9a-f-]+/data/caf\\xe9'\.",))
    b = genuine.copy()
    b.insert_after(b.full("data"), member(f"{bid}/data/ABC", b"ascii"), member(f"{bid}/data/\uff21BC", b"wide"))
    w.bag("unicode-collision", "fullwidth", b, r"'[0-9a-f-]+/data/\uff21BC' collides with '[0-9a-f-]+/data/ABC' after "
          "case folding or Unicode normalisation", base)
    b = genuine.copy()
    b.insert_after(b.full("data"), member(f"{bid}/data/file", b"plain"), member(f"{bid}/data/\ufb01le", b"ligature"))
    w.bag("unicode-collision", "ligature", b, r"'[0-9a-f-]+/data/\ufb01le' collides with '[0-9a-f-]+/data/file'",
          base)


def _bounds(sc: _Scene) -> None:
    """Bounds: each is refused from the declared size, before its data is read."""
    w, genuine, base, bid = sc.w, sc.genuine, sc.base, sc.genuine.bid
    huge = member(f"{bid}/data/bomb", size=1 << 41)
    w.bag("bounds", "payload-2TiB-declared", tar_bytes([*genuine.copy().members, huge]),
          r"holds more than 1,099,511,627,776 bytes, the limit; not read further", base)
    # A record the import holds in memory to parse (a tag file it does not read is only hashed as it passes).
    huge_tag = member(f"{bid}/metadata/custody.json", size=300 << 20)
    w.bag("bounds", "tag-file-300MiB-declared", tar_bytes([*genuine.copy().members[:3], huge_tag]),
          r"'metadata/custody\.json' has 314,572,800 bytes, more than the limit of 268,435,456; it was not read", base,
          problems=(r"ends without its end-of-archive marker",))
    big_payload = member(f"{bid}/data/big", b"only this much", size=600 << 30)
    w.bag("bounds", "payload-600GiB-declared-absent", tar_bytes([*genuine.copy().members, big_payload], end=False),
          r"ends without its end-of-archive marker: it was cut short", base)
    b = genuine.copy()
    m = b.members[b.index(b.signature_name)]
    m.data = bytes(2 << 20)
    m.info.size = len(m.data)
    w.bag("bounds", "signature-2MiB", b, r"signature file '[0-9a-f-]+\.p7s' has 2,097,152 bytes, more than a CMS "
          "signature can need", base)
    _planted(sc, "bounds", "name-2000-bytes", member(f"{bid}/data/{'n' * 2000}", b"x"), r"has a name longer than 1024 "
            "bytes")
    pax = member(f"{bid}/data/pax", b"x")
    pax.info.pax_headers = {"uname": "u" * (100 << 10)}
    _planted(sc, "bounds", "pax-header-100KiB", pax, r"A pax header of 102,\d{3} bytes exceeds the limit of 65,536")

    w.bag("bounds", "members-100001", _many_members(genuine, 100_001), r"The bundle has more than 100,000 members, "
          "the limit; not read further", base)


def _records(sc: _Scene) -> None:
    """The records: malformed JSON, re-signed so that only the parser can refuse them."""
    w, genuine, base, nl_sign = sc.w, sc.genuine, sc.base, sc.keys.nl_sign
    def record(variant: str, rel: str, data: bytes, message: str) -> None:
        bag = genuine.copy()
        bag.put(rel, data)
        bag.reseal(nl_sign)
        w.bag("malformed-json", variant, bag, message, base)

    items_bytes = genuine.get("metadata/items.json")
    case_bytes = genuine.get("metadata/case.json")
    custody_bytes = genuine.get("metadata/custody.json")
    record("items-truncated", "metadata/items.json", items_bytes[: len(items_bytes) // 2],
           r"metadata/items\.json is not valid JSON")
    record("case-duplicate-key", "metadata/case.json", case_bytes.replace(b"{", b'{\n "title": "Other",', 1),
           r"metadata/case\.json is not valid JSON \(the key 'title' occurs twice\)")
    record("custody-nan", "metadata/custody.json", custody_bytes.replace(b"{", b'{\n "extra": NaN,', 1),
           r"metadata/custody\.json is not valid JSON \(NaN is not JSON\)")
    record("items-infinity", "metadata/items.json", items_bytes.replace(b'"size": ', b'"size": -Infinity, "x": ', 1),
           r"metadata/items\.json is not valid JSON \(-Infinity is not JSON\)")
    record("items-not-utf8", "metadata/items.json", items_bytes.replace(b"[", b'["\xff",', 1),
           r"metadata/items\.json is not valid JSON")
    record("items-deep", "metadata/items.json", b"[" * 40 + b"]" * 40, r"metadata/items\.json nests deeper than 8 "
           "levels")
    record("items-empty-list", "metadata/items.json", b"[]\n", r"metadata/items\.json is not a non-empty list")
    item_list = json.loads(items_bytes)
    item_list[0]["size"] = str(item_list[0]["size"])
    record("items-size-text", "metadata/items.json", _dump(item_list), r"metadata/items\.json record 1: the field "
           "'size' is not a whole number")
    item_list = json.loads(items_bytes)
    item_list[0]["markings"]["tlp"] = "ULTRAVIOLET"
    record("items-unknown-tlp", "metadata/items.json", _dump(item_list), r"markings: the field 'tlp' is not a known "
           r"code \('ULTRAVIOLET'\)")
    custody_doc = json.loads(custody_bytes)
    custody_doc["format"] = "icspa-custody-proofs/v9"
    record("custody-unknown-format", "metadata/custody.json", _dump(custody_doc), r"custody\.json: the field "
           "'format' is not 'icspa-custody-proofs/v1'")
    custody_doc = json.loads(custody_bytes)
    custody_doc["events"][0]["event_b64"] = base64.b64encode(b'{"id": 1, "id": 2}').decode()
    record("custody-event-duplicate-key", "metadata/custody.json", _dump(custody_doc), r"event 1 \(signed body\) is "
           r"not valid JSON \(the key 'id' occurs twice\)")
    custody_doc = json.loads(custody_bytes)
    assert "event" in custody_doc["events"][0], "the export writes a readable copy of each event"
    custody_doc["events"][0]["event"]["action"] = "evidence_destroyed"  # what a reader without our tool reads
    record("custody-readable-copy-lies", "metadata/custody.json", _dump(custody_doc), r"custody\.json event 1: the "
           r"field 'event' \(the readable copy\) differs from the signed text 'event_b64'")
    record("case-is-a-list", "metadata/case.json", b"[]\n", r"metadata/case\.json is not a JSON object")
    item_list = json.loads(items_bytes)
    item_list[0]["parent_id"], item_list[1]["parent_id"] = item_list[1]["id"], item_list[0]["id"]
    b = genuine.copy()
    b.put("metadata/items.json", _dump(item_list))
    b.reseal(nl_sign)
    w.bag("malformed-json", "items-parent-cycle", b, r"metadata/items\.json.*parent", base)


def _tag_files(sc: _Scene) -> None:
    """Tag files that are not what BagIt says."""
    w, genuine, base, nl_sign = sc.w, sc.genuine, sc.base, sc.keys.nl_sign
    def tagfile(variant: str, rel: str, data: bytes, message: str, problems: tuple[str, ...] = ()) -> None:
        bag = genuine.copy()
        bag.put(rel, data)
        bag.reseal(nl_sign, oxum=False)
        w.bag("malformed-tag", variant, bag, message, base, problems)

    info_bytes = genuine.get(BAG_INFO_TXT)
    tagfile("bag-info-no-colon-space", BAG_INFO_TXT, info_bytes + b"Handling H1 only\n",
            r"bag-info\.txt line \d+ is not a 'Label: value' line")
    tagfile("bag-info-folded-line", BAG_INFO_TXT, info_bytes + b"   continued\n", r"bag-info\.txt line \d+ is not a "
            "'Label: value' line")
    tagfile("bag-info-crlf", BAG_INFO_TXT, info_bytes.replace(b"\n", b"\r\n"), r"bag-info\.txt line 1 is not a "
            "'Label: value' line")
    tagfile("bag-info-not-utf8", BAG_INFO_TXT, info_bytes + b"Contact-Name: \xff\n", r"bag-info\.txt is not UTF-8")
    tagfile("bag-info-two-oxums", BAG_INFO_TXT, info_bytes + b"Payload-Oxum: 1.1\n", r"bag-info\.txt has 2 "
            "Payload-Oxum fields; exactly one is required")
    tagfile("bagit-0.97", BAGIT_TXT, b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n",
            r"bagit\.txt does not declare BagIt 1\.0 in UTF-8")
    tagfile("bagit-latin1", BAGIT_TXT, b"BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n",
            r"bagit\.txt does not declare BagIt 1\.0 in UTF-8")
    manifest_bytes = genuine.get(MANIFEST)
    tagfile("manifest-one-space", MANIFEST, manifest_bytes.replace(b"  ", b" ", 1), r"manifest-sha256\.txt entry 1 "
            r"is not '<sha256>  <path>'")
    tagfile("manifest-twice", MANIFEST, manifest_bytes + manifest_bytes.splitlines(keepends=True)[0],
            r"manifest-sha256\.txt lists 'data/[0-9a-f-]+' twice")
    tagfile("manifest-percent-path", MANIFEST, manifest_bytes + b"0" * 64 + b"  data/a%2Fb\n",
            r"manifest-sha256\.txt entry 4 is not '<sha256>  <path>' with a usable path")
    b = genuine.copy()
    b.replace_info("External-Identifier", "another-bundle")
    b.reseal(nl_sign)
    w.bag("malformed-tag", "external-identifier-other", b, r"bag-info\.txt names the bundle 'another-bundle', but "
          "the bag folder is", base)
    b = genuine.copy()
    b.replace_info("ICSPA-Case-Number", "2026/999")
    b.reseal(nl_sign)
    w.bag("malformed-tag", "case-number-differs", b, r"bag-info\.txt and metadata/case\.json name different case "
          "numbers", base)
    b = genuine.copy()
    b.replace_info("ICSPA-TLP", "CLEAR")
    b.reseal(nl_sign)
    w.bag("malformed-tag", "markings-differ", b, r"markings in bag-info\.txt \(handling codes, TLP\) differ", base)

    b = genuine.copy()
    b.replace_info("ICSPA-Format-Version", "99")
    b.reseal(nl_sign)
    w.bag("format-version", "99", b, r"has format version '99'; this program reads version 1 only", base)
    b = genuine.copy()
    b.set_info([(k, v) for k, v in b.info_fields() if k != "ICSPA-Format-Version"])
    b.reseal(nl_sign)
    w.bag("format-version", "absent", b, r"bag-info\.txt has 0 ICSPA-Format-Version fields; exactly one", base)


def _partner_log(sc: _Scene) -> None:
    """The partner's log, against what DE already holds from them (DE imported the original first)."""
    w, genuine, second, imported, nl_sign = sc.w, sc.genuine, sc.second, sc.imported, sc.keys.nl_sign
    b = genuine.copy()
    b.put("metadata/custody.json", _forged_custody(b, sc.exchange, nl_sign))
    b.reseal(nl_sign)
    w.bag("inconsistent-log", "same-size-other-root", b, r"partner's log is inconsistent: we hold a checkpoint of "
          r"\d+ events with another root hash", imported)
    # The same rewritten log under a new name: one of NL's own (another vault id), or the placeholder prefix any
    # agency may sign. Nothing held has that name, so only the case's log tells (found by an audit: accepted).
    own_prefix = cp.parse_body(genuine.json("metadata/custody.json")["checkpoint"]["text"].encode()).origin
    own_prefix = own_prefix.rsplit("/", 1)[0]
    for variant, origin in (("renamed-own-log", f"{own_prefix}/11111111-2222-3333-4444-555555555555"),
                            ("renamed-placeholder-log", f"{cp.ORIGIN_PREFIX}/whatever")):
        b = genuine.copy()
        b.put("metadata/custody.json", _forged_custody(b, sc.exchange, nl_sign, origin))
        b.reseal(nl_sign)
        w.bag("inconsistent-log", variant, b, r"custody of this case came to us in the partner's log '[^']+'; this "
              r"bundle's checkpoint names another log", imported)
    # The placeholder name of the same log (its vault id): the same log under another of its names, whose tree
    # heads must agree with those held under the first.
    vault_id = cp.parse_body(genuine.json("metadata/custody.json")["checkpoint"]["text"].encode()).origin
    vault_id = vault_id.rsplit("/", 1)[1]
    b = genuine.copy()
    b.put("metadata/custody.json", _forged_custody(b, sc.exchange, nl_sign, f"{cp.ORIGIN_PREFIX}/{vault_id}"))
    b.reseal(nl_sign)
    w.bag("inconsistent-log", "placeholder-name-of-the-same-log", b, r"partner's log is inconsistent: we hold a "
          r"checkpoint of \d+ events with another root hash", imported)
    b = second.copy()
    doc = b.json("metadata/custody.json")
    assert "previous_checkpoint" in doc, "the second bundle carries no previous checkpoint"
    del doc["previous_checkpoint"], doc["consistency_proof"]
    b.put("metadata/custody.json", _dump(doc))
    b.reseal(nl_sign)
    w.bag("inconsistent-log", "no-link-to-held-head", b, r"cannot be shown to extend the last one we hold from them "
          r"\(\d+ events\): the bundle carries no previous checkpoint", imported)
    b = second.copy()
    doc = b.json("metadata/custody.json")
    doc["consistency_proof"] = [base64.b64encode(hashlib.sha256(b"x").digest()).decode()] * len(
        doc["consistency_proof"])
    b.put("metadata/custody.json", _dump(doc))
    b.reseal(nl_sign)
    w.bag("inconsistent-log", "bad-consistency-proof", b, r"partner's log does not extend its own previous "
          r"checkpoint \(size \d+\)", imported)

    item_list = genuine.json("metadata/items.json")
    item_list[0]["description"] = "another story under the same bundle id"
    b = genuine.copy()
    b.put("metadata/items.json", _dump(item_list))
    b.reseal(nl_sign)
    w.bag("duplicate", "bundle-id-reused-other-content", b, r"(?i)(other|different) content", imported)


def _age_layer(sc: _Scene) -> None:
    """The age layer."""
    w, ciphertext, plain, base = sc.w, sc.ciphertext, sc.plain, sc.base
    n = len(ciphertext)
    cut_short = r"The age (file is cut short|payload ends with an incomplete chunk)|failed authentication \(after"
    flipped = r"Chunk \d+ of the age payload failed authentication \(after [\d,]+ bytes of plaintext\)"
    appended = r"The age file has data after its final chunk|Chunk \d+ of the age payload failed authentication"
    payload_start = ciphertext.index(b"\n", ciphertext.index(b"\n---") + 1) + 1 + 16  # header, then the nonce
    chunk_edge = payload_start + (n - payload_start - 1) // AGE_CHUNK * AGE_CHUNK
    not_age = r"This is not an age file \(it does not start with 'age-encryption\.org/v1'\)"
    header_cut = r"The age header is not valid: The file ends inside the age header: it is cut short or damaged"
    for variant, data, message in (
            ("half", ciphertext[: n // 2], cut_short),
            ("last-byte-missing", ciphertext[:-1], cut_short),
            ("last-chunk-missing", ciphertext[:chunk_edge], cut_short),
            ("inside-header", ciphertext[:60], header_cut)):
        w.raw("truncated", variant, data, message, base)
    mac = ciphertext.index(b"\n--- ") + 5 + 10  # a character inside the header's MAC (base64)
    share = ciphertext.index(b"\n-> X25519 ") + 12 + 5  # inside the first stanza's ephemeral share (base64)
    for variant, data, message in (
            ("version-line", flip(ciphertext, 5), not_age),
            ("recipient-stanza", other_letter(ciphertext, share), r"not addressed to any of our identities.*or its "
                                                                  "age header is damaged"),
            ("header-mac", other_letter(ciphertext, mac), r"The age header is not valid: The age header failed its "
                                                          r"authentication \(HMAC\): it was altered or damaged"),
            ("header-mac-unreadable", ciphertext[:mac] + b"!" + ciphertext[mac + 1:],
             r"The age header is not valid: The age header's MAC line is malformed"),
            ("nonce", flip(ciphertext, payload_start - 3), flipped),
            ("middle", flip(ciphertext, n // 2), flipped),
            ("last-byte", flip(ciphertext, n - 1), flipped)):
        w.raw("bit-flip", variant, data, message, base)
    for variant, data in (("one-zero-byte", ciphertext + b"\0"), ("second-copy", ciphertext + ciphertext),
                          ("text", ciphertext + b"appended\n")):
        w.raw("appended", variant, data, appended, base)
    for variant, data in _not_age_files(plain).items():
        w.raw("not-age", variant, data, not_age, base)
    w.raw("not-age", "empty", b"", r"The file is empty: it is not an age file", base)
    w.raw("not-age", "armored-garbage", b"-----BEGIN AGE ENCRYPTED FILE-----\nnot base64 at all\n"
          b"-----END AGE ENCRYPTED FILE-----\n", r"This is an ASCII-armored age file, which is not supported here",
          base)
    w.raw("not-age", "age-version-2", ciphertext.replace(b"age-encryption.org/v1", b"age-encryption.org/v2", 1),
          r"The age header is not valid: This age file has format version 'v2'; only v1 is supported", base)


@dataclass(frozen=True, slots=True)
class _Scene:
    """What every group of cases starts from."""

    w: _Writer
    keys: Keys
    exchange: Exchange
    genuine: Bag  # the bag of the untouched export NL→DE
    second: Bag  # a later export NL→DE, carrying the first one's checkpoint as its previous one
    ciphertext: bytes  # the untouched export
    plain: bytes  # its tar
    fr_plain: bytes  # the tar of an export NL→FR
    base: Recipient
    revoked: Recipient
    superseded: Recipient
    imported: Recipient
    unknown_sign: Signer  # a key nobody trusts


def build_corpus(exchange: Exchange, out_dir: Path) -> Corpus:
    """Export NL→DE (and NL→FR), then write every hostile case under ``out_dir`` with the vaults they need."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vaults = out_dir / "vaults"
    vaults.mkdir(exist_ok=True)
    keys = keys_of(exchange)
    base = Recipient("de", exchange.de, vaults / "de.witness").copy("base", vaults)
    expired_cert, expired_sign = _expired_partner(base)
    w = _Writer(out_dir, keys)

    original = exchange.export("nightjar").path
    ciphertext = original.read_bytes()
    plain = keys.decrypt(ciphertext)
    genuine = Bag.read(plain)
    controls = out_dir / "controls"
    controls.mkdir(exist_ok=True)
    (controls / "original.icspa").write_bytes(ciphertext)
    # The generator's own round trip (read, re-tar, re-sign, re-encrypt) must give a valid bundle, or no
    # refusal below proves anything.
    unchanged = genuine.copy()
    unchanged.reseal(keys.nl_sign)
    roundtrip = controls / "roundtrip.icspa"
    roundtrip.write_bytes(keys.encrypt(unchanged.tar()))
    check = bundle_reader.check_bundle(roundtrip, [str(keys.de_identity)], [keys.nl_certificate])
    assert check.ok, f"the generator's round trip broke the bundle: {check.problems}"

    # A third agency NL trusts: its bundle names FR only in the signed bag-info.
    fr = make_agency_vault(out_dir / "fr", FR_NAME, "FR")
    with unlock(fr, "admin", PASS) as s_fr, exchange.open_nl() as s_nl:
        fr_identity = agency.agency_identity(s_fr)
        partners.add_partner(s_nl, FR_NAME, "FR", fr_identity.age_recipient,
                             fr_identity.certificate.public_bytes(serialization.Encoding.PEM))
        nl_identity = pyrage.x25519.Identity.from_str(agency.age_identity(s_nl))
    to_fr = exchange.export("to-fr", to=FR_NAME).path
    fr_plain = bytes(pyrage.decrypt(to_fr.read_bytes(), [nl_identity]))  # the sender is always a recipient
    second = Bag.read(keys.decrypt(exchange.export("nightjar-2").path.read_bytes()))

    revoked = base.copy("revoked", vaults)
    with revoked.session() as session:
        partners.revoke_partner(session, "Politie NL", "key reported stolen")
    superseded = base.copy("superseded", vaults)
    with superseded.session() as session, session.transaction() as conn:
        # Direct SQL only to *simulate* the state "NL's key was replaced by a newer card before it signed"
        # (a successor card needs a second NL key pair, which this scene does not have).
        before = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        conn.execute("UPDATE partners SET status = 'superseded', status_reason = 'replaced by a new card',"
                     " status_changed_at = ? WHERE name = 'Politie NL'", (before,))
    imported = base.copy("imported", vaults)
    with imported.session() as session:
        bundle_import.commit_import(session, bundle_import.prepare_import(session, original))
    control = base.copy("control", vaults)

    scene = _Scene(w, keys, exchange, genuine, second, ciphertext, plain, fr_plain, base, revoked, superseded,
                   imported, stranger()[2])
    for group in (_who_signed, _signature, _hashes, _which_files, _members, _bounds, _records, _tag_files,
                  _partner_log, _age_layer):
        group(scene)

    # Last: the expired key signs only now that its certificate has ended (add_partner took it while valid).
    wait = (expired_cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() + 1.1
    if wait > 0:
        time.sleep(wait)
    b = genuine.copy()
    b.sign(expired_sign)
    w.bag("expired-key", "signed-after-expiry", b, r"The signing certificate \(at the time it signed\) expired on "
          r"\d{4}-\d\d-\d\d", base)
    return Corpus(w.cases, original, roundtrip, base, control, keys)


def build(exchange: Exchange, out_dir: Path) -> list[HostileCase]:
    """Every hostile case, written under ``out_dir`` (see ``build_corpus`` for the controls too)."""
    return build_corpus(exchange, out_dir).cases


def _describe(corpus: Corpus, out: Path) -> None:
    (out / "cases.json").write_text(json.dumps([
        {"name": c.name, "class": c.kind, "path": str(c.path.relative_to(out)), "message": c.message,
         "problems": list(c.problems), "vault": str(c.recipient.vault.relative_to(out)),
         "witness_dir": str(c.recipient.witness_dir.relative_to(out)), "xfail": c.xfail}
        for c in corpus.cases], indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.data.bundles.make_corpus",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT,
                        help=f"folder to write the corpus to (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / "cases.json").is_file():
            print(f"{out} is not empty and holds no corpus of ours; nothing was written.", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    out.mkdir(parents=True)
    from icspa_desktop.crypto import kdf

    kdf.use_insecure_test_profile()  # the scene's vaults are test vaults: cheap passphrase hashing
    # Everything the sessions write outside their vaults (witness files, settings) stays under OUT too.
    home = out / "scene" / "home"
    for var, value in (("HOME", home), ("XDG_CONFIG_HOME", home / ".config"),
                       ("XDG_DATA_HOME", home / ".local/share"), (cp.WITNESS_ENV, out / "scene" / "witness")):
        os.environ[var] = str(value)
    started = time.monotonic()
    (out / "scene").mkdir()
    exchange = make_exchange(out / "scene", SMALL_SIZES)
    corpus = build_corpus(exchange, out)
    _describe(corpus, out)
    for kind, count in corpus.counts().items():
        print(f"{kind:<18} {count:>3}")
    print(f"{len(corpus.cases)} hostile bundles of {len(CLASSES)} classes in {out} "
          f"({time.monotonic() - started:.1f} s); cases.json lists them with the expected refusals.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
