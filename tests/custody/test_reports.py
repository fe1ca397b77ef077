"""The PDF chain-of-custody report and the CASE/UCO export, on a real vault with real evidence."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.domain.enums import HandlingCode, Tlp
from icspa_desktop.domain.errors import Conflict
from icspa_desktop.domain.evidence import Acquisition, HashAlgorithm, ItemFields
from icspa_desktop.domain.models import CaseFields
from icspa_desktop.reports import custody_pdf
from icspa_desktop.services import cases, custody_reports, evidence, physical
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import Session
from tests.custody.conftest import Agency
from tests.tools import needs, require_tool

needs_poppler = needs("pdftotext")  # fails, never skips, when missing (tests/tools.py)


@pytest.fixture
def case_with_items(admin: Session, tmp_path: Path) -> str:
    cases.create_case(admin, CaseFields(number="2026-041", title="Operation Nightjar — seized laptop",
                                        lead_investigator="KHK Müller", legal_authority="Warrant 12 Gs 345/26",
                                        handling_code=HandlingCode.H2, tlp=Tlp.AMBER))
    files = []
    for i in range(3):
        path = tmp_path / f"image-{i}.bin"
        path.write_bytes(os.urandom(5000 * (i + 1)))
        files.append(path)
    evidence.add_files(admin, "2026-041", files,
                       ItemFields(description="Forensic image", acquisition=Acquisition(
                           acquired_by="KOK Schmidt", location="Wiesbaden", tool="Guymager", tool_version="0.8.13")),
                       algorithms=[HashAlgorithm.SHA256, HashAlgorithm.MD5])
    phone = physical.add_physical(admin, "2026-041", "Samsung phone", ItemFields(storage_location="Room B"))
    physical.check_out(admin, phone.id, "KOK Schmidt", "examination")
    physical.check_in(admin, phone.id, "KOK Schmidt")
    return "2026-041"


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@needs_poppler
def test_pdf_report_contains_every_hash_and_event(admin: Session, agency: Agency, case_with_items: str,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    ctx = custody_reports.custody_report_pdf(admin, case_with_items, out, signer=agency.signer,
                                             verifier=agency.verifier, witness_dir=agency.witness_dir)
    assert out.read_bytes().startswith(b"%PDF-")
    text = _pdf_text(out)
    items = evidence.list_items(admin, case_with_items)
    assert len(items) == 4
    for item in items:
        for value in item.hashes.values():
            assert value in text, f"hash {value} of {item.exhibit_number} missing"
        assert item.exhibit_number in text
    assert len(ctx.events) >= 7
    for event in ctx.events:
        assert event.id in text, f"event {event.id} missing"
    pages = int(subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
                .split("Pages:")[1].split()[0])
    assert f"Page {pages} of {pages}" in text
    assert "Page 1 of" in text
    for phrase in ("Chain of Custody Report", "RELEASED BY", "RECEIVED BY", "Warrant 12 Gs 345/26",
                   "TLP:AMBER", "Test Police", "Verified intact"):
        assert phrase in text
    # The checkpoint printed in the report is the one stored and signed, and it covers every event shown.
    for line in ctx.checkpoint.text.splitlines():
        assert line in text
    assert max(e.index for e in ctx.events) < ctx.checkpoint.size
    agency.verifier(ctx.checkpoint.signature, ctx.checkpoint.body, ctx.checkpoint.checkpoint.timestamp)
    # The report recorded its checkpoint on the case and refreshed the witness.
    witness = cp.read_witness(agency.witness_dir / f"{admin.vault.header.vault_id}.checkpoint")
    assert witness is not None
    assert witness[0] == ctx.checkpoint.body
    with pytest.raises(Conflict):
        custody_reports.custody_report_pdf(admin, case_with_items, out, signer=agency.signer,
                                           verifier=agency.verifier, witness_dir=agency.witness_dir)


@needs_poppler
def test_pdf_report_for_one_item(admin: Session, agency: Agency, case_with_items: str, tmp_path: Path) -> None:
    phone = next(i for i in evidence.list_items(admin, case_with_items) if i.original_name == "Samsung phone")
    out = tmp_path / "item.pdf"
    ctx = custody_reports.custody_report_pdf(admin, case_with_items, out, item_ref=phone.id, signer=agency.signer,
                                             verifier=agency.verifier, witness_dir=agency.witness_dir)
    text = _pdf_text(out)
    assert [i.id for i in ctx.items] == [phone.id]
    assert {e.action for e in ctx.events} >= {"checked_out", "checked_in"}
    for event in ctx.events:
        assert event.id in text
    others = [i for i in evidence.list_items(admin, case_with_items) if i.id != phone.id]
    assert all(i.sha256 not in text for i in others)


@needs_poppler
def test_pdf_report_warns_when_the_log_is_damaged(admin: Session, agency: Agency, case_with_items: str,
                                                  tmp_path: Path) -> None:
    admin.conn.execute("UPDATE custody_events SET signature = zeroblob(64) WHERE idx = 3")
    out = tmp_path / "damaged.pdf"
    custody_reports.custody_report_pdf(admin, case_with_items, out, signer=agency.signer, verifier=agency.verifier,
                                       witness_dir=agency.witness_dir)
    text = _pdf_text(out)
    assert "WARNING" in text
    assert "damaged" in text


def test_case_uco_export_passes_case_validate(admin: Session, case_with_items: str, tmp_path: Path) -> None:
    validator = require_tool("case_validate")  # fails, never skips, when missing
    out = tmp_path / "case.jsonld"
    doc = custody_reports.case_uco_export(admin, case_with_items, out)
    done = subprocess.run([validator, str(out)], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Conforms: True" in done.stdout
    graph = json.loads(out.read_text())["@graph"]
    by_type: dict[str, list[dict[str, object]]] = {}
    for node in graph:
        by_type.setdefault(str(node["@type"]), []).append(node)
    assert len(by_type["case-investigation:Investigation"]) == 1
    assert len(by_type["uco-observable:File"]) == 3
    assert len(by_type["uco-observable:Device"]) == 1  # the phone
    # A chain of provenance records per item: its acquisition, its intake in the vault, and the phone's
    # check-out and check-in (tests/reports/test_case_uco.py follows the chain itself).
    assert len(by_type["case-investigation:ProvenanceRecord"]) == 4 + 4 + 2
    actions = by_type["case-investigation:InvestigativeAction"]
    names = {str(a["uco-core:name"]) for a in actions}
    assert {"acquisition", "seizure", "intake", "check-out", "check-in"} <= names
    text = out.read_text()
    for item in evidence.list_items(admin, case_with_items):
        if item.sha256:
            assert f'"@value": "{item.sha256}"' in text
    # Every custody event is an action of a performer with our tool; an acquisition's performer is the
    # officer the item names, its instrument the acquisition tool (Guymager) when the item names one.
    assert all("uco-action:performer" in a for a in actions)
    assert all("uco-action:instrument" in a for a in actions if a["uco-core:name"] != "seizure")
    # The export is itself recorded on the case, with the file's hash.
    last = custody_service.timeline(admin, case_with_items)[1][-1]
    assert last.action == "exported"
    assert doc["@graph"]


# ---- section 5: the checkpoint as printed ----------------------------------------------------------------
def _synthetic_report(notes: int) -> custody_pdf.CustodyReport:
    events = [custody_pdf.ReportEvent(i, f"event-{i}", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00+01:00", "CET",
                                      "ivan", "investigator", "Test Police", "acquired", "seizure", "", "", "ok")
              for i in range(3)]
    checkpoint = cp.format_body("icspa/NL/ab/cd", 12, bytes(range(32)), datetime(2026, 3, 2, 9, 20, tzinfo=UTC))
    return custody_pdf.CustodyReport(
        "R-1", "Case 2026-041", ["Test Police"], "H2 · TLP:AMBER", [("Case number", "2026-041")], [], events,
        checkpoint.decode(), base64.b64encode(bytes(1100)).decode(), "ab" * 32, "Verified intact", True,
        "2026-03-02 09:20 UTC", "alice", notes=tuple(f"Note {i}." for i in range(notes)))


@needs_poppler
def test_the_cms_heading_stays_with_its_pem_on_one_page(tmp_path: Path) -> None:
    """Wherever section 5 falls, its heading, checkpoint and PEM share one page (no footer inside the PEM).

    Before KeepTogether, 7 of these 40 layouts split it, the first of them with no notes at all."""
    for notes in range(0, 120, 3):
        path = tmp_path / "r.pdf"
        path.write_bytes(custody_pdf.render(_synthetic_report(notes)))
        pages = _pdf_text(path).split("\f")
        found = {marker: [n for n, page in enumerate(pages) if marker in page] for marker in (
            "5. Signed checkpoint", "Timestamp: 2026-03-02T09:20:00Z", custody_pdf.CMS_HEADING,
            custody_pdf.PEM_BEGIN, custody_pdf.PEM_END, "pdftotext -layout")}
        assert all(len(p) == 1 for p in found.values()) and len({p[0] for p in found.values()}) == 1, (notes, found)


@needs_poppler
def test_printed_checkpoint_checks_with_openssl_as_the_report_says(admin: Session, agency: Agency,
                                                                   case_with_items: str, tmp_path: Path) -> None:
    """A reader follows the report's own instructions: pdftotext -layout, copy the lines, run its command."""
    out = tmp_path / "report.pdf"
    ctx = custody_reports.custody_report_pdf(admin, case_with_items, out, signer=agency.signer,
                                             verifier=agency.verifier, witness_dir=agency.witness_dir)
    lines = [line.strip() for line in _pdf_text(out).splitlines()]
    origin = ctx.checkpoint.text.splitlines()[0]
    start = lines.index(origin)
    (tmp_path / "checkpoint.txt").write_text("".join(line + "\n" for line in lines[start:start + 4]))
    assert (tmp_path / "checkpoint.txt").read_bytes() == ctx.checkpoint.body
    begin, end = lines.index(custody_pdf.PEM_BEGIN), lines.index(custody_pdf.PEM_END)
    (tmp_path / "sig.pem").write_text("\n".join(lines[begin:end + 1]) + "\n")
    (tmp_path / "agency.pem").write_bytes(agency.signer.certificate.public_bytes(serialization.Encoding.PEM))
    words = " ".join(" ".join(lines).split())
    command = re.search(r"Then: (openssl cms -verify .*? -out /dev/null)", words)
    assert command is not None, words
    done = subprocess.run(command.group(1), shell=True, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (tmp_path / "checkpoint.txt").write_bytes(ctx.checkpoint.body.replace(b"\n", b"\n\n", 1))
    assert subprocess.run(command.group(1), shell=True, cwd=tmp_path, capture_output=True, check=False).returncode


@needs_poppler
def test_an_event_naming_a_thousand_items_is_printed_whole_across_pages(tmp_path: Path) -> None:
    """A transfer of 1,001 items names them all in one event: in its row, a cell taller than a page made
    reportlab refuse the whole report (LayoutError) — every later custody report and export of that case failed
    (found exporting a 1,001-item case twice). The list now follows the event tables and runs over pages."""
    exhibits = tuple(f"2026-041-{n:04d}" for n in range(1, 1002))
    report = _synthetic_report(0)
    transfer = custody_pdf.ReportEvent(3, "event-3", "2026-03-02T09:10:00Z", "2026-03-02T10:10:00+01:00", "CET",
                                       "ivan", "investigator", "Test Police", "transferred", "sharing", "", "",
                                       "", items=exhibits, extra="Counterparty: BKA")
    report = dataclasses.replace(report, events=[*report.events, transfer])
    path = tmp_path / "r.pdf"
    path.write_bytes(custody_pdf.render(report))
    text = _pdf_text(path)
    found = set(re.findall(r"2026-041-\d{4}", text))
    assert found == {f"2026-041-{n:04d}" for n in range(1, 1002)}
    assert "Items: 1,001 exhibits, listed under" in text and "Items named by event #3 (transferred, 1,001" in text
    assert "Verified intact" in text  # the report goes on after the long list


@needs_poppler
def test_texts_of_the_longest_allowed_length_run_over_pages(tmp_path: Path) -> None:
    """A description, a case field and an event's purpose may hold 10,000 characters (``MAX_TEXT``): each made a
    table row taller than a page, and reportlab refused the whole report (LayoutError) — every report and export
    of that case failed. Such a row is now cut between its lines, and every word of it is printed, in order."""
    from icspa_desktop.services.item_checks import MAX_TEXT

    def long(tag: str) -> str:
        words = [f"{tag}{n:04d}" for n in range(MAX_TEXT // 10)]
        return " ".join(words)[:MAX_TEXT]

    report = _synthetic_report(0)
    item = custody_pdf.ReportItem("2026-041-001", "phone.img", "digital", long("desc"), 4096, {"sha256": "ab" * 32},
                                  "H2 · TLP:AMBER", (("Notes", long("note")),), "item-1")
    event = dataclasses.replace(report.events[0], index=3, purpose=long("purp"))
    report = dataclasses.replace(report, case_fields=[*report.case_fields, ("Description", long("case"))],
                                 items=[item], events=[*report.events, event])
    path = tmp_path / "r.pdf"
    path.write_bytes(custody_pdf.render(report))
    text = _pdf_text(path)
    for tag in ("desc", "note", "case", "purp"):
        printed = [int(n) for n in re.findall(rf"{tag}(\d{{4}})", text)]
        expected = [int(n) for n in re.findall(rf"{tag}(\d{{4}})", long(tag))]
        assert printed == expected, tag
    assert "Verified intact" in text  # the report goes on after them


@needs_poppler
def test_a_report_drawn_in_a_separate_process_is_the_same_report(admin: Session, agency: Agency,
                                                                 case_with_items: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A big report is drawn in a process of its own (icspa_desktop/separate.py): the same pages, in the caller's
    language, with the damage texts the services' phrasebooks show (handed over as plain lookups)."""
    from icspa_desktop import i18n, separate

    # A damaged log: the warning and its damages are the phrasebooks' texts, which must cross as well.
    admin.conn.execute("UPDATE custody_events SET signature = zeroblob(64) WHERE idx = 3")
    keys = {"signer": agency.signer, "verifier": agency.verifier, "witness_dir": agency.witness_dir}
    with i18n.language("de"):
        report, _ctx = custody_reports.custody_report(admin, case_with_items, **keys)
        here = custody_pdf.render(report)
        there = separate.run(custody_pdf.render, report)
        monkeypatch.setattr(custody_reports, "SEPARATE_FROM", 0)  # custody_report_bytes draws it there as well
        whole, _ctx = custody_reports.custody_report_bytes(admin, case_with_items, **keys)
    texts = []
    for name, data in (("here", here), ("there", there), ("whole", whole)):
        (tmp_path / f"{name}.pdf").write_bytes(data)
        texts.append(_pdf_text(tmp_path / f"{name}.pdf"))
    assert texts[0] == texts[1]
    assert "Bericht zur Beweismittelkette" in texts[1]  # German, as the caller
    assert "WARNUNG" in texts[1], texts[1][:2000]
    for marker in ("2026-041", "Samsung phone", "WARNUNG"):
        assert marker in texts[2]


def test_a_process_that_hands_its_report_to_another_never_loads_reportlab(tmp_path: Path) -> None:
    """Importing reportlab took ~110 ms holding the GIL in the worker thread that started a big report, and a click
    in the GUI meanwhile stalled 76-107 ms (bench gui): the process that hands the drawing over must not import it.
    A fresh interpreter, as the GUI is, draws a report of SEPARATE_FROM rows through ``ReportDrawing``."""
    script = tmp_path / "draw.py"
    script.write_text("""
import sys
from icspa_desktop.reports.custody_data import CustodyReport, ReportEvent
from icspa_desktop.services.custody_reports import SEPARATE_FROM, ReportDrawing

if __name__ == "__main__":
    events = [ReportEvent(i, f"e{i}", "2026-12-01T10:00:00Z", "", "UTC", "officer", "investigator", "Agency",
                          "acquired", "", "", "", "") for i in range(SEPARATE_FROM)]
    report = CustodyReport("r1", "Case 1", ["Agency"], "H1 · TLP:GREEN", [("Case number", "1")], [], events,
                           "checkpoint", "c2ln", "00", "verified", True, "2026-12-01 10:00:00 UTC", "tester")
    with ReportDrawing(report) as drawing:
        pdf = drawing.result()
    print(pdf[:5].decode(), "reportlab" in sys.modules)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["%PDF-", "False"]
