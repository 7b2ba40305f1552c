"""Cron next-firing in a named zone (DST gaps and repeats), missed firings, one-off times."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from certflow.core.errors import InvalidInput
from services.ingest import schedules as schedules_module
from services.ingest.schedules import (
    InvalidCron,
    Schedule,
    ScheduleKind,
    check_new_schedule,
    due_firing,
    firing_request_id,
    next_firing,
    parse_cron,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def firings(expr: str, zone: ZoneInfo, after: datetime, n: int) -> list[datetime]:
    cron, out = parse_cron(expr), []
    for _ in range(n):
        after = next_firing(cron, zone, after)
        out.append(after)
    return out


def test_daily_in_a_zone_follows_its_offset_across_the_spring_change() -> None:
    # 2026-03-29 02:00 Paris jumps to 03:00 (UTC+1 → UTC+2)
    got = firings("0 9 * * *", PARIS, utc(2026, 3, 27, 12), 3)
    assert got == [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]


def test_a_skipped_wall_time_fires_once_at_the_jump() -> None:
    got = firings("30 2 * * *", PARIS, utc(2026, 3, 28, 12), 2)
    # 02:30 does not exist on 29 March: fires at 03:00 local (01:00 UTC), once
    assert got == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]
    # every quarter of the skipped hour collapses into one firing at the jump
    got = firings("*/15 2 * * *", PARIS, utc(2026, 3, 28, 12), 2)
    assert got == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0)]


def test_a_repeated_wall_time_fires_once_at_its_first_occurrence() -> None:
    # 2026-11-01 02:00 New York falls back to 01:00 (EDT → EST): 01:30 happens twice
    got = firings("30 1 * * *", NEW_YORK, utc(2026, 10, 31, 12), 2)
    assert got == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]
    # from between the two occurrences, the next is the following day's
    assert firings("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 6), 1) == [utc(2026, 11, 2, 6, 30)]


def test_fields_ranges_steps_lists_and_the_day_rule() -> None:
    # Mondays to Fridays at 08:00 and 17:30 UTC
    got = firings("0,30 8-17/9 * * 1-5", ZoneInfo("UTC"), utc(2026, 11, 27, 18), 3)
    assert got == [utc(2026, 11, 30, 8), utc(2026, 11, 30, 8, 30), utc(2026, 11, 30, 17)]
    # both day fields restricted: the 1st of the month OR a Sunday (7 is Sunday too)
    got = firings("0 0 1 * 7", ZoneInfo("UTC"), utc(2026, 11, 28), 3)
    assert got == [utc(2026, 11, 29), utc(2026, 12, 1), utc(2026, 12, 6)]


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "*/0 * * * *",
        "5-1 * * * *",
        "MON * * * *",
        "* * * * 8",
        "1 2 3 4 5 6",
        # int() reads these too: other spellings of 3, 10 and 5 (a number is ASCII digits)
        "\u0663 * * * *",
        "1_0 * * * *",
        "+5 * * * *",
        "*/+2 * * * *",
    ],
)
def test_bad_expressions_are_refused(expr: str) -> None:
    with pytest.raises(InvalidCron):
        parse_cron(expr)


def test_an_expression_that_never_fires_is_refused_at_creation() -> None:
    with pytest.raises(InvalidInput, match="never fires"):
        check_new_schedule(name="x", cron="0 0 30 2 *", time_zone="UTC", run_at=None)
    with pytest.raises(InvalidInput, match="IANA"):
        check_new_schedule(name="x", cron="0 0 * * *", time_zone="Mars/Olympus", run_at=None)
    with pytest.raises(InvalidInput, match="one of the two"):
        check_new_schedule(name="x", cron="", time_zone="", run_at=None)


def schedule(**kw: object) -> Schedule:
    base: dict[str, object] = dict(
        schedule_id="s1",
        name="nightly",
        rule_id="",
        kind=ScheduleKind.CRON,
        cron="0 2 * * *",
        time_zone="UTC",
        run_at=None,
        created_at=utc(2026, 11, 1, 12),
    )
    base.update(kw)
    return Schedule(**base)  # type: ignore[arg-type]


def test_missed_firings_collapse_into_one_keyed_by_the_latest() -> None:
    s = schedule()
    assert due_firing(s, utc(2026, 11, 2, 1, 59)) is None
    assert due_firing(s, utc(2026, 11, 2, 2)) == utc(2026, 11, 2, 2)
    # down for five days: one catch-up firing, the latest due one
    assert due_firing(s, utc(2026, 11, 7, 3)) == utc(2026, 11, 7, 2)
    fired = schedule(last_firing=utc(2026, 11, 7, 2))
    assert due_firing(fired, utc(2026, 11, 7, 23)) is None
    assert due_firing(schedule(enabled=False), utc(2026, 11, 7, 3)) is None


def test_a_minute_schedule_down_for_days_finds_its_catch_up_in_bounded_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The latest due firing is found looking back from now, not by walking every missed one
    forward (a per-minute schedule down one day took ~4 million wall-time conversions, 69 s of
    CPU holding the GIL in the service; 100 days were cut at 100,000 firings, not the latest)."""
    calls = 0
    real = schedules_module._instant

    def counted(wall: datetime, zone: ZoneInfo) -> datetime:
        nonlocal calls
        calls += 1
        assert calls < 20_000, "walked the missed firings one by one"
        return real(wall, zone)

    monkeypatch.setattr(schedules_module, "_instant", counted)
    every_minute = schedule(cron="* * * * *", time_zone="Europe/Paris")
    second = timedelta(seconds=1)
    assert due_firing(every_minute, utc(2026, 11, 3, 12) + 30 * second) == utc(2026, 11, 3, 12)
    assert due_firing(every_minute, utc(2027, 3, 1, 9, 7) + 59 * second) == utc(2027, 3, 1, 9, 7)
    # across the spring change in Paris, "30 2 * * *" down since the day before
    nightly = schedule(cron="30 2 * * *", time_zone="Europe/Paris", created_at=utc(2026, 3, 28))
    assert due_firing(nightly, utc(2026, 3, 29, 6)) == utc(2026, 3, 29, 1)


def test_a_one_off_fires_once_when_due() -> None:
    at = utc(2026, 12, 1, 9)
    once = schedule(kind=ScheduleKind.ONCE, cron="", time_zone="", run_at=at)
    assert due_firing(once, at - timedelta(seconds=1)) is None
    assert due_firing(once, at + timedelta(days=3)) == at
    assert due_firing(schedule(kind=ScheduleKind.ONCE, run_at=at, last_firing=at), at) is None


def test_the_firing_key_is_the_schedule_and_the_utc_time() -> None:
    key = firing_request_id("s1", datetime(2026, 3, 29, 3, 0, tzinfo=PARIS))
    assert key == "schedule:s1:20260329T010000Z"
    assert len(firing_request_id("0" * 36, utc(2026, 1, 1))) <= 128


def test_a_run_time_out_of_timestamp_s_range_is_invalid_argument() -> None:
    """ToDatetime's ValueError reached the servicer's catch-all: an INTERNAL."""
    from certflow.v1 import ingest_service_pb2 as pb
    from services.ingest.automation_servicer import run_at_of

    wanted = pb.Schedule()
    assert run_at_of(wanted) is None
    wanted.run_time.seconds = 1_790_000_000
    assert run_at_of(wanted) == datetime.fromtimestamp(1_790_000_000, UTC)
    for seconds in (10**12, -(10**12)):
        wanted.run_time.seconds = seconds
        with pytest.raises(InvalidInput, match="year 1 to 9999"):
            run_at_of(wanted)
