"""Staging of an import on its writer thread (services/import_staging.py): cancel, a failing disk and a refused
bundle leave the vault as it was, ``staging/`` empty and no thread behind; a good one stages every file."""

from __future__ import annotations

import errno
import os
import tarfile
import threading
from pathlib import Path

import pytest

from icspa_desktop import pipeline
from icspa_desktop.bundle import tarwalk
from icspa_desktop.domain.errors import Cancelled, IcspaError, RefusedInput
from icspa_desktop.domain.progress import CancelToken, Steps
from icspa_desktop.services import bundle_import, evidence, fixity, import_staging, partners
from icspa_desktop.services.session import Session
from icspa_desktop.vault import blobs
from tests.bundle.exchange import Exchange, make_exchange, tree_digest
from tests.data.bundles.make_corpus import member, tar_bytes

THREADS = ("import-staging", "import-staging-small", "bundle-decrypt", "import-publish")


@pytest.fixture
def ex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exchange:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    # Large enough for several chunks per file and a direct write of whole batches (vault/blobs.py DIRECT_MIN).
    return make_exchange(tmp_path, sizes=(15_000, 3 << 20, blobs.DIRECT_MIN + (5 << 20) + 123))


def _left_behind(ex: Exchange, before: dict[str, str]) -> list[str]:
    problems = []
    if tree_digest(ex.de) != before:
        problems.append("the vault changed")
    if staged := os.listdir(ex.de / "staging"):
        problems.append(f"staging/ holds {staged}")
    if running := [t.name for t in threading.enumerate() if t.name in THREADS]:
        problems.append(f"threads still running: {running}")
    return problems


def _extracted_match(ex: Exchange, de: Session, items: list[evidence.Item], tmp_path: Path) -> None:
    for item in items:
        out = tmp_path / f"{item.id}.out"
        fixity.extract(de, item.id, out, "comparison with the sender's copy")
        original = ex.files / item.original_name
        if not original.exists():
            original = ex.files.parent / item.original_name
        assert out.read_bytes() == original.read_bytes(), item.original_name


def test_an_import_stages_every_file_and_commits_them(ex: Exchange, tmp_path: Path) -> None:
    sent = ex.export()
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        assert sorted(os.listdir(ex.de / "staging")) == sorted(
            f"{staged.blob_id}.part" for staged in prepared.staging.payloads.values())
        result = bundle_import.commit_import(de, prepared)
        assert not os.listdir(ex.de / "staging")
        _extracted_match(ex, de, result.added, tmp_path)
        assert len(evidence.list_items(de, result.case.id)) == 4


def test_cancel_midway_leaves_the_vault_as_it_was(ex: Exchange) -> None:
    sent = ex.export()
    before = tree_digest(ex.de)
    token = CancelToken()

    def progress(done: int, total: int, label: str) -> None:
        if done > total // 2:
            token.cancel()

    with ex.open_de() as de, pytest.raises(Cancelled):
        bundle_import.prepare_import(de, sent.path, progress=progress, cancel=token)
    assert _left_behind(ex, before) == []


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_disk_that_fails_while_staging_is_reported_and_leaves_nothing(ex: Exchange, monkeypatch: pytest.MonkeyPatch,
                                                                       nth: int) -> None:
    sent = ex.export()
    before = tree_digest(ex.de)
    real = blobs.write_all
    calls = 0

    def failing(fd: int, data: memoryview) -> None:
        nonlocal calls
        calls += 1
        if calls == nth:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(blobs, "write_all", failing)
    with ex.open_de() as de, pytest.raises(IcspaError, match="Storing what was read failed: No space left on device"):
        bundle_import.prepare_import(de, sent.path)
    assert calls >= nth
    assert _left_behind(ex, before) == []


