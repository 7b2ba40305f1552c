"""Scheduled batches: a rule's (or every rule's) collected achievements become ONE batch at the
time of a cron expression in a named IANA time zone, or at a one-off time.

The cron subset is parsed here (no dependency): five fields, minute hour day-of-month month
day-of-week, each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
those; day-of-week 0-7 (0 and 7 are Sunday); no names (`MON`, `JAN`) and no `L`/`W`/`#`.
As in Vixie cron, when both day fields are restricted a day matches if either does.

Wall times and daylight saving time (the zone's rules, zoneinfo):
- a wall time the zone skips (spring forward, 02:30 in Europe/Paris on the last Sunday of
  March) fires once at the instant the clocks jump (03:00 local): a daily job is not lost;
- a wall time the zone repeats (fall back) fires once, at its first occurrence.

Single firing across replicas: a firing's batch is uploaded with the request id
`schedule:<schedule id>:<firing time UTC>`, which the batches table keeps unique and which is
inserted in the same transaction as the batch; a second replica's upload of the same firing
returns that batch (or is refused as another file under that id) and adds nothing.

Missed firings (the service was down): on the next tick every firing due since the last one
collapses into ONE catch-up batch, keyed by the latest due firing time (found looking back from
now, so the work does not grow with the outage); the earlier ones are not run separately (they
would have found the same achievements).

Pure decisions here (no I/O, the clock passed in); `ScheduledBatches` runs them against a
store and ingest's upload path.
"""

import csv
import io
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from certflow.core.errors import Conflict, InvalidInput, NotFound, invalid_field
from certflow.core.time_zones import UnknownTimeZone, iana_zone

log = logging.getLogger(__name__)

# how far ahead a cron expression is searched for its next firing (Feb 29 on a Monday: 28 y)
SEARCH_DAYS = 366 * 30
MAX_CRON_LENGTH = 200
MAX_ID = 36  # schedule and rule ids are UUIDs


