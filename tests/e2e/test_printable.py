"""The printable certificate, rendered and read back: its text extracted from the PDF (pypdf)
and its QR code decoded (zxing-cpp) from the PDF's embedded image and from the PNG, for names
in several scripts. (Served over HTTP: tests/integration/verify/test_page_http.py.)"""

import io
import warnings

import orjson
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from services.verify.printable import printable_of, render_pdf, render_png
from tests.unit.verify.events import new_leaf

# a QR code only: read as any format, a random QR pattern sometimes also decodes as a 1D code
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

NAMES = [
    "Alice Martin",
    "Zoë Παπαδοπούλου",
    "Дмитрий Шостакович",
    "Ṣẹ̀gun Àjàyí",
    "Nguyễn Thị Minh Khai",
    "Łukasz Żółć",
    "Ağca Şükrü",
    "Aram Խաչատրյան",
    "ნინო ჯავახიშვილი",
]


@pytest.mark.parametrize("name", NAMES)
def test_the_pdf_reads_back_and_its_qr_code_opens_the_page(name: str) -> None:
    leaf = new_leaf(name=name, title="Безопасность 101")
    url = f"https://verify.example.org/verify/{leaf.certificate_id}"
    facts = printable_of(orjson.loads(leaf.document), url, accent="#7a1f5c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fpdf2 warns of each glyph the font lacks
        pdf = render_pdf(facts)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    text = page.extract_text()
    for expected in (name, "Безопасность 101", "Example Academy", "2026-05-01", url):
        assert expected in text.replace("\n", " ")
    (image,) = page.images
    assert [code.text for code in zxingcpp.read_barcodes(image.image, formats=QR_ONLY)] == [url]


def test_the_png_shows_the_qr_code() -> None:
    leaf = new_leaf(name="Zoë Παπαδοπούλου")
    url = f"https://verify.example.org/verify/{leaf.certificate_id}"
    png = render_png(printable_of(orjson.loads(leaf.document), url))
    image = Image.open(io.BytesIO(png))
    assert image.size == (1754, 1240)
    assert [code.text for code in zxingcpp.read_barcodes(image, formats=QR_ONLY)] == [url]


def test_a_bad_colour_or_control_characters_are_not_printed() -> None:
    leaf = new_leaf(name="Eve\u0007 \u202eMallory")
    facts = printable_of(orjson.loads(leaf.document), "https://v.example/x", accent="red;")
    assert facts.accent == "#1f4e79"
    assert facts.recipient_name == "Eve Mallory"  # BEL and the right-to-left override gone


def test_a_certificate_rendered_again_comes_from_memory() -> None:
    leaf = new_leaf()
    facts = printable_of(orjson.loads(leaf.document), "https://v.example/verify/x")
    first = render_pdf(facts)
    hits = render_pdf.cache_info().hits
    assert render_pdf(facts) is first and render_pdf.cache_info().hits == hits + 1
