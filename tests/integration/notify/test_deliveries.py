"""notify's store against a real database (SQLite and PostgreSQL, no other servers): content and
proofs from events, claim, lease, record, release, re-drive, and the outcome events written in
the same transaction."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from certflow.core.document import read_anchor_proof
from certflow.core.merkle import unpack_proof
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import events_pb2
from services.notify import tables as notify_tables
from services.notify.claims import Outcome
from services.notify.outcome_policy import (
    Accepted,
    DeliveryState,
    Refused,
    RelayUnavailable,
    RetryPolicy,
    decide,
)
from services.notify.store import _DELIVERIES, Deliveries, _insert_ignoring_duplicates
from tests.integration.notify.seeding import recipients, seed_anchored, seed_content, window_of

T0 = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)
POLICY = RetryPolicy(max_attempts=2, backoff_base=timedelta(seconds=5))
PENDING, SENDING, SENT, FAILED, BOUNCED = (
    DeliveryState.PENDING,
    DeliveryState.SENDING,
    DeliveryState.SENT,
    DeliveryState.FAILED,
    DeliveryState.BOUNCED,
)


@pytest.fixture
def sessions(database_url):
    upgrade(database_url, ["notify"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def wakes() -> list[int]:
    return []


@pytest.fixture
def store(sessions, wakes):
    return Deliveries(
        sessions, message_id_domain="uni.example", outbox_written=lambda: wakes.append(1)
    )


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


def announced(sessions) -> list[tuple[str, list[events_pb2.DeliveryUpdate]]]:
    """The outbox: (message id, updates) in the order written."""
    with sessions() as session:
        rows = session.execute(
            select(
                notify_tables.NotifyOutbox.subject,
                notify_tables.NotifyOutbox.msg_id,
                notify_tables.NotifyOutbox.payload,
            ).order_by(notify_tables.NotifyOutbox.id)
        )
        found = []
        for subject, msg_id, payload in rows:
            assert subject == "certs.deliveries"
            event = events_pb2.DeliveriesUpdatedEvent.FromString(payload)
            found.append((msg_id, list(event.updates)))
        return found


def make_due(store, n: int) -> tuple[str, list[str]]:
    batch_id, ids = seed_content(store, [f"s{i}@example.org" for i in range(n)])
    assert store.store_anchored(window_of(ids), now=T0).created == n
    return batch_id, ids


# ---- content and proofs from events ----


def test_anchored_certificates_get_their_proof_and_one_delivery_each(store, sessions):
    _, ids = seed_content(store, ["a@example.org", "b@example.org"])
    window = window_of(ids)
    stored = store.store_anchored(window, now=T0)
    assert (stored.created, stored.missing) == (2, ())
    again = store.store_anchored(window, now=T0)  # a redelivered event
    assert (again.created, again.missing) == (0, ())
    assert sorted(states(sessions).values()) == [(PENDING, 0), (PENDING, 0)]
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    for delivery in claim.deliveries:
        email = delivery.email
        assert email is not None and email.issuer_name == "Example U"
        proof = read_anchor_proof(email.document)  # the file alone is verifiable
        assert proof.merkle_root == window.facts.merkle_root
        assert proof.merkle_path == tuple(unpack_proof(window.paths[email.certificate_id]))
        assert proof.chain_id == 31337 and proof.block_number == 7
        assert email.document["id"] == f"urn:uuid:{email.certificate_id}"


def test_certificates_without_content_are_named_and_the_others_stored(store, sessions):
    batch_id, ids = seed_content(store, ["here@example.org"])
    late = recipients(["late@example.org"], batch_id=batch_id)
    window = window_of([*ids, late[0].certificate_id])
    first = store.store_anchored(window, now=T0)
    assert (first.created, first.missing) == (1, (late[0].certificate_id,))
    store.store_recipients(late)  # the other subject catches up
    second = store.store_anchored(window, now=T0)  # the event comes back
    assert (second.created, second.missing) == (1, ())
    assert len(states(sessions)) == 2


def test_recipients_are_upserted_and_a_stored_proof_is_kept(store, sessions):
    content = recipients(["a@example.org"], batch_id="batch-1")
    assert store.store_recipients(content) == 1
    store.store_anchored(window_of([content[0].certificate_id]), now=T0)
    assert store.store_recipients(content + content) == 1  # redelivered, repeated
    with sessions() as session:
        rows = session.scalars(select(notify_tables.NotifyCertificate)).all()
        proofs = session.scalars(select(notify_tables.NotifyProof)).all()
    assert len(rows) == 1 and [p.certificate_id for p in proofs] == [rows[0].certificate_id]
    assert rows[0].completion_date.isoformat() == "2026-06-30"


def test_a_second_window_for_a_certificate_does_not_replace_its_proof(store, sessions):
    _, ids = seed_content(store, ["a@example.org"])
    first = window_of(ids)
    store.store_anchored(first, now=T0)
    assert store.store_anchored(window_of(ids), now=T0).created == 0
    with sessions() as session:
        root = session.scalar(select(notify_tables.NotifyProof.merkle_root))
    assert root == first.facts.merkle_root


def test_storing_an_anchored_window_twice_at_once_creates_each_delivery_once(store, sessions):
    """A redelivered anchored event handled by two replicas at the same moment."""
    _, ids = seed_content(store, [f"r{i}@example.org" for i in range(300)])
    window = window_of(ids)
    start = threading.Barrier(4)

    def create() -> int:
        start.wait()
        return store.store_anchored(window, now=T0).created

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda _: create(), range(4)))
    assert sum(created) == 300
    assert len(states(sessions)) == 300
    assert store.store_anchored(window, now=T0).created == 0


def test_a_row_committed_between_check_and_insert_is_skipped_not_an_error(store, sessions):
    """The race made certain: another writer's row for the same certificate commits while
    store_anchored waits on the unique key (PostgreSQL; SQLite writers take the file lock
    first)."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite writers are serialised by BEGIN IMMEDIATE: no interleaving")
    batch_id, ids = seed_content(store, ["first@example.org", "second@example.org"])
    other = Deliveries(sessions, message_id_domain="other.example")
    row = other._new_delivery(ids[0], batch_id, T0)
    # the pool is left only after the other replica's transaction commits (inner block)
    with ThreadPoolExecutor(1) as pool, sessions.begin() as session:
        new_row = _insert_ignoring_duplicates(session, _DELIVERIES)
        session.connection().execute(new_row, [row])
        racing = pool.submit(store.store_anchored, window_of(ids), now=T0)
        _wait_for_lock_wait(sessions)
    assert racing.result(timeout=30).created == 1
    assert len(states(sessions)) == 2


