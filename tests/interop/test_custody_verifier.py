"""docs/verify_custody_proofs.py, the partners' dependency-free verifier: every signature or a non-zero exit.

Each case runs the script as a partner would: a separate interpreter, once with the ``cryptography`` package
importable and once under ``python -S`` (standard library only: Ed25519 through ``openssl pkeyutl``).
Exit status: 0 verified, 1 invalid, 2 usage, 3 something could not be checked.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from icspa_desktop.crypto import signing
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.services import agency as agency_service
from tests.bundle.exchange import make_exchange
from tests.interop import forge

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "verify_custody_proofs.py"
MODES = ["stdlib-only", "with-cryptography"]


def run_script(doc: Any, *args: str, mode: str = "stdlib-only", tmp: Path,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script on ``doc`` (a path, or any JSON value written to a file first)."""
    if isinstance(doc, Path):
        path = doc
    else:
        path = tmp / "proofs.json"
        path.write_text(json.dumps(doc))
    python = [sys.executable, "-S"] if mode == "stdlib-only" else [sys.executable]
    return subprocess.run([*python, str(SCRIPT), str(path), *args], capture_output=True, text=True, check=False,
                          timeout=300, env=os.environ | (env or {}))


@pytest.fixture(scope="module")
def agency() -> forge.Agency:
    return forge.new_agency("Politie Landelijke Eenheid")


@pytest.fixture(scope="module")
def mallory() -> forge.Agency:
    return forge.new_agency("Forged Police", "XX")


@pytest.fixture(scope="module")
def user_key() -> bytes:
    return signing.generate()[0]


@pytest.fixture(scope="module")
def log(user_key: bytes) -> list[forge.Event]:
    return forge.make_events(11, user_key)


@pytest.fixture
def cert(agency: forge.Agency, tmp_path: Path) -> Path:
    path = tmp_path / "agency.pem"
    path.write_bytes(agency.pem)
    return path


def test_stdlib_only_really_has_no_cryptography() -> None:
    done = subprocess.run([sys.executable, "-S", "-c", "import cryptography"], capture_output=True, check=False)
    assert done.returncode != 0
    subprocess.run([sys.executable, "-c", "import cryptography"], check=True)


