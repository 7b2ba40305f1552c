"""Pure: which due deliveries a claim takes now, given delivery windows and domain pacing.

A due delivery (its next_attempt_at has come) is, in this order:
- outside its delivery window (business hours in its recipient's zone): rescheduled, state
  SCHEDULED, next_attempt_at = the window's next opening — it waits durably in the database;
- over its domain's pace: deferred, still PENDING, next_attempt_at = its projected slot;
- otherwise claimed, with the instant it may be sent (its domain slot, or now).
The window is checked at every claim, not only when the delivery was created, so a retry
whose backoff ends at night also waits for the morning.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notify.delivery_window import (
    BusinessHours,
    Timing,
    UnknownTimeZone,
    next_opening,
    time_zone,
)
from services.notify.domain_pacing import DomainRates, pace


@dataclass(frozen=True, slots=True)
class Candidate:
    delivery_id: str
    recipient_domain: str
    time_zone: str  # IANA name; "" for notify's default zone
    business_hours: bool  # the batch asked for delivery in business hours


@dataclass(frozen=True, slots=True)
class TimingRules:
    business_hours: BusinessHours
    default_zone: ZoneInfo
    rates: DomainRates
    lookahead: timedelta  # how far ahead a claim may take domain slots (≤ a quarter lease)


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    claimed: dict[str, datetime]  # delivery id -> send no earlier than
    scheduled: dict[str, datetime]  # delivery id -> its window's next opening
    deferred: dict[str, datetime]  # delivery id -> its projected domain slot
    next_slots: dict[str, datetime]  # domain -> its stored next slot after this claim


# no pacing, Mon–Fri 09:00–17:00 in UTC for rows without a zone: a store built without settings
DEFAULT_TIMING = TimingRules(
    BusinessHours(frozenset(range(5)), time(9), time(17)),
    ZoneInfo("UTC"),
    DomainRates(),
    timedelta(seconds=15),
)


def zone_of(name: str, default: ZoneInfo) -> ZoneInfo:
    """The recipient's zone; the default for none, or for a name this host cannot resolve
    (intake refused unknown names, so that means tzdata differs: better late than never)."""
    if not name:
        return default
    try:
        return time_zone(name)
    except UnknownTimeZone:
        return default


def plan_claim(
    candidates: Sequence[Candidate],
    next_slots: Mapping[str, datetime],
    rules: TimingRules,
    *,
    now: datetime,
) -> ClaimPlan:
    """Decides each candidate (in claim order: the earliest due first)."""
    scheduled: dict[str, datetime] = {}
    in_window: list[Candidate] = []
    for c in candidates:
        if c.business_hours:
            timing = Timing(zone_of(c.time_zone, rules.default_zone), rules.business_hours)
            opening = next_opening(timing, now=now)
            if opening > now:
                scheduled[c.delivery_id] = opening
                continue
        in_window.append(c)
    wanted = Counter(c.recipient_domain for c in in_window)
    plans = pace(wanted, next_slots, rules.rates, now=now, lookahead=rules.lookahead)
    claimed: dict[str, datetime] = {}
    deferred: dict[str, datetime] = {}
    taken: Counter[str] = Counter()
    for c in in_window:
        plan = plans.get(c.recipient_domain)
        if plan is None:
            claimed[c.delivery_id] = now
            continue
        index = taken[c.recipient_domain]
        taken[c.recipient_domain] += 1
        if index < len(plan.granted):
            claimed[c.delivery_id] = plan.granted[index]
        else:
            deferred[c.delivery_id] = plan.deferred[index - len(plan.granted)]
    return ClaimPlan(claimed, scheduled, deferred, {d: p.next_slot for d, p in plans.items()})