# ---- claims, leases, outcomes ----


def test_a_claim_takes_due_deliveries_with_what_rendering_needs(store, sessions):
    make_due(store, 3)
    claim = store.claim(2, now=T0, lease_until=T0 + LEASE)
    assert len(claim.deliveries) == 2 and claim.lease_until == T0 + LEASE
    assert all(d.attempts == 0 and d.email is not None for d in claim.deliveries)
    email = claim.deliveries[0].email
    assert email is not None and email.title == "Resilience 101"
    assert email.message_id.endswith("@uni.example>")
    assert sorted(s for s, _ in states(sessions).values()) == [PENDING, SENDING, SENDING]
    assert len(store.claim(5, now=T0, lease_until=T0 + LEASE).deliveries) == 1


def test_a_held_lease_is_not_claimed_again_but_an_expired_one_is(store, sessions):
    make_due(store, 2)
    first = store.claim(10, now=T0, lease_until=T0 + LEASE)
    assert store.claim(10, now=T0 + LEASE - timedelta(seconds=1), lease_until=T0).deliveries == []
    again = store.claim(10, now=T0 + LEASE, lease_until=T0 + 2 * LEASE)  # the holder died
    assert {d.delivery_id for d in again.deliveries} == {d.delivery_id for d in first.deliveries}
    assert again.token != first.token


def test_the_heartbeat_keeps_a_lease_and_reports_what_is_still_held(store, sessions):
    make_due(store, 2)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    held = store.extend(claim.token, lease_until=T0 + 3 * LEASE)
    assert held == {d.delivery_id for d in claim.deliveries}
    assert store.claim(10, now=T0 + 2 * LEASE, lease_until=T0).deliveries == []  # still ours
    # after the lease ran out another sender took them: the old holder holds nothing
    thief = store.claim(10, now=T0 + 3 * LEASE, lease_until=T0 + 4 * LEASE)
    assert len(thief.deliveries) == 2
    assert store.extend(claim.token, lease_until=T0 + 5 * LEASE) == set()


def test_outcomes_are_recorded_only_by_the_claim_that_holds_the_row(store, sessions):
    make_due(store, 1)
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
    make_due(store, 1)
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
    # only the final outcome was announced: a retry or a pause is no news for a batch
    ((_, updates),) = announced(sessions)
    assert [(u.outcome, u.attempts) for u in updates] == [(events_pb2.DELIVERY_OUTCOME_FAILED, 2)]


def test_release_gives_back_untried_deliveries_at_once_without_an_attempt(store, sessions):
    make_due(store, 3)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    ids = [d.delivery_id for d in claim.deliveries]
    assert store.release(claim.token, ids[:2], now=T0) == 2
    assert sorted(states(sessions).values()) == [(PENDING, 0), (PENDING, 0), (SENDING, 0)]
    assert len(store.claim(10, now=T0, lease_until=T0 + LEASE).deliveries) == 2


# ---- outcome events, written with the outcomes ----


