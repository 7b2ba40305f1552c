"""The transactional outbox relay against a real nats-server and a real database: committed rows
go out once, in order, with their message ids and trace headers; a crash between publishing and
marking re-publishes under the same id, and JetStream keeps one copy; ingest's references go out
rendered."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform import bus
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.platform.outbox import OutboxRelay
from certflow.v1 import events_pb2
from services.ingest.bootstrap import build
from services.ingest.settings import IngestSettings
from services.ingest.store import SqlIngestStore
from services.ingest.tables import Certificate, IngestOutbox


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["ingest"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def commit_rows(sessions: sessionmaker[Session], count: int) -> None:
    traceparent = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    with sessions.begin() as session:
        session.execute(
            insert(IngestOutbox),
            [
                {
                    "subject": bus.SUBJECT_ISSUED,
                    "msg_id": f"issued:test:{n}",
                    "payload": f"payload {n}".encode(),
                    "trace_context": json.dumps(traceparent),
                    "created_at": datetime.now(UTC),
                }
                for n in range(count)
            ],
        )


def unpublished(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        rows = session.scalars(select(IngestOutbox.id).where(IngestOutbox.published_at.is_(None)))
        return len(list(rows))


async def stream_messages(js: JetStreamContext) -> list[tuple[str, bytes, dict[str, str]]]:
    info = await js.stream_info(bus.STREAM)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(bus.STREAM, sequence)
        found.append((message.subject or "", message.data or b"", dict(message.headers or {})))
    return found


async def test_committed_rows_go_out_once_in_order_with_ids_and_trace_headers(
    js: JetStreamContext, sessions: sessionmaker[Session]
) -> None:
    commit_rows(sessions, 5)
    relay = OutboxRelay(sessions, IngestOutbox, js, batch_size=3)
    assert await relay.publish_pending() == 3  # a full batch: the loop goes again at once
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0  # marked: nothing goes out twice
    assert unpublished(sessions) == 0
    messages = await stream_messages(js)
    assert [data for _, data, _ in messages] == [f"payload {n}".encode() for n in range(5)]
    assert all(subject == bus.SUBJECT_ISSUED for subject, _, _ in messages)
    assert [headers["Nats-Msg-Id"] for _, _, headers in messages] == [
        f"issued:test:{n}" for n in range(5)
    ]
    assert all(headers["traceparent"].startswith("00-aaaa") for _, _, headers in messages)


async def test_a_crash_between_publishing_and_marking_republishes_under_the_same_id(
    js: JetStreamContext, sessions: sessionmaker[Session]
) -> None:
    commit_rows(sessions, 4)
    relay = OutboxRelay(sessions, IngestOutbox, js)
    assert await relay.publish_pending() == 4
    with sessions.begin() as session:  # as if the process died before the mark committed
        session.execute(update(IngestOutbox).values(published_at=None))
    assert await relay.publish_pending() == 4
    assert unpublished(sessions) == 0
    assert len(await stream_messages(js)) == 4  # JetStream dropped the repeats by message id


async def test_an_upload_s_references_go_out_as_the_events_they_announce(
    js: JetStreamContext, sessions: sessionmaker[Session]
) -> None:
    """ingest stores a reference per message in the upload's transaction; the relay renders
    the event from the certificate rows committed with it."""
    store = SqlIngestStore(sessions)
    ingest = build(IngestSettings(leaves_per_message=2), store).ingest
    csv = b"name,email,title,completion_date\n" + b"".join(
        f"Zoë {n},zoe{n}@example.org,Course,2026-06-30\n".encode() for n in range(5)
    )
    result = ingest.upload_csv(csv, request_id="r1", display_name="June")
    assert result.batch.accepted_count == 5
    with sessions() as session:
        stored = session.execute(select(IngestOutbox.payload)).scalars().all()
        documents = dict(session.execute(select(Certificate.id, Certificate.document)).all())
    assert all(b"zoe" not in payload for payload in stored)  # references, not credentials
    relay = OutboxRelay(sessions, IngestOutbox, js, render=store.render_outbox_payload)
    assert await relay.publish_pending() == 9
    messages = await stream_messages(js)
    subjects = [subject for subject, _, _ in messages]
    assert (
        subjects
        == [bus.SUBJECT_LEAVES] * 3 + [bus.SUBJECT_ISSUED] * 3 + [bus.SUBJECT_RECIPIENTS] * 3
    )
    bare = [
        leaf
        for _, data, _ in messages[:3]
        for leaf in events_pb2.CertificatesIssuedEvent.FromString(data).leaves
    ]
    assert all(leaf.leaf_hash and not leaf.document for leaf in bare)
    leaves = [
        leaf
        for _, data, _ in messages[3:6]
        for leaf in events_pb2.CertificatesIssuedEvent.FromString(data).leaves
    ]
    assert {leaf.certificate_id: leaf.document for leaf in leaves} == documents
    recipients = [
        r
        for _, data, _ in messages[6:]
        for r in events_pb2.CertificateRecipientsEvent.FromString(data).recipients
    ]
    assert [r.certificate_id for r in recipients] == [leaf.certificate_id for leaf in leaves]
    assert [leaf.certificate_id for leaf in bare] == [leaf.certificate_id for leaf in leaves]
    assert sorted(r.recipient_email for r in recipients) == [
        f"zoe{n}@example.org" for n in range(5)
    ]
    assert {r.recipient_name for r in recipients} == {f"Zoë {n}" for n in range(5)}
