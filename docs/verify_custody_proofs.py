#!/usr/bin/env python3
"""Check ICSPA custody events against the agency's signed checkpoint, without ICSPA software.

Usage:
    python3 verify_custody_proofs.py custody-proofs.json --agency-cert AGENCY.pem [--origin ORIGIN]

Needs Python 3.8+ with its standard library, and the ``openssl`` command (OpenSSL 1.1.1 or newer).
It checks every part of the file, signatures included:

  * the agency's detached CMS signature on the checkpoint, and on the previous checkpoint when the file
    carries one, with ``openssl cms -verify``; the signer must be exactly one of the certificates given
    with --agency-cert (the system's trusted CAs are not consulted: a certificate from a public CA must
    not be able to sign for the agency);
  * for every event: its Ed25519 signature (RFC 8032) with the Python package ``cryptography`` when it
    is installed, otherwise with ``openssl pkeyutl -verify -rawin``; that it is leaf ``leaf_index`` of
    the Merkle tree whose size and root hash the checkpoint states (RFC 9162 §2.1.3.2);
  * that the checkpoint's tree extends the previous checkpoint's (RFC 9162 §2.1.4.2).

The checkpoint signature is what makes the rest mean anything: without it, anyone can write a file that
passes every other check. So without --agency-cert the file is reported as NOT authenticated and the
exit status is 3, unless you ask for exactly that with --no-signature-check.

Exit status: 0 everything was checked and is valid; 1 something is invalid (do not trust the file);
2 wrong usage; 3 nothing invalid was found but something could not be checked (the output says what).
The key that signed an event is bound to the log by the agency's checkpoint; which user holds that key
is a fact of the agency's whole log (``icspa custody verify``), not of this file.
Format: docs/custody-format.md. Do not run a copy of this script that arrived inside a bundle; use the
one published by the agency.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

FORMAT = "icspa-custody-proofs/v1"
SIGNATURE_CONTEXT = b"icspa-custody-event/v1\n"
# RFC 8410 SubjectPublicKeyInfo of an Ed25519 key: this DER prefix, then the raw 32-byte key.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
TIMESTAMP = re.compile(r"Timestamp: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_UNCHECKED = 0, 1, 2, 3

# Known-good inputs that show whether the openssl found here can check what this script needs.
# RFC 8032 §7.1 TEST 2: public key, message 0x72, signature.
SELF_TEST_ED25519 = (
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
)
# A self-signed P-256 certificate valid 2000-9999 (its private key was discarded) and its detached CMS
# signature over SELF_TEST_CMS_CONTENT, made like the agency's checkpoint signatures.
SELF_TEST_CMS_CONTENT = b"verify_custody_proofs.py self-test\n"
SELF_TEST_CMS_CERT = (
    "MIIBXjCCAQSgAwIBAgIBATAKBggqhkjOPQQDAjAtMSswKQYDVQQDDCJ2ZXJpZnlfY3VzdG9keV9wcm9vZnMucHkgc2VsZi10"
    "ZXN0MCAXDTAwMDEwMTAwMDAwMFoYDzk5OTkxMjMxMjM1OTU5WjAtMSswKQYDVQQDDCJ2ZXJpZnlfY3VzdG9keV9wcm9vZnMu"
    "cHkgc2VsZi10ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3zAC3R4P/T7yN9zmu76PI1LW6TQEGeH7j8hjsZtYJxHu"
    "cdkOw/1u1vJuJTyaIZjZZddrSPfzPe9fptHhGjvNcqMTMBEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA"
    "kmtp5Lb1BAcP3Vm9CmocHk2NyoYaTCYP3vakJDjFA+QCICiy4XNKC6Re63JmW8VnIRIa9PlZwWB+fqS9SW3cJmDH"
)
SELF_TEST_CMS_SIGNATURE = (
    "MIIC4QYJKoZIhvcNAQcCoIIC0jCCAs4CAQExDzANBglghkgBZQMEAgEFADALBgkqhkiG9w0BBwGgggFiMIIBXjCCAQSgAwIB"
    "AgIBATAKBggqhkjOPQQDAjAtMSswKQYDVQQDDCJ2ZXJpZnlfY3VzdG9keV9wcm9vZnMucHkgc2VsZi10ZXN0MCAXDTAwMDEw"
    "MTAwMDAwMFoYDzk5OTkxMjMxMjM1OTU5WjAtMSswKQYDVQQDDCJ2ZXJpZnlfY3VzdG9keV9wcm9vZnMucHkgc2VsZi10ZXN0"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3zAC3R4P/T7yN9zmu76PI1LW6TQEGeH7j8hjsZtYJxHucdkOw/1u1vJuJTya"
    "IZjZZddrSPfzPe9fptHhGjvNcqMTMBEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAkmtp5Lb1BAcP3Vm9"
    "CmocHk2NyoYaTCYP3vakJDjFA+QCICiy4XNKC6Re63JmW8VnIRIa9PlZwWB+fqS9SW3cJmDHMYIBQzCCAT8CAQEwMjAtMSsw"
    "KQYDVQQDDCJ2ZXJpZnlfY3VzdG9keV9wcm9vZnMucHkgc2VsZi10ZXN0AgEBMA0GCWCGSAFlAwQCAQUAoIGhMBgGCSqGSIb3"
    "DQEJAzELBgkqhkiG9w0BBwEwHAYJKoZIhvcNAQkFMQ8XDTI2MTEzMDExNDcxMlowLwYJKoZIhvcNAQkEMSIEIAJHfpwV8mdc"
    "h4unCzybdu5s894gyOOpkcSDGy56pxj4MDYGCSqGSIb3DQEJDzEpMCcwCwYJYIZIAWUDBAEqMAsGCWCGSAFlAwQBFjALBglg"
    "hkgBZQMEAQIwCgYIKoZIzj0EAwIERzBFAiEA424RCB87zeiKwTlbEaKLqRYd/vSkFjX8Rz4f0o3d19ACIE9+4cZddvI1K6QE"
    "ggWS8uNhuyCavKdaU/rGwTLLfSUt"
)


class Invalid(Exception):
    """The file is wrong: something in it does not verify."""


class CannotCheck(Exception):
    """This machine cannot check something (a tool is missing or too old); says what and why."""


def shown(value):
    """Text from the file, safe to print: no control characters that could rewrite the terminal."""
    text = value if isinstance(value, str) else repr(value)
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                   for ch in text[:200])


def b64(text):
    if not isinstance(text, str):
        raise Invalid(f"expected base64 text, found {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"invalid base64: {shown(text)}") from None


def pem(der, label):
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    joined = "\n".join(lines)
    return f"-----BEGIN {label}-----\n{joined}\n-----END {label}-----\n"


def pem_certificates(text):
    """The DER of every certificate in a PEM text."""
    found = re.findall(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", text, flags=re.DOTALL)
    try:
        return [base64.b64decode("".join(block.split()), validate=True) for block in found]
    except (binascii.Error, ValueError):
        raise Invalid("a certificate in PEM has invalid base64") from None


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def parse_checkpoint(text):
    """(origin, size, root, timestamp) of a checkpoint text (C2SP tlog-checkpoint body); Invalid if malformed."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise Invalid("the checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 4 or not all(lines):
        raise Invalid("the checkpoint needs origin, size, root hash and timestamp lines")
    if not lines[1].isdigit() or not lines[1].isascii() or (lines[1].startswith("0") and lines[1] != "0"):
        raise Invalid("the checkpoint tree size is not a decimal number")
    root = b64(lines[2])
    if len(root) != 32:
        raise Invalid("the checkpoint root hash is not 32 bytes")
    stamps = [line for line in lines[3:] if line.startswith("Timestamp:")]
    if len(stamps) != 1 or not TIMESTAMP.match(stamps[0]):
        raise Invalid("the checkpoint needs exactly one line 'Timestamp: YYYY-MM-DDTHH:MM:SSZ'")
    return lines[0], int(lines[1]), root, stamps[0][len("Timestamp: "):]


