"""Pure: when an email may go out — a scheduled send time and/or business hours in the
recipient's time zone (IANA names, zoneinfo; DST handled by converting wall-clock openings of
each local day, never by adding hours to an instant).

An opening that falls in a DST gap (02:30 on a spring-forward night) is the instant zoneinfo
gives that wall time with fold=0: shifted forward by the gap (03:30), never before it.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from certflow.core.time_zones import UnknownTimeZone, iana_zone

__all__ = ["BusinessHours", "Timing", "UnknownTimeZone", "next_opening", "time_zone"]

DAYS_SEARCHED = 8  # a week plus one: any window with at least one open day opens within it


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Local opening hours: `opens` ≤ local time < `closes` on `weekdays` (Monday = 0)."""

    weekdays: frozenset[int]
    opens: time
    closes: time

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("business hours need at least one weekday in 0..6 (Monday = 0)")
        if not self.opens < self.closes:
            raise ValueError("business hours must open before they close (same local day)")

    def is_open(self, local: datetime) -> bool:
        return local.weekday() in self.weekdays and self.opens <= local.time() < self.closes


@dataclass(frozen=True, slots=True)
class Timing:
    """What a delivery asks for: no earlier than `send_time` (UTC), and within business hours
    in `zone` when `business_hours` is set."""

    zone: ZoneInfo
    business_hours: BusinessHours | None = None
    send_time: datetime | None = None


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone named `name`, or UnknownTimeZone saying why not."""
    return iana_zone(name)


def next_opening(timing: Timing, *, now: datetime) -> datetime:
    """The earliest instant (UTC) at or after `now` when the email may go: `now` itself when
    nothing holds it back (a send time in the past holds nothing back)."""
    earliest = now if timing.send_time is None else max(now, timing.send_time)
    earliest = earliest.astimezone(UTC)
    hours = timing.business_hours
    if hours is None:
        return earliest
    local = earliest.astimezone(timing.zone)
    if hours.is_open(local):
        return earliest
    for offset in range(DAYS_SEARCHED):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in hours.weekdays:
            continue
        opening = _instant(day, hours.opens, timing.zone)
        closing = _instant(day, hours.closes, timing.zone)
        if earliest < opening:
            return opening
        if earliest < closing:  # open now by the clock (not reached when is_open said no)
            return earliest
    raise AssertionError("a window with an open weekday opens within a week")  # pragma: no cover


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant a wall clock in `zone` shows `at` on `day` (fold=0: the first of a
    repeated hour; a time in a gap is shifted forward by the gap)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
