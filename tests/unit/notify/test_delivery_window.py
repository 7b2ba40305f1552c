"""When an email may go: business hours in the recipient's zone and a scheduled send time
(pure; `now` passed in). Expected instants are written in UTC, worked out by hand."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.notify.delivery_window import (
    BusinessHours,
    Timing,
    UnknownTimeZone,
    next_opening,
    time_zone,
)

OFFICE = BusinessHours(frozenset(range(5)), time(9), time(17))  # Mon–Fri 09:00–17:00


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def in_hours(zone: str) -> Timing:
    return Timing(ZoneInfo(zone), OFFICE)


def test_tokyo_before_opening_waits_for_nine_local_that_is_midnight_utc():
    now = utc(2026, 6, 29, 23, 0)  # Tue 30 June 08:00 JST (UTC+9, no DST)
    assert next_opening(in_hours("Asia/Tokyo"), now=now) == utc(2026, 6, 30, 0, 0)


def test_inside_the_window_goes_at_once():
    now = utc(2026, 6, 30, 3, 0)  # Tue 12:00 JST
    assert next_opening(in_hours("Asia/Tokyo"), now=now) == now


def test_closing_time_is_outside_the_window():
    now = utc(2026, 6, 30, 8, 0)  # Tue 17:00 JST exactly: next is Wed 09:00 JST
    assert next_opening(in_hours("Asia/Tokyo"), now=now) == utc(2026, 7, 1, 0, 0)


def test_los_angeles_across_the_spring_dst_change_opens_at_nine_pdt():
    # Fri 6 March 2026 18:00 PST (UTC-8); clocks go forward Sun 8 March; Mon 9 March 09:00 is
    # PDT (UTC-7): 16:00 UTC, not the 17:00 UTC that adding a fixed offset would give
    now = utc(2026, 3, 7, 2, 0)
    assert next_opening(in_hours("America/Los_Angeles"), now=now) == utc(2026, 3, 9, 16, 0)


def test_los_angeles_across_the_autumn_dst_change_opens_at_nine_pst():
    now = utc(2026, 10, 31, 1, 0)  # Fri 30 Oct 18:00 PDT; back to PST on Sun 1 Nov
    assert next_opening(in_hours("America/Los_Angeles"), now=now) == utc(2026, 11, 2, 17, 0)


def test_an_opening_inside_the_dst_gap_is_shifted_forward_by_the_gap():
    night = Timing(
        ZoneInfo("America/Los_Angeles"),
        BusinessHours(frozenset({6}), time(2, 30), time(4)),  # Sundays 02:30–04:00
    )
    # Sun 8 March 2026: 02:00 PST jumps to 03:00 PDT; 02:30 never shows: 03:30 PDT
    now = utc(2026, 3, 8, 9, 0)  # 01:00 PST
    assert next_opening(night, now=now) == utc(2026, 3, 8, 10, 30)


def test_berlin_on_a_saturday_waits_for_monday_morning():
    now = utc(2026, 7, 4, 8, 0)  # Sat 10:00 CEST (UTC+2)
    assert next_opening(in_hours("Europe/Berlin"), now=now) == utc(2026, 7, 6, 7, 0)


def test_after_closing_the_window_opens_tomorrow():
    now = utc(2026, 7, 1, 16, 0)  # Wed 18:00 CEST
    assert next_opening(in_hours("Europe/Berlin"), now=now) == utc(2026, 7, 2, 7, 0)


def test_friday_evening_waits_for_monday_and_saturday_only_hours_for_saturday():
    now = utc(2026, 7, 3, 16, 0)  # Fri 18:00 CEST
    assert next_opening(in_hours("Europe/Berlin"), now=now) == utc(2026, 7, 6, 7, 0)
    saturdays = Timing(ZoneInfo("Europe/Berlin"), BusinessHours(frozenset({5}), time(9), time(12)))
    assert next_opening(saturdays, now=now) == utc(2026, 7, 4, 7, 0)


def test_a_send_time_in_the_past_holds_nothing_back():
    now = utc(2026, 7, 1, 12, 0)
    past = Timing(ZoneInfo("UTC"), send_time=utc(2026, 6, 1, 0, 0))
    assert next_opening(past, now=now) == now


def test_a_future_send_time_is_when_it_goes():
    now = utc(2026, 7, 1, 12, 0)
    later = Timing(ZoneInfo("UTC"), send_time=utc(2026, 7, 2, 3, 4))
    assert next_opening(later, now=now) == utc(2026, 7, 2, 3, 4)


def test_a_future_send_time_outside_business_hours_waits_for_the_next_opening_after_it():
    now = utc(2026, 7, 1, 12, 0)
    both = Timing(ZoneInfo("Asia/Tokyo"), OFFICE, send_time=utc(2026, 7, 1, 10, 0))  # Wed 19:00
    assert next_opening(both, now=now) == utc(2026, 7, 2, 0, 0)  # Thu 09:00 JST


def test_the_answer_is_in_utc_whatever_zone_now_was_given_in():
    now = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert next_opening(Timing(ZoneInfo("UTC")), now=now).tzinfo is UTC


@pytest.mark.parametrize("name", ["Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin", "UTC"])
def test_iana_names_resolve(name):
    assert time_zone(name).key == name


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus_Mons", "PST8PDTX", "../../etc/passwd", "/etc/localtime", " UTC"]
)
def test_unknown_or_path_like_names_are_refused_with_the_name(name):
    with pytest.raises(UnknownTimeZone, match="not an IANA time zone name"):
        time_zone(name)


def test_business_hours_must_open_before_closing_on_some_day():
    with pytest.raises(ValueError, match="open before they close"):
        BusinessHours(frozenset({0}), time(17), time(9))
    with pytest.raises(ValueError, match="weekday"):
        BusinessHours(frozenset(), time(9), time(17))
