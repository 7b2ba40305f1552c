"""Per-recipient-domain pacing as slots (pure; `now` passed in)."""

import itertools
from datetime import UTC, datetime, timedelta

from services.notify.domain_pacing import DomainRates, grant, pace, recipient_domain

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_a_domain_never_paced_gets_slots_from_now_one_spacing_apart_within_the_lookahead():
    slots = grant(None, 10, spacing=SECOND, now=NOW, lookahead=3 * SECOND)
    assert slots.granted == [NOW + i * SECOND for i in range(4)]
    assert slots.deferred == [NOW + i * SECOND for i in range(4, 10)]
    assert slots.next_slot == NOW + 4 * SECOND  # the deferred ones are projected, not taken


def test_a_stored_slot_in_the_past_does_not_allow_a_burst_to_catch_up():
    slots = grant(NOW - timedelta(hours=1), 3, spacing=SECOND, now=NOW, lookahead=SECOND)
    assert slots.granted == [NOW, NOW + SECOND]
    assert slots.next_slot == NOW + 2 * SECOND


def test_a_stored_slot_beyond_the_lookahead_grants_nothing_and_projects_from_it():
    taken_until = NOW + 10 * SECOND
    slots = grant(taken_until, 2, spacing=SECOND, now=NOW, lookahead=3 * SECOND)
    assert slots.granted == []
    assert slots.deferred == [taken_until, taken_until + SECOND]
    assert slots.next_slot == taken_until


def test_successive_claims_never_grant_two_slots_closer_than_the_spacing():
    spacing = timedelta(milliseconds=250)
    stored, granted, now = None, [], NOW
    for _ in range(40):  # claims every 100 ms, each wanting 3
        slots = grant(stored, 3, spacing=spacing, now=now, lookahead=SECOND)
        granted += slots.granted
        stored, now = slots.next_slot, now + timedelta(milliseconds=100)
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert len(granted) > 10 and min(gaps) == spacing


def test_rates_per_minute_with_overrides_case_insensitive_and_zero_unpaced():
    rates = DomainRates(60, {"gmail.com": 600, "uni.example": 0})
    assert rates.spacing("example.org") == SECOND
    assert rates.spacing("GMAIL.com") == timedelta(milliseconds=100)
    assert rates.spacing("uni.example") is None
    assert DomainRates().spacing("gmail.com") is None


def test_pace_answers_only_for_paced_domains():
    plans = pace(
        {"gmail.com": 3, "uni.example": 5},
        {"gmail.com": NOW + SECOND},
        DomainRates(0, {"gmail.com": 60}),
        now=NOW,
        lookahead=SECOND,
    )
    assert set(plans) == {"gmail.com"}
    assert plans["gmail.com"].granted == [NOW + SECOND]


def test_the_domain_of_an_address_is_after_the_last_at_lower_cased():
    assert recipient_domain("Ana@Gmail.COM") == "gmail.com"
    assert recipient_domain('"a@b"@uni.example') == "uni.example"
