"""Scheduled batches on real SQLite and PostgreSQL: two replicas (two engines, two Ingest
objects, one database) firing the same schedule at once make exactly one batch; a firing
missed while down runs once as a catch-up; the clock is injected."""

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.document import IssuerProfile
from certflow.core.errors import InvalidInput, NotFound
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.ingest import tables
from services.ingest.issuance_rules import IssuanceRule, IssueMode, RuleKind
from services.ingest.lms import AuthKind, LmsIntake, Source
from services.ingest.lms_store import SqlLmsStore
from services.ingest.schedule_store import IngestUploads, SqlScheduleStore
from services.ingest.schedules import Firing, ScheduledBatches
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
COURSE = "https://lms.example/course/101"
START = datetime(2026, 11, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url, ["ingest"])
    return database_url


@pytest.fixture
def sessions(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def replica(url: str, clock: Clock) -> ScheduledBatches:
    """One ingest process's scheduler: its own engine (pool) on the shared database."""
    sessions = make_session_factory(make_engine(url))
    store = SqlIngestStore(sessions)
    ingest = Ingest(store, ISSUER, max_rows=100, clock=clock)
    return ScheduledBatches(
        SqlScheduleStore(sessions), IngestUploads(ingest, store), max_rows=100, clock=clock
    )


def collect(sessions: sessionmaker[Session], *emails: str) -> str:
    """A collected-mode rule (made once) and one completion per email; returns the rule id."""
    lms_store = SqlLmsStore(sessions)
    lms = LmsIntake(
        lms_store, Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10), max_statements=10
    )
    source = lms_store.source_by_name("lrs")
    if source is None:
        source = Source("src-1", "lrs", AuthKind.BEARER, "0" * 64, None, START)
        lms_store.add_source(source, "")
        lms.create_rule(
            IssuanceRule("rule-1", RuleKind.COMPLETED, COURSE, "Course 101", IssueMode.COLLECTED),
            request_id="",
        )
    for email in emails:
        statement = {
            "id": str(uuid.uuid4()),
            "actor": {"mbox": f"mailto:{email}", "name": "Ada Lovelace"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": COURSE},
            "timestamp": "2026-10-30T10:00:00Z",  # before the injected clock's "today"
        }
        lms.receive_statements(source, json.dumps(statement).encode())
    return "rule-1"


def batches(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    b = tables.Batch
    with sessions() as session:
        return [
            (r or "", n)
            for r, n in session.execute(
                select(b.request_id, b.accepted_count).order_by(b.created_at)
            )
        ]


def statuses(sessions: sessionmaker[Session]) -> dict[str, int]:
    a = tables.LmsAchievement
    with sessions() as session:
        rows = session.execute(select(a.status, func.count()).group_by(a.status))
        return {s: n for s, n in rows}


def fire_together(replicas: list[ScheduledBatches]) -> list[list[Firing]]:
    results: list[list[Firing]] = [[] for _ in replicas]
    barrier = threading.Barrier(len(replicas))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = replicas[i].fire_due()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_replicas_make_one_batch_per_firing_and_a_missed_one_catches_up(
    url: str, sessions: sessionmaker[Session]
) -> None:
    clock = Clock()
    a, b = replica(url, clock), replica(url, clock)
    rule_id = collect(sessions, "ada@example.edu", "bob@example.edu", "eve@nowhere.invalid")
    assert statuses(sessions) == {"collected": 3}
    schedule = a.create(name="nightly", rule_id=rule_id, cron="0 2 * * *", time_zone="UTC")
    assert a.fire_due() == [] and batches(sessions) == []  # not due before 02:00

    clock.now = datetime(2026, 11, 2, 2, 0, 30, tzinfo=UTC)
    fire_together([a, b])
    key = f"schedule:{schedule.schedule_id}:20261102T020000Z"
    assert batches(sessions) == [(key, 2)]
    # the valid two are issued (with their certificates), the bad address is failed with why
    assert statuses(sessions) == {"issued": 2, "failed": 1}
    with sessions() as session:
        a_ = tables.LmsAchievement
        problems = session.scalars(select(a_.problem).where(a_.status == "failed")).all()
        ids = session.scalars(select(a_.certificate_id).where(a_.status == "issued")).all()
        in_batch = session.scalars(select(tables.Certificate.id)).all()
    assert len(problems) == 1 and "email" in problems[0].lower()
    assert None not in ids and sorted(map(str, ids)) == sorted(in_batch)

    # both again, later the same day: nothing new
    clock.now += timedelta(hours=5)
    assert fire_together([a, b]) == [[], []]
    assert len(batches(sessions)) == 1

    # down for three days with a new completion: ONE catch-up batch, keyed by the latest firing
    collect(sessions, "cy@example.edu")
    clock.now = datetime(2026, 11, 5, 9, tzinfo=UTC)
    fire_together([a, b])
    assert batches(sessions)[1:] == [(f"schedule:{schedule.schedule_id}:20261105T020000Z", 1)]
    assert statuses(sessions) == {"issued": 3, "failed": 1}
    # a firing with nothing collected makes no batch but is recorded
    clock.now = datetime(2026, 11, 6, 2, 1, tzinfo=UTC)
    (fired,) = a.fire_due()
    assert fired.batch_id is None and len(batches(sessions)) == 2
    assert a.fire_due() == []


def test_a_one_off_time_fires_once_and_a_disabled_schedule_never(
    url: str, sessions: sessionmaker[Session]
) -> None:
    clock = Clock()
    a, b = replica(url, clock), replica(url, clock)
    collect(sessions, "di@example.edu")
    once = a.create(name="graduation", rule_id="", run_at=START + timedelta(hours=1))
    off = a.create(name="off", rule_id="", cron="* * * * *", time_zone="UTC")
    assert a.disable(off.schedule_id).enabled is False
    clock.now = START + timedelta(hours=2)
    fire_together([a, b])
    assert [n for _, n in batches(sessions)] == [1]
    assert batches(sessions)[0][0].startswith(f"schedule:{once.schedule_id}:")
    assert a.fire_due() == [] and b.fire_due() == []


def test_a_twin_create_racing_the_first_gets_the_stored_schedule(
    url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client's retry reaching another replica while the first CreateSchedule is in flight:
    its look-up finds nothing and its insert collides on the id the request_id derives. It was
    an IntegrityError (a 500); it is the stored schedule."""
    clock = Clock()
    a, b = replica(url, clock), replica(url, clock)
    first = a.create(name="nightly", rule_id="", cron="0 2 * * *", time_zone="UTC", request_id="t")
    store = b._store
    looked_up = store.schedule
    misses = iter([None])  # the twin's look-up ran before the first's insert committed
    monkeypatch.setattr(store, "schedule", lambda i: next(misses, looked_up(i)))
    clock.now = START + timedelta(minutes=1)
    twin = b.create(name="nightly", rule_id="", cron="0 2 * * *", time_zone="UTC", request_id="t")
    assert twin == first
    assert [s.schedule_id for s in a.schedules(offset=0, limit=10)] == [first.schedule_id]


def test_a_bad_or_unknown_rule_id_and_a_nul_id_are_refused_not_500s(
    url: str, sessions: sessionmaker[Session]
) -> None:
    """An unknown rule was the foreign key's IntegrityError, a long one PostgreSQL's DataError
    and a NUL in an id its 'cannot contain NUL': 500s. Now clear errors and nothing stored."""
    a = replica(url, Clock())
    with pytest.raises(NotFound, match="no rule"):
        a.create(name="n", rule_id=str(uuid.uuid4()), cron="0 2 * * *", time_zone="UTC")
    for bad in ("r" * 37, "r\x00"):
        with pytest.raises(InvalidInput, match="rule id"):
            a.create(name="n", rule_id=bad, cron="0 2 * * *", time_zone="UTC")
    with pytest.raises(NotFound):
        a.disable("s\x00")
    assert a.schedules(offset=0, limit=10) == []


def test_a_firing_settles_its_batch_s_achievements_in_one_read_of_its_certificates(
    url: str, sessions: sessionmaker[Session]
) -> None:
    """Each achievement looked its certificate up by lower(email), title and date — no index
    serves that, so every one scanned the whole certificates table (10,000 achievements in a
    firing: 10,000 scans). The batch's own certificates are read once, by batch."""
    clock = Clock()
    a = replica(url, clock)
    rule_id = collect(sessions, *(f"p{i}@example.edu" for i in range(30)))
    a.create(name="nightly", rule_id=rule_id, cron="0 2 * * *", time_zone="UTC")
    clock.now = datetime(2026, 11, 2, 2, 0, 30, tzinfo=UTC)
    reads: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM certificates" in statement:
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        (fired,) = a.fire_due()
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert fired.batch_id is not None and fired.achievements == 30
    assert statuses(sessions) == {"issued": 30}
    assert len(reads) <= 3, reads


def test_a_schedule_that_cannot_be_read_does_not_hold_the_others(
    url: str, sessions: sessionmaker[Session]
) -> None:
    """A stored expression this version refuses (or a zone gone from tzdata) raised out of
    fire_due at every tick, and no other schedule ever fired."""
    clock = Clock()
    a = replica(url, clock)
    collect(sessions, "ada@example.edu")
    broken = a.create(name="a-broken", rule_id="", cron="0 1 * * *", time_zone="UTC")
    fine = a.create(name="b-fine", rule_id="", cron="0 2 * * *", time_zone="UTC")
    with sessions.begin() as session:
        row = session.get(tables.ScheduleRow, broken.schedule_id)
        assert row is not None
        row.cron = "MON * * * *"
    clock.now = datetime(2026, 11, 2, 2, 0, 30, tzinfo=UTC)
    (fired,) = a.fire_due()
    assert fired.schedule_id == fine.schedule_id and fired.batch_id is not None
