"""``icspa custody`` and ``icspa report`` in real subprocesses: output, --json, exit codes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN, ADMIN_PASS, VaultInfo, run_cli
from tests.custody.conftest import add_cases


@pytest.fixture
def env(vault: VaultInfo, tmp_path: Path) -> dict[str, str]:
    with vault.session() as session:
        add_cases(session, 3, "K")
    return {"ICSPA_VAULT": str(vault.path), "ICSPA_USER": ADMIN, "ICSPA_PASSPHRASE": ADMIN_PASS,
            "ICSPA_WITNESS_DIR": str(tmp_path / "witness")}


def test_show_case_and_all(env: dict[str, str]) -> None:
    done = run_cli("--json", "custody", "show", "K-001", env=env)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [e["action"] for e in listed] == ["case_created"]
    assert all("id" in e and "leaf_hash" in e for e in listed)
    everything = json.loads(run_cli("--json", "custody", "show", "--all", env=env).stdout)
    assert len(everything) >= 5
    assert [e["index"] for e in everything] == list(range(len(everything)))
    human = run_cli("custody", "show", "K-001", env=env)
    assert "Custody timeline of case K-001: 1 events" in human.stdout
    assert "case_created" in human.stdout
    usage = run_cli("custody", "show", env=env)
    assert usage.returncode == 2
    missing = run_cli("custody", "show", "NOPE", env=env)
    assert missing.returncode == 5
    assert "No case or item 'NOPE'" in missing.stderr


def test_verify_clean_and_damaged(env: dict[str, str], vault: VaultInfo) -> None:
    done = run_cli("--json", "custody", "verify", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["id"]
    assert run_cli("custody", "verify", env=env).stdout.startswith("The custody log is intact")
    with vault.session() as session:
        session.conn.execute("UPDATE custody_events SET body = CAST(replace(CAST(body AS TEXT), 'Case 1', 'Case X')"
                             " AS BLOB) WHERE action = 'case_created' AND case_id = (SELECT id FROM cases WHERE"
                             " number = 'K-001')")
    bad = run_cli("--json", "custody", "verify", env=env)
    assert bad.returncode == 1
    damages = json.loads(bad.stdout)["damages"]
    # The edited event, and (chained log) the next event, whose signed tree head no longer fits.
    assert {d["kind"] for d in damages} == {"bad_signature", "leaf_hash_mismatch", "chain_broken"}
    assert len({d["event_id"] for d in damages if d["kind"] != "chain_broken"}) == 1
    assert bad.stderr.count("\n") == 1
    assert "The custody log is damaged" in bad.stderr
    human = run_cli("custody", "verify", env=env)
    assert human.returncode == 1
    assert "DAMAGE [bad_signature] Event #" in human.stdout


def test_case_uco_cli(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "k.jsonld"
    done = run_cli("report", "case-uco", "K-000", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["@graph"]
    again = run_cli("report", "case-uco", "K-000", "--out", str(out), env=env)
    assert again.returncode == 5
    assert "already exists" in again.stderr


def test_checkpoint_report_and_proofs_cli(env: dict[str, str], tmp_path: Path) -> None:
    done = run_cli("--json", "custody", "checkpoint", "--reason", "test", env=env)
    assert done.returncode == 0, done.stderr
    cp = json.loads(done.stdout)
    assert re.match(r"icspa/NL/[0-9a-f]{32}/[0-9a-f-]{36}\n", cp["text"])  # country, agency fingerprint, vault
    witness = list((tmp_path / "witness").glob("*.checkpoint"))
    assert len(witness) == 1
    listed = json.loads(run_cli("--json", "custody", "checkpoints", env=env).stdout)
    assert [c["id"] for c in listed] == [cp["id"]]
    pdf = tmp_path / "k.pdf"
    done = run_cli("report", "custody", "K-002", "--out", str(pdf), env=env)
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    proofs = tmp_path / "proofs.json"
    done = run_cli("custody", "proofs", "K-002", "--out", str(proofs), "--since-checkpoint", str(cp["id"]), env=env)
    assert done.returncode == 0, done.stderr
    agency_pem = tmp_path / "agency.pem"
    assert run_cli("agency", "cert", "--out", str(agency_pem), env=env).returncode == 0
    script = Path(__file__).resolve().parents[2] / "docs" / "verify_custody_proofs.py"
    check = subprocess.run([sys.executable, str(script), str(proofs), "--agency-cert", str(agency_pem)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    unauthenticated = subprocess.run([sys.executable, str(script), str(proofs)], capture_output=True, text=True,
                                     check=False)
    assert unauthenticated.returncode == 3, unauthenticated.stdout
    assert "NOT authenticated: no --agency-cert given" in unauthenticated.stdout
    assert run_cli("custody", "verify", env=env).returncode == 0


def test_rollback_detected_through_the_cli(env: dict[str, str], vault: VaultInfo, tmp_path: Path) -> None:
    assert run_cli("custody", "checkpoint", env=env).returncode == 0
    old = tmp_path / "old"
    shutil.copytree(vault.path, old, ignore=shutil.ignore_patterns("vault.lock"))
    run_cli("case", "create", "--number", "Z-1", "--title", "later", env=env)
    assert run_cli("custody", "checkpoint", env=env).returncode == 0
    shutil.rmtree(vault.path)
    shutil.copytree(old, vault.path)
    done = run_cli("custody", "verify", env=env)
    assert done.returncode == 1
    assert "rolled back to an older copy" in done.stdout
    refused = run_cli("custody", "checkpoint", env=env)
    assert refused.returncode == 1
    assert "--replace-witness" in refused.stderr
