"""notify's outcomes against a real database (SQLite and PostgreSQL): a bounce at send puts the
address on the issuer's suppression list and the next batch to it is SUPPRESSED without being
claimed for sending; a bounce report for a sent delivery is recorded once; the history; a
resend to a corrected address; listing and removing suppression entries."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Table, func, select, text

from certflow.core.errors import Conflict
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import events_pb2
from services.notify import tables
from services.notify.bounces import AddressKeys, BounceAddresses, VerpToken, parse_report
from services.notify.claims import Outcome
from services.notify.outcome_policy import (
    Accepted,
    DeliveryState,
    Refused,
    RetryPolicy,
    decide,
)
from services.notify.outcomes import BounceEffect, Ignored, ResendRequest
from services.notify.store import Deliveries
from tests.integration.notify.seeding import seed_anchored
from tests.integration.notify.test_deliveries import announced
from tests.unit.notify.dsn_samples import postfix_dsn

T0 = datetime.now(UTC) + timedelta(hours=1)  # after the seeded rows are due
LEASE = timedelta(seconds=10)
POLICY = RetryPolicy(max_attempts=2)
VERP = BounceAddresses("bounces@uni.example", b"k" * 32)
_DELIVERIES = cast(Table, tables.Delivery.__table__)
_EVENTS = cast(Table, tables.DeliveryEvent.__table__)
WAITING_ON_LOCKS = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@pytest.fixture
def sessions(database_url):
    upgrade(database_url, ["notify"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(sessions):
    return Deliveries(
        sessions,
        message_id_domain="uni.example",
        keys=AddressKeys(b"k" * 32),
        bounce_addresses=VERP,
    )


def send_all(store, result, now=T0):
    claim = store.claim(50, now=now, lease_until=now + LEASE)
    update = decide(result, attempts=0, policy=POLICY, now=now)
    store.record([Outcome(claim.token, d.delivery_id, update) for d in claim.deliveries], now=now)
    return claim


def test_a_5xx_suppresses_and_the_next_batch_to_that_address_is_not_sent(store, sessions):
    _, first_ids = seed_anchored(store, ["gone@example.org"])
    claim = send_all(store, Refused(550, "5.1.1 no such user"))
    (d,) = claim.deliveries
    assert d.email is not None and d.email.envelope_from == VERP.sender_for(d.delivery_id, 0)
    (entry,) = store.list_suppressions("Example U", offset=0, limit=10)
    assert (entry.address_hint, entry.reason, entry.certificate_id) == (
        "g…@example.org",
        "bounced",
        first_ids[0],
    )
    _, ids = seed_anchored(store, ["GONE@example.org", "here@example.org"])
    claim = store.claim(50, now=T0, lease_until=T0 + LEASE)
    assert [d.email.recipient_email for d in claim.deliveries if d.email] == ["here@example.org"]
    history = store.history(delivery_id="", certificate_id=ids[0])
    assert history is not None and history.delivery.state is DeliveryState.SUPPRESSED
    assert [e.state for e in history.events] == [DeliveryState.QUEUED, DeliveryState.SUPPRESSED]
    suppressed = [
        u for _, updates in announced(sessions) for u in updates if u.certificate_id == ids[0]
    ]
    assert [u.outcome for u in suppressed] == [events_pb2.DELIVERY_OUTCOME_SUPPRESSED]
    # removed from the list: the next email to it goes out
    assert store.delete_suppression("Example U", key="", email="gone@example.org")
    assert not store.delete_suppression("Example U", key=entry.key, email="")
    seed_anchored(store, ["gone@example.org"])
    claim = store.claim(50, now=T0, lease_until=T0 + LEASE)
    assert [d.email.recipient_email for d in claim.deliveries if d.email] == ["gone@example.org"]


def test_a_bounce_report_bounces_a_sent_delivery_once(store, sessions):
    seed_anchored(store, ["ann@example.org"])
    (d,) = send_all(store, Accepted()).deliveries
    report = parse_report(postfix_dsn(recipient="ann@example.org", message_id="<x@y>"))
    token = VerpToken(d.delivery_id, 0)
    effect = store.record_bounce(token, report.recipients, now=T0 + LEASE)
    assert isinstance(effect, BounceEffect) and effect.suppress
    again = store.record_bounce(token, report.recipients, now=T0 + LEASE)
    assert isinstance(again, Ignored) and "duplicate" in again.reason
    history = store.history(delivery_id=d.delivery_id, certificate_id="")
    assert history is not None
    assert [(e.state, e.code) for e in history.events] == [
        (DeliveryState.QUEUED, 0),
        (DeliveryState.SENT, 0),
        (DeliveryState.BOUNCED, 550),
    ]
    outcomes = [u.outcome for _, updates in announced(sessions) for u in updates]
    assert outcomes == [events_pb2.DELIVERY_OUTCOME_SENT, events_pb2.DELIVERY_OUTCOME_BOUNCED]
    assert len(store.list_suppressions("Example U", offset=0, limit=10)) == 1


def test_a_resend_to_a_corrected_address_is_one_new_send(store, sessions):
    _, ids = seed_anchored(store, ["typo@exmaple.org"])
    (d,) = send_all(store, Refused(550, "5.1.1 no such domain")).deliveries
    request = ResendRequest(ids[0], "", "fixed@example.org", "fix-1")
    assert store.resend(request, now=T0) == 1
    assert store.resend(request, now=T0) == 1  # a replay: the same answer, nothing more
    with pytest.raises(Conflict):
        store.resend(ResendRequest(ids[0], "", "other@example.org", "fix-1"), now=T0)
    claim = store.claim(50, now=T0, lease_until=T0 + LEASE)
    (again,) = claim.deliveries
    assert again.email is not None and again.email.recipient_email == "fixed@example.org"
    assert again.email.message_id == f"<{d.delivery_id}.g1@uni.example>"
    assert again.email.envelope_from == VERP.sender_for(d.delivery_id, 1)
    assert store.claim(50, now=T0, lease_until=T0 + LEASE).deliveries == []
    # a late bounce of the first send does not touch the resend
    report = parse_report(postfix_dsn(recipient="typo@exmaple.org", message_id="<x@y>"))
    late = store.record_bounce(VerpToken(d.delivery_id, 0), report.recipients, now=T0)
    assert isinstance(late, Ignored) and "stale" in late.reason
    history = store.history(delivery_id=d.delivery_id, certificate_id="")
    assert history is not None and history.recipient_corrected and history.resend_count == 1
    # a delivery still on its way cannot be resent
    with pytest.raises(Conflict):
        store.resend(ResendRequest(ids[0], "", "", "fix-2"), now=T0)


def test_twin_resends_at_once_on_two_replicas_resend_once_and_answer_alike(
    store, sessions, database_url
):
    """A client retrying a slow ResendDeliveries while the first call still runs (PostgreSQL,
    READ COMMITTED): the twin found no answer yet, waited for the rows and then found them
    queued — INTERNAL (the request id's insert collided) instead of the first call's count."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers at BEGIN: no twin runs at the same time")
    batch_id, _ = seed_anchored(store, ["gone1@example.org", "gone2@example.org"])
    send_all(store, Refused(550, "5.1.1 no such user"))
    replica = Deliveries(sessions, message_id_domain="uni.example", keys=AddressKeys(b"k" * 32))
    request = ResendRequest("", batch_id, "", "twin")
    with sessions.begin() as holder, ThreadPoolExecutor(2) as pool:
        # the deliveries' rows held, so both calls are inside their transactions at once
        holder.execute(
            select(_DELIVERIES.c.id).where(_DELIVERIES.c.batch_id == batch_id).with_for_update()
        )
        calls = [pool.submit(s.resend, request, now=T0) for s in (store, replica)]
        with sessions() as watcher:
            for _ in range(300):
                if watcher.scalar(WAITING_ON_LOCKS) >= 2 or any(c.done() for c in calls):
                    break
                time.sleep(0.05)  # polling PostgreSQL for the two waiting calls
            assert watcher.scalar(WAITING_ON_LOCKS) >= 2, [c.result() for c in calls]
        holder.commit()
        answers = [c.result(timeout=30) for c in calls]
    assert answers == [2, 2]
    with sessions() as session:
        rows = session.execute(
            select(_DELIVERIES.c.state, _DELIVERIES.c.generation).where(
                _DELIVERIES.c.batch_id == batch_id
            )
        ).all()
        queued = session.scalar(
            select(func.count())
            .select_from(_EVENTS)
            .where(_EVENTS.c.state == DeliveryState.QUEUED, _EVENTS.c.detail == "resent")
        )
    assert sorted(tuple(r) for r in rows) == [(DeliveryState.PENDING, 1)] * 2
    assert queued == 2  # one resend each, not two
