"""The SQL of scheduled batches (behind `schedules.ScheduleStore`) and the upload adapter a
firing uses (ingest's normal path: `Ingest.upload_csv`)."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.errors import NotFound
from services.ingest import tables
from services.ingest.lms import AchievementStatus
from services.ingest.schedules import CollectedAchievement, Schedule, ScheduleKind
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest, UploadResult

MAX_REFUSALS_READ = 200_000


class SqlScheduleStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add_schedule(self, schedule: Schedule) -> Schedule:
        """The schedule stored, or the one a twin call (same request_id: same id) stored first."""
        try:
            with self._sessions.begin() as session:
                if schedule.rule_id and not session.get(tables.IssuanceRuleRow, schedule.rule_id):
                    raise NotFound("RULE_NOT_FOUND", f"no rule {schedule.rule_id!r}")
                session.add(
                    tables.ScheduleRow(
                        id=schedule.schedule_id,
                        name=schedule.name,
                        rule_id=schedule.rule_id or None,
                        kind=schedule.kind.value,
                        cron=schedule.cron,
                        time_zone=schedule.time_zone,
                        run_at=schedule.run_at,
                        created_at=schedule.created_at,
                    )
                )
        except IntegrityError:
            if stored := self.schedule(schedule.schedule_id):
                return stored
            raise
        return schedule

    def schedules(self, *, offset: int, limit: int) -> list[Schedule]:
        s = tables.ScheduleRow
        with self._sessions() as session:
            rows = session.scalars(
                select(s).order_by(s.created_at, s.id).offset(offset).limit(limit)
            )
            return [_schedule(r) for r in rows]

    def schedule(self, schedule_id: str) -> Schedule | None:
        with self._sessions() as session:
            row = session.get(tables.ScheduleRow, schedule_id)
            return _schedule(row) if row else None

    def enabled_schedules(self) -> list[Schedule]:
        s = tables.ScheduleRow
        with self._sessions() as session:
            rows = session.scalars(select(s).where(s.disabled_at.is_(None)).order_by(s.id))
            return [_schedule(r) for r in rows]

    def disable_schedule(self, schedule_id: str, now: datetime) -> Schedule | None:
        s = tables.ScheduleRow
        with self._sessions.begin() as session:
            row = session.get(s, schedule_id)
            if row is None:
                return None
            if row.disabled_at is None:
                row.disabled_at = now
            return _schedule(row)

    def collected(self, rule_id: str, limit: int) -> list[CollectedAchievement]:
        a, r = tables.LmsAchievement, tables.IssuanceRuleRow
        query = (
            select(a.id, a.recipient_name, a.recipient_email, r.title, a.completion_date)
            .join(r, r.id == a.rule_id)
            .where(a.status == AchievementStatus.COLLECTED.value)
        )
        if rule_id:
            query = query.where(a.rule_id == rule_id)
        with self._sessions() as session:
            rows = session.execute(query.order_by(a.created_at, a.id).limit(limit)).all()
            return [CollectedAchievement(*row) for row in rows]

    def record_firing(
        self, schedule_id: str, firing: datetime, batch_id: str | None, now: datetime
    ) -> None:
        s = tables.ScheduleRow
        try:
            with self._sessions.begin() as session:
                session.add(
                    tables.ScheduleFiring(
                        schedule_id=schedule_id, firing=firing, batch_id=batch_id, recorded_at=now
                    )
                )
        except IntegrityError:
            pass  # another replica recorded this firing first
        with self._sessions.begin() as session:
            session.execute(
                update(s)
                .where(s.id == schedule_id)
                .where((s.last_firing.is_(None)) | (s.last_firing < firing))
                .values(last_firing=firing)
            )

    def settle_issued(self, batch_id: str, achievements: Sequence[CollectedAchievement]) -> int:
        a, c = tables.LmsAchievement, tables.Certificate
        settled = 0
        with self._sessions.begin() as session:
            # the batch's own certificates in one read by batch (indexed); only an achievement
            # it has none for (an ALREADY_ISSUED row) is looked up across every batch
            mine: dict[tuple[str, str, object], str] = {}
            for row in session.execute(
                select(c.id, c.recipient_email, c.title, c.completion_date)
                .where(c.batch_id == batch_id)
                .order_by(c.created_at)
            ):
                mine.setdefault(
                    (row.recipient_email.lower(), row.title, row.completion_date), row.id
                )
            for item in achievements:
                key = (item.recipient_email.lower(), item.title, item.completion_date)
                certificate_id = mine.get(key) or session.scalar(
                    select(c.id)
                    .where(
                        func.lower(c.recipient_email) == item.recipient_email.lower(),
                        c.title == item.title,
                        c.completion_date == item.completion_date,
                    )
                    # this batch's certificate if it has one, else the earlier one
                    .order_by((c.batch_id == batch_id).desc(), c.created_at)
                    .limit(1)
                )
                if certificate_id is None:
                    continue
                done: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
                    update(a)
                    .where(a.id == item.achievement_id, a.status == AchievementStatus.COLLECTED)
                    .values(
                        status=AchievementStatus.ISSUED.value,
                        certificate_id=certificate_id,
                        updated_at=datetime.now(UTC),
                    )
                )
                settled += done.rowcount
        return settled

    def settle_failed(self, problems: dict[str, str], now: datetime) -> None:
        a = tables.LmsAchievement
        with self._sessions.begin() as session:
            for achievement_id, problem in problems.items():
                session.execute(
                    update(a)
                    .where(a.id == achievement_id, a.status == AchievementStatus.COLLECTED)
                    .values(status=AchievementStatus.FAILED.value, problem=problem, updated_at=now)
                )


class IngestUploads:
    """`schedules.BatchUpload` on ingest's use case and store."""

    def __init__(self, ingest: Ingest, store: SqlIngestStore) -> None:
        self._ingest = ingest
        self._store = store

    def upload_csv(self, data: bytes, *, request_id: str, display_name: str) -> UploadResult:
        return self._ingest.upload_csv(data, request_id=request_id, display_name=display_name)

    def batch_for_request(self, request_id: str) -> str | None:
        return self._store.batch_for_request(request_id)

    def refusals(self, batch_id: str) -> dict[int, str]:
        errors = self._store.row_errors(batch_id, offset=0, limit=MAX_REFUSALS_READ) or []
        out: dict[int, str] = {}
        for e in errors:
            out.setdefault(e.row_number, f"{e.reason}: {e.message}"[:2000])
        return out


def _schedule(row: tables.ScheduleRow) -> Schedule:
    return Schedule(
        schedule_id=row.id,
        name=row.name,
        rule_id=row.rule_id or "",
        kind=ScheduleKind(row.kind),
        cron=row.cron,
        time_zone=row.time_zone,
        run_at=_aware(row.run_at),
        created_at=_aware(row.created_at) or datetime.now(UTC),
        last_firing=_aware(row.last_firing),
        enabled=row.disabled_at is None,
    )


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; every time here is stored in UTC
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
