"""The printable certificate: one page, as PDF (fpdf2) and PNG (Pillow), with the recipient's
name, the title, the date, the issuer's name and colour, and a QR code (segno) to the
certificate's verification page. Pure: facts in, bytes out, no I/O but reading the fonts.

The fonts are DejaVu Sans (services/verify/fonts, Bitstream Vera licence, which allows
embedding and redistribution): every script a recipient's name may be written in that DejaVu
covers renders, instead of the PDF core fonts' Latin-1 only.
"""

import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

FONTS = Path(__file__).with_name("fonts")
REGULAR = FONTS / "DejaVuSans.ttf"
BOLD = FONTS / "DejaVuSans-Bold.ttf"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_ACCENT = "#1f4e79"
# A4 landscape, in millimetres (PDF) and pixels at 150 dpi (PNG)
PAGE_MM = (297.0, 210.0)
PNG_DPI = 150
MAX_TEXT = 200  # a longer name or title is cut (ingest keeps them far shorter)


@dataclass(frozen=True, slots=True)
class Printable:
    recipient_name: str
    title: str
    issuer_name: str
    date: str  # YYYY-MM-DD, from the credential's validFrom
    certificate_id: str
    verification_url: str
    accent: str = DEFAULT_ACCENT  # the issuer's colour, "#rrggbb"


def printable_of(
    document: dict[str, Any], verification_url: str, accent: str = DEFAULT_ACCENT
) -> Printable:
    """The facts a credential states, as printed (texts as the credential holds them)."""
    issuer = document.get("issuer")
    issuer_name = issuer.get("name") if isinstance(issuer, dict) else None
    recipient = ""
    subject = document.get("credentialSubject")
    if isinstance(subject, dict):
        for identity in subject.get("identifier") or []:
            if isinstance(identity, dict) and identity.get("identityType") == "name":
                value = identity.get("identityHash")
                recipient = value if isinstance(value, str) else ""
    title, valid_from = document.get("name"), document.get("validFrom")
    return Printable(
        recipient_name=_text(recipient),
        title=_text(title),
        issuer_name=_text(issuer_name),
        date=valid_from[:10] if isinstance(valid_from, str) else "",
        certificate_id=_text(document.get("id")).rsplit(":", 1)[-1],
        verification_url=verification_url,
        accent=accent if _COLOUR.fullmatch(accent) else DEFAULT_ACCENT,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    # control characters would print as boxes or break a line
    cleaned = "".join(ch for ch in value if ch.isprintable())
    return cleaned if len(cleaned) <= MAX_TEXT else cleaned[: MAX_TEXT - 1] + "\u2026"


def qr_code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _lines(facts: Printable) -> list[tuple[str, str, float, bool]]:
    """(text, role, size in pt, bold) from top to bottom: the same layout in PDF and PNG."""
    return [
        (facts.issuer_name, "accent", 22, True),
        ("Certificate", "muted", 16, False),
        (facts.title, "text", 26, True),
        ("awarded to", "muted", 14, False),
        (facts.recipient_name, "accent", 30, True),
        (f"on {facts.date}" if facts.date else "", "text", 14, False),
    ]


_Y_MM = [28.0, 48.0, 62.0, 82.0, 96.0, 116.0]


# Rendering costs ~150 ms (PDF, font subsetting) and ~100 ms (PNG) of CPU: the same certificate
# downloaded again is answered from memory (~25 KB / ~60 KB each, the most recent kept)
RENDERED_KEPT = 128


@functools.lru_cache(maxsize=RENDERED_KEPT)
def render_pdf(facts: Printable) -> bytes:
    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{facts.title} - {facts.recipient_name}")
    pdf.set_author(facts.issuer_name)
    pdf.add_font("DejaVu", "", str(REGULAR))
    pdf.add_font("DejaVu", "B", str(BOLD))
    pdf.add_page()
    accent = _rgb(facts.accent)
    pdf.set_draw_color(*accent)
    pdf.set_line_width(2.0)
    pdf.rect(10, 10, PAGE_MM[0] - 20, PAGE_MM[1] - 20)
    colours = {"accent": accent, "muted": (90, 100, 110), "text": (31, 41, 51)}
    for (text, role, size, bold), y in zip(_lines(facts), _Y_MM, strict=True):
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.set_text_color(*colours[role])
        pdf.set_xy(20, y)
        pdf.cell(PAGE_MM[0] - 40, size * 0.45, text, align="C")
    qr = io.BytesIO()
    qr_code(facts.verification_url).save(qr, kind="png", scale=10, border=2)
    pdf.image(qr, x=PAGE_MM[0] - 75, y=PAGE_MM[1] - 75, w=50, h=50)
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(*colours["muted"])
    pdf.set_xy(20, PAGE_MM[1] - 40)
    pdf.multi_cell(
        PAGE_MM[0] - 110,
        5,
        f"Certificate {facts.certificate_id}\nVerify it at {facts.verification_url}",
    )
    return bytes(pdf.output())


@functools.lru_cache(maxsize=RENDERED_KEPT)
def render_png(facts: Printable) -> bytes:
    width, height = (round(mm / 25.4 * PNG_DPI) for mm in PAGE_MM)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    accent = _rgb(facts.accent)
    px = PNG_DPI / 25.4  # pixels per mm
    draw.rectangle(
        [round(10 * px), round(10 * px), width - round(10 * px), height - round(10 * px)],
        outline=accent,
        width=round(2 * px),
    )
    colours = {"accent": accent, "muted": (90, 100, 110), "text": (31, 41, 51)}
    for (text, role, size, bold), y in zip(_lines(facts), _Y_MM, strict=True):
        font = ImageFont.truetype(str(BOLD if bold else REGULAR), round(size * PNG_DPI / 72))
        draw.text((width / 2, y * px), text, font=font, fill=colours[role], anchor="mt")
    small = ImageFont.truetype(str(REGULAR), round(9 * PNG_DPI / 72))
    footer = f"Certificate {facts.certificate_id}\nVerify it at {facts.verification_url}"
    draw.multiline_text(
        (20 * px, (PAGE_MM[1] - 40) * px), footer, font=small, fill=colours["muted"]
    )
    qr = io.BytesIO()
    qr_code(facts.verification_url).save(qr, kind="png", scale=10, border=2)
    side = round(50 * px)
    code = Image.open(qr).convert("RGB").resize((side, side), Image.Resampling.NEAREST)
    image.paste(code, (round((PAGE_MM[0] - 75) * px), round((PAGE_MM[1] - 75) * px)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
