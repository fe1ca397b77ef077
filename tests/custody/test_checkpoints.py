"""Checkpoint text (C2SP tlog-checkpoint form), strict parsing, and where the witness file lives."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.domain.errors import RefusedInput

ROOT = bytes(range(32))
WHEN = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


def test_body_round_trip() -> None:
    body = cp.format_body("icspa.example/v1", 42, ROOT, WHEN)
    assert body == (b"icspa.example/v1\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                    b"Timestamp: 2026-05-04T03:02:01Z\n")
    parsed = cp.parse_body(body)
    assert (parsed.origin, parsed.size, parsed.root, parsed.timestamp) == ("icspa.example/v1", 42, ROOT, WHEN)
    assert parsed.body() == body


def test_extension_lines_are_allowed() -> None:
    body = cp.format_body("o", 1, ROOT, WHEN) + b"Other: thing\n"
    assert cp.parse_body(body).size == 1


@pytest.mark.parametrize("bad", [
    b"o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nTimestamp: 2026-05-04T03:02:01Z",  # no final newline
    b"o\n01\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nTimestamp: 2026-05-04T03:02:01Z\n",  # leading zero
    b"o\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nTimestamp: 2026-05-04T03:02:01Z\n",
    b"o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\nTimestamp: 2026-05-04T03:02:01Z\n",  # 31 bytes
    b"o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nTimestamp: 2026-05-04T03:02:01Z\n",  # no padding
    b"o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # no timestamp
    b"o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nTimestamp: 2026-13-04T03:02:01Z\n",
    b"o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nTimestamp: 2026-05-04T03:02:01Z\n"
    b"Timestamp: 2026-05-04T03:02:01Z\n",
    b"\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nTimestamp: 2026-05-04T03:02:01Z\n",  # empty origin
    b"\xff\n1\n",
])
def test_malformed_bodies_are_refused(bad: bytes) -> None:
    with pytest.raises(RefusedInput):
        cp.parse_body(bad)


def test_signed_form_round_trip_and_damage() -> None:
    body = cp.format_body("o", 3, ROOT, WHEN)
    signature = os.urandom(700)
    data = cp.encode_signed(body, signature)
    assert data.startswith(body + b"\n-----BEGIN CMS-----\n")
    assert cp.decode_signed(data) == (body, signature)
    with pytest.raises(RefusedInput):
        cp.decode_signed(data.replace(b"-----END CMS-----\n", b""))
    with pytest.raises(RefusedInput):
        cp.decode_signed(body + b"\n-----BEGIN CMS-----\n!!!!\n-----END CMS-----\n")


def test_witness_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Outside the vault: the user config dir, which honours XDG_CONFIG_HOME (set per test in conftest).
    assert cp.witness_dir() == Path(os.environ["XDG_CONFIG_HOME"]) / "icspa" / "witness"
    assert cp.witness_path("abc") == Path(os.environ["XDG_CONFIG_HOME"]) / "icspa" / "witness" / "abc.checkpoint"
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "w"))
    assert cp.witness_dir() == tmp_path / "w"
    assert cp.witness_dir(tmp_path / "x") == tmp_path / "x"
    cp.write_witness(cp.witness_path("v"), b"body\n", b"sig")
    assert cp.read_witness(cp.witness_path("v")) == (b"body\n", b"sig")
    assert oct((tmp_path / "w").stat().st_mode & 0o777) == "0o700"
    assert cp.read_witness(cp.witness_path("missing")) is None
