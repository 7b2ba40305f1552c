"""What one claim takes, reschedules and defers (pure; `now` passed in)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notify.claim_timing import Candidate, TimingRules, plan_claim
from services.notify.delivery_window import BusinessHours
from services.notify.domain_pacing import DomainRates

NOW = datetime(2026, 6, 30, 1, 0, tzinfo=UTC)  # Tue: 10:00 in Tokyo, Mon 18:00 in Los Angeles
SECOND = timedelta(seconds=1)
RULES = TimingRules(
    business_hours=BusinessHours(frozenset(range(5)), time(9), time(17)),
    default_zone=ZoneInfo("UTC"),
    rates=DomainRates(0, {"gmail.com": 60}),
    lookahead=2 * SECOND,
)


def test_outside_the_window_is_scheduled_over_the_pace_deferred_the_rest_claimed():
    candidates = [
        Candidate("tokyo", "uni.example", "Asia/Tokyo", True),
        Candidate("la", "uni.example", "America/Los_Angeles", True),
        Candidate("no-window", "uni.example", "America/Los_Angeles", False),
        *(Candidate(f"g{i}", "gmail.com", "", False) for i in range(5)),
    ]
    plan = plan_claim(candidates, {}, RULES, now=NOW)
    assert plan.scheduled == {"la": datetime(2026, 6, 30, 16, 0, tzinfo=UTC)}  # Tue 09:00 PDT
    assert plan.claimed == {
        "tokyo": NOW,
        "no-window": NOW,
        "g0": NOW,
        "g1": NOW + SECOND,
        "g2": NOW + 2 * SECOND,
    }
    assert plan.deferred == {"g3": NOW + 3 * SECOND, "g4": NOW + 4 * SECOND}
    assert plan.next_slots == {"gmail.com": NOW + 3 * SECOND}


def test_a_row_without_a_zone_uses_the_default_and_an_unresolvable_one_too():
    night = NOW.replace(hour=22)  # 22:00 UTC
    plan = plan_claim(
        [Candidate("a", "x.example", "", True), Candidate("b", "x.example", "Gone/Zone", True)],
        {},
        RULES,
        now=night,
    )
    wednesday_nine_utc = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert plan.scheduled == {"a": wednesday_nine_utc, "b": wednesday_nine_utc}
    assert plan.claimed == {}


def test_scheduled_rows_take_no_domain_slot():
    night = NOW.replace(hour=22)
    plan = plan_claim([Candidate("a", "gmail.com", "", True)], {}, RULES, now=night)
    assert plan.next_slots == {} and plan.claimed == {}
