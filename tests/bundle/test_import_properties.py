"""Issue 10, "Must hold", as properties: no damage to a small valid bundle is ever accepted as something else.

Hypothesis flips, cuts, duplicates, drops and moves bytes of the ciphertext; flips bytes of the tar inside
it; duplicates, drops, moves and renames tar members (then encrypts again to DE). Whatever comes out must
be refused — ``check_bundle(...).ok`` is False, or ``prepare_import`` raises ``RefusedInput`` — and nothing
else may be raised. Some changes leave the bundle's meaning intact (moving a tag file, dropping a folder
entry that a path implies, a byte of tar padding, a byte of the certificate the signature carries, which
trust never uses): such a bundle may pass, but only with exactly the genuine payload and tag files. The
Python heap of every check stays far under ``MAX_PEAK``, and so does the growth of the process's peak RSS.
Examples are derandomized: CI runs the same cases every time.
"""

from __future__ import annotations

import copy
import os
import resource
import tarfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from icspa_desktop.bundle import reader as bundle_reader
from icspa_desktop.custody.checkpoints import WITNESS_ENV
from icspa_desktop.domain.errors import RefusedInput
from icspa_desktop.services import bundle_import
from tests.bundle.exchange import make_exchange, tree_digest
from tests.data.bundles.make_corpus import Bag, Keys, Member, Recipient, keys_of

MAX_PEAK = 100 << 20
T = TypeVar("T")


def examples(count: int) -> Callable[[T], T]:
    return settings(max_examples=count, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


class Small:
    """The small valid bundle and what checking it needs (a plain class: Hypothesis prints dataclasses whole)."""

    def __init__(self, ciphertext: bytes, keys: Keys, recipient: Recipient, work: Path) -> None:
        self.ciphertext = ciphertext
        self.keys = keys
        self.recipient = recipient
        self.work = work
        self.identity = str(keys.de_identity)
        self.trusted = [keys.nl_certificate]
        self.genuine = bundle_reader.check_bundle(_write(work, ciphertext), [self.identity], self.trusted)
        assert self.genuine.ok, self.genuine.problems
        self.plain = keys.decrypt(ciphertext)
        self.bag = Bag.read(self.plain)

    def __repr__(self) -> str:
        return f"Small(bundle {self.genuine.bundle_id}, {len(self.ciphertext):,} bytes)"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Small:
    root = tmp_path_factory.mktemp("properties")
    with pytest.MonkeyPatch.context() as patch:
        home = root / "home"  # module scope is set up before the per-test home isolation
        for var, value in (("HOME", home), ("XDG_CONFIG_HOME", home / ".config"),
                           ("XDG_DATA_HOME", home / ".local/share"), (WITNESS_ENV, root / "witness")):
            patch.setenv(var, str(value))
        (root / "scene").mkdir()
        exchange = make_exchange(root / "scene", (3_000, 70_000))  # the payload spans two age chunks
        keys = keys_of(exchange)
        ciphertext = exchange.export("small").path.read_bytes()
        recipient = Recipient("de", exchange.de, root / "de.witness").copy("copy", root)
    work = root / "work"
    work.mkdir()
    return Small(ciphertext, keys, recipient, work)


@pytest.fixture(scope="module", autouse=True)
def _peak_rss(small: Small) -> Iterator[None]:
    # Taken once ``small`` is made: its vaults and export are not what the properties bound. Taken before it, the
    # module failed when run alone (its setup alone grows the peak by ~100 MB) and passed after other tests.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    yield
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown * 1024 < MAX_PEAK, f"the process's peak RSS grew by {grown:,} KiB during these properties"


def _write(folder: Path, data: bytes) -> Path:
    path = folder / "candidate.icspa"
    path.write_bytes(data)
    return path


def _bounded(run: Callable[[], T]) -> T:
    tracemalloc.start()
    try:
        return run()
    finally:
        _size, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < MAX_PEAK, f"the Python heap peaked at {peak:,} bytes"


def _same_content(check: bundle_reader.BundleCheck, genuine: bundle_reader.BundleCheck) -> bool:
    return (check.bundle_id == genuine.bundle_id and sorted(check.payload) == sorted(genuine.payload)
            and check.tag_files == genuine.tag_files)


def _refused_or_same(small: Small, ciphertext: bytes) -> None:
    """check_bundle refuses it with a reason, or it is exactly the genuine content; it never raises."""
    path = _write(small.work, ciphertext)
    check = _bounded(lambda: bundle_reader.check_bundle(path, [small.identity], small.trusted))
    if check.ok:
        assert _same_content(check, small.genuine), "accepted with other content"
        event("accepted: the genuine content")
    else:
        assert check.problems
        event("refused")


def _flipped(data: bytes, draw: st.DrawFn, most: int) -> bytes:
    changed = bytearray(data)
    for _ in range(draw(st.integers(1, most))):
        changed[draw(st.integers(0, len(changed) - 1))] ^= draw(st.integers(1, 255))
    return bytes(changed)


# ---- the ciphertext ----------------------------------------------------------------------------------
@examples(400)
@given(data=st.data())
def test_flipped_ciphertext_bytes_are_refused(small: Small, data: st.DataObject) -> None:
    mutated = _flipped(small.ciphertext, data.draw, 4)
    assume(mutated != small.ciphertext)  # the same byte flipped back
    path = _write(small.work, mutated)
    check = _bounded(lambda: bundle_reader.check_bundle(path, [small.identity], small.trusted))
    assert not check.ok and check.problems  # age authenticates every byte: no flip is harmless


@examples(200)
@given(data=st.data())
def test_truncated_ciphertext_is_refused(small: Small, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(small.ciphertext) - 1))
    check = _bounded(lambda: bundle_reader.check_bundle(_write(small.work, small.ciphertext[:cut]),
                                                        [small.identity], small.trusted))
    assert not check.ok and check.problems


