"""The verification page in a real headless browser: Debian's chromium (/usr/bin/chromium,
installed by `make browser`) driven by playwright, against verify's HTTP site on a real server
(tests/integration/verify/site.py). Valid, tampered, revoked and pending certificates, a file
checked with and without JavaScript, a 375 px phone without sideways scrolling, and the
problem-report form. Screenshots are kept in the test's tmp dir (pytest keeps the last runs)."""

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.integration.verify.site import BATCH, Site, running_site

CHROMIUM = Path("/usr/bin/chromium")
# a closed network: nothing the browser would fetch for itself
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 375, "height": 740}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make browser` (make test does)"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('verify-page') / 'verify.db'}"
    with running_site(url, problem_report_burst=100) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # launch() gives chromium a fresh --user-data-dir of its own (it refuses one in args)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def phone_page(browser: Browser, javascript: bool = True) -> Page:
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    return context.new_page()


def assert_no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert inner == PHONE["width"] and width <= inner, (width, inner)


def verdict(page: Page) -> str:
    return str(page.locator("#result .verdict").get_attribute("data-status"))


@pytest.mark.parametrize(
    ("certificate", "status"), [("valid", "VALID"), ("revoked", "REVOKED"), ("pending", "PENDING")]
)
def test_a_certificate_page_on_a_phone(
    site: Site, browser: Browser, shots: Path, certificate: str, status: str
) -> None:
    page = phone_page(browser)
    page.goto(f"{site.url}/verify/{site.ids[certificate]}")
    assert verdict(page) == status
    assert_no_sideways_scrolling(page)
    page.screenshot(path=shots / f"{certificate}.png", full_page=True)
    # the result is announced, and the file input has an accessible name
    assert page.locator("#result").get_attribute("aria-live") == "polite"
    expect(page.get_by_label("Check a certificate file (.json) against the chain")).to_have_count(1)
    if certificate == "valid":
        linkedin = page.get_by_role("link", name="Add to LinkedIn profile")
        assert str(linkedin.get_attribute("href")).startswith(
            "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME"
        )
        pdf = page.get_by_role("link", name="Download the printable certificate (PDF)")
        with page.expect_download() as download:
            pdf.click()
        saved = shots / "certificate.pdf"
        download.value.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-")
        expect(
            page.get_by_role("link", name="Download the certificate file (JSON)")
        ).to_be_visible()
    if certificate == "revoked":
        expect(page.locator("#revocation")).to_contain_text("revoked this certificate")
    if certificate == "pending":
        expect(
            page.get_by_role("link", name="Download the printable certificate (PDF)")
        ).to_have_count(0)
    page.context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
@pytest.mark.parametrize(("file", "status"), [("valid", "VALID"), ("tampered", "TAMPERED")])
def test_an_uploaded_file_is_checked(
    site: Site,
    browser: Browser,
    shots: Path,
    tmp_path: Path,
    javascript: bool,
    file: str,
    status: str,
) -> None:
    chosen = tmp_path / f"{file}.json"
    chosen.write_bytes(site.files[file])
    page = phone_page(browser, javascript)
    page.goto(f"{site.url}/verify")
    posted: list[str] = []
    page.on("request", lambda request: posted.append(f"{request.method} {request.url}"))
    page.get_by_label("Check a certificate file (.json) against the chain").set_input_files(chosen)
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator(f'#result .verdict[data-status="{status}"]')).to_have_count(1)
    # with JavaScript the page asks the JSON API in place; without it the form is posted
    expected = f"POST {site.url}/api/v1/verify" if javascript else f"POST {site.url}/verify"
    assert expected in posted
    assert_no_sideways_scrolling(page)
    page.screenshot(path=shots / f"upload-{file}.png", full_page=True)
    page.context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_problem_is_reported_and_counted_for_the_batch(
    site: Site, browser: Browser, shots: Path, javascript: bool
) -> None:
    def reports() -> int:
        with urllib.request.urlopen(f"{site.url}/api/v1/batches/{BATCH}/problem-reports") as r:
            return int(json.loads(r.read())["total"])

    before = reports()
    page = phone_page(browser, javascript)
    page.goto(f"{site.url}/verify/{site.ids['valid']}")
    page.get_by_label("What is wrong?").select_option("wrong_details")
    page.get_by_label("Tell us more").fill("My surname is spelt Παπαδοπούλου, not Papadopoulou.")
    page.get_by_role("button", name="Send the report").click()
    expect(page.locator("#report-sent")).to_contain_text("your report was recorded")
    assert_no_sideways_scrolling(page)
    page.screenshot(path=shots / "reported.png", full_page=True)
    assert reports() == before + 1
    page.context.close()