def leaf_hash(body, signature, public_key):
    leaf = (b'{"event":' + body + b',"public_key":"' + base64.b64encode(public_key) + b'","signature":"'
            + base64.b64encode(signature) + b'"}')
    return hashlib.sha256(b"\x00" + leaf).digest()


def root_from_inclusion(index, size, leaf, proof):
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise Invalid(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != 32 or sn == 0:
            raise Invalid("the inclusion proof has the wrong length or a malformed node")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid("the inclusion proof is too short")
    return r


def check_consistency(m, n, old_root, new_root, proof):
    """RFC 9162 §2.1.4.2 (equal sizes: empty proof and equal roots)."""
    if not 0 < m <= n:
        raise Invalid(f"a tree of {m} leaves cannot precede one of {n}")
    if m == n:
        if proof or old_root != new_root:
            raise Invalid("two checkpoints of the same size disagree")
        return
    if not proof or any(len(p) != 32 for p in proof):
        raise Invalid("the consistency proof is empty or malformed")
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, old_root)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Invalid("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise Invalid("the newer checkpoint does not extend the older one")


# ---- openssl -------------------------------------------------------------------------------------
class OpenSSL:
    """The ``openssl`` command, run on files in one private temporary directory."""

    def __init__(self, program, workdir):
        self.program = program
        self.workdir = workdir
        self._count = 0
        self._version = None

    def file(self, data):
        self._count += 1
        path = os.path.join(self.workdir, f"f{self._count}")
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run(self, args):
        """(exit status, output, the first error line); CannotCheck when openssl cannot be run at all."""
        try:
            done = subprocess.run([self.program, *args], stdin=subprocess.DEVNULL, capture_output=True,  # noqa: S603
                                  timeout=120, check=False)
        except OSError as exc:
            raise CannotCheck(f"cannot run {self.program!r}: {exc.strerror or exc}") from None
        except subprocess.TimeoutExpired:
            raise CannotCheck(f"{self.program!r} did not finish within 120 seconds") from None
        lines = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        reason = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
        return done.returncode, done.stdout.decode("utf-8", "replace").strip(), reason

    def version(self):
        if self._version is None:
            status, output, _ = self.run(["version"])
            self._version = output if status == 0 and output else "unknown version"
        return self._version

    def _trust_options(self):
        # Trust only the certificates given: never the system's CA directory and store (they hold public CAs).
        found = re.match(r"OpenSSL (\d+)\.(\d+)", self.version())
        if not found:
            return []
        major, minor = int(found.group(1)), int(found.group(2))
        options = ["-partial_chain", "-no-CApath"] if (major, minor) >= (1, 1) else []
        return options + (["-no-CAstore"] if major >= 3 else [])

    def _cms_verify(self, content, signature_der, ca_file, *more):
        return self.run(["cms", "-verify", "-binary", "-inform", "DER", "-in", self.file(signature_der), "-content",
                         self.file(content), "-CAfile", ca_file, "-purpose", "any", *self._trust_options(), *more,
                         "-out", os.devnull])

    def cms_signer(self, content, signature_der, ca_file):
        """DER of the certificate that made a valid CMS signature (chained to ``ca_file``); Invalid otherwise."""
        signer = self.file(b"")
        status, _, reason = self._cms_verify(content, signature_der, ca_file, "-signer", signer)
        if status != 0:
            raise Invalid(f"openssl cms -verify refuses it: {reason or f'exit status {status}'}")
        with open(signer, encoding="ascii", errors="replace") as f:
            certificates = pem_certificates(f.read())
        if len(certificates) != 1:
            raise Invalid(f"openssl names {len(certificates)} signers; exactly one is expected")
        return certificates[0]

    def ed25519_valid(self, public_key, signature, message):
        key = self.file(pem(ED25519_SPKI_PREFIX + public_key, "PUBLIC KEY").encode("ascii"))
        status, _, _ = self.run(["pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin", "-in", self.file(message),
                                 "-sigfile", self.file(signature)])
        return status == 0

    def self_test_cms(self):
        cert = base64.b64decode(SELF_TEST_CMS_CERT)
        ca_file = self.file(pem(cert, "CERTIFICATE").encode("ascii"))
        try:
            signer = self.cms_signer(SELF_TEST_CMS_CONTENT, base64.b64decode(SELF_TEST_CMS_SIGNATURE), ca_file)
        except Invalid as exc:
            raise CannotCheck(f"{self.program} ({self.version()}) cannot verify a known-good CMS signature: "
                              f"{exc}") from None
        status, _, _ = self._cms_verify(b"x" + SELF_TEST_CMS_CONTENT, base64.b64decode(SELF_TEST_CMS_SIGNATURE),
                                        ca_file)
        if signer != cert or status == 0:
            raise CannotCheck(f"{self.program} ({self.version()}) does not check CMS signatures correctly")

    def self_test_ed25519(self):
        key, message, signature = (bytes.fromhex(part) for part in SELF_TEST_ED25519)
        good = self.ed25519_valid(key, signature, message)
        if not good or self.ed25519_valid(key, signature, message + b"\x00"):
            raise CannotCheck(f"{self.program} ({self.version()}) cannot verify Ed25519 signatures (it needs "
                              "OpenSSL 1.1.1 or newer for 'pkeyutl -verify -rawin')")


def ed25519_from_cryptography():
    """An Ed25519 check with the ``cryptography`` package, or None when it is not installed."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None

    def valid(public_key, signature, message):
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    return valid


# ---- the check -----------------------------------------------------------------------------------
class Outcome:
    """What was found, printed as it is found."""

    def __init__(self, out):
        self.out = out
        self.problems = []
        self.unchecked = []

    def ok(self, text):
        self.out("OK    " + text)

    def note(self, text):
        self.out("NOTE  " + text)

    def fail(self, text):
        self.problems.append(text)
        self.out("FAIL  " + text)

    def cannot(self, text):
        self.unchecked.append(text)
        self.out("NOT CHECKED  " + text)


class Checker:
    """The signature checks available here, decided once (tools are probed before any real check)."""

    def __init__(self, openssl, ca_file, certificates, skip_cms):
        self.openssl = openssl
        self.ca_file = ca_file
        self.certificates = certificates  # DER of every --agency-cert
        self.skip_cms = skip_cms
        self.cms_problem = None
        self.ed25519 = ed25519_from_cryptography()
        self.ed25519_by = "the 'cryptography' package"
        self.ed25519_problem = None
        if certificates and not skip_cms:
            try:
                openssl.self_test_cms()
            except CannotCheck as exc:
                self.cms_problem = str(exc)
        if self.ed25519 is None:
            try:
                openssl.self_test_ed25519()
                self.ed25519 = openssl.ed25519_valid
                self.ed25519_by = "openssl pkeyutl"
            except CannotCheck as exc:
                self.ed25519_problem = f"'cryptography' is not installed and {exc}"

    def checkpoint(self, what, text, signature_b64, outcome):
        """Check the CMS signature of one checkpoint, reporting the outcome."""
        if self.skip_cms:
            outcome.note(f"{what}: its signature is NOT checked (--no-signature-check): it is NOT authenticated")
            return
        if not self.certificates:
            outcome.cannot(f"{what} is NOT authenticated: no --agency-cert given, so its CMS signature was not checked "
                           "and anyone could have written it")
            return
        if self.cms_problem:
            outcome.cannot(f"{what} is NOT authenticated: {self.cms_problem}")
            return
        try:
            signer = self.openssl.cms_signer(text.encode("utf-8"), b64(signature_b64), self.ca_file)
            fingerprint = hashlib.sha256(signer).hexdigest()
            if signer not in self.certificates:
                raise Invalid(f"it was made by another certificate (SHA-256 {fingerprint}), not by one given with "
                              "--agency-cert")
        except CannotCheck as exc:
            outcome.cannot(f"{what} is NOT authenticated: {exc}")
            return
        except Invalid as exc:
            outcome.fail(f"{what}: its CMS signature does NOT verify: {exc}")
            return
        outcome.ok(f"{what}: CMS signature verifies, made by the agency certificate SHA-256 {fingerprint}")


def check_event(event, size, root, checker):
    """(a line describing the event, whether its signature was checked); Invalid when anything is wrong."""
    if not isinstance(event, dict):
        raise Invalid("it is not a JSON object")
    body = b64(event["event_b64"])
    signature, public_key = b64(event["signature"]), b64(event["public_key"])
    if len(signature) != 64 or len(public_key) != 32:
        raise Invalid("its Ed25519 signature or public key has the wrong length")
    parsed = json.loads(body.decode("utf-8"))
    if not isinstance(parsed, dict) or parsed.get("id") != event.get("id"):
        raise Invalid("its signed text is not the event it claims to be")
    if "event" in event and event["event"] != parsed:
        raise Invalid("the readable copy of the event differs from its signed text")
    leaf_index = event["leaf_index"]
    if not isinstance(leaf_index, int) or isinstance(leaf_index, bool):
        raise Invalid("its leaf index is not an integer")
    if "index" in parsed and parsed["index"] != leaf_index:
        raise Invalid(f"its signed index {shown(parsed['index'])} is not its leaf index")
    proof = [b64(p) for p in event["inclusion_proof"]]
    if root_from_inclusion(leaf_index, size, leaf_hash(body, signature, public_key), proof) != root:
        raise Invalid("it is not in the tree of the checkpoint (the proof leads to another root)")
    checked = checker.ed25519 is not None
    if checked and not checker.ed25519(public_key, signature, SIGNATURE_CONTEXT + body):
        raise Invalid("its Ed25519 signature does NOT verify")
    actor = parsed.get("actor") if isinstance(parsed.get("actor"), dict) else {}
    line = f"{shown(parsed.get('action'))} at {shown(parsed.get('at'))} by {shown(actor.get('name'))}"
    return line, checked


def verify_document(doc, checker, origin=None, out=print):
    """Check a proofs document; returns the Outcome."""
    outcome = Outcome(out)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise Invalid(f"not an ICSPA custody proofs file (format {shown(found)})")
    current = doc["checkpoint"]
    text = current["text"]
    cp_origin, size, root, stamp = parse_checkpoint(text)
    out(f"Checkpoint: {shown(cp_origin)}, tree size {size}, root {base64.b64encode(root).decode()}, {stamp}")
    if origin is not None and cp_origin != origin:
        outcome.fail(f"the checkpoint belongs to log {shown(cp_origin)}, not {shown(origin)}")
    checker.checkpoint("the checkpoint", text, current["signature_der_b64"], outcome)

    events = doc.get("events", [])
    if not isinstance(events, list):
        raise Invalid("'events' is not a list")
    if not events:
        outcome.note("the file holds no events")
    unsigned = 0
    for number, event in enumerate(events):
        label = f"event #{number}"
        if isinstance(event, dict):
            label = f"event {shown(event.get('id'))} (leaf {shown(event.get('leaf_index'))})"
        try:
            line, checked = check_event(event, size, root, checker)
        except (Invalid, KeyError, ValueError, TypeError, AttributeError) as exc:
            outcome.fail(f"{label}: {shown(str(exc))}")
            continue
        if checked:
            outcome.ok(f"{label}: {line}; in the tree; Ed25519 signature verifies ({checker.ed25519_by})")
        else:
            unsigned += 1
            out(f"PART  {label}: {line}; in the tree, but its signature is NOT checked")
    if unsigned:
        outcome.cannot(f"the Ed25519 signatures of {unsigned} event(s): {checker.ed25519_problem}")

    if "previous_checkpoint" in doc:
        previous = doc["previous_checkpoint"]
        try:
            old_origin, old_size, old_root, old_stamp = parse_checkpoint(previous["text"])
            out(f"Previous checkpoint: {shown(old_origin)}, tree size {old_size}, {old_stamp}")
            if old_origin != cp_origin:
                outcome.note("the previous checkpoint names another origin (the agency identity was replaced?)")
            checker.checkpoint("the previous checkpoint", previous["text"], previous["signature_der_b64"], outcome)
            check_consistency(old_size, size, old_root, root, [b64(p) for p in doc["consistency_proof"]])
            outcome.ok(f"the checkpoint extends the previous one (tree size {old_size} -> {size})")
        except (Invalid, KeyError, ValueError, TypeError, AttributeError) as exc:
            outcome.fail(f"the previous checkpoint: {shown(str(exc))}")
    return outcome


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check ICSPA custody events against the agency's signed checkpoint.")
    parser.add_argument("proofs", help="custody proofs JSON file (e.g. metadata/custody.json of a bundle)")
    parser.add_argument("--agency-cert", action="append", default=[], metavar="PEM",
                        help="the sending agency's certificate (PEM), as on its confirmed card; give it again for "
                             "a previous certificate of the same agency (an older checkpoint may be signed by it)")
    parser.add_argument("--no-signature-check", action="store_true",
                        help="do not check the checkpoints' CMS signatures, and accept that nothing is then "
                             "authenticated (the events' own signatures are still checked)")
    parser.add_argument("--origin", help="expected log origin line, e.g. icspa/NL/<agency fingerprint>/<vault id>")
    parser.add_argument("--openssl", default="openssl", help="the openssl program to use (default: from PATH)")
    args = parser.parse_args(argv)
    if args.agency_cert and args.no_signature_check:
        parser.error("--agency-cert and --no-signature-check contradict each other")
    certificates = []
    for path in args.agency_cert:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                found = pem_certificates(f.read())
        except (OSError, Invalid) as exc:
            parser.error(f"cannot read the certificate {path}: {getattr(exc, 'strerror', None) or exc}")
        if not found:
            parser.error(f"{path} holds no PEM certificate")
        certificates.extend(found)
    try:
        with open(args.proofs, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except OSError as exc:
        parser.error(f"cannot read {args.proofs}: {exc.strerror or exc}")
    except ValueError as exc:
        print(f"FAIL  {shown(args.proofs)} is not JSON text: {shown(str(exc))}")
        return EXIT_INVALID
    with tempfile.TemporaryDirectory(prefix="icspa-verify-") as workdir:
        openssl = OpenSSL(args.openssl, workdir)
        ca_file = os.path.join(workdir, "agency.pem")
        with open(ca_file, "w", encoding="ascii") as f:
            f.write("".join(pem(der, "CERTIFICATE") for der in certificates))
        checker = Checker(openssl, ca_file, certificates, args.no_signature_check)
        try:
            outcome = verify_document(doc, checker, args.origin)
        except (Invalid, KeyError, ValueError, TypeError, AttributeError) as exc:
            print(f"FAIL  {shown(str(exc))}")
            return EXIT_INVALID
    if outcome.problems:
        print(f"{len(outcome.problems)} problem(s) found: do NOT trust this file.")
        return EXIT_INVALID
    if outcome.unchecked:
        print(f"NOT VERIFIED: nothing checked was invalid, but {len(outcome.unchecked)} thing(s) could not be "
              "checked:")
        for text in outcome.unchecked:
            print("  - " + text)
        return EXIT_UNCHECKED
    if args.no_signature_check:
        print("The Merkle proofs and the events' signatures are valid, but the checkpoints are NOT authenticated "
              "(--no-signature-check): anyone could have written this file.")
        return EXIT_OK
    print("All checks passed.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
