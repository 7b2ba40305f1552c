"""Delivery windows and per-domain pacing in notify's claim, against a real database (SQLite
and PostgreSQL): times are passed in (`now`), so nothing waits on the wall clock."""

import dataclasses
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.notify import tables as notify_tables
from services.notify.claim_timing import TimingRules
from services.notify.claims import Outcome
from services.notify.delivery_window import BusinessHours
from services.notify.domain_pacing import DomainRates
from services.notify.outcome_policy import (
    Accepted,
    DeliveryState,
    Refused,
    RetryPolicy,
    decide,
)
from services.notify.store import Deliveries
from tests.integration.notify.seeding import recipients, window_of

# Mon 29 June 2026 01:00 UTC: 10:00 Monday in Tokyo, 18:00 Sunday in Los Angeles
T0 = datetime(2026, 6, 29, 1, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
SECOND = timedelta(seconds=1)
RULES = TimingRules(
    business_hours=BusinessHours(frozenset(range(5)), time(9), time(17)),
    default_zone=ZoneInfo("UTC"),
    rates=DomainRates(0, {"gmail.com": 60}),  # one a second to gmail.com, others unpaced
    lookahead=2 * SECOND,
)


@pytest.fixture
def sessions(database_url):
    upgrade(database_url, ["notify"])
    engine = make_engine(database_url, sqlite_writer=True)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(sessions):
    return Deliveries(sessions, message_id_domain="uni.example", timing=RULES)


def anchored(store, emails, *, now=T0, **timing) -> list[str]:
    """Certificates whose content asks for `timing` (time_zone, business_hours, send_time),
    anchored at `now`; their certificate ids."""
    content = [dataclasses.replace(c, **timing) for c in recipients(emails, batch_id="b1")]
    store.store_recipients(content)
    ids = [c.certificate_id for c in content]
    assert store.store_anchored(window_of(ids), now=now).created == len(ids)
    return ids


def rows(sessions) -> dict[str, tuple[str, datetime]]:
    """certificate id -> (state, next_attempt_at in UTC)."""
    with sessions() as session:
        found = session.execute(
            select(
                notify_tables.Delivery.certificate_id,
                notify_tables.Delivery.state,
                notify_tables.Delivery.next_attempt_at,
            )
        )
        return {cid: (state, _utc(at)) for cid, state, at in found}


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def claimed_certificates(store, now) -> list[str]:
    """What a claim at `now` takes, each then recorded sent."""
    claim = store.claim(100, now=now, lease_until=now + LEASE)
    sent = decide(Accepted(), attempts=0, policy=RetryPolicy(), now=now)
    store.record([Outcome(claim.token, d.delivery_id, sent) for d in claim.deliveries], now=now)
    return [d.email.certificate_id for d in claim.deliveries if d.email is not None]


def test_each_recipient_is_due_at_the_opening_of_business_hours_in_their_own_zone(store, sessions):
    [tokyo] = anchored(store, ["ken@uni.example"], time_zone="Asia/Tokyo", business_hours=True)
    [la] = anchored(
        store, ["amy@uni.example"], time_zone="America/Los_Angeles", business_hours=True
    )
    monday_nine_pdt = datetime(2026, 6, 29, 16, 0, tzinfo=UTC)
    assert rows(sessions) == {
        tokyo: (DeliveryState.PENDING, T0),
        la: (DeliveryState.SCHEDULED, monday_nine_pdt),  # waits durably in the database
    }
    assert claimed_certificates(store, T0) == [tokyo]
    assert claimed_certificates(store, monday_nine_pdt - SECOND) == []
    assert claimed_certificates(store, monday_nine_pdt) == [la]


def test_a_send_time_holds_the_email_until_then_and_one_in_the_past_holds_nothing(store, sessions):
    later = T0 + timedelta(hours=5)
    [scheduled] = anchored(store, ["a@uni.example"], send_time=later)
    [past] = anchored(store, ["b@uni.example"], send_time=T0 - timedelta(days=1))
    assert rows(sessions)[scheduled] == (DeliveryState.SCHEDULED, later)
    assert claimed_certificates(store, T0) == [past]
    assert claimed_certificates(store, later) == [scheduled]


def test_a_retry_whose_backoff_ends_after_closing_waits_for_the_next_opening(store, sessions):
    [cid] = anchored(store, ["ken@uni.example"], time_zone="Asia/Tokyo", business_hours=True)
    friday_evening = datetime(2026, 7, 3, 7, 59, tzinfo=UTC)  # Fri 16:59 JST
    claim = store.claim(10, now=friday_evening, lease_until=friday_evening + LEASE)
    [delivery] = claim.deliveries
    refused = decide(
        Refused(451, "try later"),
        attempts=0,
        policy=RetryPolicy(backoff_base=timedelta(minutes=5)),
        now=friday_evening,
    )
    store.record([Outcome(claim.token, delivery.delivery_id, refused)], now=friday_evening)
    retry_due = friday_evening + timedelta(minutes=5)  # Fri 17:04 JST: closed
    assert claimed_certificates(store, retry_due) == []
    monday_nine_jst = datetime(2026, 7, 6, 0, 0, tzinfo=UTC)
    assert rows(sessions)[cid] == (DeliveryState.SCHEDULED, monday_nine_jst)
    assert claimed_certificates(store, monday_nine_jst) == [cid]


def test_a_paced_domain_gets_one_slot_per_spacing_and_the_rest_wait_for_theirs(store, sessions):
    gmail = anchored(store, [f"s{i}@gmail.com" for i in range(6)])
    [other] = anchored(store, ["x@uni.example"])
    claim = store.claim(100, now=T0, lease_until=T0 + LEASE)
    send_at = {d.email.certificate_id: d.send_at for d in claim.deliveries if d.email is not None}
    assert send_at[other] is None  # unpaced: at once
    gmail_slots = sorted(at or T0 for cid, at in send_at.items() if cid != other)
    assert gmail_slots == [T0, T0 + SECOND, T0 + 2 * SECOND]  # within the 2 s lookahead
    waiting = {cid: r for cid, r in rows(sessions).items() if cid in gmail and cid not in send_at}
    assert sorted(waiting.values()) == [
        (DeliveryState.PENDING, T0 + 3 * SECOND),
        (DeliveryState.PENDING, T0 + 4 * SECOND),
        (DeliveryState.PENDING, T0 + 5 * SECOND),
    ]
    # another replica at the same moment finds nothing due: the slots are taken
    replica = Deliveries(sessions, message_id_domain="uni.example", timing=RULES)
    assert replica.claim(100, now=T0, lease_until=T0 + LEASE).deliveries == []
    at_three = replica.claim(100, now=T0 + 3 * SECOND, lease_until=T0 + LEASE)
    assert [d.send_at for d in at_three.deliveries] == [None]  # its slot is now
    at_five = store.claim(100, now=T0 + 5 * SECOND, lease_until=T0 + LEASE)
    assert sorted(d.send_at or T0 + 5 * SECOND for d in at_five.deliveries) == [
        T0 + 5 * SECOND,  # the one due at +4 takes the next free slot, +5
        T0 + 6 * SECOND,
    ]


def test_two_replicas_claiming_at_once_send_each_email_once_and_keep_the_domain_pace(sessions):
    """Two stores (replicas) on one database claim in parallel threads along a simulated
    clock; every claimed delivery is recorded sent. No delivery twice, none missing, and the
    slots granted to gmail.com are never closer than its spacing (0.25 s)."""
    rules = dataclasses.replace(RULES, rates=DomainRates(0, {"gmail.com": 240}), lookahead=SECOND)
    replicas = [Deliveries(sessions, message_id_domain="uni.example", timing=rules) for _ in "ab"]
    gmail = anchored(replicas[0], [f"g{i}@gmail.com" for i in range(60)])
    others = anchored(replicas[0], [f"o{i}@uni.example" for i in range(60)])
    start = threading.Barrier(2)
    sent: list[tuple[str, datetime]] = []  # (certificate id, the slot it was sent at)
    lock = threading.Lock()

    def run(replica: Deliveries) -> None:
        start.wait()
        for step in range(200):  # 0.1 s steps: 20 simulated seconds
            now = T0 + step * timedelta(milliseconds=100)
            claim = replica.claim(7, now=now, lease_until=now + LEASE)
            outcomes = []
            for d in claim.deliveries:
                assert d.email is not None
                with lock:
                    sent.append((d.email.certificate_id, d.send_at or now))
                update = decide(Accepted(), attempts=d.attempts, policy=RetryPolicy(), now=now)
                outcomes.append(Outcome(claim.token, d.delivery_id, update))
            replica.record(outcomes, now=now)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, replicas))
    ids = [cid for cid, _ in sent]
    assert len(ids) == len(set(ids))  # no duplicate
    assert set(ids) == set(gmail) | set(others)  # none missing
    gmail_slots = sorted(at for cid, at in sent if cid in set(gmail))
    gaps = [b - a for a, b in itertools.pairwise(gmail_slots)]
    assert min(gaps) >= timedelta(milliseconds=250)
    assert gmail_slots[-1] - gmail_slots[0] >= 59 * timedelta(milliseconds=250)
