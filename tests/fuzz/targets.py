"""Every parser of untrusted input as a fuzz target, and the property each must keep.

A target takes bytes and feeds them to the real entry point (through a file where the product reads a file).
The property (``check``): the parser returns a result, or raises one of the target's own refusals — never
another exception. What it raises beyond that is a *finding*, unless it is a known product bug in a file
this suite may not change (``KNOWN``: each is pinned by a strict xfail in test_known_bugs.py); those are
counted apart, so the fuzzing goes on past them and the figures show them.

The same targets serve the suite (test_parsers.py, Hypothesis) and the long run (run.py, atheris or
Hypothesis).
"""

from __future__ import annotations

import contextlib
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.bundle import records
from icspa_desktop.bundle.tarwalk import DEFAULT_LIMITS, TarRefusal, TarWalk
from icspa_desktop.crypto import agev1, cms
from icspa_desktop.crypto.x509 import load_certificate
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.domain.errors import RefusedInput, VaultError
from icspa_desktop.services import partners, receipts
from icspa_desktop.services.session import Session, unlock
from icspa_desktop.vault.keyslots import KeySlotFile
from icspa_desktop.vault.layout import VaultLayout
from icspa_desktop.vault.store import VaultHeader
from tests.agency.conftest import PASS
from tests.fuzz.samples import Samples, vault_id_of

MAX_PEAK = 64 << 20  # the Python heap of one parse of an input of at most a target's max_size


@dataclass(frozen=True)
class KnownBug:
    """A product bug outside this suite's files: an exception of ``kind`` raised in ``where``."""

    category: str
    kind: type[BaseException]
    where: str  # the module file the exception is raised in (its last frame)
    text: str = ""  # a part of its message
    via: str = ""  # a function the exception passed through

    def matches(self, exc: BaseException) -> bool:
        frames = traceback.extract_tb(exc.__traceback__)
        return (type(exc) is self.kind and bool(frames) and frames[-1].filename.endswith(self.where)
                and self.text in str(exc) and (not self.via or any(f.name == self.via for f in frames)))


KNOWN: dict[str, list[KnownBug]] = {"age": [], "card": [], "cms": [], "keyslots": [], "vault-header": []}
KNOWN["bag"] = KNOWN["cms"]  # the bag's signature reaches _claimed_signer through check_bundle


class Finding(AssertionError):
    """A parser raised something other than its refusal (or exceeded its memory bound)."""


class BundleRefused(Exception):
    """check_bundle reported problems (it raises nothing for a bad bundle: the problems are its refusal)."""


class Context:
    """What the targets need besides the input: keys, certificates, a work folder, a session on NL's vault."""

    def __init__(self, samples: Samples, work: Path) -> None:
        self.samples = samples
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.identity = samples.read("identity").decode("ascii").strip()
        self.recipient = agev1.recipient_of(self.identity)
        self.nl_certificate: x509.Certificate = load_certificate(samples.read("cms-signer"))
        self.cms_content = samples.read("cms-content")
        self.card_time = samples.card_time
        self.vault_id = vault_id_of(samples)
        self._session: Session | None = None

    def session(self) -> Session:
        """NL's vault, unlocked once (receipts are imported by the sender)."""
        if self._session is None:
            self._session = unlock(self.samples.nl, "admin", PASS)
        return self._session

    def file(self, name: str, data: bytes) -> Path:
        path = self.work / name
        path.write_bytes(data)
        return path

    def close(self) -> None:
        if self._session is not None:
            self._session.lock()
            self._session = None


def _age(ctx: Context, data: bytes) -> object:
    return agev1.decrypt(data, [ctx.identity])


def _tar(ctx: Context, data: bytes) -> object:
    walk = TarWalk(DEFAULT_LIMITS)
    third = len(data) // 3 or 1
    for start in range(0, len(data), third):  # pushed in pieces, as decryption pushes
        walk.feed(data[start:start + third])
    walk.finish()
    return walk


def _bag(ctx: Context, data: bytes) -> object:
    """The tar encrypted to DE as a bundle: the bag-level parsers (bagit.txt, bag-info.txt, manifests, signature)."""
    path = ctx.file("candidate.icspa", agev1.encrypt(data, [ctx.recipient]))
    check = bundle_reader.check_bundle(path, [ctx.identity], [ctx.nl_certificate])
    if not check.ok:
        assert check.problems, "refused without a reason"
        raise BundleRefused("; ".join(check.problems))
    return check


