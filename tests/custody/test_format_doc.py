"""docs/custody-format.md must match the code byte for byte; the partners' verifier script must work."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from icspa_desktop.crypto import signing
from icspa_desktop.crypto.canonical import canonical_json
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.custody import events
from icspa_desktop.custody.events import Actor, EventDraft
from icspa_desktop.domain.enums import CustodyAction, Role
from icspa_desktop.domain.ids import EventId, UserId
from icspa_desktop.services import custody as custody_service
from icspa_desktop.services.session import Session
from tests.custody.conftest import Agency, add_cases

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCRIPT = DOCS / "verify_custody_proofs.py"


def examples() -> dict[str, str]:
    text = (DOCS / "custody-format.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example:([a-z-]+) -->\n```\n(.*?)\n```", text, flags=re.DOTALL))


def test_worked_example_matches_the_code() -> None:
    ex = examples()
    assert set(ex) == {"secret-key", "public-key", "body", "signature", "leaf", "leaf-hash", "checkpoint"}
    key = bytes.fromhex(ex["secret-key"])
    body = ex["body"].encode("utf-8")
    assert canonical_json(json.loads(body)) == body
    assert signing.public_from_private(key).hex() == ex["public-key"]
    signature = signing.sign(key, events.signed_message(body))
    assert signature.hex() == ex["signature"]
    assert signing.verify(signing.public_from_private(key), signature, events.SIGNATURE_CONTEXT + body)
    leaf = events.leaf_bytes(body, signature, signing.public_from_private(key))
    assert leaf == ex["leaf"].encode("utf-8")
    assert events.leaf_hash(leaf).hex() == ex["leaf-hash"]
    checkpoint = cp.format_body("icspa.example/00000000-0000-4000-8000-000000000000", 1, events.leaf_hash(leaf),
                                datetime(2026, 3, 2, 9, 20, tzinfo=UTC))
    assert checkpoint == ex["checkpoint"].encode("utf-8") + b"\n"
    assert cp.parse_body(checkpoint).root == events.leaf_hash(leaf)


def test_example_body_has_exactly_the_fields_the_code_writes() -> None:
    body = json.loads(examples()["body"])
    actor = Actor(UserId("u"), "ivan", "Ivan", Role.INVESTIGATOR, "Test Police")
    built = events.build_body(EventDraft(CustodyAction.ACQUIRED), actor, datetime.now(UTC), EventId("e"), 0,
                              bytes(32))
    assert set(body) == set(built)
    assert set(body["actor"]) == set(built["actor"])
    assert events.SIGNATURE_CONTEXT == b"icspa-custody-event/v1\n"


def test_witness_file_form_is_readable_by_openssl(agency: Agency, admin: Session, tmp_path: Path) -> None:
    stored = custody_service.make_checkpoint(admin, signer=agency.signer, witness_dir=agency.witness_dir)
    witness = (agency.witness_dir / f"{admin.vault.header.vault_id}.checkpoint").read_bytes()
    body, pem_part = witness.split(b"\n\n", 1)
    assert body + b"\n" == stored.body
    (tmp_path / "checkpoint.txt").write_bytes(body + b"\n")
    (tmp_path / "sig.pem").write_bytes(pem_part)
    cert = tmp_path / "agency.pem"
    signer_cert = agency.signer.certificate
    cert.write_bytes(signer_cert.public_bytes(serialization.Encoding.PEM))
    done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "PEM", "-in", str(tmp_path / "sig.pem"),
                           "-content", str(tmp_path / "checkpoint.txt"), "-CAfile", str(cert), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr


def test_openssl_command_of_section_6_runs_verbatim(agency: Agency, admin: Session, tmp_path: Path) -> None:
    """The command printed in §6, on a real checkpoint: it accepts ours and refuses a changed text."""
    text = (DOCS / "custody-format.md").read_text(encoding="utf-8")
    section = text[text.index("## 6. Checking a checkpoint signature with OpenSSL"):text.index("## 7.")]
    command = re.search(r"\n\n    (openssl cms -verify .*?)\n\n", section, flags=re.DOTALL)
    assert command is not None
    stored = custody_service.make_checkpoint(admin, signer=agency.signer, witness_dir=agency.witness_dir)
    (tmp_path / "checkpoint.txt").write_bytes(stored.body)
    (tmp_path / "checkpoint.p7s").write_bytes(stored.signature)
    (tmp_path / "agency.pem").write_bytes(agency.signer.certificate.public_bytes(serialization.Encoding.PEM))
    done = subprocess.run(command.group(1).replace("\\\n", " "), shell=True, cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    (tmp_path / "checkpoint.txt").write_bytes(stored.body.replace(b"Timestamp: ", b"Timestamp: 1"))
    changed = subprocess.run(command.group(1).replace("\\\n", " "), shell=True, cwd=tmp_path, capture_output=True,
                             check=False)
    assert changed.returncode != 0


def _run_script(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, so the script really runs on the standard library alone.
    return subprocess.run([sys.executable, "-S", str(SCRIPT), str(path), *args], capture_output=True, text=True,
                          check=False, timeout=60)


@pytest.fixture
def proofs(admin: Session, agency: Agency, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    add_cases(admin, 3, "A")
    first = custody_service.make_checkpoint(admin, signer=agency.signer, witness_dir=agency.witness_dir)
    add_cases(admin, 9, "B")
    latest = custody_service.make_checkpoint(admin, signer=agency.signer, witness_dir=agency.witness_dir)
    _, selected = custody_service.timeline(admin, "B-004")
    assert selected
    selected = selected + custody_service.timeline(admin, "A-001")[1]
    doc = custody_service.proof_document(admin, selected, latest, first)
    cert = tmp_path / "agency.pem"
    cert.write_bytes(agency.signer.certificate.public_bytes(serialization.Encoding.PEM))
    return doc, cert


def test_partner_script_accepts_valid_proofs(proofs: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    doc, cert = proofs
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    done = _run_script(path, "--agency-cert", str(cert))
    assert done.returncode == 0, done.stdout
    assert "All checks passed." in done.stdout
    assert done.stdout.count("OK    event") == len(doc["events"])
    assert "extends the previous one" in done.stdout
    assert "signature verifies" in done.stdout


def _mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []

    def variant(name: str, change: Any) -> None:
        copy = json.loads(json.dumps(doc))
        change(copy)
        out.append((name, copy))

    def flip_node(d: dict[str, Any]) -> None:
        node = bytearray(base64.b64decode(d["events"][0]["inclusion_proof"][0]))
        node[0] ^= 1
        d["events"][0]["inclusion_proof"][0] = base64.b64encode(node).decode()

    def edit_body(d: dict[str, Any]) -> None:
        body = json.loads(base64.b64decode(d["events"][0]["event_b64"]))
        body["purpose"] = "changed"
        d["events"][0]["event_b64"] = base64.b64encode(canonical_json(body)).decode()
        d["events"][0]["event"] = body

    def edit_size(d: dict[str, Any]) -> None:
        lines = d["checkpoint"]["text"].split("\n")
        lines[1] = str(int(lines[1]) + 1)
        d["checkpoint"]["text"] = "\n".join(lines)

    def flip_consistency(d: dict[str, Any]) -> None:
        node = bytearray(base64.b64decode(d["consistency_proof"][-1]))
        node[5] ^= 0x10
        d["consistency_proof"][-1] = base64.b64encode(node).decode()

    variant("flipped proof node", flip_node)
    variant("edited event", edit_body)
    variant("readable copy differs", lambda d: d["events"][0]["event"].update(result="forged"))
    variant("wrong leaf index", lambda d: d["events"][0].update(leaf_index=d["events"][0]["leaf_index"] + 1))
    variant("dropped proof node", lambda d: d["events"][0]["inclusion_proof"].pop())
    variant("checkpoint size", edit_size)
    variant("consistency proof", flip_consistency)
    variant("other signature", lambda d: d["events"][0].update(signature=d["events"][1]["signature"]))
    return out


def test_partner_script_rejects_every_tampered_file(proofs: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    doc, cert = proofs
    for name, bad in _mutations(doc):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        # A changed size can leave a proof's shape intact (RFC 9162); the signed checkpoint then decides.
        done = _run_script(path, *(["--agency-cert", str(cert)] if name == "checkpoint size" else []))
        assert done.returncode == 1, f"{name} accepted: {done.stdout}"
        assert "FAIL" in done.stdout


def test_partner_script_rejects_a_forged_checkpoint_signature(proofs: tuple[dict[str, Any], Path],
                                                              tmp_path: Path) -> None:
    doc, cert = proofs
    lines = doc["checkpoint"]["text"].split("\n")
    lines[3] = "Timestamp: 2030-01-01T00:00:00Z"
    doc["checkpoint"]["text"] = "\n".join(lines)
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(doc))
    done = _run_script(path, "--agency-cert", str(cert))
    assert done.returncode == 1
    assert "does NOT verify" in done.stdout