def test_recorded_outcomes_are_announced_in_the_same_write_once(store, sessions, wakes):
    batch_id, ids = make_due(store, 3)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    sent = decide(Accepted(), attempts=0, policy=POLICY, now=T0)
    refused = decide(Refused(550, "no such user"), attempts=0, policy=POLICY, now=T0)
    greylisted = decide(Refused(451, "later"), attempts=0, policy=POLICY, now=T0)
    first, second, third = claim.deliveries
    outcomes = [
        Outcome(claim.token, first.delivery_id, sent),
        Outcome(claim.token, second.delivery_id, refused),
        Outcome(claim.token, third.delivery_id, greylisted),
    ]
    assert store.record(outcomes, now=T0) == 3
    ((msg_id, updates),) = announced(sessions)
    assert msg_id == f"deliveries:{claim.token}:{first.delivery_id}"
    assert wakes == [1]
    by_certificate = {u.certificate_id: u for u in updates}
    assert set(by_certificate) <= set(ids) and len(updates) == 2  # the retry is not news
    assert {(u.outcome, u.attempts, u.batch_id) for u in updates} == {
        (events_pb2.DELIVERY_OUTCOME_SENT, 1, batch_id),
        (events_pb2.DELIVERY_OUTCOME_BOUNCED, 1, batch_id),
    }
    assert all(u.update_time.ToDatetime(tzinfo=UTC) == T0 for u in updates)
    # the same write again (a retry after an unclear commit) stores and announces nothing
    assert store.record(outcomes, now=T0) == 0
    assert len(announced(sessions)) == 1 and wakes == [1]


def test_a_write_of_retries_only_announces_nothing(store, sessions, wakes):
    make_due(store, 1)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    (d,) = claim.deliveries
    later = decide(Refused(451, "later"), attempts=0, policy=POLICY, now=T0)
    assert store.record([Outcome(claim.token, d.delivery_id, later)], now=T0) == 1
    assert announced(sessions) == [] and wakes == []


# ---- the operator's re-drive ----


def fail_all(store, sessions) -> None:
    now = datetime.now(UTC)
    claim = store.claim(10, now=now, lease_until=now + LEASE)
    # a policy refusal (5.7.1): bounced, the address not suppressed, so a re-drive sends again
    refused = decide(Refused(550, "5.7.1 no"), attempts=0, policy=POLICY, now=T0)
    store.record([Outcome(claim.token, d.delivery_id, refused) for d in claim.deliveries], now=T0)


def test_re_drive_requeues_failed_deliveries_once_per_request_id(store, sessions):
    batch_id, _ = seed_anchored(store, [f"f{i}@example.org" for i in range(3)])
    now = datetime.now(UTC)
    claim = store.claim(10, now=now, lease_until=now + LEASE)
    refused = decide(Refused(550, "5.7.1 policy"), attempts=0, policy=POLICY, now=T0)
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
    # one announcement of the outcomes, one of the re-drive; the replay announced nothing
    (_, outcome_updates), (redrive_id, requeued) = announced(sessions)
    assert redrive_id.startswith("deliveries:redrive:")
    assert {u.outcome for u in requeued} == {events_pb2.DELIVERY_OUTCOME_REQUEUED}
    failed = {
        u.certificate_id
        for u in outcome_updates
        if u.outcome == events_pb2.DELIVERY_OUTCOME_BOUNCED
    }
    assert {u.certificate_id for u in requeued} == failed and len(failed) == 2
    assert all(u.attempts == 0 and u.batch_id == batch_id for u in requeued)


def test_a_replayed_re_drive_answers_its_first_count_even_after_a_later_one(store, sessions):
    batch_id, _ = seed_anchored(store, [f"g{i}@example.org" for i in range(2)])
    fail_all(store, sessions)
    assert store.retry_failed(batch_id, "first", now=T0) == 2
    fail_all(store, sessions)
    assert store.retry_failed(batch_id, "second", now=T0) == 2
    fail_all(store, sessions)
    assert store.retry_failed(batch_id, "first", now=T0) == 2  # the replay re-queues nothing
    assert sorted(states(sessions).values()) == [(BOUNCED, 1), (BOUNCED, 1)]
    assert store.retry_failed(batch_id, "", now=T0) == 2  # no request id: no idempotence
    ids = [msg_id for msg_id, _ in announced(sessions)]
    assert len(ids) == len(set(ids)) == 3 + 3  # three failures, three re-drives, all distinct


def test_a_batchs_deliveries_are_listed_in_pages(store, sessions):
    batch_id, ids = seed_anchored(store, [f"l{i}@example.org" for i in range(5)])
    seed_anchored(store, ["other@example.org"])
    first = store.list_for_batch(batch_id, offset=0, limit=3)
    rest = store.list_for_batch(batch_id, offset=3, limit=3)
    assert len(first) == 3 and len(rest) == 2
    assert {v.certificate_id for v in first + rest} == set(ids)
    assert all(v.state is PENDING and v.sent_at is None for v in first + rest)


def _wait_for_lock_wait(sessions) -> None:
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
