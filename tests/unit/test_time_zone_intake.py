"""The recipient's time zone at intake: a column found by its aliases, IANA names only (an
unknown one is a row error saying why), the issuer's default for rows without one, and never
part of the credential."""

from datetime import UTC, date, datetime

import pytest

from certflow.core.columns import plan_columns
from certflow.core.document import IssuerProfile
from certflow.core.issuance import key_requests, plan_certificates
from certflow.core.time_zones import UnknownTimeZone, iana_zone
from certflow.core.validation import validate_certificate

TODAY = date(2026, 11, 29)
ROW = {
    "name": "Ken Sato",
    "email": "ken@uni.example",
    "title": "BSc Physics",
    "completion_date": "2026-06-30",
}


@pytest.mark.parametrize("header", ["timezone", "Time Zone", "TZ", "time_zone", "Time-Zone"])
def test_the_time_zone_column_is_found_by_its_aliases(header):
    plan = plan_columns(["name", "email", "title", "completion_date", header])
    assert (4, "time_zone") in plan.known


def test_a_known_zone_is_kept_and_an_empty_one_takes_the_issuer_default():
    kept = validate_certificate({**ROW, "time_zone": " Asia/Tokyo "}, {}, row_number=2, today=TODAY)
    assert not isinstance(kept, list) and kept.time_zone == "Asia/Tokyo"
    default = validate_certificate(
        {**ROW, "time_zone": ""}, {}, row_number=2, today=TODAY, default_time_zone="Europe/Berlin"
    )
    assert not isinstance(default, list) and default.time_zone == "Europe/Berlin"
    none = validate_certificate(ROW, {}, row_number=2, today=TODAY)
    assert not isinstance(none, list) and none.time_zone == ""


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "PST", "../../../etc/passwd", "Asia/Tokio"])
def test_an_unknown_zone_is_a_row_error_with_the_reason(zone):
    refused = validate_certificate({**ROW, "time_zone": zone}, {}, row_number=7, today=TODAY)
    assert isinstance(refused, list)
    [error] = refused
    assert (error.row_number, error.field, error.reason) == (7, "time_zone", "UNKNOWN_TIME_ZONE")
    assert "not an IANA time zone name" in error.message


def test_the_time_zone_is_not_in_the_credential():
    content = validate_certificate(
        {**ROW, "time_zone": "Asia/Tokyo"}, {}, row_number=2, today=TODAY
    )
    assert not isinstance(content, list)
    issuer = IssuerProfile(id="https://uni.example/issuers/main", name="Uni")
    keyed, _ = key_requests(issuer.id, [(2, content)])
    [planned] = plan_certificates(
        issuer, keyed, issued_at=datetime(2026, 11, 29, tzinfo=UTC), new_id=lambda: "c1"
    )
    assert b"Ken Sato" in planned.canonical_document
    assert b"Tokyo" not in planned.canonical_document


def test_zone_names_are_read_from_the_tzdata_package_too():
    assert iana_zone("America/Los_Angeles").key == "America/Los_Angeles"
    with pytest.raises(UnknownTimeZone):
        iana_zone("America/Los_Angeles" + "x" * 60)  # longer than the stored column
