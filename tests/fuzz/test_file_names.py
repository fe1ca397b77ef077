"""Issue 13 item 4: evidence file names that file systems and tools choke on, ingested, exported to FAT-like media
and imported by a partner without losing the name.

The names: 255 bytes (ASCII and two-byte UTF-8), folder components near the limit, control characters
(newline, tab, ESC), reserved Windows names (CON, NUL, COM1, AUX.txt), trailing dot and space, characters FAT
forbids (``:*?"<>|``), names that differ only by case, and the NFC and NFD spellings of "café". They go into
NL's vault (``evidence.add_files`` of their folder), out in a bundle, and into DE's vault
(``bundle_import``), as in tests/bundle/exchange.py.

Every name the export writes on the medium (the bundle's files) and inside it (the tar members) is an
identifier that FAT, exFAT, NTFS and macOS all store as it is (``fat_safe``: [A-Za-z0-9._-], not reserved, no
trailing dot or space, at most 255 bytes, unique after case folding and normalisation); human names travel only
in metadata/items.json. test_real_media.py takes the same bundle through real exFAT and FAT32 file systems.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icspa_desktop.bundle import records
from icspa_desktop.custody import events
from icspa_desktop.custody.checkpoints import WITNESS_ENV
from icspa_desktop.domain.enums import CustodyAction
from icspa_desktop.domain.evidence import Item
from icspa_desktop.services import bundle_import, evidence
from tests.bundle.exchange import CASE, Exchange, make_exchange
from tests.data.bundles.make_corpus import keys_of

NAMES = [
    "a" * 251 + ".bin",  # 255 bytes
    "\u00e9" * 127 + "x",  # 255 bytes of two-byte UTF-8
    "new\nline.txt", "tab\there.txt", "esc\x1b[31mred.txt",
    "CON", "NUL", "COM1", "AUX.txt", "report.", "report ", 'a:b*c?"<>|.txt',
    "Exhibit.TXT", "exhibit.txt",  # only the case differs
    "caf\u00e9.txt", "cafe\u0301.txt",  # NFC and NFD
]
DEEP = ["d" * 250, "\u00e9" * 125, "e" * 250, "f" * 250]  # folder components near the 255-byte limit
DEEP_NAME = "g" * 255
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
_FAT_CHARS = re.compile(r"[A-Za-z0-9._-]+")


def fat_safe(name: str) -> bool:
    """A name FAT32, exFAT, NTFS and macOS keep exactly as written (no escaping, no reserved device)."""
    return (bool(_FAT_CHARS.fullmatch(name)) and len(name.encode()) <= 255 and not name.endswith((".", " "))
            and name.split(".")[0].upper() not in _RESERVED)


def collisions(names: list[str]) -> list[str]:
    folded = [unicodedata.normalize("NFC", n).casefold() for n in names]
    return sorted({n for n, f in zip(names, folded, strict=True) if folded.count(f) > 1})


@dataclass
class Trip:
    exchange: Exchange
    sent: list[Item]  # NL's items of the weird names
    bundle: Path
    received: list[Item]  # DE's items after the import
    expected: dict[str, str]  # sha256 -> original name
    paths: dict[str, str]  # sha256 -> original path


@pytest.fixture(scope="module")
def trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trip]:
    root = tmp_path_factory.mktemp("names")
    with pytest.MonkeyPatch.context() as patch:
        home = root / "home"
        for var, value in (("HOME", home), ("XDG_CONFIG_HOME", home / ".config"),
                           ("XDG_DATA_HOME", home / ".local/share"), (WITNESS_ENV, root / "witness")):
            patch.setenv(var, str(value))
        exchange = make_exchange(root / "scene", (100,))
        folder = root / "weird"
        deep = folder.joinpath(*DEEP)
        deep.mkdir(parents=True)
        expected: dict[str, str] = {}
        paths: dict[str, str] = {}
        for n, (where, name) in enumerate([(folder, name) for name in NAMES] + [(deep, DEEP_NAME)]):
            data = f"exhibit {n}: {name!r}\n".encode()
            (where / name).write_bytes(data)
            expected[hashlib.sha256(data).hexdigest()] = name
            paths[hashlib.sha256(data).hexdigest()] = str(where / name)
        with exchange.open_nl() as nl:
            sent = evidence.add_files(nl, CASE, [folder]).items
        bundle = exchange.export("weird-names").path
        with exchange.open_de() as de:
            prepared = bundle_import.prepare_import(de, bundle)
            received = bundle_import.commit_import(de, prepared).added
        yield Trip(exchange, sent, bundle, received, expected, paths)


def test_every_name_is_kept_at_ingest(trip: Trip) -> None:
    assert len(trip.sent) == len(NAMES) + 1
    assert {i.sha256: i.original_name for i in trip.sent} == trip.expected
    assert {i.sha256: i.original_path for i in trip.sent} == trip.paths
    assert len(trip.paths[hashlib.sha256(f"exhibit {len(NAMES)}: {DEEP_NAME!r}\n".encode()).hexdigest()]) > 1000


def test_every_name_survives_export_and_import(trip: Trip) -> None:
    """DE keeps each original name and path, byte for byte (NFC and NFD apart, case apart)."""
    got = {i.sha256: i.original_name for i in trip.received if i.sha256 in trip.expected}
    assert got == trip.expected
    assert {i.sha256: i.original_path for i in trip.received if i.sha256 in trip.expected} == trip.paths


def test_the_media_holds_only_fat_safe_names(trip: Trip) -> None:
    """What the export wrote beside the bundle: NAME.icspa and its seal, nothing named after evidence."""
    written = sorted(p.name for p in trip.bundle.parent.iterdir() if p.name.startswith("weird-names"))
    assert written == ["weird-names.icspa", "weird-names.icspa.sha256", "weird-names.icspa.sha256.p7s"]
    assert all(fat_safe(name) for name in written)
    assert collisions(os.listdir(trip.bundle.parent)) == []


def test_inside_the_bundle_payload_files_are_ids_and_names_only_metadata(trip: Trip) -> None:
    """DESIGN: payload files are stored under ids; human names only in metadata. Every tar member's every
    component is FAT-safe, none collides, the payload files are exactly the items' ids."""
    plain = keys_of(trip.exchange).decrypt(trip.bundle.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tar:
        members = [m.name for m in tar.getmembers()]
        items = json.loads(tar.extractfile(next(m for m in members if m.endswith("/" + records.ITEMS_JSON)))
                           .read())  # type: ignore[union-attr]
    components = {part for name in members for part in name.split("/")}
    assert [c for c in components if not fat_safe(c)] == []
    assert collisions(members) == []
    bag = members[0]
    payload = sorted(m.removeprefix(f"{bag}/data/") for m in members if m.startswith(f"{bag}/data/"))
    assert payload == sorted(i["id"] for i in items)
    assert {i["name"] for i in items} >= set(trip.expected.values())
    assert not any(name in components for name in trip.expected.values())


_NAME_CHARS = st.characters(codec="utf-8", blacklist_characters="\x00/")  # UTF-8: no lone surrogates


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(_NAME_CHARS, min_size=1, max_size=100).filter(lambda n: len(n.encode()) <= 255),
                min_size=1, max_size=4))
