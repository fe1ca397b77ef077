"""The custody PDF and the CASE/UCO export take progress and a cancel token (issue 11: Cancel did nothing).

A cancel is requested from the progress callback when a given stage is reached, so each test stops the real
service at a known point: nothing is left under the output name (nor a temporary file beside it), and the log
holds what it would hold for the work done until then — the report's checkpoint once signed, never an export.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from icspa_desktop.custody import events
from icspa_desktop.domain.errors import Cancelled
from icspa_desktop.domain.progress import CancelToken
from icspa_desktop.reports import case_uco, uco_graph
from icspa_desktop.services import cases, custody_reports, evidence, received
from icspa_desktop.services.session import Session
from tests.reports.conftest import CASE, Scene

Report = tuple[int, int, str]


class CancelAt:
    """A progress callback that records every report and cancels at the first whose message starts with
    ``stage`` (never, when ``stage`` is empty)."""

    def __init__(self, stage: str = "") -> None:
        self.stage = stage
        self.token = CancelToken()
        self.reports: list[Report] = []

    def __call__(self, done: int, total: int, message: str) -> None:
        self.reports.append((done, total, message))
        if self.stage and message.startswith(self.stage):
            self.token.cancel()

    def messages(self) -> list[str]:
        return [m for _d, _t, m in self.reports]


def _event_count(session: Session) -> int:
    return int(session.conn.execute("SELECT COUNT(*) FROM custody_events").fetchone()[0])


def _actions_after(session: Session, index: int) -> list[str]:
    return [e.action for e in events.list_events(session.conn) if e.index >= index]


def _pdf(admin: Session, out: Path, tmp_path: Path, progress: CancelAt) -> custody_reports.ReportContext:
    return custody_reports.custody_report_pdf(admin, CASE, out, witness_dir=tmp_path / "witness", progress=progress,
                                              cancel=progress.token)


def test_a_normal_pdf_reports_progress_to_the_end(admin: Session, scene: Scene, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    progress = CancelAt()
    ctx = _pdf(admin, out, tmp_path, progress)
    assert out.read_bytes().startswith(b"%PDF") and ctx.events
    done, total, message = progress.reports[-1]
    assert done == total > 0 and out.name in message
    # The rendering's bar is determinate and never goes back; it passes every stage.
    rendering = [(d, t) for d, t, m in progress.reports if m.startswith(("Preparing", "Laying out", "Writing page"))]
    assert rendering and all(t == 1000 for _d, t in rendering)
    values = [d for d, _t in rendering]
    assert values == sorted(values)
    stages = {m.split(" ")[0] for m in progress.messages()}
    assert {"Signing", "Verifying", "Preparing", "Laying", "Writing", "Report"} <= stages


@pytest.mark.parametrize("stage", ["Laying out the report", "Preparing the custody events", "Writing page 1 of"])
def test_a_cancelled_pdf_leaves_no_file_and_keeps_its_true_checkpoint(admin: Session, scene: Scene, tmp_path: Path,
                                                                      stage: str) -> None:
    out = tmp_path / "report.pdf"
    before = _event_count(admin)
    files = set(tmp_path.iterdir())
    progress = CancelAt(stage)
    with pytest.raises(Cancelled):
        _pdf(admin, out, tmp_path, progress)
    assert progress.messages()[-1].startswith(stage)  # stopped at the next check, nothing more was reported
    assert not out.exists() and set(tmp_path.iterdir()) - files <= {tmp_path / "witness"}  # no temporary file
    # Signed before the cancel, the checkpoint stays (it is true); the report itself records nothing.
    assert _actions_after(admin, before) == ["checkpoint_signed"]


def test_a_pdf_cancelled_before_its_checkpoint_records_nothing(admin: Session, scene: Scene, tmp_path: Path) -> None:
    before = _event_count(admin)
    progress = CancelAt("Reading the case")
    with pytest.raises(Cancelled):
        _pdf(admin, tmp_path / "report.pdf", tmp_path, progress)
    assert _event_count(admin) == before and not (tmp_path / "report.pdf").exists()


def _uco(admin: Session, out: Path, progress: CancelAt) -> dict[str, object]:
    return custody_reports.case_uco_export(admin, CASE, out, progress=progress, cancel=progress.token)


def test_a_normal_case_uco_export_reports_progress_to_the_end(admin: Session, scene: Scene, tmp_path: Path) -> None:
    out = tmp_path / "case.jsonld"
    progress = CancelAt()
    doc = _uco(admin, out, progress)
    assert json.loads(out.read_text("utf-8")) == doc
    done, total, message = progress.reports[-1]
    assert done == total > 0 and out.name in message
    assert any(m.startswith("Describing") for m in progress.messages())


@pytest.mark.parametrize("stage", ["Describing the items", "Writing the JSON-LD"])
def test_a_cancelled_case_uco_export_records_and_writes_nothing(admin: Session, scene: Scene, tmp_path: Path,
                                                                stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(case_uco, "_TICK_BATCH", 1)  # the scene is small: report at every unit
    out = tmp_path / "case.jsonld"
    before = _event_count(admin)
    progress = CancelAt(stage)
    with pytest.raises(Cancelled):
        _uco(admin, out, progress)
    assert progress.messages()[-1].startswith(stage)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert _event_count(admin) == before  # no "exported" event for a file that was never written


def test_encode_is_the_json_the_export_always_wrote(admin: Session, scene: Scene) -> None:
    case = cases.get_case(admin, CASE)
    doc = case_uco.build(vault_id=admin.vault.header.vault_id, agency_name="Test Police", case=case,
                         items=evidence.list_items(admin, case.id),
                         events=events.list_events(admin.conn, case_id=case.id),
                         partner_events=received.partner_events(admin, case_id=case.id))
    expected = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    assert case_uco.encode(doc) == expected


def test_encode_stops_when_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uco_graph, "_ENCODE_BATCH", 10)
    token = CancelToken()
    seen: list[int] = []

    class Watched(dict):  # type: ignore[type-arg]
        """A node that cancels the export when the encoder reaches it (the encoder asks for its items)."""

        def items(self):  # type: ignore[no-untyped-def]
            seen.append(len(seen))
            token.cancel()
            return super().items()

    doc = {"@graph": [{"n": i} for i in range(100)] + [Watched(n=-1)] + [{"n": i} for i in range(100)]}
    with pytest.raises(Cancelled):
        case_uco.encode(doc, cancel=token)
    assert seen == [0]  # reached once: the encoder stopped within the next pieces, before the end
