"""``icspa custody`` and ``icspa report`` in-process."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from icspa_desktop.domain.enums import Role
from tests.cli.conftest import Cli, as_role
from tests.conftest import VaultInfo


@pytest.fixture
def case(cli: Cli, seized: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    assert cli("case", "create", "--number", "K-1", "--title", "Kestrel").code == 0
    item = cli("--json", "evidence", "add", "K-1", seized / "chat.txt").json()[0]
    return {"number": "K-1", "item": item["id"], "exhibit": item["exhibit_number"]}


def test_show_case_item_and_all(cli: Cli, case: dict[str, str]) -> None:
    shown = cli("--json", "custody", "show", case["number"])
    assert shown.code == 0, shown.err
    assert [e["action"] for e in shown.json()] == ["case_created", "acquired"]
    assert all(e["id"] and e["source"] == "own" for e in shown.json())
    item = cli("custody", "show", case["exhibit"])
    assert item.code == 0 and "acquired" in item.out and "case_created" not in item.out
    everything = cli("--json", "custody", "show", "--all").json()
    assert [e["index"] for e in everything] == list(range(len(everything)))
    assert cli("custody", "show").code == 2
    assert cli("custody", "show", case["number"], "--all").code == 2
    missing = cli("custody", "show", "NOPE")
    assert missing.code == 5 and "NOPE" in missing.error_line


def test_verify_clean_damaged_and_witness_copy(cli: Cli, case: dict[str, str], vault: VaultInfo,
                                                tmp_path: Path) -> None:
    clean = cli("--json", "custody", "verify")
    assert clean.code == 0, clean.err
    assert clean.json()["ok"] is True and clean.json()["id"]
    assert cli("custody", "verify", "--incremental", "--workers", "1").out.startswith("The custody log is intact")
    usb = tmp_path / "usb"
    usb.mkdir()
    copy = cli("--json", "custody", "witness-copy", usb, "--reason", "evidence office copy")
    assert copy.code == 0 and copy.json()["directory"] == str(usb)
    assert cli("custody", "checkpoint").code == 0
    with_copy = cli("custody", "verify", "--witness-copy", usb)
    assert with_copy.code == 0, with_copy.out + with_copy.err
    off = cli("custody", "witness-copy", "--off")
    assert off.code == 0 and "No second witness" in off.out
    with vault.session() as session:
        session.conn.execute("UPDATE custody_events SET body = CAST(replace(CAST(body AS TEXT), 'Kestrel', 'Kestrex')"
                             " AS BLOB) WHERE action = 'case_created'")
    damaged = cli("custody", "verify")
    assert damaged.code == 1 and "DAMAGE [" in damaged.out
    assert "The custody log is damaged" in damaged.error_line


def test_checkpoints_agency_and_own_key(cli: Cli, case: dict[str, str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cp.txt"
    made = cli("--json", "custody", "checkpoint", "--reason", "audit", "--out", out)
    assert made.code == 0, made.err
    cp = made.json()
    assert cp["id"] and out.read_bytes().startswith(cp["text"].encode())
    assert b"-----BEGIN CMS-----" in out.read_bytes() or b"-----BEGIN PKCS7-----" in out.read_bytes()
    assert cli("custody", "checkpoint", "--out", out).code == 5  # exists
    assert cli("custody", "checkpoint", "--out", out, "--force").code == 0
    assert len(list((tmp_path / "witness").glob("*.checkpoint"))) == 1
    listed = cli("--json", "custody", "checkpoint-list").json()
    assert listed[0]["id"] == cp["id"] and all(c["id"] for c in listed)
    old = cli("custody", "checkpoints")  # the old name
    assert old.code == 0 and "audit" in old.out
    assert not re.search(r"^\s+checkpoints\b", cli("custody", "--help").out, re.MULTILINE)  # a hidden alias
    as_role(monkeypatch, Role.INVESTIGATOR)
    own = cli("--json", "custody", "checkpoint", "--reason", "my view")
    assert own.code == 0, own.err
    assert own.json()["action"] and own.json()["id"]
    refused = cli("custody", "checkpoint", "--out", tmp_path / "mine.txt")
    assert refused.code == 2 and "own key" in refused.error_line


def test_no_checkpoints_yet(cli: Cli) -> None:
    assert "No checkpoints yet" in cli("custody", "checkpoint-list").out


def test_proofs(cli: Cli, case: dict[str, str], tmp_path: Path) -> None:
    first = cli("--json", "custody", "checkpoint").json()["id"]
    cli("evidence", "annotate", case["item"], "--notes", "later")
    out = tmp_path / "proofs.json"
    done = cli("--json", "custody", "proofs", case["number"], "--out", out, "--since-checkpoint", first)
    assert done.code == 0, done.err
    assert done.json()["id"] and done.json()["events"] == 3
    assert json.loads(out.read_text())["events"]
    assert cli("custody", "proofs", case["number"], "--out", out).code == 5
    assert "written to" in cli("custody", "proofs", case["exhibit"], "--out", out, "--force").out
    assert cli("case", "create", "--number", "E-1", "--title", "e").code == 0


def test_witness_reset(cli: Cli, case: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("custody", "checkpoint").code == 0
    for witness in (tmp_path / "witness").glob("*.checkpoint"):
        witness.unlink()
    done = cli("--json", "custody", "witness-reset", "--reason", "new OS account")
    assert done.code == 0, done.err
    nothing = cli("custody", "witness-reset", "--reason", "again")
    assert nothing.code == 2 and "nothing to re-establish" in nothing.error_line
    assert cli("custody", "witness-reset").code == 2  # a reason is required
    as_role(monkeypatch, Role.INVESTIGATOR)
    assert cli("custody", "witness-reset", "--reason", "x").code == 6


def test_global_witness_dir_reaches_every_checkpoint(cli: Cli, case: dict[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """--witness-dir is global: a report's checkpoint and the user's own witness at lock go there too."""
    monkeypatch.delenv("ICSPA_WITNESS_DIR")
    media = tmp_path / "media"
    media.mkdir()
    done = cli("report", "custody", case["number"], "--out", tmp_path / "r.pdf", "--witness-dir", media)
    assert done.code == 0, done.err
    names = sorted(p.suffix for p in media.iterdir())
    assert names == [".checkpoint", ".head"]  # the agency witness and this user's own
    old_position = cli("custody", "verify", "--witness-dir", media)
    assert old_position.code == 0 and str(media) in old_position.out
    assert cli("--witness-dir", media, "custody", "verify").code == 0
    assert "ICSPA_WITNESS_DIR" not in os.environ  # restored after the command


def test_report_custody_and_case_uco(cli: Cli, case: dict[str, str], tmp_path: Path) -> None:
    pdf = tmp_path / "k.pdf"
    done = cli("--json", "report", "custody", case["number"], "--out", pdf)
    assert done.code == 0, done.err
    assert done.json()["id"] and done.json()["log_intact"] is True and pdf.read_bytes().startswith(b"%PDF")
    again = cli("report", "custody", case["number"], "--out", pdf)
    assert again.code == 5 and "--force" in again.error_line
    one = cli("report", "custody", case["number"], "--item", case["exhibit"], "--out", pdf, "--force")
    assert one.code == 0 and "1 items" in one.out
    uco = tmp_path / "k.jsonld"
    made = cli("--json", "report", "case-uco", case["number"], "--out", uco)
    assert made.code == 0 and made.json()["id"] and json.loads(uco.read_text())["@graph"]
    assert cli("report", "case-uco", case["number"], "--out", uco).code == 5
    uco.write_text("old")
    forced = cli("report", "case-uco", case["number"], "--out", uco, "--force")
    assert forced.code == 0 and "@graph" in uco.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
