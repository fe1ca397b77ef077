"""``icspa agency init|cert-import|show|fingerprint|card|cert``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from icspa_desktop.cli.context import CliContext
from icspa_desktop.cli.options import (
    SECRET_KEY_PASSWORD,
    add_command,
    add_option,
    add_out,
    check_new_file,
    read_input_file,
    read_secret_file,
)
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.files import atomic_write
from icspa_desktop.i18n import _
from icspa_desktop.services import agency


def register(groups: Any) -> None:
    cmd = groups.add_parser("agency", help=_("this agency's identity, certificate and card"))
    sub = cmd.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    init = sub.add_parser("init", help=_("create (or replace) the agency identity: P-384 certificate + age key"))
    add_option(init, "--agency-name", "--name", default="", help=_("agency name (default: the current one)"))
    init.add_argument("--country", default="", help=_("ISO 3166 two-letter code (default: the current one)"))
    init.add_argument("--unit", default=None, help=_("default: the current one"))
    init.add_argument("--contact", default=None, help=_("default: the current one"))
    init.add_argument("--days", type=int, default=certs.DEFAULT_VALIDITY_DAYS, help=_("certificate validity"))
    init.set_defaults(handler=_init)

    imp = add_command(sub, "cert-import", "import-cert",
                      help=_("use an existing key + certificate from the agency's CA"))
    imp.add_argument("key_file", metavar="KEY", help=_("PKCS#12 (.p12/.pfx) or PEM private key"))
    imp.add_argument("--cert", metavar="CERT.pem", help=_("the certificate, when KEY is a PEM key"))
    imp.add_argument("--key-password-file", metavar="FILE",
                     help=_("the key file's password (else a prompt when the key is encrypted)"))
    # Old spelling: the password from a named environment variable. Still read, with a warning: secrets come
    # from a file, a prompt or the documented ICSPA_* variables (docs/cli.md).
    imp.add_argument("--password-env", metavar="VAR", help=argparse.SUPPRESS)
    imp.add_argument("--contact", default="")
    imp.set_defaults(handler=_import)

    show = sub.add_parser("show", help=_("identity, certificate fingerprint, age recipient"))
    show.set_defaults(handler=_show)

    fp = sub.add_parser("fingerprint", help=_("the short fingerprint partners compare"))
    fp.set_defaults(handler=_fingerprint)

    card = sub.add_parser("card", help=_("write the agency card (public material only)"))
    add_out(card, help_text=_("the card, e.g. agency.icspa-card"))
    card.add_argument("--pdf", metavar="FILE.pdf", type=Path,
                      help=_("also a printable card with the fingerprint and QR code (refused if it exists, unless "
                             "--force)"))
    card.add_argument("--days", type=int, default=agency.DEFAULT_CARD_DAYS, help=_("card validity in days"))
    card.set_defaults(handler=_card)

    cert = sub.add_parser("cert", help=_("write the agency certificate (PEM)"))
    add_out(cert, "FILE.pem", _("the certificate file to write"))
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
    identity = agency.create_identity(ctx.session(), a.agency_name, a.country, a.unit, a.contact, a.days)
    ctx.emit(identity_to_json(identity), lambda: [_("Agency identity created."), *_human(identity)])
    return 0


def _import(ctx: CliContext) -> int:
    a = ctx.args
    key_data = read_input_file(a.key_file, "key file")
    cert_data = read_input_file(a.cert, "certificate file") if a.cert else None
    password: bytes | None = None
    if a.key_password_file:
        password = read_secret_file(a.key_password_file, SECRET_KEY_PASSWORD).encode() or None
    elif a.password_env:
        print("icspa: warning: " + _("--password-env is deprecated; use --key-password-file FILE or the prompt."),
              file=sys.stderr)
        password = os.environ.get(a.password_env, "").encode() or None
    elif b"ENCRYPTED" in key_data or b"-----BEGIN" not in key_data:
        entered = getpass.getpass(_("Password of the key file (empty if none): ")) if os.isatty(0) else ""
        password = entered.encode() or None
    identity = agency.import_identity(ctx.session(), key_data, password, cert_data, a.contact)
    ctx.emit(identity_to_json(identity), lambda: [_("Agency certificate imported."), *_human(identity)])
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
    out: Path = ctx.args.out
    pdf: Path | None = ctx.args.pdf
    for target in (out, pdf or out):
        check_new_file(target, ctx.args.force)  # before the export is recorded in the custody log
    written = agency.export_card(ctx.session(), out, pdf, ctx.args.days)
    identity = written.identity
    lines = [_("Agency card written to {path}.", path=out),
             _("Fingerprint: {fingerprint}", fingerprint=identity.fingerprint)]
    if pdf is not None:
        lines.append(_("Printable card written to {path}.", path=pdf))
    ctx.emit({"id": identity.key_id, "path": str(out), "fingerprint": identity.fingerprint,
              "pdf": str(pdf) if pdf else None}, lambda: lines)
    return 0


def _cert(ctx: CliContext) -> int:
    out = check_new_file(ctx.args.out, ctx.args.force)
    identity = agency.agency_identity(ctx.session())
    atomic_write(out, certs.cert_pem(identity.certificate).encode())
    ctx.emit({"id": identity.key_id, "path": str(out),
              "certificate_sha256": certs.sha256_fingerprint(identity.certificate)},
             lambda: [_("Certificate written to {path}.", path=out)])
    return 0
