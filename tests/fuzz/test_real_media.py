"""Issue 13 item 4 on real media file systems: the weird names of test_file_names.py exported onto a real exFAT
volume (FUSE), copied through a real FAT32 image (mtools), imported again without losing a name; extraction
under a name the medium cannot hold; a medium too small for the bundle. See realmedia.py for how."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.errors import IcspaError
from icspa_desktop.services import bundle_import, bundles, fixity
from tests.bundle.exchange import CASE, Exchange, tree_digest
from tests.fuzz import realmedia
from tests.fuzz.test_file_names import Trip, collisions, fat_safe
from tests.fuzz.test_file_names import trip as trip  # the module-scoped scene (re-exported fixture)


def test_the_media_tools_are_installed() -> None:
    """./dev.sh test installs them; a missing one fails here rather than skipping the tests below silently."""
    assert realmedia.missing_tools() == []


@pytest.fixture(scope="module")
def exfat(trip: Trip, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("exfat")
    with realmedia.exfat_volume(root / "stick.img", root / "stick", 96 << 20) as mounted:
        yield mounted


def _export_to(exchange: Exchange, folder: Path, name: str) -> bundles.ExportResult:
    with exchange.open_nl() as nl:
        plan = bundles.plan_export(nl, CASE, ["BKA"], None, purpose="JIT Nightjar", authority="MLA 2026/17")
        return bundles.export(nl, plan, folder / name)


def test_a_bundle_of_every_weird_name_goes_onto_real_exfat_and_comes_back_whole(trip: Trip, exfat: Path) -> None:
    result = _export_to(trip.exchange, exfat, "weird-exfat")
    written = sorted(p.name for p in exfat.iterdir() if p.name.startswith("weird-exfat"))
    assert written == ["weird-exfat.icspa", "weird-exfat.icspa.sha256", "weird-exfat.icspa.sha256.p7s"]
    assert all(fat_safe(name) for name in written) and collisions(written) == []
    # The courier's check, on the medium itself, with the standard tool.
    check = subprocess.run(["sha256sum", "-c", "weird-exfat.icspa.sha256"], cwd=exfat, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() in (exfat / "weird-exfat.icspa.sha256").read_text()
    with trip.exchange.open_de() as de:
        prepared = bundle_import.prepare_import(de, exfat / "weird-exfat.icspa")
        outcome = bundle_import.commit_import(de, prepared)
    # Already imported once (the trip's own bundle): the same items, so nothing new — and every name as NL has it.
    assert outcome.added == [] or {i.sha256: i.original_name for i in outcome.added} == trip.expected
    with trip.exchange.open_de() as de:
        from icspa_desktop.services import evidence
        received = [i for c in {i.case_id for i in trip.received} for i in evidence.list_items(de, c)]
    assert {i.sha256: i.original_name for i in received if i.sha256 in trip.expected} == trip.expected


def test_a_bundle_copied_through_a_real_fat32_image_still_checks_and_imports(trip: Trip, tmp_path: Path) -> None:
    """FAT32 (mkfs.fat -F 32), written and read back by mtools: the names FAT stores are the ones we wrote, the
    seal checks after the round trip, and the partner imports the copy."""
    image = realmedia.fat32_image(tmp_path / "fat32.img")
    files = sorted(p for p in trip.bundle.parent.iterdir() if p.name.startswith("weird-names"))
    realmedia.mcopy_in(image, files)
    assert realmedia.mdir_names(image) == sorted(p.name for p in files)
    back = tmp_path / "copied"
    realmedia.mcopy_out(image, [p.name for p in files], back)
    check = subprocess.run(["sha256sum", "-c", "weird-names.icspa.sha256"], cwd=back, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with trip.exchange.open_de() as de:
        prepared = bundle_import.prepare_import(de, back / "weird-names.icspa")
    # Every layer verified on the copy (prepare checks them all); every weird name is in it, byte for byte.
    names = {item.hashes["sha256"]: item.name for item in prepared.items}
    assert {sha: names[sha] for sha in trip.expected} == trip.expected
    assert prepared.already_imported  # the same bundle as the trip's: its import would change nothing


def test_an_item_extracted_to_exfat_under_a_name_the_medium_refuses_fails_clearly_and_leaves_nothing(
        trip: Trip, exfat: Path) -> None:
    item = next(i for i in trip.sent if i.original_name == 'a:b*c?"<>|.txt')
    with trip.exchange.open_nl() as nl:
        before = events.count(nl.conn)
        with pytest.raises(IcspaError) as refused:
            fixity.extract(nl, item.id, exfat / item.original_name, "examination on the stick")
        message = str(refused.value)
        # exFAT through FUSE answers "No such file or directory" for a ':' — the user is told what it means.
        assert "does not accept the name" in message and "characters FAT and exFAT do not allow" in message, message
        assert "No such file" not in message and "\n" not in message
        after = events.count(nl.conn)
    assert sorted(p.name for p in exfat.iterdir() if not p.name.startswith("weird-exfat")) == []
    assert after - before <= 2, "at most the extraction's start and its failure are recorded"


def test_a_medium_too_small_for_the_bundle_is_refused_before_anything_is_written(trip: Trip, tmp_path: Path) -> None:
    with realmedia.exfat_volume(tmp_path / "small.img", tmp_path / "small", 8 << 20) as small:
        stats = os.statvfs(small)  # the real free space of the exFAT volume, as the export reads it
        (small / "already-there.txt").write_bytes(b"x" * (stats.f_bavail * stats.f_frsize - (256 << 10)))
        before = tree_digest(trip.exchange.nl)
        with pytest.raises(IcspaError, match="free"):
            _export_to(trip.exchange, small, "too-big")
        assert sorted(p.name for p in small.iterdir()) == ["already-there.txt"]
    assert tree_digest(trip.exchange.nl) == before


@pytest.mark.parametrize(("name", "problem"), [
    ('a:b*c?"<>|.txt', "characters FAT and exFAT do not allow"), ("tab\there.txt", "characters"),
    ("CON", "reserved device name"), ("aux.txt", "reserved device name"), ("report.", "ends with a dot"),
    ("report ", "ends with a dot or a space"), ("x" * 256, "longer than"), ("ordinary name (1).txt", None),
    ("caf\u00e9.txt", None)])
def test_names_removable_media_cannot_hold_are_named_with_the_reason(name: str, problem: str | None) -> None:
    from icspa_desktop.files import fat_name_problem

    found = fat_name_problem(name)
    assert (found is None) if problem is None else (found is not None and problem in found), found
