"""Claim, lease, record, release and re-drive rules against a real database (no other servers)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.ingest import tables as ingest_tables
from services.notify import tables as notify_tables
from services.notify.deliveries import Deliveries, Outcome, _insert_new
from services.notify.outcome_policy import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    Accepted,
    Refused,
    RelayUnavailable,
    RetryPolicy,
    decide,
)
from tests.unit.notify.seeding import seed_anchored

T0 = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)
POLICY = RetryPolicy(max_attempts=2, backoff_base=timedelta(seconds=5))


@pytest.fixture
def sessions(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(sessions):
    return Deliveries(sessions, message_id_domain="uni.example")


def states(sessions) -> dict[str, tuple[str, int]]:
    with sessions() as session:
        rows = session.execute(
            select(
                notify_tables.Delivery.id,
                notify_tables.Delivery.state,
                notify_tables.Delivery.attempts,
            )
        )
        return {delivery_id: (state, attempts) for delivery_id, state, attempts in rows}


def make_due(store, sessions, n: int) -> None:
    _, ids = seed_anchored(sessions, [f"s{i}@example.org" for i in range(n)])
    assert store.create(ids) == n
    with sessions.begin() as session:  # created "now"; make them due at T0
        session.execute(notify_tables.Delivery.__table__.update().values(next_attempt_at=T0))


def test_a_claim_takes_due_deliveries_with_what_rendering_needs(store, sessions):
    make_due(store, sessions, 3)
    claim = store.claim(2, now=T0, lease_until=T0 + LEASE)
    assert len(claim.deliveries) == 2 and claim.lease_until == T0 + LEASE
    assert all(d.attempts == 0 and d.email is not None for d in claim.deliveries)
    assert claim.deliveries[0].email.title == "Resilience 101"
    assert sorted(s for s, _ in states(sessions).values()) == [PENDING, SENDING, SENDING]
    assert store.claim(5, now=T0, lease_until=T0 + LEASE).deliveries.__len__() == 1


def test_a_held_lease_is_not_claimed_again_but_an_expired_one_is(store, sessions):
    make_due(store, sessions, 2)
    first = store.claim(10, now=T0, lease_until=T0 + LEASE)
    assert store.claim(10, now=T0 + LEASE - timedelta(seconds=1), lease_until=T0).deliveries == []
    again = store.claim(10, now=T0 + LEASE, lease_until=T0 + 2 * LEASE)  # the holder died
    assert {d.delivery_id for d in again.deliveries} == {d.delivery_id for d in first.deliveries}
    assert again.token != first.token


def test_the_heartbeat_keeps_a_lease_and_reports_what_is_still_held(store, sessions):
    make_due(store, sessions, 2)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    held = store.extend(claim.token, lease_until=T0 + 3 * LEASE)
    assert held == {d.delivery_id for d in claim.deliveries}
    assert store.claim(10, now=T0 + 2 * LEASE, lease_until=T0).deliveries == []  # still ours
    # after the lease ran out another sender took them: the old holder holds nothing
    thief = store.claim(10, now=T0 + 3 * LEASE, lease_until=T0 + 4 * LEASE)
    assert len(thief.deliveries) == 2
    assert store.extend(claim.token, lease_until=T0 + 5 * LEASE) == set()


def test_outcomes_are_recorded_only_by_the_claim_that_holds_the_row(store, sessions):
    make_due(store, sessions, 1)
    stale = store.claim(10, now=T0, lease_until=T0 + LEASE)
    current = store.claim(10, now=T0 + LEASE, lease_until=T0 + 2 * LEASE)
    delivery_id = current.deliveries[0].delivery_id
    sent = decide(Accepted(), attempts=0, policy=POLICY, now=T0)
    assert store.record([Outcome(stale.token, delivery_id, sent)], now=T0) == 0
    assert states(sessions)[delivery_id] == (SENDING, 0)
    assert store.record([Outcome(current.token, delivery_id, sent)], now=T0) == 1
    assert states(sessions)[delivery_id] == (SENT, 1)
    assert store.record([Outcome(current.token, delivery_id, sent)], now=T0) == 0  # once only


def test_attempts_count_only_relay_judgements_and_retries_wait_their_backoff(store, sessions):
    make_due(store, sessions, 1)
    now = T0
    for _ in range(5):  # an outage: five claims, no attempt spent
        claim = store.claim(1, now=now, lease_until=now + LEASE)
        (d,) = claim.deliveries
        update = decide(RelayUnavailable("refused"), attempts=d.attempts, policy=POLICY, now=now)
        store.record([Outcome(claim.token, d.delivery_id, update)], now=now)
    assert states(sessions)[d.delivery_id] == (PENDING, 0)
    claim = store.claim(1, now=now, lease_until=now + LEASE)
    update = decide(Refused(451, "later"), attempts=0, policy=POLICY, now=now)
    store.record([Outcome(claim.token, d.delivery_id, update)], now=now)
    assert states(sessions)[d.delivery_id] == (PENDING, 1)
    assert store.claim(1, now=now + timedelta(seconds=4), lease_until=now).deliveries == []
    claim = store.claim(1, now=now + timedelta(seconds=5), lease_until=now + LEASE)
    update = decide(Refused(451, "later"), attempts=1, policy=POLICY, now=now)
    store.record([Outcome(claim.token, d.delivery_id, update)], now=now)
    assert states(sessions)[d.delivery_id] == (FAILED, 2)  # budget of 2 spent by the relay


def test_release_gives_back_untried_deliveries_at_once_without_an_attempt(store, sessions):
    make_due(store, sessions, 3)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    ids = [d.delivery_id for d in claim.deliveries]
    assert store.release(claim.token, ids[:2], now=T0) == 2
    assert sorted(states(sessions).values()) == [(PENDING, 0), (PENDING, 0), (SENDING, 0)]
    assert len(store.claim(10, now=T0, lease_until=T0 + LEASE).deliveries) == 2


def test_re_drive_requeues_failed_deliveries_once_per_request_id(store, sessions):
    batch_id, ids = seed_anchored(sessions, [f"f{i}@example.org" for i in range(3)])
    store.create(ids)
    claim = store.claim(10, now=datetime.now(UTC), lease_until=datetime.now(UTC) + LEASE)
    refused = decide(Refused(550, "no such user"), attempts=0, policy=POLICY, now=T0)
    sent = decide(Accepted(), attempts=0, policy=POLICY, now=T0)
    outcomes = [Outcome(claim.token, d.delivery_id, refused) for d in claim.deliveries[:2]]
    outcomes.append(Outcome(claim.token, claim.deliveries[2].delivery_id, sent))
    store.record(outcomes, now=T0)
    assert store.retry_failed(batch_id, "redrive-1", now=T0) == 2
    assert sorted(states(sessions).values()) == [(PENDING, 0), (PENDING, 0), (SENT, 1)]
    assert store.retry_failed(batch_id, "redrive-1", now=T0) == 2  # same request, same answer
    assert sorted(states(sessions).values()) == [(PENDING, 0), (PENDING, 0), (SENT, 1)]
    assert store.retry_failed("another-batch", "redrive-2", now=T0) == 0
    again = store.claim(10, now=T0, lease_until=T0 + LEASE)
    assert len(again.deliveries) == 2 and all(d.attempts == 0 for d in again.deliveries)


def test_creating_deliveries_twice_at_once_creates_each_once(store, sessions):
    """A redelivered anchored event handled by two replicas at the same moment."""
    _, ids = seed_anchored(sessions, [f"r{i}@example.org" for i in range(300)])
    start = threading.Barrier(4)

    def create() -> int:
        start.wait()
        return store.create(ids)

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda _: create(), range(4)))
    assert sum(created) == 300
    assert len(states(sessions)) == 300
    assert store.create(ids) == 0


def test_a_row_committed_between_check_and_insert_is_skipped_not_an_error(store, sessions):
    """The race made certain: another writer's row for the same certificate commits while
    create waits on the unique key (PostgreSQL; SQLite writers take the file lock first)."""
    _, ids = seed_anchored(sessions, ["first@example.org", "second@example.org"])
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite writers are serialised by BEGIN IMMEDIATE: no interleaving")
    other = Deliveries(sessions, message_id_domain="other.example")
    row = other._new_row(ids[0], _batch_of(sessions), T0)
    # the pool is left only after the other replica's transaction commits (inner block)
    with ThreadPoolExecutor(1) as pool, sessions.begin() as session:
        session.execute(_insert_new(session, [row]))  # uncommitted, holds the unique key
        racing = pool.submit(store.create, ids)
        _wait_for_lock_wait(sessions)
    assert racing.result(timeout=30) == 1
    assert len(states(sessions)) == 2


def test_a_replayed_re_drive_answers_its_first_count_even_after_a_later_one(store, sessions):
    batch_id, ids = seed_anchored(sessions, [f"g{i}@example.org" for i in range(2)])
    store.create(ids)

    def fail_all() -> None:
        claim = store.claim(10, now=datetime.now(UTC), lease_until=datetime.now(UTC) + LEASE)
        refused = decide(Refused(550, "no"), attempts=0, policy=POLICY, now=T0)
        store.record(
            [Outcome(claim.token, d.delivery_id, refused) for d in claim.deliveries], now=T0
        )

    fail_all()
    assert store.retry_failed(batch_id, "first", now=T0) == 2
    fail_all()
    assert store.retry_failed(batch_id, "second", now=T0) == 2
    fail_all()
    assert store.retry_failed(batch_id, "first", now=T0) == 2  # the replay re-queues nothing
    assert sorted(states(sessions).values()) == [(FAILED, 1), (FAILED, 1)]
    assert store.retry_failed(batch_id, "", now=T0) == 2  # no request id: no idempotence


def _batch_of(sessions) -> str:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalars(select(ingest_tables.Certificate.batch_id)).first()


def _wait_for_lock_wait(sessions) -> None:  # type: ignore[no-untyped-def]
    """Until another connection waits on a row lock (the racing insert hit our unique key)."""
    deadline = time.monotonic() + 30
    with sessions.kw["bind"].connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).scalar()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise TimeoutError("the racing create never waited on the unique key")
