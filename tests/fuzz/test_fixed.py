"""What the fuzzing found in the files this suite may change, fixed; each test fails on the code before the fix."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.bundle import records
from icspa_desktop.bundle.tarwalk import DEFAULT_LIMITS, TarRefusal, TarWalk
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.domain.errors import RefusedInput
from tests.data.bundles.make_corpus import member, tar_bytes
from tests.fuzz.targets import TARGETS, Context, check


def _pax_record(key: bytes, value: bytes) -> bytes:
    """``LEN KEY=VALUE\\n``, where LEN counts its own digits too."""
    body = b" " + key + b"=" + value + b"\n"
    length = len(body)
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _pax_member(records_text: bytes) -> bytes:
    """A tar that opens with a bag folder, then a pax header holding ``records_text``, then a file."""
    pax = member("././@PaxHeader", records_text, tarfile.XHDTYPE)
    return tar_bytes([member("b", kind=tarfile.DIRTYPE), pax, member("b/bagit.txt", b"x")])


def test_a_pax_size_of_thousands_of_digits_is_refused() -> None:
    """int() of more than 4,300 digits raises ValueError, which escaped check_bundle as an unexpected error."""
    walk = TarWalk(DEFAULT_LIMITS)
    with pytest.raises(TarRefusal, match="unreadable size"):
        walk.feed(_pax_member(_pax_record(b"size", b"9" * 5000)))
    TarWalk(DEFAULT_LIMITS).feed(_pax_member(_pax_record(b"size", b"1")))  # a plain size still reads


def _custody_with(text: Any) -> bytes:
    return json.dumps({"format": records.PROOFS_FORMAT, "events": [],
                       "checkpoint": {"text": text, "signature_der_b64": ""}}).encode()


def test_an_unpaired_surrogate_in_a_record_is_refused() -> None:
    """JSON's \\ud800 escape decodes to a str that UTF-8 cannot encode: the checkpoint text raised
    UnicodeEncodeError; an item name would have failed later, in the database."""
    with pytest.raises(RefusedInput, match="not Unicode"):
        records.parse_custody(_custody_with("\ud800"))
    with pytest.raises(RefusedInput, match="not Unicode"):
        records.load_json(b'{"a\\udfff": 1}', "x")
    assert records.load_json(b'["\\ud83d\\ude00"]', "x") == ["\U0001F600"]  # a pair is one character


def test_a_checkpoint_root_that_is_not_ascii_is_refused() -> None:
    """Found by atheris: base64.b64decode of a str with non-ASCII characters raises a plain ValueError, not
    binascii.Error; a checkpoint (a witness, a bundle's custody.json, a receipt) with 'é' in its root line
    escaped parse_body."""
    body = "icspa/NL/x/v\n1\n" + "\u00e9" * 44 + "\nTimestamp: 2026-01-01T00:00:00Z\n"
    with pytest.raises(RefusedInput, match="base64"):
        cp.parse_body(body.encode())
    with pytest.raises(RefusedInput, match="base64"):
        records.parse_custody(_custody_with(body))


def _items(count: int, parent_of: Any) -> bytes:
    base = {"kind": "digital", "sha256": "0" * 64, "size": 1, "name": "n",
            "markings": {"handling_code": "H1", "tlp": "AMBER"}, "acquisition": {}}
    return json.dumps([{**base, "id": f"i{n}", "exhibit_number": f"E{n}", "payload": f"data/i{n}",
                        "parent_id": parent_of(n)} for n in range(count)]).encode()


def test_a_deep_chain_of_parents_is_ordered_without_recursion() -> None:
    """parents_first recursed once per generation: 5,000 generations raised RecursionError at import."""
    items = records.parse_items(_items(5000, lambda n: f"i{n + 1}" if n + 1 < 5000 else None))
    ordered = records.parents_first(items)
    assert [i.id for i in ordered] == [f"i{n}" for n in reversed(range(5000))]


def test_parent_links_are_checked_in_linear_time() -> None:
    """The cycle check walked each item's whole chain: 20,000 generations took minutes (a quadratic walk)."""
    data = _items(20_000, lambda n: f"i{n + 1}" if n + 1 < 20_000 else None)
    started = time.monotonic()
    records.parse_items(data)
    assert time.monotonic() - started < 20  # about 1 s; the quadratic walk needs 2 * 10^8 steps
    with pytest.raises(RefusedInput, match="cycle"):
        records.parse_items(_items(3000, lambda n: f"i{(n + 1) % 3000}"))


def test_a_file_name_with_control_characters_is_read_back() -> None:
    """File names may hold newlines, tabs and escapes (POSIX allows all but NUL and '/'): the recipient refused
    the whole bundle ('holds control characters'). NUL is still refused."""
    base = json.loads(_items(1, lambda n: None))
    for name in ("new\nline", "tab\there", "esc\x1b[31m", "bell\x07"):
        base[0]["name"] = name
        base[0]["original_path"] = f"/seized/{name}"
        (item,) = records.parse_items(json.dumps(base).encode())
        assert (item.name, item.original_path) == (name, f"/seized/{name}")
    base[0]["name"] = "nul\x00"
    with pytest.raises(RefusedInput, match="NUL"):
        records.parse_items(json.dumps(base).encode())


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_witness_is_refused_before_it_is_read_whole(kind: str, tmp_path: Path) -> None:
    """read_witness read the whole file before its size check: /dev/zero never ended, a FIFO blocked."""
    path = tmp_path / "vault.checkpoint"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as f:
            f.truncate(8 << 30)  # sparse: 8 GiB that take no space
    with pytest.raises(RefusedInput, match="witness file"):
        cp.read_witness(path)


def test_the_witness_sample_is_still_read(fuzz_context: Context) -> None:
    assert check(TARGETS["checkpoint"], fuzz_context, fuzz_context.samples.read("checkpoint")) == "accepted"
    assert cp.read_witness(fuzz_context.samples.path("checkpoint")) is not None
    assert cp.read_witness(fuzz_context.work / "absent.checkpoint") is None