def test_any_posix_name_round_trips_through_the_items_record(names: list[str]) -> None:
    """Whatever a POSIX file system can name (any text but NUL and '/'), written as the export writes
    items.json, the recipient reads back unchanged."""
    base = {"kind": "digital", "sha256": "0" * 64, "size": 1, "markings": {"handling_code": "H1", "tlp": "AMBER"},
            "acquisition": {}}
    doc = [{**base, "id": f"i{n}", "exhibit_number": f"E{n}", "payload": f"data/i{n}", "name": name,
            "original_path": f"/seized/{name}"} for n, name in enumerate(names)]
    read = records.parse_items(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    assert [(i.name, i.original_path) for i in read] == [(n, f"/seized/{n}") for n in names]


def test_a_name_that_is_not_utf8_is_ingested_and_kept(trip: Trip, tmp_path: Path) -> None:
    raw = b"invoice-\xff\xfe-latin1-\xe9.pdf"
    folder = tmp_path / "latin1"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), raw), "wb") as f:
        f.write(b"not utf-8 named\n")
    with trip.exchange.open_nl() as nl:
        (item,) = evidence.add_files(nl, CASE, [folder]).items
        # Shown as text with the undecodable bytes as \xNN; the exact bytes in the signed 'acquired' event.
        assert item.original_name == "invoice-\\xff\\xfe-latin1-\\xe9.pdf"
        assert item.original_path.endswith("/latin1/invoice-\\xff\\xfe-latin1-\\xe9.pdf")
        acquired = [e for e in events.list_events(nl.conn, item_id=item.id) if e.action == CustodyAction.ACQUIRED]
        assert bytes.fromhex(acquired[0].body["details"]["original_name_bytes"]) == raw
