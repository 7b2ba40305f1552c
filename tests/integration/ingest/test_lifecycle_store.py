"""The lifecycle's storage against real SQLite and PostgreSQL: ListBatches' SQL state filter
agrees with the pure rule, cancelling writes its announcement with it (once), request_id
reuse, and the error report's refusals paged in line order with their original cells."""

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import IssuerProfile
from certflow.core.errors import Conflict
from certflow.platform.bus import SUBJECT_CANCELLED
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import events_pb2
from services.ingest import tables
from services.ingest.lifecycle import BatchLifecycle, BatchQuery, cancellation_messages
from services.ingest.progress import (
    AnchoredLeaf,
    BatchProgress,
    BatchState,
    DeliveryOutcome,
    DeliveryReport,
    batch_state,
)
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
WINDOW = AnchoredWindowFacts("w1", b"\x01" * 32, 1337, "0x" + "ab" * 20, "0x" + "cd" * 32, 7)
HEADER = "name,email,title,completion_date,note\n"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["ingest"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def rows(prefix: str, count: int) -> str:
    return "".join(f"{prefix}{n},{prefix}{n}@example.edu,BSc,2026-06-30,\n" for n in range(count))


class World:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.store = SqlIngestStore(sessions)
        self.sessions = sessions
        minutes = itertools.count()
        self.ingest = Ingest(
            self.store,
            ISSUER,
            max_rows=5_000,
            clock=lambda: NOW + timedelta(minutes=next(minutes)),
        )
        self.progress = BatchProgress(self.store, clock=lambda: NOW)
        self.lifecycle = BatchLifecycle(self.store, clock=lambda: NOW)

    def upload(self, body: str, request_id: str) -> str:
        result = self.ingest.upload_csv(
            (HEADER + body).encode(), request_id=request_id, display_name=""
        )
        return result.batch.batch_id

    def certificates(self, batch_id: str) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(tables.Certificate.id)
                    .where(tables.Certificate.batch_id == batch_id)
                    .order_by(tables.Certificate.id)
                )
            )


def test_the_sql_state_filter_agrees_with_the_pure_rule(sessions) -> None:
    world = World(sessions)
    # (accepted, anchored, emailed, failed, cancelled) covering every state
    shapes = [
        (0, 0, 0, 0, False),
        (3, 0, 0, 0, False),
        (3, 2, 0, 0, False),
        (3, 3, 0, 0, False),
        (3, 3, 2, 0, False),
        (3, 3, 3, 0, False),
        (3, 3, 2, 1, False),
        (3, 1, 0, 0, True),
        (3, 3, 3, 0, True),
        (3, 3, 1, 0, True),
    ]
    expected: dict[str, BatchState] = {}
    for n, (accepted, anchored, emailed, failed, cancelled) in enumerate(shapes):
        body = rows(f"s{n}x", accepted) if accepted else "X,not-an-email,BSc,2026-06-30,\n"
        batch_id = world.upload(body, f"shape-{n}")
        ids = world.certificates(batch_id)
        world.progress.record_anchored(WINDOW, [AnchoredLeaf(c, b"") for c in ids[:anchored]])
        world.progress.record_deliveries(
            [DeliveryReport(c, DeliveryOutcome.SENT, NOW, 1) for c in ids[:emailed]]
            + [
                DeliveryReport(c, DeliveryOutcome.FAILED, NOW, 1)
                for c in ids[emailed : emailed + failed]
            ]
        )
        if cancelled:
            world.store.cancel_batch(batch_id, NOW, lambda ids: [])
        expected[batch_id] = batch_state(
            accepted=accepted,
            anchored=anchored,
            emailed=emailed,
            email_failed=failed,
            cancelled=cancelled,
        )
    assert set(expected.values()) == set(BatchState) - {BatchState.VALIDATING}
    for state in BatchState:
        listed = world.lifecycle.list_batches(
            BatchQuery(states=frozenset({state})), offset=0, limit=100
        )
        assert {b.batch_id for b in listed} == {i for i, s in expected.items() if s == state}
        assert all(b.state == state for b in listed)


def test_listing_pages_newest_first_within_a_time_range(sessions) -> None:
    world = World(sessions)
    made = [world.upload(rows(f"p{n}x", 1), f"page-{n}") for n in range(5)]
    everything = world.lifecycle.list_batches(BatchQuery(), offset=0, limit=100)
    assert [b.batch_id for b in everything] == made[::-1]
    pages = [
        world.lifecycle.list_batches(BatchQuery(), offset=offset, limit=2) for offset in (0, 2, 4)
    ]
    assert [b.batch_id for page in pages for b in page] == made[::-1]
    window = BatchQuery(
        created_from=everything[3].created_at, created_before=everything[0].created_at
    )
    assert [b.batch_id for b in world.lifecycle.list_batches(window, offset=0, limit=100)] == [
        made[3],
        made[2],
        made[1],
    ]