@examples(300)
@given(data=st.data())
def test_duplicated_dropped_or_moved_ciphertext_ranges_are_refused(small: Small, data: st.DataObject) -> None:
    whole = small.ciphertext
    start = data.draw(st.integers(0, len(whole) - 1))
    piece = whole[start:start + data.draw(st.integers(1, len(whole) - start))]
    rest = whole[:start] + whole[start + len(piece):]
    kind = data.draw(st.sampled_from(["duplicate", "drop", "move"]))
    if kind == "duplicate":
        mutated = whole[:start] + piece + piece + whole[start + len(piece):]
    elif kind == "drop":
        mutated = rest
    else:
        at = data.draw(st.integers(0, len(rest)))
        mutated = rest[:at] + piece + rest[at:]
    assume(mutated != whole)  # moving a range onto itself, or among equal bytes, changes nothing
    check = _bounded(lambda: bundle_reader.check_bundle(_write(small.work, mutated), [small.identity],
                                                        small.trusted))
    assert not check.ok and check.problems


# ---- the tar inside ----------------------------------------------------------------------------------
@examples(300)
@given(data=st.data())
def test_flipped_tar_bytes_are_refused_or_harmless(small: Small, data: st.DataObject) -> None:
    _refused_or_same(small, small.keys.encrypt(_flipped(small.plain, data.draw, 3)))


def _names(bag: Bag, old: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([m.info.name for m in bag.members]),  # another member's name
        st.sampled_from([old.swapcase(), old.upper(), old + "x", old.rstrip("/") + "/", "/" + old, "../" + old,
                         old.replace("/", "//", 1), old.replace("/", "/./", 1)]),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1,
                max_size=20).map(lambda tail: f"{bag.bid}/{tail}"),
    )


def _edit_members(bag: Bag, draw: st.DrawFn) -> Bag:
    """One to three of: duplicate, drop, move or rename a member."""
    edited = bag.copy()
    members = edited.members
    for _ in range(draw(st.integers(1, 3))):
        if not members:
            break
        i = draw(st.integers(0, len(members) - 1))
        kind = draw(st.sampled_from(["duplicate", "drop", "move", "rename"]))
        if kind == "duplicate":
            members.insert(draw(st.integers(0, len(members))), Member(copy.copy(members[i].info), members[i].data))
        elif kind == "drop":
            members.pop(i)
        elif kind == "move":
            moved = members.pop(i)
            members.insert(draw(st.integers(0, len(members))), moved)
        else:
            renamed = Member(copy.copy(members[i].info), members[i].data)
            renamed.info.name = draw(_names(bag, members[i].info.name))
            members[i] = renamed
    return edited


@examples(250)
@given(data=st.data())
def test_duplicated_dropped_moved_or_renamed_members_are_refused(small: Small, data: st.DataObject) -> None:
    """Members edited after decryption, the tar encrypted again: ``prepare_import`` refuses it (RefusedInput,
    nothing else) unless the edit kept the genuine content exactly; the vault never changes."""
    edited = _edit_members(small.bag, data.draw)
    try:
        plain = edited.tar()
    except (ValueError, UnicodeError, tarfile.TarError):
        assume(False)  # tarfile cannot write that name: no archive to try
    path = _write(small.work, small.keys.encrypt(plain))
    before = tree_digest(small.recipient.vault)
    with small.recipient.session() as session:
        try:
            prepared = _bounded(lambda: bundle_import.prepare_import(session, path))
        except RefusedInput:
            event("refused")  # what must happen; any other exception fails the test
        else:
            prepared.discard()
            check = bundle_reader.check_bundle(path, [small.identity], small.trusted)
            assert check.ok and _same_content(check, small.genuine), "accepted with other content"
            event("accepted: the genuine content")
    assert tree_digest(small.recipient.vault) == before
    assert os.listdir(small.recipient.vault / "staging") == []
