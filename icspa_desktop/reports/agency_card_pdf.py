"""The printable agency card: identity, certificate facts, the fingerprint in large type and as a QR code."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.i18n import _, format_moment
from icspa_desktop.reports.pdf_parts import QrCode


def _card_validity(card_bytes: bytes) -> tuple[datetime, datetime]:
    """(created, expires) as the card file states them: the card's own validity, not its certificate's."""
    try:
        body = json.loads(card_bytes)["body"]
        return (datetime.strptime(body["created"], "%Y-%m-%dT%H:%M:%SZ"),
                datetime.strptime(body["expires"], "%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(_("That is not an agency card file (no created/expires in its body).")) from exc


# A command in the card's text, in a typewriter face (reportlab's markup); the command stays as it is.
_COMMAND = "<font face='Courier'>{}</font>"


def render_card_pdf(identity: AgencyIdentity, card_bytes: bytes) -> bytes:
    """PDF bytes of the printable card for ``identity``; ``card_bytes`` is the card file it accompanies."""
    created, expires = _card_validity(card_bytes)
    created, expires = created.replace(tzinfo=UTC), expires.replace(tzinfo=UTC)
    card_valid = _("{start} to {end}", start=format_moment(created), end=format_moment(expires))
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    title = ParagraphStyle("title", parent=styles["Title"], fontSize=18, leading=22, spaceAfter=2 * mm)
    big = ParagraphStyle("fp", parent=body, fontName="Courier-Bold", fontSize=20, leading=26,
                         alignment=1, spaceBefore=2 * mm, spaceAfter=2 * mm)
    cert = identity.certificate
    card_sha256 = hashlib.sha256(card_bytes).hexdigest()
    mono = ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=8, leading=11)
    # (label, value, style): serials, fingerprints and keys in a typewriter face, as they are in every language.
    rows = [
        (_("Agency"), identity.name, body), (_("Country"), identity.country, body),
        (_("Unit"), identity.unit or "—", body), (_("Contact"), identity.contact or "—", body),
        (_("Certificate subject"), certs.subject_text(cert), body),
        (_("Certificate key"), certs.key_description(cert.public_key()), body),
        (_("Certificate serial"), format(cert.serial_number, "X"), mono),
        (_("Card valid"), card_valid, body),
        (_("Certificate valid"), _("{start} to {end}", start=format_moment(cert.not_valid_before_utc),
                                   end=format_moment(cert.not_valid_after_utc)), body),
        (_("Certificate SHA-256"), certs.sha256_fingerprint(cert), mono),
        (_("age recipient"), identity.age_recipient, mono),
        (_("Card file SHA-256"), card_sha256, mono),
    ]
    table = Table([[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(v), style)] for k, v, style in rows],
                  colWidths=[45 * mm, 125 * mm])
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -2), 0.25, colors.HexColor("#cccccc")),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    qr_data = f"ICSPA-CARD;FP={identity.fingerprint.replace(' ', '')};SHA256={card_sha256}"
    fp_box = Table([[Paragraph(escape(identity.fingerprint), big)]], colWidths=[170 * mm])
    fp_box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 1.2, colors.black),
                                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f3f4f6"))]))
    story = [
        Paragraph(escape(_("Agency card")), title),
        Paragraph(f"{escape(identity.name)} — {escape(identity.country)}", body),
        Spacer(1, 2 * mm),
        Paragraph(_("<b>This card expires on {moment}.</b> After that, partners refuse it for sending and "
                    "receiving bundles until they import a new card.", moment=escape(format_moment(expires))), body),
        Spacer(1, 3 * mm),
        Paragraph(_("<b>Fingerprint</b> (compare it by phone or letter before trusting the card file)"), body),
        fp_box,
        Spacer(1, 3 * mm),
        table,
        Spacer(1, 6 * mm),
        Table([[QrCode(qr_data, 45 * mm), Paragraph(_(
            "<b>For the receiving agency.</b> Import the card file with {import_command} and type the fingerprint "
            "printed above, as read to you by a person you know at this agency — never the one shown by the file "
            "itself. Without ICSPA software, use the certificate (PEM, inside the card) with {cms_command} and "
            "the age recipient with {age_command}. The QR code holds the fingerprint and the card file's SHA-256.",
            import_command=_COMMAND.format("icspa partner import CARD --confirm-fingerprint \"…\""),
            cms_command=_COMMAND.format("openssl cms -verify"), age_command=_COMMAND.format("age -r")),
            body)]], colWidths=[50 * mm, 120 * mm],
              style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")])),
        Spacer(1, 10 * mm),
        Table([[_("Issued by (name, signature, date)"), _("Confirmed by partner (name, signature, date)")],
               ["\n\n\n", "\n\n\n"]], colWidths=[85 * mm, 85 * mm],
              style=TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONTSIZE", (0, 0), (-1, -1), 8)])),
        Spacer(1, 4 * mm),
        Paragraph(escape(_("Produced by {program} {version}. Public material only: the card holds no private key.",
                           program=TOOL_NAME, version=__version__)), small),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=_("Agency card — {agency}", agency=identity.name),
                            author=identity.name)
    doc.build(story)
    return out.getvalue()