def test_cancelling_writes_its_announcement_once(sessions) -> None:
    world = World(sessions)
    batch_id = world.upload(rows("c", 4), "cancel-me")
    ids = world.certificates(batch_id)
    world.progress.record_anchored(WINDOW, [AnchoredLeaf(ids[0], b"")])
    world.progress.record_deliveries([DeliveryReport(ids[0], DeliveryOutcome.SENT, NOW, 1)])
    status = world.lifecycle.cancel(batch_id)
    assert (status.state, status.cancelled_count, status.anchored_count) == (
        BatchState.CANCELLED,
        3,
        1,
    )
    assert world.lifecycle.cancel(batch_id).cancelled_at == NOW
    with sessions() as session:
        payloads = session.scalars(
            select(tables.IngestOutbox.payload).where(
                tables.IngestOutbox.subject == SUBJECT_CANCELLED
            )
        ).all()
    (payload,) = payloads
    event = events_pb2.CertificatesCancelledEvent.FromString(payload)
    assert (event.batch_id, list(event.certificate_ids)) == (batch_id, ids[1:])


def test_a_request_id_reused_with_another_file_is_refused(sessions) -> None:
    world = World(sessions)
    first = world.upload(rows("r", 2), "same")
    assert world.upload(rows("r", 2), "same") == first
    with pytest.raises(Conflict) as info:
        world.upload(rows("q", 2), "same")
    assert info.value.reason == "REQUEST_ID_REUSED"
    assert len(world.lifecycle.list_batches(BatchQuery(), offset=0, limit=10)) == 1


def test_refusals_come_in_line_order_with_their_original_cells(sessions) -> None:
    world = World(sessions)
    body = "".join(
        f"=cmd{n},bad-{n},BSc,2026-06-30,note {n}\n"
        if n % 2
        else f"ok{n},ok{n}@x.example,BSc,2026-06-30,\n"
        for n in range(2_101)
    )
    batch_id = world.upload(body, "report")
    assert world.store.report_columns(batch_id) == [
        "name",
        "email",
        "title",
        "completion_date",
        "note",
    ]
    seen, after = [], 0
    while page := world.store.refusals(batch_id, after=after, limit=500):
        seen.extend(page)
        after = page[-1].key
    assert len(seen) == 1_050
    assert [r.error.row_number for r in seen] == sorted(r.error.row_number for r in seen)
    first = seen[0]
    assert (first.error.row_number, first.error.reason) == (3, "INVALID_EMAIL")
    assert first.cells == ("=cmd1", "bad-1", "BSc", "2026-06-30", "note 1")
    assert world.store.report_columns("nope") is None


def test_two_racing_cancellations_announce_once(sessions) -> None:
    world = World(sessions)
    batch_id = world.upload(rows("race", 3), "race")
    barrier = threading.Barrier(2)

    def cancel() -> bool:
        barrier.wait()
        return world.store.cancel_batch(
            batch_id, NOW, lambda ids: cancellation_messages(batch_id, ids)
        )

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(lambda _: cancel(), range(2)))
    assert results == [False, True]
    with sessions() as session:
        announced = session.scalars(
            select(tables.IngestOutbox.msg_id).where(
                tables.IngestOutbox.subject == SUBJECT_CANCELLED
            )
        ).all()
    assert announced == [f"cancelled:{batch_id}:0"]


def test_bounced_and_suppressed_are_final_and_not_emailed(sessions) -> None:
    """notify's bounce processing: a bounce after SENT (newer) moves the certificate from
    emailed to failed; a suppressed one is final too, so the batch completes."""
    world = World(sessions)
    batch_id = world.upload(rows("b", 3), "bounces")
    ids = world.certificates(batch_id)
    world.progress.record_anchored(WINDOW, [AnchoredLeaf(c, b"") for c in ids])
    later = NOW + timedelta(minutes=5)
    world.progress.record_deliveries(
        [DeliveryReport(c, DeliveryOutcome.SENT, NOW, 1) for c in ids[:2]]
        + [DeliveryReport(ids[2], DeliveryOutcome.SUPPRESSED, NOW, 0)]
    )
    status = world.store.batch_status(batch_id)
    assert status is not None and (status.emailed_count, status.email_failed_count) == (2, 1)
    world.progress.record_deliveries([DeliveryReport(ids[0], DeliveryOutcome.BOUNCED, later, 1)])
    status = world.store.batch_status(batch_id)
    assert status is not None and (status.emailed_count, status.email_failed_count) == (1, 2)
    assert (status.bounced_count, status.suppressed_count) == (1, 1)
    (listed,) = [
        b
        for b in world.lifecycle.list_batches(
            BatchQuery(states=frozenset({BatchState.COMPLETED_WITH_FAILURES})), offset=0, limit=10
        )
        if b.batch_id == batch_id
    ]
    assert listed.state is BatchState.COMPLETED_WITH_FAILURES
    assert (listed.bounced_count, listed.suppressed_count) == (1, 1)
