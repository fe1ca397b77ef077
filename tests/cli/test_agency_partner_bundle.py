"""``icspa agency``, ``icspa partner`` and ``icspa bundle`` in-process, between two vaults made by the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.enums import Role
from tests.cli.conftest import Cli, Result
from tests.conftest import ADMIN, ADMIN_PASS, NAMES, PASSPHRASES


@dataclass
class Agencies:
    run: Cli
    nl: Path
    de: Path
    usb: Path

    def at_nl(self, *argv: str | Path) -> Result:
        return self.run("--vault", self.nl, *argv)

    def at_de(self, *argv: str | Path) -> Result:
        return self.run("--vault", self.de, *argv)


@pytest.fixture
def agencies(run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seized: Path) -> Agencies:
    monkeypatch.setenv("ICSPA_USER", ADMIN)
    monkeypatch.setenv("ICSPA_PASSPHRASE", ADMIN_PASS)
    monkeypatch.setenv("ICSPA_NEW_PASSPHRASE", ADMIN_PASS)
    found = Agencies(run, tmp_path / "nl", tmp_path / "de", tmp_path / "usb")
    found.usb.mkdir()
    assert found.at_nl("vault", "init", "--agency-name", "Politie", "--country", "NL").code == 0
    assert found.at_de("vault", "init", "--agency-name", "BKA", "--country", "DE").code == 0
    assert found.at_nl("case", "create", "--number", "2026/001", "--title", "Nightjar", "--handling", "H1").code == 0
    assert found.at_nl("evidence", "add", "2026/001", seized).code == 0
    return found


def _exchange_cards(a: Agencies) -> None:
    for (send, receive, name) in ((a.at_nl, a.at_de, "nl"), (a.at_de, a.at_nl, "de")):
        card = a.usb / f"{name}.icspa-card"
        assert send("agency", "card", "--out", card).code == 0
        fingerprint = send("agency", "fingerprint").out.strip()
        done = receive("partner", "import", card, "--confirm-fingerprint", fingerprint)
        assert done.code == 0, done.err


def test_agency_show_fingerprint_card_cert(agencies: Agencies) -> None:
    shown = agencies.at_nl("--json", "agency", "show").json()
    assert shown["id"] and shown["name"] == "Politie" and shown["age_recipient"].startswith("age1")
    assert "fingerprint" in agencies.at_nl("agency", "show").out
    fingerprint = agencies.at_nl("--json", "agency", "fingerprint").json()
    assert fingerprint["fingerprint"] == shown["fingerprint"] == agencies.at_nl("agency", "fingerprint").out.strip()
    card, pdf, pem = agencies.usb / "nl.card", agencies.usb / "nl.pdf", agencies.usb / "nl.pem"
    made = agencies.at_nl("--json", "agency", "card", "--out", card, "--pdf", pdf, "--days", "30")
    assert made.code == 0 and made.json()["pdf"] == str(pdf) and pdf.read_bytes().startswith(b"%PDF")
    again = agencies.at_nl("agency", "card", "--out", agencies.usb / "other.card", "--pdf", pdf)
    assert again.code == 5 and str(pdf) in again.error_line and not (agencies.usb / "other.card").exists()
    assert "Printable card" in agencies.at_nl("agency", "card", "--out", card, "--pdf", pdf, "--force").out
    cert = agencies.at_nl("--json", "agency", "cert", "--out", pem)
    assert cert.code == 0 and cert.json()["id"] and pem.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert agencies.at_nl("agency", "cert", "--out", pem).code == 5


def test_agency_init_spellings(agencies: Agencies) -> None:
    done = agencies.at_nl("--json", "agency", "init", "--agency-name", "Politie Eenheid", "--days", "400")
    assert done.code == 0, done.err
    assert done.json()["name"] == "Politie Eenheid" and done.json()["country"] == "NL"  # kept
    old = agencies.at_nl("--json", "agency", "init", "--name", "Politie LE", "--country", "nl")
    assert old.code == 0 and old.json()["name"] == "Politie LE"
    assert "--name" not in agencies.at_nl("agency", "init", "--help").out.replace("--agency-name", "")


def _ca_issued(tmp_path: Path) -> tuple[Path, Path]:
    ca_key = certs.generate_key()
    ca = certs.self_signed(ca_key, "Agency Root CA", "SE")
    key = certs.generate_key()
    now = datetime.now(UTC)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Polisen NOA")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=700))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(ca_key, hashes.SHA384()))
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "leaf.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"pem-pass")))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def test_cert_import_password_sources(agencies: Agencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file, cert_file = _ca_issued(tmp_path)
    password = tmp_path / "key-password"
    password.write_text("nope\n")
    wrong = agencies.at_nl("agency", "cert-import", key_file, "--cert", cert_file, "--key-password-file", password)
    assert wrong.code == 4 and "wrong password" in wrong.error_line
    no_prompt = agencies.at_nl("agency", "cert-import", key_file, "--cert", cert_file)  # no terminal: no password
    assert no_prompt.code == 4
    missing = agencies.at_nl("agency", "cert-import", tmp_path / "none.pem")
    assert missing.code == 2 and str(tmp_path / "none.pem") in missing.error_line
    password.write_text("pem-pass\n")
    done = agencies.at_nl("--json", "agency", "cert-import", key_file, "--cert", cert_file, "--key-password-file",
                          password, "--contact", "noa@example.se")
    assert done.code == 0, done.err
    assert (done.json()["name"], done.json()["country"], done.json()["contact"]) == ("Polisen NOA", "SE",
                                                                                     "noa@example.se")
    # The old spellings: `import-cert` and --password-env (read, with a deprecation warning).
    monkeypatch.setenv("KEYPASS", "pem-pass")
    old = agencies.at_nl("agency", "import-cert", key_file, "--cert", cert_file, "--password-env", "KEYPASS")
    assert old.code == 0, old.err
    assert "deprecated" in old.err and "Agency certificate imported." in old.out
    assert "password-env" not in agencies.at_nl("agency", "cert-import", "--help").out


def test_partners(agencies: Agencies, tmp_path: Path) -> None:
    card = agencies.usb / "de.icspa-card"
    assert agencies.at_de("agency", "card", "--out", card).code == 0
    fingerprint = agencies.at_de("agency", "fingerprint").out.strip()
    inspected = agencies.at_nl("--json", "partner", "inspect", card)
    assert inspected.code == 0 and inspected.json()["fingerprint"] == fingerprint
    assert "Compare the fingerprint" in agencies.at_nl("partner", "inspect", card).out
    wrong = agencies.at_nl("partner", "import", card, "--confirm-fingerprint", "0000 0000 0000 0000")
    assert wrong.code == 4 and wrong.error_line
    assert agencies.at_nl("partner", "import", card).code == 4  # no fingerprint: not trusted
    done = agencies.at_nl("--json", "partner", "import", card, "--confirm-fingerprint", fingerprint)
    assert done.code == 0, done.err
    partner = done.json()
    assert partner["id"] and partner["name"] == "BKA"
    pem = tmp_path / "nca.pem"
    pem.write_bytes(certs.cert_pem(certs.self_signed(certs.generate_key(), "NCA", "GB")).encode())
    age = agencies.at_de("--json", "agency", "show").json()["age_recipient"]
    added = agencies.at_nl("--json", "partner", "add", "--name", "NCA", "--country", "GB", "--age-recipient", age,
                           "--cert", pem, "--contact", "desk@nca.example")
    assert added.code == 0, added.err
    assert added.json()["id"] and added.json()["name"] == "NCA"
    listed = agencies.at_nl("--json", "partner", "list").json()
    assert {p["name"] for p in listed} == {"BKA", "NCA"} and all(p["id"] for p in listed)
    assert agencies.at_nl("--json", "partner", "show", "BKA").json()["id"] == partner["id"]
    assert "BKA" in agencies.at_nl("partner", "show", partner["id"]).out
    revoked = agencies.at_nl("partner", "revoke", "NCA", "--reason", "key lost")
    assert revoked.code == 0 and "revoked" in revoked.out
    assert [p["name"] for p in agencies.at_nl("--json", "partner", "list", "--active").json()] == ["BKA"]
    assert agencies.at_nl("partner", "revoke", "BKA").code == 2  # a reason is required
    assert agencies.at_nl("partner", "show", "Nobody").code == 5
    assert agencies.at_nl("partner", "add", "--name", "X", "--country", "FR", "--age-recipient", age,
                          "--cert", tmp_path / "missing.pem").code == 2


def test_bundle_round_trip(agencies: Agencies, monkeypatch: pytest.MonkeyPatch) -> None:
    _exchange_cards(agencies)
    usb = agencies.usb
    dry = agencies.at_nl("--json", "bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "nightjar",
                         "--reason", "JIT Nightjar", "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.json()["dry_run"] is True and not list(usb.glob("nightjar*"))
    human_dry = agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "nightjar", "--dry-run")
    assert "Dry run: nothing was written." in human_dry.out and "No reason given" in human_dry.out
    sent = agencies.at_nl("--json", "bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "nightjar",
                          "--purpose", "JIT Nightjar", "--authority", "MLA 2026/17")
    assert sent.code == 0, sent.err
    bundle = usb / "nightjar.icspa"
    assert sent.json()["id"] and bundle.exists() and (usb / "nightjar.icspa.sha256.p7s").exists()
    exists = agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "nightjar", "--reason", "x")
    assert exists.code == 5 and "--force" in exists.error_line
    listed = agencies.at_nl("--json", "bundle", "list").json()
    assert [b["id"] for b in listed] == [sent.json()["id"]]
    assert "no receipt yet" in agencies.at_nl("bundle", "list").out

    verified = agencies.at_de("--json", "bundle", "verify", bundle)
    assert verified.code == 0, verified.err
    assert verified.json()["id"] and "every layer checks out" in agencies.at_de("bundle", "verify", bundle).out
    assert agencies.at_de("bundle", "list", "--received").out.strip() == "No bundles imported yet."
    imported = agencies.at_de("--json", "bundle", "import", bundle)
    assert imported.code == 0, imported.err
    assert imported.json()["id"]
    twice = agencies.at_de("bundle", "import", bundle)
    assert twice.code == 0 and "every check passed" in twice.out
    received = agencies.at_de("--json", "bundle", "list", "--received").json()
    assert len(received) == 1 and received[0]["id"]
    assert "from Politie" in agencies.at_de("bundle", "list", "--received").out
    assert "Partner agencies' own events" in agencies.at_de("custody", "show", "--all").out

    receipt = usb / "receipt.txt"
    made = agencies.at_de("--json", "bundle", "receipt", received[0]["id"][:8], "--out", receipt)
    assert made.code == 0, made.err
    assert made.json()["id"] and receipt.exists()
    assert agencies.at_de("bundle", "receipt", received[0]["id"], "--out", receipt).code == 5
    assert "return it to" in agencies.at_de("bundle", "receipt", received[0]["id"], "--out", receipt, "--force").out
    by_file = agencies.at_de("--json", "bundle", "receipt", bundle, "--out", usb / "by-file.txt")  # the file itself
    assert by_file.code == 0 and by_file.json()["id"] == made.json()["id"]
    stranger = agencies.at_de("bundle", "receipt", usb / "nightjar.icspa.sha256", "--out", usb / "x.txt")
    assert stranger.code == 5 and "is not a bundle this vault imported" in stranger.error_line
    recorded = agencies.at_nl("--json", "bundle", "receipt-import", receipt)
    assert recorded.code == 0, recorded.err
    assert recorded.json()["id"]
    assert "recorded before" in agencies.at_nl("bundle", "receipt-import", receipt).out
    assert "receipt from BKA" in agencies.at_nl("bundle", "list").out

    # --force replaces the bundle and its seal, once the new one is complete.
    old = bundle.read_bytes()
    again = agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", bundle, "--reason", "resend",
                           "--force")
    assert again.code == 0, again.err
    assert bundle.read_bytes() != old and [p.name for p in usb.iterdir() if p.name.startswith(".")] == []
    assert agencies.at_nl("custody", "verify").code == 0


def test_bundle_refusals(agencies: Agencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _exchange_cards(agencies)
    usb = agencies.usb
    assert agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "b", "--reason", "r").code == 0
    damaged = usb / "damaged.icspa"
    data = bytearray((usb / "b.icspa").read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    verified = agencies.at_de("bundle", "verify", damaged)
    assert verified.code == 1 and "PROBLEM" in verified.out
    refused = agencies.at_de("bundle", "import", damaged)
    assert refused.code == 4 and refused.error_line
    missing = agencies.at_de("bundle", "import", tmp_path / "none.icspa")
    assert missing.code == 4 and "does not exist" in missing.error_line
    unknown = agencies.at_nl("bundle", "export", "2026/001", "--to", "Nobody", "--out", usb / "c", "--reason", "r")
    assert unknown.code == 4 and "Nobody" in unknown.error_line
    no_to = agencies.at_nl("bundle", "export", "2026/001", "--out", usb / "c")
    assert no_to.code == 2 and "--to" in no_to.error_line
    # The stick's folder as --out wrote usb.icspa beside it, on another disk; an empty --items sent the whole case.
    folder = agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", usb, "--reason", "r")
    assert folder.code == 2 and "is a folder" in folder.error_line
    assert not usb.with_name(usb.name + ".icspa").exists()
    # A dry run also says what the export would refuse at the target (it said "nothing was written", exit 0).
    nowhere = agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "gone" / "b", "--reason",
                             "r", "--dry-run")
    assert nowhere.code == 2 and "does not exist (is the medium mounted?)" in nowhere.error_line
    assert "Dry run: nothing was written." in nowhere.out and not (usb / "gone").exists()
    for empty in ("", ","):
        nothing = agencies.at_nl("bundle", "export", "2026/001", "--to", "BKA", "--out", usb / "d", "--items", empty,
                                 "--reason", "r", "--dry-run")
        assert nothing.code == 2 and "--items names no item" in nothing.error_line
    junk = tmp_path / "junk-receipt.txt"
    junk.write_text("not a receipt")
    assert agencies.at_nl("bundle", "receipt-import", junk).code == 4
    assert agencies.at_de("bundle", "receipt", "ffffffff", "--out", tmp_path / "r.txt").code == 5
    monkeypatch.setenv("ICSPA_USER", NAMES[Role.AUDITOR])
    monkeypatch.setenv("ICSPA_PASSPHRASE", PASSPHRASES[Role.AUDITOR])
    assert agencies.at_nl("bundle", "list").code == 3  # no such user in this vault
