"""The page's pure parts: which client a request is limited as (trusted proxies), what a
problem report may hold, and the LinkedIn add-to-profile link."""

import urllib.parse

import pytest

from certflow.core.errors import InvalidInput
from services.verify.client_address import client_address, trusted_networks
from services.verify.page import linkedin_url, public_origin
from services.verify.reports import MAX_MESSAGE, problem_report

PROXIES = trusted_networks("10.0.0.0/8, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # an untrusted peer: whatever it claims is ignored
        ("203.0.113.7", {"X-Forwarded-For": "198.51.100.1"}, "203.0.113.7"),
        ("203.0.113.7", {"Forwarded": "for=198.51.100.1"}, "203.0.113.7"),
        # a trusted proxy: the right-most address that is not one of ours
        ("10.1.2.3", {"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"),
        ("10.1.2.3", {"X-Forwarded-For": "6.6.6.6, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"),
        ("10.1.2.3", {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1"),
        ("10.1.2.3", {"Forwarded": "for=6.6.6.6, for=198.51.100.2:80"}, "198.51.100.2"),
        ("fd00::1", {"X-Forwarded-For": "2001:db8::5"}, "2001:db8::5"),
        # nothing forwarded, an unreadable hop, or only our proxies: the nearest proxy
        ("10.1.2.3", {}, "10.1.2.3"),
        ("10.1.2.3", {"X-Forwarded-For": "unknown"}, "10.1.2.3"),
        ("10.1.2.3", {"Forwarded": "for=_hidden"}, "10.1.2.3"),
        ("10.1.2.3", {"X-Forwarded-For": "10.0.0.9"}, "10.0.0.9"),
        (None, {"X-Forwarded-For": "198.51.100.1"}, "unknown"),
    ],
)
def test_client_address(peer: str | None, headers: dict[str, str], client: str) -> None:
    assert client_address(peer, headers, PROXIES) == client


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_address("10.1.2.3", {"X-Forwarded-For": "1.2.3.4"}, []) == "10.1.2.3"
    with pytest.raises(ValueError, match="does not appear to be"):
        trusted_networks("10.0.0.0/8, not-a-network")


def test_a_report_keeps_an_email_only_when_given() -> None:
    plain = problem_report("id", {"category": "other", "message": " Wrong date "})
    assert plain.contact_email is None and plain.message == "Wrong date"
    given = {"category": "not_mine", "message": "x", "email": "Zoe@Example.org"}
    assert problem_report("id", given).contact_email == "Zoe@example.org"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"category": "bogus", "message": "x"}, "category"),
        ({"category": "other", "message": "  "}, "message"),
        ({"category": "other", "message": "x" * (MAX_MESSAGE + 1)}, "message"),
        ({"category": "other", "message": "x", "email": "no-at-sign"}, "email"),
    ],
)
def test_a_bad_report_names_its_field(form: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        problem_report("id", form)
    assert [v.field for v in refused.value.violations] == [field]


def test_the_linkedin_link_carries_name_issuer_date_url_and_id() -> None:
    result = {
        "title": "Data & Science 101",
        "issuerName": "Académie",
        "certificateId": "c-1",
        "issuedOn": "2026-05-01",
    }
    url = linkedin_url(result, "https://verify.example/verify/c-1")
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://www.linkedin.com/profile/add"
    assert dict(urllib.parse.parse_qsl(parts.query)) == {
        "startTask": "CERTIFICATION_NAME",
        "name": "Data & Science 101",
        "organizationName": "Académie",
        "issueYear": "2026",
        "issueMonth": "5",
        "certUrl": "https://verify.example/verify/c-1",
        "certId": "c-1",
    }


def test_the_public_origin_is_the_configured_one_when_set() -> None:
    assert public_origin("https://verify.example.org/ignored", "http", "evil") == (
        "https://verify.example.org"
    )
    assert public_origin("", "http", "127.0.0.1:8080") == "http://127.0.0.1:8080"