class InvalidCron(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CronExpression:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday (Python's weekday())
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = day.weekday() in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays


def _number(text: str) -> int:
    # ASCII digits only: int() also reads "٣", "1_0" and "+5"
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def _field(text: str, low: int, high: int, name: str) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = _number(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = _number(a), _number(b)
            else:
                start = _number(base)
                end = high if step_text else start
        except ValueError:
            raise InvalidCron(f"{name}: {part!r} is not a number, range or step") from None
        if step < 1 or not (low <= start <= high and low <= end <= high) or start > end:
            raise InvalidCron(f"{name}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values), text != "*"


def parse_cron(text: str) -> CronExpression:
    if len(text) > MAX_CRON_LENGTH:
        raise InvalidCron(f"longer than {MAX_CRON_LENGTH} characters")
    fields = text.split()
    if len(fields) != 5:
        raise InvalidCron("five fields: minute hour day-of-month month day-of-week")
    minutes, _ = _field(fields[0], 0, 59, "minute")
    hours, _ = _field(fields[1], 0, 23, "hour")
    days, days_restricted = _field(fields[2], 1, 31, "day-of-month")
    months, _ = _field(fields[3], 1, 12, "month")
    cron_weekdays, weekdays_restricted = _field(fields[4], 0, 7, "day-of-week")
    # cron: 0 and 7 are Sunday; Python: Monday 0 … Sunday 6
    weekdays = frozenset((d - 1) % 7 for d in cron_weekdays)
    return CronExpression(
        minutes, hours, days, months, weekdays, days_restricted, weekdays_restricted
    )


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time: its first occurrence if repeated, the jump's instant if
    skipped."""
    aware = wall.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == wall:
        return utc
    # skipped: fold=0 read it with the offset before the jump, landing after it; the jump is
    # the latest whole minute whose wall time still reads before `wall`
    candidate = utc
    while candidate.astimezone(zone).replace(tzinfo=None) >= wall:
        candidate -= timedelta(minutes=1)
    return candidate + timedelta(minutes=1)


def next_firing(cron: CronExpression, zone: ZoneInfo, after: datetime) -> datetime:
    """The first firing strictly after `after` (aware), in UTC."""
    start = after.astimezone(zone).date() - timedelta(days=1)
    hours, minutes = sorted(cron.hours), sorted(cron.minutes)
    for offset in range(SEARCH_DAYS):
        day = start + timedelta(days=offset)
        if not cron.matches_day(day):
            continue
        for hour in hours:
            for minute in minutes:
                instant = _instant(datetime(day.year, day.month, day.day, hour, minute), zone)
                if instant > after:
                    return instant
    raise InvalidCron("the expression never fires (e.g. 30 February)")


def latest_firing(cron: CronExpression, zone: ZoneInfo, at: datetime) -> datetime | None:
    """The last firing at or before `at` (aware), in UTC; None if none in SEARCH_DAYS. Wall
    times are read latest first: a wall time's instant (_instant) never decreases as the wall
    time grows, so the first one at or before `at` is the latest."""
    start = at.astimezone(zone).date() + timedelta(days=1)
    hours, minutes = sorted(cron.hours, reverse=True), sorted(cron.minutes, reverse=True)
    for offset in range(SEARCH_DAYS):
        day = start - timedelta(days=offset)
        if not cron.matches_day(day):
            continue
        for hour in hours:
            for minute in minutes:
                instant = _instant(datetime(day.year, day.month, day.day, hour, minute), zone)
                if instant <= at:
                    return instant
    return None


class ScheduleKind(StrEnum):
    CRON = "cron"
    ONCE = "once"


@dataclass(frozen=True, slots=True)
class Schedule:
    schedule_id: str
    name: str
    rule_id: str  # "": every rule's collected achievements
    kind: ScheduleKind
    cron: str  # CRON
    time_zone: str  # CRON: the IANA zone the expression is read in
    run_at: datetime | None  # ONCE
    created_at: datetime
    last_firing: datetime | None = None  # the firing time of its latest batch (or empty one)
    enabled: bool = True


def due_firing(schedule: Schedule, now: datetime) -> datetime | None:
    """The firing to run now, if any: the latest one due (missed ones collapse into it)."""
    if not schedule.enabled:
        return None
    if schedule.kind is ScheduleKind.ONCE:
        if schedule.last_firing is None and schedule.run_at and schedule.run_at <= now:
            return schedule.run_at
        return None
    cron, zone = parse_cron(schedule.cron), ZoneInfo(schedule.time_zone)
    due = latest_firing(cron, zone, now)
    if due is None or due <= (schedule.last_firing or schedule.created_at):
        return None
    return due


def firing_request_id(schedule_id: str, firing: datetime) -> str:
    return f"schedule:{schedule_id}:{firing.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def check_new_schedule(
    *, name: str, cron: str, time_zone: str, run_at: datetime | None
) -> ScheduleKind:
    if not name or len(name) > 64 or not name.isprintable():
        raise invalid_field("name", "1 to 64 printable characters")
    if bool(cron) == bool(run_at):
        raise invalid_field("cron", "a cron expression or a run_at time, one of the two")
    if run_at is not None:
        if run_at.tzinfo is None:
            raise invalid_field("run_at", "a time with its UTC offset")
        return ScheduleKind.ONCE
    try:
        parsed = parse_cron(cron)
    except InvalidCron as exc:
        raise invalid_field("cron", str(exc)) from None
    try:
        zone = iana_zone(time_zone)
    except UnknownTimeZone as exc:
        raise invalid_field("time_zone", str(exc)) from None
    try:
        next_firing(parsed, zone, datetime.now(UTC))
    except InvalidCron as exc:
        raise invalid_field("cron", str(exc)) from None
    return ScheduleKind.CRON


# ---- running them ----


@dataclass(frozen=True, slots=True)
class CollectedAchievement:
    achievement_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: date


class ScheduleStore(Protocol):
    def add_schedule(self, schedule: Schedule) -> Schedule:
        """The schedule stored, or the one stored first under its id (a twin create);
        NotFound RULE_NOT_FOUND if its rule is not there."""
        ...

    def schedules(self, *, offset: int, limit: int) -> list[Schedule]: ...

    def schedule(self, schedule_id: str) -> Schedule | None: ...

    def enabled_schedules(self) -> list[Schedule]: ...

    def disable_schedule(self, schedule_id: str, now: datetime) -> Schedule | None: ...

    def collected(self, rule_id: str, limit: int) -> list[CollectedAchievement]:
        """Collected achievements of the rule ("": any rule), oldest first."""
        ...

    def record_firing(
        self, schedule_id: str, firing: datetime, batch_id: str | None, now: datetime
    ) -> None:
        """Idempotent on (schedule, firing); moves the schedule's last firing forward only."""
        ...

    def settle_issued(self, batch_id: str, achievements: Sequence[CollectedAchievement]) -> int:
        """Collected achievements with a certificate of the same recipient, title and date
        become issued (with its id): the batch's, or an earlier one's."""
        ...

    def settle_failed(self, problems: dict[str, str], now: datetime) -> None: ...


class BatchUpload(Protocol):
    """What of `usecases.Ingest` a firing uses: the normal upload path."""

    def upload_csv(self, data: bytes, *, request_id: str, display_name: str) -> object: ...

    def batch_for_request(self, request_id: str) -> str | None: ...

    def refusals(self, batch_id: str) -> dict[int, str]: ...


@dataclass(frozen=True, slots=True)
class Firing:
    schedule_id: str
    firing: datetime
    batch_id: str | None  # None: nothing was collected
    achievements: int


def batch_csv(achievements: Sequence[CollectedAchievement]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "email", "title", "completion_date"])
    for a in achievements:
        writer.writerow(
            [a.recipient_name, a.recipient_email, a.title, a.completion_date.isoformat()]
        )
    return out.getvalue().encode()


class ScheduledBatches:
    def __init__(
        self,
        store: ScheduleStore,
        uploads: BatchUpload,
        *,
        max_rows: int,
        clock: Callable[[], datetime],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._uploads = uploads
        self._max_rows = max_rows
        self._clock = clock
        self._new_id = new_id

    def create(
        self,
        *,
        name: str,
        rule_id: str,
        cron: str = "",
        time_zone: str = "",
        run_at: datetime | None = None,
        request_id: str = "",
    ) -> Schedule:
        """Idempotent on request_id: the schedule's id is derived from it (AIP-155)."""
        kind = check_new_schedule(name=name, cron=cron, time_zone=time_zone, run_at=run_at)
        if len(rule_id) > MAX_ID or not rule_id.isprintable():
            raise invalid_field("rule_id", f"a rule id (at most {MAX_ID} characters) or empty")
        schedule_id = (
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"certflow:schedule:{request_id}"))
            if request_id
            else self._new_id()
        )
        if request_id and (done := self._store.schedule(schedule_id)):
            return done
        schedule = Schedule(
            schedule_id=schedule_id,
            name=name,
            rule_id=rule_id,
            kind=kind,
            cron=cron if kind is ScheduleKind.CRON else "",
            time_zone=time_zone if kind is ScheduleKind.CRON else "",
            run_at=run_at.astimezone(UTC) if run_at else None,
            created_at=self._clock(),
        )
        return self._store.add_schedule(schedule)

    def schedules(self, *, offset: int, limit: int) -> list[Schedule]:
        return self._store.schedules(offset=offset, limit=limit)

    def disable(self, schedule_id: str) -> Schedule:
        # an id no schedule can have is not asked (PostgreSQL's text refuses NUL: a 500)
        known = len(schedule_id) <= MAX_ID and schedule_id.isprintable()
        done = self._store.disable_schedule(schedule_id, self._clock()) if known else None
        if done is None:
            raise NotFound("SCHEDULE_NOT_FOUND", f"no schedule {schedule_id!r}")
        return done

    def fire_due(self) -> list[Firing]:
        """The loop's step: every schedule due now fires once (one batch each)."""
        now = self._clock()
        fired = []
        for schedule in self._store.enabled_schedules():
            try:
                firing = due_firing(schedule, now)
                if firing is not None:
                    fired.append(self._fire(schedule, firing))
            except Exception:
                # one schedule's fault (a stored expression or zone this version no longer
                # reads, a failed upload) must not hold every other one
                log.exception(
                    "schedule %s could not fire; the next tick tries again", schedule.schedule_id
                )
        return fired

    def _fire(self, schedule: Schedule, firing: datetime) -> Firing:
        request_id = firing_request_id(schedule.schedule_id, firing)
        achievements = self._store.collected(schedule.rule_id, self._max_rows)
        batch_id = self._uploads.batch_for_request(request_id)
        ours = False  # this process's file made the batch: its lines are our achievements
        if batch_id is None and achievements:
            local = firing.astimezone(ZoneInfo(schedule.time_zone or "UTC"))
            try:
                self._uploads.upload_csv(
                    batch_csv(achievements),
                    request_id=request_id,
                    display_name=f"{schedule.name} {local:%Y-%m-%d %H:%M %Z}"[:200],
                )
                ours = True  # ours, or another replica's of the very same file
            except Conflict as exc:
                # another replica fired it first with another set of rows: its batch stands
                if exc.reason != "REQUEST_ID_REUSED":
                    raise
            except InvalidInput as exc:
                # nothing valid at all (every row refused the same way): fail them, fire on
                problem = f"{exc.reason}: {exc.message}"[:2000]
                failed = {a.achievement_id: problem for a in achievements}
                self._store.settle_failed(failed, self._clock())
                self._store.record_firing(schedule.schedule_id, firing, None, self._clock())
                return Firing(schedule.schedule_id, firing, None, 0)
            batch_id = self._uploads.batch_for_request(request_id)
        if batch_id is not None:
            self._settle(batch_id, achievements, by_line=ours)
        self._store.record_firing(schedule.schedule_id, firing, batch_id, self._clock())
        log.info(
            "schedule %s fired for %s: batch %s, %d achievements",
            schedule.schedule_id,
            firing.isoformat(),
            batch_id,
            len(achievements),
        )
        return Firing(schedule.schedule_id, firing, batch_id, len(achievements))

    def _settle(
        self, batch_id: str, achievements: Sequence[CollectedAchievement], *, by_line: bool
    ) -> None:
        self._store.settle_issued(batch_id, achievements)
        if not by_line:
            # another file made the batch: what it refused stays collected, and is refused
            # (and failed) by the next firing's own file
            return
        # rows this file refused (by line: header 1, then one line per achievement)
        refusals = self._uploads.refusals(batch_id)
        problems = {
            a.achievement_id: refusals[line]
            for line, a in enumerate(achievements, start=2)
            if line in refusals and not refusals[line].startswith("ALREADY_ISSUED")
        }
        if problems:
            self._store.settle_failed(problems, self._clock())
