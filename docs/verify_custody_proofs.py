#!/usr/bin/env python3
"""Check ICSPA custody events against a signed checkpoint, without ICSPA software.

Usage:
    python3 verify_custody_proofs.py custody-proofs.json [--agency-cert AGENCY.pem] [--origin ORIGIN]

Needs only Python 3.8+ and its standard library. It checks, for every event in the file, that the
event (its signed text, signature and public key) is leaf number ``leaf_index`` of the Merkle tree
whose size and root hash the checkpoint states (RFC 9162 §2.1.3.2), and, if the file carries a
previous checkpoint, that the newer tree extends the older one (RFC 9162 §2.1.4.2).

What it does not do by itself:
  * the agency's CMS signature on the checkpoint: give --agency-cert and it runs
    ``openssl cms -verify`` for you, or run that command yourself (docs/custody-format.md §6);
  * the Ed25519 signatures of the events: checked when the ``cryptography`` package happens to be
    installed, otherwise reported as not checked.
Format: docs/custody-format.md. Exit status 0 when everything checked is valid, 1 otherwise.
Do not run a copy of this script that arrived inside a bundle; use the one published by the agency.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import subprocess
import sys
import tempfile

FORMAT = "icspa-custody-proofs/v1"
SIGNATURE_CONTEXT = b"icspa-custody-event/v1\n"


class Invalid(Exception):
    pass


def b64(text):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise Invalid("invalid base64: %r" % (text,)) from None


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def parse_checkpoint(text):
    """(origin, size, root) of a checkpoint text; Invalid if malformed."""
    if not text.endswith("\n"):
        raise Invalid("the checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 4 or not all(lines):
        raise Invalid("the checkpoint needs origin, size, root hash and timestamp lines")
    if not lines[1].isdigit() or (lines[1].startswith("0") and lines[1] != "0"):
        raise Invalid("the checkpoint tree size is not a decimal number")
    root = b64(lines[2])
    if len(root) != 32:
        raise Invalid("the checkpoint root hash is not 32 bytes")
    return lines[0], int(lines[1]), root


def leaf_hash(body, signature, public_key):
    leaf = (b'{"event":' + body + b',"public_key":"' + base64.b64encode(public_key) + b'","signature":"'
            + base64.b64encode(signature) + b'"}')
    return hashlib.sha256(b"\x00" + leaf).digest()


def root_from_inclusion(index, size, leaf, proof):
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise Invalid("leaf index %d is outside a tree of %d leaves" % (index, size))
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
        raise Invalid("a tree of %d leaves cannot precede one of %d" % (m, n))
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


def ed25519_checker():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None

    def check(public_key, signature, message):
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def openssl_verify(text, signature_der, cert_path):
    with tempfile.TemporaryDirectory() as tmp:
        content, sig = os.path.join(tmp, "checkpoint.txt"), os.path.join(tmp, "checkpoint.p7s")
        with open(content, "wb") as f:
            f.write(text.encode("utf-8"))
        with open(sig, "wb") as f:
            f.write(signature_der)
        done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content",
                               content, "-CAfile", cert_path, "-purpose", "any", "-out", os.devnull],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return done.returncode == 0


def verify_document(doc, agency_cert=None, origin=None, out=print):
    """Check a proofs document; returns the number of problems found."""
    problems = 0
    if doc.get("format") != FORMAT:
        raise Invalid("not an ICSPA custody proofs file (format %r)" % (doc.get("format"),))
    text = doc["checkpoint"]["text"]
    cp_origin, size, root = parse_checkpoint(text)
    out("Checkpoint: %s, tree size %d, root %s" % (cp_origin, size, base64.b64encode(root).decode()))
    if origin is not None and cp_origin != origin:
        out("FAIL  the checkpoint belongs to log %r, not %r" % (cp_origin, origin))
        problems += 1
    if agency_cert:
        if openssl_verify(text, b64(doc["checkpoint"]["signature_der_b64"]), agency_cert):
            out("OK    the checkpoint's CMS signature verifies with %s" % agency_cert)
        else:
            out("FAIL  the checkpoint's CMS signature does NOT verify with %s" % agency_cert)
            problems += 1
    else:
        out("NOTE  checkpoint signature not checked (give --agency-cert, or see custody-format.md §6)")
    ed25519 = ed25519_checker()
    for event in doc.get("events", []):
        label = "event %s (leaf %s)" % (event.get("id"), event.get("leaf_index"))
        try:
            body = b64(event["event_b64"])
            signature, public_key = b64(event["signature"]), b64(event["public_key"])
            parsed = json.loads(body.decode("utf-8"))
            if parsed.get("id") != event.get("id") or ("event" in event and event["event"] != parsed):
                raise Invalid("the readable copy of the event differs from its signed text")
            proof = [b64(p) for p in event["inclusion_proof"]]
            computed = root_from_inclusion(int(event["leaf_index"]), size, leaf_hash(body, signature, public_key),
                                           proof)
            if computed != root:
                raise Invalid("it is not in the tree of the checkpoint (the proof leads to another root)")
            note = ""
            if ed25519 is None:
                note = " (Ed25519 signature not checked: 'cryptography' is not installed)"
            elif not ed25519(public_key, signature, SIGNATURE_CONTEXT + body):
                raise Invalid("its Ed25519 signature does not verify")
            out("OK    %s: %s at %s%s" % (label, parsed.get("action"), parsed.get("at"), note))
        except (Invalid, KeyError, ValueError, TypeError, AttributeError) as exc:
            out("FAIL  %s: %s" % (label, exc))
            problems += 1
    if "previous_checkpoint" in doc:
        try:
            _, old_size, old_root = parse_checkpoint(doc["previous_checkpoint"]["text"])
            check_consistency(old_size, size, old_root, root, [b64(p) for p in doc["consistency_proof"]])
            out("OK    the checkpoint extends the previous one (tree size %d -> %d)" % (old_size, size))
        except (Invalid, KeyError, ValueError, TypeError) as exc:
            out("FAIL  consistency with the previous checkpoint: %s" % exc)
            problems += 1
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check ICSPA custody events against a signed checkpoint.")
    parser.add_argument("proofs", help="custody proofs JSON file (e.g. metadata/custody.json of a bundle)")
    parser.add_argument("--agency-cert", help="sender agency certificate (PEM) to check the checkpoint signature")
    parser.add_argument("--origin", help="expected log origin line, e.g. icspa/NL/<agency fingerprint>/<vault id>")
    args = parser.parse_args(argv)
    try:
        with open(args.proofs, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        problems = verify_document(doc, args.agency_cert, args.origin)
    except (OSError, ValueError, KeyError, TypeError, Invalid) as exc:
        print("FAIL  %s" % exc)
        return 1
    print("All checks passed." if problems == 0 else "%d problem(s) found." % problems)
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
