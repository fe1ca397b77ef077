"""Agency signatures: detached CMS sign/verify and agency-card checks against raw ECDSA P-384 and SHA-384.

Baselines measured in the same run: a bare ECDSA P-384 sign/verify (the floor for one CMS signature) and
hashlib SHA-384 over the same content (the floor for verifying a signature over a large manifest).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from icspa_desktop.crypto import age_keys, cms
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.services import agency, partners


def _per_call(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_agency", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--big-mib", type=int, default=64, help="size of the large signed content")
    args = parser.parse_args(argv)

    key = certs.generate_key()
    cert = certs.self_signed(key, "Bench Police", "NL")
    small = os.urandom(4096)
    signature = cms.sign_detached(small, cert, key)
    raw = key.sign(small, ec.ECDSA(hashes.SHA384()))
    public = key.public_key()

    raw_sign = _per_call(lambda: key.sign(small, ec.ECDSA(hashes.SHA384())), args.repeat)
    cms_sign = _per_call(lambda: cms.sign_detached(small, cert, key), args.repeat)
    raw_verify = _per_call(lambda: public.verify(raw, small, ec.ECDSA(hashes.SHA384())), args.repeat)
    cms_verify = _per_call(lambda: cms.verify_detached(signature, small, [cert]), args.repeat)
    print(f"4 KiB content, {args.repeat} calls each")
    print(f"  raw ECDSA P-384 sign   {raw_sign * 1e3:8.3f} ms   (baseline)")
    print(f"  CMS sign_detached      {cms_sign * 1e3:8.3f} ms   x{cms_sign / raw_sign:5.2f} of baseline")
    print(f"  raw ECDSA P-384 verify {raw_verify * 1e3:8.3f} ms   (baseline)")
    print(f"  CMS verify_detached    {cms_verify * 1e3:8.3f} ms   x{cms_verify / raw_verify:5.2f} of baseline")

    big = os.urandom(args.big_mib << 20)
    big_sig = cms.sign_detached(big, cert, key)
    start = time.perf_counter()
    hashlib.sha384(big).digest()
    sha = time.perf_counter() - start
    start = time.perf_counter()
    cms.verify_detached(big_sig, big, [cert])
    verify_big = time.perf_counter() - start
    print(f"{args.big_mib} MiB content")
    print(f"  hashlib SHA-384        {sha * 1e3:8.1f} ms   {args.big_mib / sha:7.0f} MiB/s (baseline)")
    print(f"  CMS verify_detached    {verify_big * 1e3:8.1f} ms   x{verify_big / sha:5.2f} of baseline")

    # An agency card check: parse, certificate, signature, age recipient (what `partner import` does).
    recipient = age_keys.generate_identity()[1]
    body = {"name": "Bench Police", "country": "NL", "unit": "", "contact": "", "age_recipient": recipient,
            "certificate": certs.cert_pem(cert), "created": "2026-01-01T00:00:00Z", "expires": "2099-01-01T00:00:00Z"}
    card = json.dumps({"format": agency.CARD_FORMAT, "version": agency.CARD_VERSION, "body": body,
                       "signature": base64.b64encode(key.sign(agency.card_message(body),
                                                              ec.ECDSA(hashes.SHA384()))).decode()}).encode()
    read = _per_call(lambda: partners.read_card(card), args.repeat)
    print(f"  agency card read_card  {read * 1e3:8.3f} ms   x{read / raw_verify:5.2f} of a raw verify")
    return 0
