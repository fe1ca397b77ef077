"""The printable agency card: identity, certificate facts, the fingerprint in large type and as a QR code."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from icspa_desktop import TOOL_NAME, __version__
from icspa_desktop.crypto import x509 as certs
from icspa_desktop.domain.agency import AgencyIdentity
from icspa_desktop.reports.custody_pdf import QrCode


def _card_validity(card_bytes: bytes) -> tuple[datetime, datetime]:
    """(created, expires) as the card file states them: the card's own validity, not its certificate's."""
    try:
        body = json.loads(card_bytes)["body"]
        return (datetime.strptime(body["created"], "%Y-%m-%dT%H:%M:%SZ"),
                datetime.strptime(body["expires"], "%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("That is not an agency card file (no created/expires in its body).") from exc


def render_card_pdf(identity: AgencyIdentity, card_bytes: bytes) -> bytes:
    """PDF bytes of the printable card for ``identity``; ``card_bytes`` is the card file it accompanies."""
    created, expires = _card_validity(card_bytes)
    card_valid = f"{created:%Y-%m-%d %H:%M} to {expires:%Y-%m-%d %H:%M} (UTC)"
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    title = ParagraphStyle("title", parent=styles["Title"], fontSize=18, leading=22, spaceAfter=2 * mm)
    big = ParagraphStyle("fp", parent=body, fontName="Courier-Bold", fontSize=20, leading=26,
                         alignment=1, spaceBefore=2 * mm, spaceAfter=2 * mm)
    cert = identity.certificate
    card_sha256 = hashlib.sha256(card_bytes).hexdigest()
    rows = [
        ("Agency", identity.name), ("Country", identity.country), ("Unit", identity.unit or "—"),
        ("Contact", identity.contact or "—"), ("Certificate subject", certs.subject_text(cert)),
        ("Certificate key", certs.key_description(cert.public_key())),
        ("Certificate serial", format(cert.serial_number, "X")),
        ("Card valid", card_valid),
        ("Certificate valid", f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d} (UTC)"),
        ("Certificate SHA-256", certs.sha256_fingerprint(cert)),
        ("age recipient", identity.age_recipient),
        ("Card file SHA-256", card_sha256),
    ]
    mono = ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=8, leading=11)
    machine = {"Certificate serial", "Certificate SHA-256", "age recipient", "Card file SHA-256"}
    table = Table([[Paragraph(f"<b>{escape(k)}</b>", body), Paragraph(escape(v), mono if k in machine else body)]
                   for k, v in rows],
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
        Paragraph("Agency card", title),
        Paragraph(f"{escape(identity.name)} — {escape(identity.country)}", body),
        Spacer(1, 2 * mm),
        Paragraph(f"<b>This card expires on {expires:%Y-%m-%d} at {expires:%H:%M} UTC.</b> After that, partners "
                  "refuse it for sending and receiving bundles until they import a new card.", body),
        Spacer(1, 3 * mm),
        Paragraph("<b>Fingerprint</b> (compare it by phone or letter before trusting the card file)", body),
        fp_box,
        Spacer(1, 3 * mm),
        table,
        Spacer(1, 6 * mm),
        Table([[QrCode(qr_data, 45 * mm), Paragraph(
            "<b>For the receiving agency.</b> Import the card file with <font face='Courier'>icspa partner import "
            "CARD --confirm-fingerprint \"…\"</font> and type the fingerprint printed above, as read to you by a "
            "person you know at this agency — never the one shown by the file itself. Without ICSPA software, "
            "use the certificate (PEM, inside the card) with <font face='Courier'>openssl cms -verify</font> and "
            "the age recipient with <font face='Courier'>age -r</font>. The QR code holds the fingerprint and the "
            "card file's SHA-256.", body)]], colWidths=[50 * mm, 120 * mm],
              style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")])),
        Spacer(1, 10 * mm),
        Table([["Issued by (name, signature, date)", "Confirmed by partner (name, signature, date)"],
               ["\n\n\n", "\n\n\n"]], colWidths=[85 * mm, 85 * mm],
              style=TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONTSIZE", (0, 0), (-1, -1), 8)])),
        Spacer(1, 4 * mm),
        Paragraph(f"Produced by {escape(TOOL_NAME)} {escape(__version__)}. Public material only: the card holds "
                  "no private key.", small),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"Agency card — {identity.name}", author=identity.name)
    doc.build(story)
    return out.getvalue()