@pytest.mark.parametrize("mode", MODES)
def test_genuine_file_passes(mode: str, log: list[forge.Event], agency: forge.Agency, cert: Path,
                             tmp_path: Path) -> None:
    doc = forge.proofs(log, [0, 4, 10], agency, previous_size=6)
    done = run_script(doc, "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("OK    event") == 3
    assert "the checkpoint: CMS signature verifies" in done.stdout
    assert "the previous checkpoint: CMS signature verifies" in done.stdout
    assert "the checkpoint extends the previous one (tree size 6 -> 11)" in done.stdout
    by = "openssl pkeyutl" if mode == "stdlib-only" else "the 'cryptography' package"
    assert f"Ed25519 signature verifies ({by})" in done.stdout
    assert done.stdout.endswith("All checks passed.\n")


@pytest.mark.parametrize("mode", MODES)
def test_wrong_event_signature(mode: str, log: list[forge.Event], user_key: bytes, agency: forge.Agency,
                               cert: Path, tmp_path: Path) -> None:
    """The event's signature is over other bytes; the tree and the agency's checkpoint are built over it."""
    bad = forge.Event(log[4].body, signing.sign(user_key, b"something else"), log[4].public_key)
    doc = forge.proofs([*log[:4], bad, *log[5:]], [3, 4, 5], agency)
    done = run_script(doc, "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert done.returncode == 1, done.stdout
    assert f"FAIL  event {log[4].id} (leaf 4): its Ed25519 signature does NOT verify" in done.stdout
    assert done.stdout.count("OK    event") == 2
    assert "1 problem(s) found: do NOT trust this file." in done.stdout


@pytest.mark.parametrize("mode", MODES)
def test_completely_forged_file(mode: str, mallory: forge.Agency, cert: Path, tmp_path: Path) -> None:
    """Events, tree, checkpoint and CMS all by a forger: every proof is consistent, only trust tells."""
    forged = forge.proofs(forge.make_events(5, signing.generate()[0]), [0, 1, 2, 3, 4], mallory, previous_size=2)
    without_cert = run_script(forged, mode=mode, tmp=tmp_path)
    assert without_cert.returncode == 3, without_cert.stdout
    assert "All checks passed" not in without_cert.stdout
    assert "the checkpoint is NOT authenticated: no --agency-cert given" in without_cert.stdout
    assert "the previous checkpoint is NOT authenticated: no --agency-cert given" in without_cert.stdout
    assert without_cert.stdout.count("\n  - ") == 2
    with_cert = run_script(forged, "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert with_cert.returncode == 1, with_cert.stdout
    assert "FAIL  the checkpoint: its CMS signature does NOT verify: openssl cms -verify refuses it" in with_cert.stdout
    assert "FAIL  the previous checkpoint: its CMS signature does NOT verify" in with_cert.stdout


@pytest.mark.parametrize("mode", MODES)
def test_wrong_checkpoint_signature(mode: str, log: list[forge.Event], agency: forge.Agency, mallory: forge.Agency,
                                    cert: Path, tmp_path: Path) -> None:
    doc = forge.proofs(log, [2], agency, previous_size=5)
    doc["checkpoint"]["signature_der_b64"] = base64.b64encode(
        mallory.sign(doc["checkpoint"]["text"].encode())).decode()
    done = run_script(doc, "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "FAIL  the checkpoint: its CMS signature does NOT verify" in done.stdout
    assert "OK    the previous checkpoint: CMS signature verifies" in done.stdout
    # A genuine signature over other text (the timestamp moved) is refused the same way.
    doc = forge.proofs(log, [2], agency)
    doc["checkpoint"]["text"] = doc["checkpoint"]["text"].replace("T10:30:00Z", "T10:31:00Z")
    moved = run_script(doc, "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert moved.returncode == 1, moved.stdout
    assert "FAIL  the checkpoint: its CMS signature does NOT verify" in moved.stdout


@pytest.mark.parametrize("mode", MODES)
def test_wrong_previous_checkpoint_signature(mode: str, log: list[forge.Event], agency: forge.Agency,
                                             mallory: forge.Agency, cert: Path, tmp_path: Path) -> None:
    doc = forge.proofs(log, [2], agency, previous_size=5, previous_signer=mallory)
    done = run_script(doc, "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "OK    the checkpoint: CMS signature verifies" in done.stdout
    assert "FAIL  the previous checkpoint: its CMS signature does NOT verify" in done.stdout


@pytest.mark.parametrize("mode", MODES)
def test_no_certificate_means_not_authenticated(mode: str, log: list[forge.Event], agency: forge.Agency,
                                                cert: Path, tmp_path: Path) -> None:
    doc = forge.proofs(log, [1, 7], agency, previous_size=3)
    done = run_script(doc, mode=mode, tmp=tmp_path)
    assert done.returncode == 3, done.stdout
    assert "NOT VERIFIED: nothing checked was invalid, but 2 thing(s) could not be checked:" in done.stdout
    assert "the checkpoint is NOT authenticated: no --agency-cert given" in done.stdout
    explicit = run_script(doc, "--no-signature-check", mode=mode, tmp=tmp_path)
    assert explicit.returncode == 0, explicit.stdout
    assert "the checkpoints are NOT authenticated (--no-signature-check)" in explicit.stdout
    assert "All checks passed" not in explicit.stdout
    both = run_script(doc, "--no-signature-check", "--agency-cert", str(cert), mode=mode, tmp=tmp_path)
    assert both.returncode == 2
    assert "contradict" in both.stderr


def test_previous_certificate_of_the_same_agency(log: list[forge.Event], agency: forge.Agency, cert: Path,
                                                 tmp_path: Path) -> None:
    """After the agency replaced its key, the older checkpoint is checked with the older certificate."""
    old = forge.new_agency("Politie Landelijke Eenheid")
    old_pem = tmp_path / "old.pem"
    old_pem.write_bytes(old.pem)
    doc = forge.proofs(log, [1], agency, previous_size=4, previous_signer=old)
    assert run_script(doc, "--agency-cert", str(cert), tmp=tmp_path).returncode == 1
    done = run_script(doc, "--agency-cert", str(cert), "--agency-cert", str(old_pem), tmp=tmp_path)
    assert done.returncode == 0, done.stdout


def test_the_systems_trusted_cas_do_not_count(log: list[forge.Event], agency: forge.Agency, mallory: forge.Agency,
                                              cert: Path, tmp_path: Path) -> None:
    """openssl adds the default CA directory to -CAfile; a certificate trusted there must not sign for the agency.

    The forger's certificate stands in for one from a public CA (``SSL_CERT_DIR`` names the directory)."""
    store = tmp_path / "system-cas"
    store.mkdir()
    (store / "public-ca.pem").write_bytes(mallory.pem)
    subprocess.run(["openssl", "rehash", str(store)], check=True, capture_output=True)
    doc = forge.proofs(log, [2], mallory)
    env = {"SSL_CERT_DIR": str(store)}
    # The plain command of custody-format.md §6 without -no-CApath -no-CAstore accepts it ...
    (tmp_path / "checkpoint.txt").write_text(doc["checkpoint"]["text"])
    (tmp_path / "checkpoint.p7s").write_bytes(base64.b64decode(doc["checkpoint"]["signature_der_b64"]))
    plain = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "checkpoint.p7s",
                            "-content", "checkpoint.txt", "-CAfile", str(cert), "-purpose", "any", "-out", os.devnull],
                           cwd=tmp_path, capture_output=True, env=os.environ | env, check=False)
    assert plain.returncode == 0, "openssl no longer trusts its default CA directory: update docs and this test"
    # ... the script does not, and neither does the documented command with the two options.
    done = run_script(doc, "--agency-cert", str(cert), tmp=tmp_path, env=env)
    assert done.returncode == 1, done.stdout
    assert "FAIL  the checkpoint: its CMS signature does NOT verify" in done.stdout
    strict = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "checkpoint.p7s",
                             "-content", "checkpoint.txt", "-CAfile", str(cert), "-no-CApath", "-no-CAstore",
                             "-purpose", "any", "-out", os.devnull],
                            cwd=tmp_path, capture_output=True, env=os.environ | env, check=False)
    assert strict.returncode != 0


def _fake_openssl(tmp_path: Path, refuse: str) -> Path:
    """An ``openssl`` that fails like an old or cut-down build whenever its arguments contain ``refuse``."""
    fake = tmp_path / "old-openssl"
    fake.write_text(f"#!/bin/sh\ncase \" $* \" in *\" {refuse} \"*) echo \"openssl: unknown option or command "
                    f"{refuse}\" >&2; exit 1;; esac\nexec openssl \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def test_what_cannot_be_checked_is_said(log: list[forge.Event], agency: forge.Agency, cert: Path,
                                        tmp_path: Path) -> None:
    doc = forge.proofs(log, [1, 2], agency, previous_size=2)
    nothing = run_script(doc, "--agency-cert", str(cert), "--openssl", str(tmp_path / "no-such-openssl"),
                         tmp=tmp_path)
    assert nothing.returncode == 3, nothing.stdout
    assert "NOT CHECKED  the checkpoint is NOT authenticated: cannot run" in nothing.stdout
    assert ("NOT CHECKED  the Ed25519 signatures of 2 event(s): 'cryptography' is not installed and cannot run"
            in nothing.stdout)
    assert nothing.stdout.count("PART  event") == 2
    no_rawin = run_script(doc, "--agency-cert", str(cert), "--openssl", str(_fake_openssl(tmp_path, "-rawin")),
                          tmp=tmp_path)
    assert no_rawin.returncode == 3, no_rawin.stdout
    assert "cannot verify Ed25519 signatures (it needs OpenSSL 1.1.1 or newer" in no_rawin.stdout
    assert "OK    the checkpoint: CMS signature verifies" in no_rawin.stdout
    # With 'cryptography' the events are checked by it, and only the CMS signatures need openssl.
    no_cms = run_script(doc, "--agency-cert", str(cert), "--openssl", str(_fake_openssl(tmp_path, "cms")),
                        mode="with-cryptography", tmp=tmp_path)
    assert no_cms.returncode == 3, no_cms.stdout
    assert "the checkpoint is NOT authenticated:" in no_cms.stdout
    assert "cannot verify a known-good CMS signature" in no_cms.stdout
    assert no_cms.stdout.count("OK    event") == 2


def test_an_openssl_that_says_yes_to_everything_is_caught(log: list[forge.Event], agency: forge.Agency,
                                                          cert: Path, tmp_path: Path) -> None:
    liar = tmp_path / "yes-openssl"
    liar.write_text("#!/bin/sh\nexit 0\n")
    liar.chmod(0o700)
    done = run_script(forge.proofs(log, [1], agency), "--agency-cert", str(cert), "--openssl", str(liar),
                      tmp=tmp_path)
    assert done.returncode == 3, done.stdout
    assert "cannot verify Ed25519 signatures" in done.stdout
    assert "NOT authenticated" in done.stdout


def test_text_from_the_file_cannot_rewrite_the_terminal(user_key: bytes, agency: forge.Agency, cert: Path,
                                                        tmp_path: Path) -> None:
    sneaky = forge.make_events(1, user_key, event_id="e1\x1b[1A\x1b[2K\rOK    all good")
    done = run_script(forge.proofs(sneaky, [0], agency), "--agency-cert", str(cert), tmp=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    assert "e1\\x1b[1A\\x1b[2K\\x0dOK    all good" in done.stdout


def test_malformed_files_fail_with_a_reason(log: list[forge.Event], agency: forge.Agency, cert: Path,
                                            tmp_path: Path) -> None:
    good = forge.proofs(log, [1], agency)
    cases: list[tuple[Any, str]] = [
        ([], "not an ICSPA custody proofs file"),
        (good | {"format": "other"}, "not an ICSPA custody proofs file (format other)"),
        (good | {"events": "x"}, "'events' is not a list"),
        (good | {"events": [5]}, "FAIL  event #0: it is not a JSON object"),
        (good | {"checkpoint": {"text": "a\n1\nAAAA\nTimestamp: x\n", "signature_der_b64": ""}},
         "the checkpoint root hash is not 32 bytes"),
    ]
    for doc, message in cases:
        done = run_script(doc, "--agency-cert", str(cert), tmp=tmp_path)
        assert done.returncode == 1, (message, done.stdout)
        assert message in done.stdout, done.stdout
    stamp = good | {"checkpoint": good["checkpoint"] | {
        "text": good["checkpoint"]["text"].replace("Timestamp: ", "Timestamp: x")}}
    done = run_script(stamp, "--agency-cert", str(cert), tmp=tmp_path)
    assert done.returncode == 1 and "exactly one line 'Timestamp: YYYY-MM-DDTHH:MM:SSZ'" in done.stdout


def test_script_is_python_38_syntax() -> None:
    """Partners run what their system has; the script promises Python 3.8+."""
    ast.parse(SCRIPT.read_text(encoding="utf-8"), feature_version=(3, 8))


# ---- a real export ---------------------------------------------------------------------------------
def _custody_json_of(bundle: Path, identity: str, out: Path) -> Path:
    """metadata/custody.json of a bundle, opened as a partner does: age -d | tar -x."""
    key = out.parent / f"{out.name}-identity.txt"
    key.write_text(identity + "\n")
    out.mkdir()
    done = subprocess.run(f"age -d -i '{key}' '{bundle}' | tar -x -C '{out}'", shell=True, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    (found,) = out.glob("*/metadata/custody.json")
    return found


def test_a_real_exports_custody_json_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICSPA_WITNESS_DIR", str(tmp_path / "witness"))
    exchange = make_exchange(tmp_path / "x", sizes=(2_000, 4_000))
    first, second = exchange.export("first"), exchange.export("second")
    with exchange.open_de() as de:
        identity = str(agency_service.age_identity(de))
    with exchange.open_nl() as nl:
        sender_pem = tmp_path / "sender-agency.pem"
        sender_pem.write_text(certs.cert_pem(agency_service.agency_identity(nl).certificate))
    documents = [_custody_json_of(first.path, identity, tmp_path / "first"),
                 _custody_json_of(second.path, identity, tmp_path / "second")]
    assert "previous_checkpoint" not in json.loads(documents[0].read_text())
    assert "previous_checkpoint" in json.loads(documents[1].read_text())  # the last checkpoint sent to BKA
    for path in documents:
        for mode in MODES:
            done = run_script(path, "--agency-cert", str(sender_pem), mode=mode, tmp=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.count("OK    event") == len(json.loads(path.read_text())["events"]) > 0
            assert "All checks passed." in done.stdout
        assert run_script(path, tmp=tmp_path).returncode == 3
    assert "OK    the checkpoint extends the previous one" in run_script(
        documents[1], "--agency-cert", str(sender_pem), tmp=tmp_path).stdout
