"""``icspa agency init|show|fingerprint|card|cert|import-cert``."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from icspa_desktop.cli.context import CliContext, check_new_file
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.domain.errors import UsageError
from icspa_desktop.services import agency
from icspa_desktop.vault.atomic import atomic_write


def register(groups: Any) -> None:
    cmd = groups.add_parser("agency", help="this agency's identity, certificate and card")
    sub = cmd.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    init = sub.add_parser("init", help="create (or replace) the agency identity: P-384 certificate + age key")
    init.add_argument("--name", default="", help="agency name (default: the current one)")
    init.add_argument("--country", default="", help="ISO 3166 two-letter code (default: the current one)")
    init.add_argument("--unit", default=None, help="default: the current one")
    init.add_argument("--contact", default=None, help="default: the current one")
    init.add_argument("--days", type=int, default=certs.DEFAULT_VALIDITY_DAYS, help="certificate validity")
    init.set_defaults(handler=_init)

    imp = sub.add_parser("import-cert", help="use an existing key + certificate from the agency's CA")
    imp.add_argument("key_file", metavar="KEY", help="PKCS#12 (.p12/.pfx) or PEM private key")
    imp.add_argument("--cert", metavar="CERT.pem", help="the certificate, when KEY is a PEM key")
    imp.add_argument("--password-env", metavar="VAR", help="environment variable holding the key's password "
                     "(else a prompt when needed)")
    imp.add_argument("--contact", default="")
    imp.set_defaults(handler=_import)

    show = sub.add_parser("show", help="identity, certificate fingerprint, age recipient")
    show.set_defaults(handler=_show)

    fp = sub.add_parser("fingerprint", help="the short fingerprint partners compare")
    fp.set_defaults(handler=_fingerprint)

    card = sub.add_parser("card", help="write the agency card (public material only)")
    card.add_argument("--out", required=True, metavar="FILE", help="e.g. agency.icspa-card")
    card.add_argument("--pdf", metavar="FILE.pdf", help="also a printable card with the fingerprint and QR code")
    card.add_argument("--days", type=int, default=agency.DEFAULT_CARD_DAYS, help="card validity in days")
    card.add_argument("--force", action="store_true", help="replace existing files")
    card.set_defaults(handler=_card)

    cert = sub.add_parser("cert", help="write the agency certificate (PEM)")
    cert.add_argument("--out", required=True, metavar="FILE.pem")
    cert.add_argument("--force", action="store_true", help="replace an existing file")
    cert.set_defaults(handler=_cert)


def identity_to_json(identity: AgencyIdentity) -> dict[str, Any]:
    c = identity.certificate
    return {"id": identity.key_id, "name": identity.name, "country": identity.country, "unit": identity.unit,
            "contact": identity.contact, "fingerprint": identity.fingerprint, "age_recipient": identity.age_recipient,
            "certificate_subject": certs.subject_text(c), "certificate_sha256": certs.sha256_fingerprint(c),
            "certificate_serial": format(c.serial_number, "x"), "not_before": c.not_valid_before_utc.isoformat(),
            "not_after": c.not_valid_after_utc.isoformat(), "key": certs.key_description(c.public_key())}


def _human(identity: AgencyIdentity) -> list[str]:
    data = identity_to_json(identity)
    return [f"{key:>20}: {value}" for key, value in data.items() if key != "id"]


def _init(ctx: CliContext) -> int:
    a = ctx.args
    identity = agency.create_identity(ctx.session(), a.name, a.country, a.unit, a.contact, a.days)
    ctx.emit(identity_to_json(identity), lambda: ["Agency identity created.", *_human(identity)])
    return 0


def _import(ctx: CliContext) -> int:
    a = ctx.args
    try:
        key_data = Path(a.key_file).read_bytes()
        cert_data = Path(a.cert).read_bytes() if a.cert else None
    except OSError as exc:
        raise UsageError(f"Cannot read {exc.filename}: {exc.strerror}.") from None
    password: bytes | None = None
    if a.password_env:
        password = os.environ.get(a.password_env, "").encode() or None
    elif b"ENCRYPTED" in key_data or b"-----BEGIN" not in key_data:
        entered = getpass.getpass("Password of the key file (empty if none): ") if os.isatty(0) else ""
        password = entered.encode() or None
    identity = agency.import_identity(ctx.session(), key_data, password, cert_data, a.contact)
    ctx.emit(identity_to_json(identity), lambda: ["Agency certificate imported.", *_human(identity)])
    return 0


def _show(ctx: CliContext) -> int:
    identity = agency.agency_identity(ctx.session())
    ctx.emit(identity_to_json(identity), lambda: _human(identity))
    return 0


def _fingerprint(ctx: CliContext) -> int:
    identity = agency.agency_identity(ctx.session())
    ctx.emit({"id": identity.key_id, "fingerprint": identity.fingerprint}, lambda: [identity.fingerprint])
    return 0


def _card(ctx: CliContext) -> int:
    out = Path(ctx.args.out)
    for target in (out, Path(ctx.args.pdf) if ctx.args.pdf else out):
        check_new_file(target, ctx.args.force)  # before the export is recorded in the custody log
    session = ctx.session()
    data = agency.make_card(session, ctx.args.days)
    atomic_write(out, data)
    identity = agency.agency_identity(session)
    lines = [f"Agency card written to {out}.", f"Fingerprint: {identity.fingerprint}"]
    if ctx.args.pdf:
        from icspa_desktop.reports.agency_card_pdf import render_card_pdf

        atomic_write(Path(ctx.args.pdf), render_card_pdf(identity, data))
        lines.append(f"Printable card written to {ctx.args.pdf}.")
    ctx.emit({"id": identity.key_id, "path": str(out), "fingerprint": identity.fingerprint,
              "pdf": ctx.args.pdf}, lambda: lines)
    return 0


def _cert(ctx: CliContext) -> int:
    out = check_new_file(Path(ctx.args.out), ctx.args.force)
    identity = agency.agency_identity(ctx.session())
    atomic_write(out, certs.cert_pem(identity.certificate).encode())
    ctx.emit({"id": identity.key_id, "path": ctx.args.out,
              "certificate_sha256": certs.sha256_fingerprint(identity.certificate)},
             lambda: [f"Certificate written to {ctx.args.out}."])
    return 0