def _case(ctx: Context, data: bytes) -> object:
    return records.parse_case(data)


def _items(ctx: Context, data: bytes) -> object:
    return records.parents_first(records.parse_items(data))


def _custody(ctx: Context, data: bytes) -> object:
    return records.parse_custody(data)


def _card(ctx: Context, data: bytes) -> object:
    return partners.read_card(data, now=ctx.card_time)


def _cms(ctx: Context, data: bytes) -> object:
    bundle_reader._claimed_signer(data, [ctx.nl_certificate])  # what a refusal message says: must never raise
    with contextlib.suppress(RefusedInput):
        cms.verify_detached(data, ctx.cms_content, [ctx.nl_certificate], at=ctx.card_time)
    return cms.verify_detached_signed_at(data, ctx.cms_content, [ctx.nl_certificate])


def _checkpoint(ctx: Context, data: bytes) -> object:
    body, signature = cp.decode_signed(data)
    parsed = cp.parse_body(body)
    cms.verify_detached(signature, body, [ctx.nl_certificate], at=parsed.timestamp)
    return parsed


def _receipt(ctx: Context, data: bytes) -> object:
    return receipts.import_receipt(ctx.session(), ctx.file("receipt.txt", data))


def _keyslots(ctx: Context, data: bytes) -> object:
    return KeySlotFile.load(ctx.file("keyslots.json", data), ctx.vault_id)  # type: ignore[arg-type]


def _vault_header(ctx: Context, data: bytes) -> object:
    root = ctx.work / "vault"
    root.mkdir(exist_ok=True)
    (root / "vault.json").write_bytes(data)
    return VaultHeader.load(VaultLayout(root))


@dataclass(frozen=True)
class Target:
    name: str
    sample: str  # the Samples kind it starts from
    run: Callable[[Context, bytes], object]
    refusals: tuple[type[BaseException], ...]
    max_size: int = 64 << 10
    known: list[KnownBug] = field(default_factory=list)


TARGETS = {t.name: t for t in [
    Target("age", "age", _age, (agev1.AgeError,), known=KNOWN["age"]),
    Target("tar", "tar", _tar, (TarRefusal,), max_size=256 << 10),
    Target("bag", "tar", _bag, (BundleRefused,), max_size=256 << 10, known=KNOWN["bag"]),
    Target("case-json", "case", _case, (RefusedInput,)),
    Target("items-json", "items", _items, (RefusedInput,)),
    Target("custody-json", "custody", _custody, (RefusedInput,), max_size=256 << 10),
    Target("card", "card", _card, (RefusedInput,), known=KNOWN["card"]),
    Target("cms", "cms", _cms, (RefusedInput,), known=KNOWN["cms"]),
    Target("checkpoint", "checkpoint", _checkpoint, (RefusedInput,)),
    Target("receipt", "receipt", _receipt, (RefusedInput,)),
    Target("keyslots", "keyslots", _keyslots, (VaultError,), known=KNOWN["keyslots"]),
    Target("vault-header", "vault-header", _vault_header, (VaultError,), known=KNOWN["vault-header"]),
]}


def check(target: Target, ctx: Context, data: bytes, *, measure: bool = True) -> str:
    """Run one input; "accepted", "refused" or "known: CATEGORY". Raises Finding for anything else."""
    if measure:
        tracemalloc.start()
    try:
        target.run(ctx, data)
        outcome = "accepted"
    except target.refusals:
        outcome = "refused"
    except Exception as exc:
        bug = next((b for b in target.known if b.matches(exc)), None)
        if bug is None:
            raise Finding(f"{target.name}: {type(exc).__name__}: {str(exc)[:300]} (input of {len(data):,} bytes, "
                          f"starting {data[:60]!r})") from exc
        outcome = f"known: {bug.category}"
    finally:
        if measure:
            _size, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    if measure and peak > MAX_PEAK:
        raise Finding(f"{target.name}: the Python heap peaked at {peak:,} bytes for an input of {len(data):,}")
    return outcome