def test_a_file_that_cannot_be_created_in_staging_is_reported_and_leaves_nothing(
        ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = ex.export()
    before = tree_digest(ex.de)
    real = blobs.BlobStore.create_writer
    made = 0

    def create_writer(self: blobs.BlobStore, *args: object, **kwargs: object) -> blobs.BlobWriter:
        nonlocal made
        made += 1
        if made == 3:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(blobs.BlobStore, "create_writer", create_writer)
    with ex.open_de() as de, pytest.raises(IcspaError, match="Storing what was read failed: Disk quota exceeded"):
        bundle_import.prepare_import(de, sent.path)
    assert _left_behind(ex, before) == []


def test_a_bundle_refused_after_staging_leaves_nothing(ex: Exchange) -> None:
    sent = ex.export()
    with ex.open_de() as de:
        # The signer's key status is checked after every file was staged.
        partners.revoke_partner(de, "Politie NL", "key reported lost")
    before = tree_digest(ex.de)
    with ex.open_de() as de, pytest.raises(RefusedInput, match="revoked"):
        bundle_import.prepare_import(de, sent.path)
    assert _left_behind(ex, before) == []


def test_a_failure_while_publishing_leaves_the_vault_as_it_was(ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = ex.export()
    before = tree_digest(ex.de)

    def failing_syncfs(fd: int) -> bool:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        monkeypatch.setattr(blobs, "syncfs", failing_syncfs)
        with pytest.raises(OSError, match="Input/output error"):
            bundle_import.commit_import(de, prepared)
        assert de.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert _left_behind(ex, before) == []


def test_rows_that_fail_while_blobs_are_still_being_published_leave_no_blob(
        ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = ex.export()
    before = tree_digest(ex.de)
    real = blobs.BlobStore.publish_many
    late = threading.Event()

    def slow_publish(self: blobs.BlobStore, blob_ids: list[str]) -> list[Path]:
        late.wait(5)  # the rows have failed by now; the blobs are moved only after that
        return real(self, blob_ids)

    def failing_rows(*args: object) -> int:
        late.set()
        raise RefusedInput("The partner's custody event #0 differs from the one we hold.")

    monkeypatch.setattr(blobs.BlobStore, "publish_many", slow_publish)
    monkeypatch.setattr(bundle_import, "_store_partner_events", failing_rows)
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        with pytest.raises(RefusedInput, match="differs"):
            bundle_import.commit_import(de, prepared)
    assert _left_behind(ex, before) == []


def test_small_files_spread_over_several_packs_beside_large_ones_all_arrive(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    small = import_staging.SMALL_MAX
    # 13 small files of 150-256 KiB take three 1 MiB packs (one is exactly SMALL_MAX, one empty),
    # with large files (one byte over SMALL_MAX, and one written directly) beside them.
    sizes = (15_000, *(150_000 + n * 8_000 for n in range(11)), small, 0, small + 1, blobs.DIRECT_MIN + 5)
    ex = make_exchange(tmp_path, sizes=sizes)
    sent = ex.export()
    packs: list[int] = []
    real = import_staging.Staging._write_pack

    def counting(self: import_staging.Staging, buf: bytearray, packed: list[import_staging.PackedPayload]) -> None:
        packs.append(len(packed))
        real(self, buf, packed)

    monkeypatch.setattr(import_staging.Staging, "_write_pack", counting)
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        packed = [p for p in prepared.staging.payloads.values() if isinstance(p, import_staging.PackedPayload)]
        assert len(packed) == 14 + 1  # the small files and restricted.txt; the two large ones are not packed
        assert len(packs) == 3 and sum(packs) == len(packed)
        result = bundle_import.commit_import(de, prepared)
        assert len(result.added) == len(sizes) + 1
        _extracted_match(ex, de, result.added, tmp_path)
    assert not [t.name for t in threading.enumerate() if t.name in THREADS]


def test_a_small_file_that_cannot_be_written_is_reported_and_leaves_nothing(
        ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = ex.export()
    before = tree_digest(ex.de)

    def failing(self: import_staging.Staging, buf: bytearray, packed: list[import_staging.PackedPayload]) -> None:
        assert threading.current_thread().name == "import-staging-small"
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(import_staging.Staging, "_write_pack", failing)
    with ex.open_de() as de, pytest.raises(IcspaError, match="Storing what was read failed: No space left on device"):
        bundle_import.prepare_import(de, sent.path)
    assert _left_behind(ex, before) == []


def test_a_stream_that_fails_inside_a_small_file_leaves_nothing(ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pack holding a file the stream never finished is still written at the end (the files before it are
    complete); the unfinished one gets no file, and the refusal removes the others."""
    sent = ex.export()
    before = tree_digest(ex.de)
    real = import_staging.PackedPayload.write
    seen: list[import_staging.PackedPayload] = []

    def refusing(self: import_staging.PackedPayload, data: memoryview, block: tarwalk.Holder) -> None:
        if seen and self is not seen[0]:  # the second small file, half way
            real(self, data[:len(data) // 2], block)
            raise tarwalk.TarRefusal("A payload file is longer than its tar header says.")
        seen.append(self)
        real(self, data, block)

    monkeypatch.setattr(import_staging.PackedPayload, "write", refusing)
    with ex.open_de() as de, pytest.raises(RefusedInput, match="longer than its tar header"):
        bundle_import.prepare_import(de, sent.path)
    assert len(seen) == 1
    assert _left_behind(ex, before) == []


@pytest.mark.parametrize("at", [0.05, 0.3, 0.6])
def test_cancel_among_the_small_files_leaves_the_vault_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  at: float) -> None:
    """Cancelled while the packs of small files are being written (the bundle's first 40 files: 4 MB over four
    packs), or in the large file after them: nothing stays, and no staging thread is left behind."""
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    ex = make_exchange(tmp_path, sizes=(15_000, *(100_000 + n for n in range(40)), 3 << 20))
    sent = ex.export()
    before = tree_digest(ex.de)
    token = CancelToken()

    def progress(done: int, total: int, label: str) -> None:
        if done > total * at:
            token.cancel()

    with ex.open_de() as de, pytest.raises(Cancelled):
        bundle_import.prepare_import(de, sent.path, progress=progress, cancel=token)
    assert _left_behind(ex, before) == []


def _tracked_loans(monkeypatch: pytest.MonkeyPatch) -> list[pipeline.Loan]:
    """Every decrypted block the reader lends from now on (to the walk, and by it to the staging's writer)."""
    made: list[pipeline.Loan] = []

    class Tracked(pipeline.Loan):
        __slots__ = ()

        def __init__(self, conveyor: pipeline.Conveyor[int], buf: bytearray) -> None:
            super().__init__(conveyor, buf)
            made.append(self)

    monkeypatch.setattr(pipeline, "Loan", Tracked)
    return made


@pytest.mark.parametrize("failure", ["none", "disk", "refused mid-file", "cancel"])
def test_every_decrypted_block_held_for_sealing_is_let_go(ex: Exchange, monkeypatch: pytest.MonkeyPatch,
                                                          failure: str) -> None:
    """A large payload's chunks are sealed where they were decrypted, its blocks held for the writer thread. Held
    blocks never go back to the reader's pool (it would refill them under the writer): whatever ends the stream,
    every one must be let go, or a later import in the same session would starve (and memory leak)."""
    loans = _tracked_loans(monkeypatch)
    sent = ex.export()
    before = tree_digest(ex.de)
    token = CancelToken()
    expected: type[BaseException] | None = None
    if failure == "disk":
        real_write = blobs.write_all
        calls = 0

        def failing(fd: int, data: memoryview) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_write(fd, data)

        monkeypatch.setattr(blobs, "write_all", failing)
        expected = IcspaError
    elif failure == "refused mid-file":
        real_part = import_staging.StagedPayload.write
        fed = 0

        def refusing(self: import_staging.StagedPayload, data: memoryview, block: tarwalk.Holder) -> None:
            nonlocal fed
            fed += len(data)
            if fed > 4 << 20:  # inside the large file, with chunks held and more in flight
                raise tarwalk.TarRefusal("A payload file is longer than its tar header says.")
            real_part(self, data, block)

        monkeypatch.setattr(import_staging.StagedPayload, "write", refusing)
        expected = RefusedInput
    elif failure == "cancel":
        expected = Cancelled

    def progress(done: int, total: int, label: str) -> None:
        if failure == "cancel" and done > total // 2:
            token.cancel()

    with ex.open_de() as de:
        if expected is None:
            prepared = bundle_import.prepare_import(de, sent.path)
            bundle_import.commit_import(de, prepared)
        else:
            with pytest.raises(expected):
                bundle_import.prepare_import(de, sent.path, progress=progress, cancel=token)
    assert len(loans) > 8  # the large file spans many blocks
    assert [loan for loan in loans if loan.held] == []
    if expected is not None:
        assert _left_behind(ex, before) == []


def test_a_sink_fed_without_a_holder_gets_a_copy_of_what_the_caller_reuses() -> None:
    """``TarWalk.feed`` without a holder: the caller may overwrite its buffer at once, so a payload sink that keeps
    what it was given must see the bytes as they were."""
    kept: list[memoryview] = []

    class Keeping:
        def write(self, data: memoryview, block: tarwalk.Holder) -> None:
            block.hold()
            kept.append(data)

        def close(self) -> None:
            pass

    walk = tarwalk.TarWalk(tarwalk.DEFAULT_LIMITS, lambda name, size: Keeping())
    buf = bytearray(tar_bytes([member("b1", kind=tarfile.DIRTYPE), member("b1/data", kind=tarfile.DIRTYPE),
                               member("b1/data/f.bin", b"A" * 1000)]))
    walk.feed(buf)
    buf[:] = bytes(len(buf))  # the caller reuses its buffer
    assert b"".join(bytes(v) for v in kept) == b"A" * 1000


def test_the_transaction_reports_its_steps(ex: Exchange) -> None:
    """A 10,000-item import's transaction takes seconds: it counts the items it writes, then names its last steps,
    and ends with everything done — steps (``Steps``), never shown as bytes."""
    sent = ex.export()
    seen: list[tuple[int, int, str]] = []
    with ex.open_de() as de:
        prepared = bundle_import.prepare_import(de, sent.path)
        result = bundle_import.commit_import(de, prepared, progress=lambda d, t, m: seen.append((d, t, m)))
    steps = len(result.added) + 3
    assert all(total == steps and isinstance(message, Steps) for _done, total, message in seen)
    assert [done for done, _total, _message in seen] == sorted(done for done, _total, _message in seen)
    assert [message for _done, _total, message in seen] == [
        "Writing the item records", "Storing the partner's custody events", "Signing our custody events",
        "Committing", "Committing"]
    assert seen[0][0] == 0 and seen[-1][0] == steps
