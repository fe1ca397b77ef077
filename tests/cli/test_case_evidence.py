"""``icspa case``, ``icspa evidence`` and ``icspa search`` in-process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.enums import CustodyAction, Role
from tests.cli.conftest import Cli, as_role
from tests.conftest import VaultInfo


@pytest.fixture
def case(cli: Cli) -> str:
    done = cli("case", "create", "--number", "2026/001", "--title", "Operation Nightjar", "--handling", "H2",
               "--tlp", "AMBER", "--lead", "Insp. Vos", "--authority", "RC 2026/17", "--description", "harbour")
    assert done.code == 0, done.err
    return "2026/001"


def test_case_create_list_show_edit_close_reopen(cli: Cli, case: str, vault: VaultInfo,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    listed = cli("--json", "case", "list").json()
    assert [c["number"] for c in listed] == [case] and listed[0]["id"]
    assert "Operation Nightjar" in cli("case", "list").out
    shown = cli("--json", "case", "show", case).json()
    assert shown["id"] == listed[0]["id"] and shown["number"] == case
    human = cli("case", "show", case).out
    assert "markings:    H2, TLP:AMBER" in human and "description: harbour" in human
    edited = cli("--json", "case", "edit", case, "--title", "Nightjar", "--tlp", "RED", "--reason", "typo")
    assert edited.code == 0 and edited.json()["title"] == "Nightjar"
    assert cli("case", "edit", case, "--jurisdiction", "NL", "--purpose", "old spelling").code == 0
    with vault.session() as session:
        edits = [e for e in events.list_events(session.conn) if e.action == CustodyAction.CASE_EDITED]
    assert [e.body["purpose"] for e in edits] == ["typo", "old spelling"]
    as_role(monkeypatch, Role.INVESTIGATOR)
    assert cli("case", "close", case).code == 6
    as_role(monkeypatch, Role.SUPERVISOR)
    closed = cli("case", "close", case, "--reason", "done")
    assert closed.code == 0 and "is now closed" in closed.out
    assert cli("--json", "case", "list", "--status", "closed").json()[0]["status"] == "closed"
    assert cli("case", "list", "--status", "open").out.strip() == "No cases."
    assert cli("case", "reopen", case).code == 0


def test_case_errors(cli: Cli, case: str) -> None:
    dup = cli("case", "create", "--number", case, "--title", "Again")
    assert dup.code == 5 and "already exists" in dup.error_line
    h3 = cli("case", "create", "--number", "X-1", "--title", "H3", "--handling", "H3")
    assert h3.code == 2 and "H3" in h3.error_line
    missing = cli("case", "show", "NOPE")
    assert missing.code == 5 and "NOPE" in missing.error_line
    usage = cli("case", "create", "--number", "X-2")
    assert usage.code == 2 and "--title" in usage.error_line
    assert cli("case").code == 2


def test_evidence_add_list_show_verify(cli: Cli, case: str, seized: Path) -> None:
    added = cli("--json", "evidence", "add", case, seized, "--hash", "md5", "--hash", "sha1", "--tag", "seized,phone",
                "--tag", "urgent", "--description", "Phone dump", "--location", "Harbour", "--serial", "SN-1",
                "--source-eval", "B", "--info-eval", "2", "--tlp", "RED")
    assert added.code == 0, added.err
    items = added.json()
    assert len(items) == 2 and all(i["id"] and i["sha256"] for i in items)
    chat = next(i for i in items if i["name"] == "chat.txt")
    assert chat["sha256"] == hashlib.sha256((seized / "chat.txt").read_bytes()).hexdigest()
    assert chat["md5"] == hashlib.md5((seized / "chat.txt").read_bytes()).hexdigest()
    assert chat["sha1"]
    assert chat["tags"] == ["seized", "phone", "urgent"]
    # The handling code from the case, the TLP as given.
    assert chat["markings"]["handling_code"] == "H2" and chat["markings"]["tlp"] == "RED"
    listed = cli("--json", "evidence", "list", case).json()
    assert {i["id"] for i in listed} == {i["id"] for i in items}
    assert "chat.txt" in cli("evidence", "list", case).out
    shown = cli("evidence", "show", chat["exhibit_number"])
    assert shown.code == 0 and "md5:" in shown.out and "serial:" in shown.out and "tags:" in shown.out
    assert "evaluation B2" in shown.out
    verified = cli("--json", "evidence", "verify", case)
    assert verified.code == 0 and all(r["ok"] and r["id"] for r in verified.json())
    one = cli("evidence", "verify", chat["id"])
    assert one.code == 0 and "1 of 1 item(s) verified ok." in one.out
    assert cli("evidence", "verify", "--all").code == 0
    both = cli("evidence", "verify", case, "--all")
    assert both.code == 2 and both.error_line
    again = cli("evidence", "add", case, seized / "chat.txt")
    assert again.code == 0 and "same content" in again.err


def test_evidence_verify_names_a_damaged_item(cli: Cli, case: str, seized: Path, vault: VaultInfo) -> None:
    cli("evidence", "add", case, seized / "chat.txt")
    blob = next(p for p in (vault.path / "blobs").rglob("*") if p.is_file())
    data = bytearray(blob.read_bytes())
    data[40] ^= 0x04
    blob.write_bytes(bytes(data))
    done = cli("evidence", "verify", case)
    assert done.code == 1
    assert done.out.startswith("MISMATCH") and "Verification FAILED for 1 of 1" in done.error_line
    empty = cli("case", "create", "--number", "E-1", "--title", "Empty")
    assert empty.code == 0 and cli("evidence", "verify", "E-1").out.strip() == "No stored content to verify."


def test_evidence_extract(cli: Cli, case: str, seized: Path, tmp_path: Path) -> None:
    item = cli("--json", "evidence", "add", case, seized / "photo.jpg").json()[0]
    out = tmp_path / "photo-copy.jpg"
    done = cli("--json", "evidence", "extract", item["exhibit_number"], "--out", out, "--reason", "examination")
    assert done.code == 0, done.err
    assert done.json()["id"] == item["id"] and out.read_bytes() == (seized / "photo.jpg").read_bytes()
    refused = cli("evidence", "extract", item["id"], "--out", out, "--reason", "again")
    assert refused.code == 5 and "--force" in refused.error_line
    out.write_bytes(b"the examiner's scribbles")
    forced = cli("evidence", "extract", item["id"], "--out", out, "--reason", "again", "--force")
    assert forced.code == 0, forced.err
    assert out.read_bytes() == (seized / "photo.jpg").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing left aside
    no_reason = cli("evidence", "extract", item["id"], "--out", tmp_path / "x.jpg")
    assert no_reason.code == 2 and "--reason" in no_reason.error_line
    no_folder = cli("evidence", "extract", item["id"], "--out", tmp_path / "nowhere" / "x.jpg", "--reason", "r")
    assert no_folder.code == 2 and "does not exist" in no_folder.error_line


def test_failed_forced_extract_puts_the_old_file_back(cli: Cli, case: str, seized: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    item = cli("--json", "evidence", "add", case, seized / "photo.jpg").json()[0]
    out = tmp_path / "keep.jpg"
    out.write_bytes(b"old")
    as_role(monkeypatch, Role.AUDITOR)  # may not extract: the service refuses after the file was set aside
    denied = cli("evidence", "extract", item["id"], "--out", out, "--reason", "r", "--force")
    assert denied.code == 6
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.jpg", "seized", "vault"]


def test_physical_items_checkout_checkin(cli: Cli, case: str) -> None:
    added = cli("--json", "evidence", "add-physical", case, "iPhone 12, black", "--storage", "Locker 4",
                "--seal", "S-991", "--tag", "phone")
    assert added.code == 0, added.err
    item = added.json()
    assert item["id"] and item["kind"] == "physical"
    out = cli("--json", "evidence", "checkout", item["exhibit_number"], "--to", "Lab tech Ann", "--reason",
              "extraction", "--authority", "RC 2026/17")
    assert out.code == 0 and out.json()["holder"] == "Lab tech Ann"
    assert "[out: Lab tech Ann]" in cli("evidence", "list", case).out
    assert "checked out to Lab tech Ann" in cli("evidence", "show", item["id"]).out
    back = cli("evidence", "checkin", item["id"], "--from", "Lab tech Ann", "--storage", "Locker 5")
    assert back.code == 0 and "Locker 5" in back.out
    old = cli("evidence", "checkout", item["id"], "--to", "Ann", "--purpose", "old spelling")
    assert old.code == 0, old.err
    no_reason = cli("evidence", "checkout", item["id"], "--to", "Ann")
    assert no_reason.code == 2 and "--reason" in no_reason.error_line


def test_annotate(cli: Cli, case: str, seized: Path, vault: VaultInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    item = cli("--json", "evidence", "add", case, seized / "chat.txt", "--tag", "a").json()[0]
    done = cli("--json", "evidence", "annotate", item["id"], "--description", "Chat log", "--notes", "see p. 4",
               "--tag", "chat,harbour", "--tlp", "RED", "--source-eval", "A", "--reason", "review")
    assert done.code == 0, done.err
    data = done.json()
    assert data["id"] == item["id"] and data["description"] == "Chat log" and data["notes"] == "see p. 4"
    assert data["tags"] == ["chat", "harbour"]
    assert data["markings"]["tlp"] == "RED" and data["markings"]["handling_code"] == "H2"  # handling kept
    assert data["markings"]["source_evaluation"] == "A"
    assert cli("--json", "evidence", "annotate", item["id"], "--tags", "x,y").json()["tags"] == ["x", "y"]
    assert cli("--json", "evidence", "annotate", item["id"], "--tag", "").json()["tags"] == []
    assert cli("--json", "evidence", "annotate", item["id"], "--handling", "H3", "--handling-text",
               "JIT only").json()["markings"]["handling_text"] == "JIT only"
    assert "updated" in cli("evidence", "annotate", item["id"], "--info-eval", "1").out
    with vault.session() as session:
        annotated = [e for e in events.list_events(session.conn) if e.action == CustodyAction.ANNOTATED]
    assert annotated[0].body["purpose"] == "review"
    assert annotated[0].body["details"]["changes"]["tlp"] == {"old": "AMBER", "new": "RED"}
    as_role(monkeypatch, Role.AUDITOR)
    denied = cli("evidence", "annotate", item["id"], "--notes", "no")
    assert denied.code == 6 and denied.error_line


def test_evidence_defaults(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = cli("--json", "evidence", "defaults").json()
    assert shown["id"] == "evidence-defaults" and "sha256" in shown["hash_algorithms"]
    done = cli("--json", "evidence", "defaults", "--hash", "md5,sha1", "--exhibit-format", "EX-{seq:05d}")
    assert done.code == 0, done.err
    assert set(done.json()["hash_algorithms"]) >= {"md5", "sha1"} and done.json()["exhibit_format"] == "EX-{seq:05d}"
    assert "md5" not in cli("--json", "evidence", "defaults", "--hash", "none").json()["hash_algorithms"]
    assert "Exhibit number format: EX-{seq:05d}" in cli("evidence", "defaults").out
    bad = cli("evidence", "defaults", "--hash", "crc32")
    assert bad.code == 2 and bad.error_line
    as_role(monkeypatch, Role.INVESTIGATOR)
    assert cli("evidence", "defaults", "--hash", "md5").code == 6


def test_search(cli: Cli, case: str, seized: Path) -> None:
    item = cli("--json", "evidence", "add", case, seized / "chat.txt").json()[0]
    by_hash = cli("--json", "search", item["sha256"])
    assert by_hash.code == 0 and [r["id"] for r in by_hash.json()] == [item["id"]]
    assert by_hash.json()[0]["sha256"] == item["sha256"]
    prefix = cli("search", item["sha256"][:12])
    assert "SHA-256 starting with" in prefix.out and item["exhibit_number"] in prefix.out
    words = cli("--json", "search", "Nightjar")
    assert [r["number"] for r in words.json() if r["type"] == "case"] == [case]
    assert cli("search", "nothing-like-this").out.strip() == "Nothing found."
    cli("case", "create", "--number", "2026/002", "--title", "Nightjar two")
    limited = cli("search", "Nightjar", "--limit", "1")
    assert "Showing 1 of 2 case(s)" in limited.out
