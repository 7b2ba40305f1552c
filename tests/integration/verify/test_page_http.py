"""verify's public HTTP site over its SQL store (SQLite and PostgreSQL): the printable
certificate, the page without JavaScript (file upload, revoked, pending), the problem-report
form and its counts, the OpenAPI description, and rate limiting behind trusted proxies."""

import io
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from openapi_spec_validator import validate
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from services.verify.tables import VerifyProblemReport
from tests.conftest import BACKENDS, discard_database, fresh_database_url
from tests.integration.verify.site import BATCH, Site, running_site

# a QR code only: read as any format, a random QR pattern sometimes also decodes as a 1D code
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp(f"verify-{request.param}"))
    try:
        with running_site(
            url, verify_public_url="https://verify.example.org", problem_report_burst=1000
        ) as running:
            yield running
    finally:
        discard_database(url)


def fetch(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def multipart(name: str, filename: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/json\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_the_printable_certificate_reads_back_with_its_qr_code(site: Site) -> None:
    certificate_id = site.ids["valid"]
    page = f"https://verify.example.org/verify/{certificate_id}"
    status, headers, pdf = fetch(f"{site.url}/api/v1/certificates/{certificate_id}/certificate.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    for expected in (
        "Zoë Παπαδοπούλου-Дмитриева",
        "Data Science 101",
        "Example Academy",
        "2026-05-01",
    ):
        assert expected in text
    # the QR code image embedded in the PDF, decoded
    (image,) = reader.pages[0].images
    assert [code.text for code in zxingcpp.read_barcodes(image.image, formats=QR_ONLY)] == [page]

    status, headers, png = fetch(f"{site.url}/api/v1/certificates/{certificate_id}/certificate.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert [
        code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=QR_ONLY)
    ] == [page]


def test_a_pending_or_unknown_certificate_has_no_printable(site: Site) -> None:
    for certificate_id in (site.ids["pending"], str(uuid.uuid4()), "not-an-id"):
        status, _, _ = fetch(f"{site.url}/api/v1/certificates/{certificate_id}/certificate.pdf")
        assert status == 404


def test_the_page_shows_links_revocation_and_pending(site: Site) -> None:
    status, _, body = fetch(f"{site.url}/verify/{site.ids['valid']}")
    html = body.decode()
    assert status == 200 and 'data-status="VALID"' in html
    assert 'aria-live="polite"' in html and '<label for="file">' in html
    linkedin = html.split('id="linkedin" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(linkedin).query)
    assert linkedin.startswith("https://www.linkedin.com/profile/add?")
    assert query["name"] == ["Data Science 101"]
    assert query["organizationName"] == ["Example Academy"]
    assert query["issueYear"] == ["2026"] and query["issueMonth"] == ["5"]
    assert query["certId"] == [site.ids["valid"]]
    assert query["certUrl"] == [f"https://verify.example.org/verify/{site.ids['valid']}"]
    assert f"/api/v1/certificates/{site.ids['valid']}/certificate.pdf" in html
    assert f"/api/v1/certificates/{site.ids['valid']}/document" in html

    html = fetch(f"{site.url}/verify/{site.ids['revoked']}")[2].decode()
    assert 'data-status="REVOKED"' in html and "No reason was recorded" in html
    assert 'id="linkedin"' not in html

    html = fetch(f"{site.url}/verify/{site.ids['pending']}")[2].decode()
    assert 'data-status="PENDING"' in html and "certificate.pdf" not in html


def test_an_uploaded_file_is_checked_without_javascript(site: Site) -> None:
    for name, verdict in (("valid", "VALID"), ("tampered", "TAMPERED")):
        body, headers = multipart("file", "c.json", site.files[name])
        status, _, page = fetch(f"{site.url}/verify", body, headers)
        assert status == 200 and f'data-status="{verdict}"' in page.decode()
    body, headers = multipart("other", "c.json", site.files["valid"])
    assert fetch(f"{site.url}/verify", body, headers)[0] == 400
    body, headers = multipart("file", "c.json", b"x" * 1_000_001)
    assert fetch(f"{site.url}/verify", body, headers)[0] == 413


def report(site: Site, certificate_id: str, fields: dict[str, str], **headers: str) -> int:
    form = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return fetch(f"{site.url}/verify/{certificate_id}/report", form, headers)[0]


def test_problem_reports_are_recorded_per_batch_and_counted(site: Site) -> None:
    before = fetch(f"{site.url}/api/v1/batches/{BATCH}/problem-reports")[2]
    origin = {"Origin": site.url, "X-Forwarded-For": "203.0.113.1"}
    fields = {"category": "wrong_details", "message": "My name is misspelt"}
    assert report(site, site.ids["valid"], fields, **origin) == 201
    with_email = fields | {"category": "other", "email": "zoe@example.org"}
    assert report(site, site.ids["pending"], with_email, **origin) == 201
    counts = json.loads(fetch(f"{site.url}/api/v1/batches/{BATCH}/problem-reports")[2])
    assert counts["total"] == json.loads(before)["total"] + 2
    assert counts["byCategory"]["wrong_details"] >= 1 and counts["byCategory"]["other"] >= 1
    with site.engine.connect() as connection:
        rows = connection.execute(select(VerifyProblemReport)).all()
    # the address is kept only for the report that gave one
    emails = {(row.certificate_id, row.category): row.contact_email for row in rows}
    assert emails[(site.ids["valid"], "wrong_details")] is None
    assert emails[(site.ids["pending"], "other")] == "zoe@example.org"
    assert {row.batch_id for row in rows} == {BATCH}


def test_a_report_is_refused_cross_site_invalid_unknown_or_too_large(site: Site) -> None:
    fields = {"category": "other", "message": "hello"}
    valid = site.ids["valid"]
    assert report(site, valid, fields, Origin="https://evil.example") == 403
    assert report(site, valid, fields, **{"Sec-Fetch-Site": "cross-site"}) == 403
    assert report(site, valid, fields, Origin="null") == 403  # a sandboxed frame
    # a browser's own same-site post (it sends Sec-Fetch-Site) is taken whatever its Origin
    assert report(site, valid, fields, **{"Sec-Fetch-Site": "same-origin"}) == 201
    assert report(site, valid, {"category": "nope", "message": ""}) == 400
    assert report(site, valid, fields | {"email": "not an address"}) == 400
    assert report(site, str(uuid.uuid4()), fields) == 404
    assert report(site, valid, fields | {"message": "x" * 9000}) == 413


def test_the_openapi_description_is_valid_and_names_every_route(site: Site) -> None:
    from services.verify.bootstrap import Adapters, build
    from services.verify.settings import VerifySettings
    from tests.unit.verify.events import REGISTRY, MemoryStore, PublishedIssuers
    from tests.unit.verify.test_verification import MemoryRegistry

    body = fetch(f"{site.url}/api/v1/openapi.json")[2]
    document = json.loads(body)
    validate(document)  # raises on a schema error
    app = build(
        VerifySettings(registry_address=REGISTRY),
        Adapters(MemoryStore(), MemoryRegistry(), PublishedIssuers()),
    ).http_app
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    described = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes and routes <= described, routes - described


def test_rate_limits_key_on_the_forwarded_client_only_behind_a_trusted_proxy(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'verify.db'}"
    settings = {
        "http_rate_per_second": 0.001,
        "http_rate_burst": 2,
        "trusted_proxies": "127.0.0.0/8",
        "problem_report_burst": 1,
    }
    with running_site(url, **settings) as trusting:
        page = f"{trusting.url}/api/v1/openapi.json"
        # behind our proxy (127.0.0.1), each forwarded client has its own budget
        for client in ("198.51.100.1", "198.51.100.2"):
            statuses = [fetch(page, headers={"X-Forwarded-For": client})[0] for _ in range(3)]
            assert statuses == [200, 200, 429]
        forwarded = {"Forwarded": 'for="[2001:db8::1]:4711"'}
        assert [fetch(page, headers=forwarded)[0] for _ in range(3)] == [200, 200, 429]
        # a client cannot pick its address by writing one at the left: the right-most
        # untrusted hop counts
        spoofed = {"X-Forwarded-For": "10.9.9.9, 198.51.100.1"}
        assert fetch(page, headers=spoofed)[0] == 429
        # the report form has its own, smaller budget (problem_report_burst): the second
        # report is refused by it (the page says so), not by the API's budget of 2
        form = urllib.parse.urlencode({"category": "other", "message": "hello"}).encode()
        headers = {"X-Forwarded-For": "198.51.100.9"}
        target = f"{trusting.url}/verify/{trusting.ids['valid']}/report"
        assert fetch(target, form, headers)[0] == 201
        status, _, body = fetch(target, form, headers)
        assert status == 429 and "Too many reports" in body.decode()
    with running_site(
        f"sqlite:///{tmp_path / 'verify2.db'}", **settings | {"trusted_proxies": "10.0.0.0/8"}
    ) as untrusting:
        page = f"{untrusting.url}/api/v1/openapi.json"
        # the peer (127.0.0.1) is no trusted proxy: its headers are ignored, all one client
        statuses = [
            fetch(page, headers={"X-Forwarded-For": f"198.51.100.{n}"})[0] for n in range(3)
        ]
        assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{}", "application/json", 400),
        (b"abc", "", 400),
        (b"--x\r\n", "multipart/form-data", 400),
        (b"\x00\xff" * 1000, "multipart/form-data; boundary=b", 400),
        # a field cut off before its boundary: what came is checked (a verdict, not a crash)
        (
            b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n{"a": 1}',
            "multipart/form-data; boundary=b",
            200,
        ),
    ],
)
def test_a_broken_upload_is_answered_with_the_page(
    site: Site, body: bytes, content_type: str, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer, response_headers, page = fetch(f"{site.url}/verify", body, headers)
    assert answer == status and response_headers["Content-Type"].startswith("text/html")
    assert b'data-status="' in page


@pytest.mark.parametrize(
    "form",
    [b"category=other&message=\xff\xfe", b"&".join(b"f%d=1" % i for i in range(50)), b'{"a":1}'],
)
def test_an_unreadable_report_is_refused(site: Site, form: bytes) -> None:
    target = f"{site.url}/verify/{site.ids['valid']}/report"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert fetch(target, form, headers)[0] == 400
