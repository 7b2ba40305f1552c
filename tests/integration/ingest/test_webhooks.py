"""Outbound webhooks against real SQLite/PostgreSQL and a real HTTP receiver (aiohttp on
127.0.0.1): deliveries are written with the facts (an upload, an anchoring, email outcomes),
signed as Standard Webhooks says and verified by the receiver; a 500 is retried and the
delivery arrives once by webhook-id; a receiver that is down is retried later; a given-up
delivery is replayed with the same id; an endpoint failing for long is disabled."""

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import IssuerProfile
from certflow.core.errors import InvalidInput, NotFound
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import certificate_pb2, events_pb2
from services.ingest import tables
from services.ingest.progress import AnchoredLeaf, DeliveryOutcome, DeliveryReport
from services.ingest.revocation_webhooks import RevocationWebhooks, parse_revoked
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest
from services.ingest.webhook_dispatcher import WebhookDispatcher
from services.ingest.webhook_endpoints import WebhookEndpoints
from services.ingest.webhook_store import SqlWebhookStore, enqueue_completed_batches
from services.ingest.webhooks import DeliveryState, RetryPolicy, verify

ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
CSV = (
    b"name,email,title,completion_date\r\n"
    b"Ada Lovelace,ada@example.edu,BSc,2026-06-10\r\n"
    b"Bob Byron,bob@example.edu,BSc,2026-06-10\r\n"
    b"Bad Row,not-an-email,BSc,2026-06-10\r\n"
)
# short settings: retries after 50 ms, x2, given up after 1 s; disabled after 2 s failing
FAST = RetryPolicy(
    timedelta(milliseconds=50),
    2,
    timedelta(milliseconds=200),
    timedelta(seconds=1),
    timedelta(seconds=2),
)


@dataclass
class Receiver:
    """A webhook receiver that verifies each request as the docs tell registrars to."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)  # status codes to answer, then 200
    seen: list[str] = field(default_factory=list)  # webhook-ids of every request
    accepted: dict[str, dict[str, object]] = field(default_factory=dict)  # by webhook-id
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        message_id = request.headers["webhook-id"]
        self.seen.append(message_id)
        if not verify(
            self.secret,
            message_id,
            request.headers["webhook-timestamp"],
            body,
            request.headers["webhook-signature"],
            now=int(time.time()),
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.answers:
            return web.Response(status=self.answers.pop(0), text="x" * 5000)
        self.accepted.setdefault(message_id, json.loads(body))  # dedupe on webhook-id
        return web.Response(status=200, text="ok")

    def events(self) -> list[str]:
        return sorted(str(e["type"]) for e in self.accepted.values())


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["ingest"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, web.AppRunner, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield found, runner, f"http://127.0.0.1:{port}/hooks"
    await runner.cleanup()


async def drain(dispatcher: WebhookDispatcher, until: float = 5.0) -> None:
    """Rounds until nothing is due for a while (short real waits: the policy's delays)."""
    deadline = time.monotonic() + until
    idle = 0
    while time.monotonic() < deadline and idle < 8:
        idle = 0 if await dispatcher.run_once() else idle + 1
        await asyncio.sleep(0.05)


def facts(window: str) -> AnchoredWindowFacts:
    return AnchoredWindowFacts(window, b"\x01" * 32, 31337, "0x" + "ab" * 20, "0x" + "cd" * 32, 7)


async def test_a_batch_s_events_arrive_signed_once_each_after_a_500(
    sessions: sessionmaker[Session], receiver: tuple[Receiver, web.AppRunner, str]
) -> None:
    found, _, url = receiver
    hooks = SqlWebhookStore(sessions)
    endpoints = WebhookEndpoints(hooks, allow_http_loopback=True)
    endpoint, found.secret = endpoints.create(url, [], description="registrar")
    assert found.secret.startswith("whsec_")
    dispatcher = WebhookDispatcher(hooks, policy=FAST, allow_http_loopback=True)

    store = SqlIngestStore(sessions)
    ingest = Ingest(store, ISSUER, max_rows=10)
    batch_id = ingest.upload_csv(CSV, request_id="r1", display_name="June").batch.batch_id
    ids = _certificates(sessions, batch_id)
    assert len(ids) == 2
    found.answers = [500]  # the first request fails: retried, then accepted once
    await drain(dispatcher)
    assert found.events() == ["certificate.issued"]
    (issued,) = found.accepted.values()
    assert issued["data"] == {
        "batch_id": batch_id,
        "certificates": [{"certificate_id": i} for i in ids],
    }
    assert len(found.seen) == 2 and found.seen[0] == found.seen[1]  # same webhook-id retried
    (log,) = endpoints.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert (log.state, log.attempts, log.response_code) == (DeliveryState.DELIVERED, 2, 200)

    # anchored (twice: a replayed NATS event), then both emails: delivered + bounced
    leaves = [AnchoredLeaf(i, b"") for i in ids]
    store.store_anchorings(facts("w1"), leaves, datetime.now(UTC))
    store.store_anchorings(facts("w1"), leaves, datetime.now(UTC))
    now = datetime.now(UTC)
    store.store_deliveries([DeliveryReport(ids[0], DeliveryOutcome.SENT, now, 1)])
    await drain(dispatcher)
    assert "batch.completed" not in found.events()  # one email still pending
    store.store_deliveries([DeliveryReport(ids[1], DeliveryOutcome.BOUNCED, now, 1)])
    store.store_deliveries([DeliveryReport(ids[1], DeliveryOutcome.BOUNCED, now, 1)])
    await drain(dispatcher)
    assert found.bad_signatures == 0
    assert found.events() == [
        "batch.completed",
        "certificate.anchored",
        "certificate.bounced",
        "certificate.delivered",
        "certificate.issued",
    ]
    by_type = {e["type"]: e["data"] for e in found.accepted.values()}
    assert by_type["certificate.anchored"]["transaction_hash"] == "0x" + "cd" * 32  # type: ignore[index]
    summary = by_type["batch.completed"]
    assert summary == {
        "batch_id": batch_id,
        "display_name": "June",
        "state": "completed_with_failures",
        "issued": 2,
        "refused": 1,
        "anchored": 2,
        "delivered": 1,
        "bounced": 1,
        "email_failed": 1,
        "suppressed": 0,
        "pending": 0,
        "error_report": f"batches/{batch_id}/rowErrors",
    }
    assert len(found.seen) == 6  # 5 events, one retry: nothing sent twice once accepted
    await dispatcher.close()


async def test_down_receiver_is_retried_given_up_replayed_and_finally_disabled(
    sessions: sessionmaker[Session], receiver: tuple[Receiver, web.AppRunner, str]
) -> None:
    found, runner, url = receiver
    hooks = SqlWebhookStore(sessions)
    endpoints = WebhookEndpoints(hooks, allow_http_loopback=True)
    endpoint, found.secret = endpoints.create(url, ["certificate.issued"])
    dispatcher = WebhookDispatcher(hooks, policy=FAST, allow_http_loopback=True)
    ingest = Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10)
    ingest.upload_csv(CSV, request_id="r2", display_name="June")

    found.answers = [503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503]
    await drain(dispatcher, until=3)
    (log,) = endpoints.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    # retried with backoff until given up (a day; 1 s here), each attempt logged
    assert log.state is DeliveryState.FAILED and 3 <= log.attempts <= 8
    assert log.response_code == 503 and len(log.response_excerpt) == 200
    assert found.accepted == {}

    # the receiver is fixed: replay sends the same webhook-id again
    found.answers = []
    assert endpoints.replay(endpoint.endpoint_id) == 1
    await drain(dispatcher)
    assert list(found.accepted) == [log.delivery_id]
    assert endpoints.replay(endpoint.endpoint_id) == 0  # nothing failed any more

    # down (connection refused) for longer than the disable threshold (0.5 s here, retries
    # for 3 s): disabled, with why, and nothing more is sent to it
    await runner.cleanup()
    ingest.upload_csv(CSV.replace(b"ada@", b"cy@"), request_id="r3", display_name="July")
    disabling = WebhookDispatcher(
        hooks,
        policy=RetryPolicy(
            timedelta(milliseconds=50),
            2,
            timedelta(milliseconds=200),
            timedelta(seconds=3),
            timedelta(seconds=0.5),
        ),
        allow_http_loopback=True,
    )
    await drain(disabling, until=5)
    (disabled,) = endpoints.endpoints(offset=0, limit=10)
    assert not disabled.enabled and "every delivery failed since" in disabled.disabled_reason
    assert "ClientConnectorError" in disabled.disabled_reason
    assert await disabling.run_once() == 0  # a disabled endpoint's deliveries are not claimed
    await dispatcher.close()
    await disabling.close()


async def test_a_lapsed_lease_s_late_answer_does_not_undo_the_next_sender_s(
    sessions: sessionmaker[Session],
) -> None:
    """Two replicas: A's lease lapses mid-send, B claims the delivery and it is delivered; A's
    failure, recorded after, must not make it pending again (it would be sent a third time and
    its delivered state lost) nor count against the endpoint."""
    hooks = SqlWebhookStore(sessions)
    endpoint, _ = WebhookEndpoints(hooks, allow_http_loopback=True).create(
        "http://127.0.0.1:9/hooks", ["certificate.issued"]
    )
    Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10).upload_csv(
        CSV, request_id="r5", display_name="x"
    )
    t0 = datetime.now(UTC) + timedelta(seconds=1)
    (a,) = hooks.claim_due(t0, timedelta(seconds=30), 10)
    assert hooks.claim_due(t0 + timedelta(seconds=1), timedelta(seconds=30), 10) == []
    (b,) = hooks.claim_due(t0 + timedelta(seconds=31), timedelta(seconds=30), 10)
    assert b.delivery.delivery_id == a.delivery.delivery_id
    later = t0 + timedelta(seconds=32)
    assert hooks.record_attempt(
        b,
        delivered=True,
        next_attempt_at=None,
        response_code=200,
        error="",
        excerpt="ok",
        now=later,
    )
    assert not hooks.record_attempt(
        a,
        delivered=False,
        next_attempt_at=later + timedelta(minutes=1),
        response_code=None,
        error="TimeoutError",
        excerpt="",
        now=later,
    )
    (log,) = hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert (log.state, log.attempts, log.response_code) == (DeliveryState.DELIVERED, 1, 200)
    assert hooks.failing_since(endpoint.endpoint_id) is None


async def test_addresses_are_checked_at_send_time(sessions: sessionmaker[Session]) -> None:
    """An endpoint created while http/loopback was allowed, sent by a dispatcher that does not
    allow it (production), is refused at send time without a connection."""
    hooks = SqlWebhookStore(sessions)
    endpoint, _ = WebhookEndpoints(hooks, allow_http_loopback=True).create(
        "http://127.0.0.1:9/hooks", []
    )
    Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10).upload_csv(
        CSV, request_id="r4", display_name="x"
    )
    production = WebhookDispatcher(hooks, policy=FAST)
    assert await production.run_once() == 1
    await production.close()
    (log,) = hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert log.response_code is None and log.last_error.startswith("refused: an https:// URL")


async def test_a_name_resolving_to_loopback_is_refused_before_connecting(
    sessions: sessionmaker[Session],
) -> None:
    """A name (not a literal) passes the URL check; the resolver refuses its loopback answer,
    nothing connects, and the delivery log says why (it said '[None]')."""
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hooks = SqlWebhookStore(sessions)
    endpoint, _ = WebhookEndpoints(hooks).create(f"https://localhost:{port}/hooks", [])
    Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10).upload_csv(
        CSV, request_id="r6", display_name="x"
    )
    production = WebhookDispatcher(hooks, policy=FAST)
    assert await production.run_once() == 1
    await production.close()
    server.close()
    await server.wait_closed()
    (log,) = hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert connections == 0
    assert log.response_code is None
    assert "localhost resolves to" in log.last_error and "a loopback address" in log.last_error


async def test_a_receiver_that_never_answers_is_a_timed_out_attempt_that_says_so(
    sessions: sessionmaker[Session],
) -> None:
    """The log read 'TimeoutError: ' (aiohttp's timeout carries no text)."""
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()  # reads nothing, answers nothing
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hooks = SqlWebhookStore(sessions)
    endpoint, _ = WebhookEndpoints(hooks, allow_http_loopback=True).create(
        f"http://127.0.0.1:{port}/hooks", ["certificate.issued"]
    )
    Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10).upload_csv(
        CSV, request_id="r7", display_name="x"
    )
    dispatcher = WebhookDispatcher(
        hooks, policy=FAST, allow_http_loopback=True, timeout_seconds=0.3
    )
    assert await dispatcher.run_once() == 1
    await dispatcher.close()
    release.set()
    server.close()
    await server.wait_closed()
    (log,) = hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert (log.state, log.response_code) == (DeliveryState.PENDING, None)
    assert log.last_error == "TimeoutError: no whole answer within 0.3 s"


async def test_an_answer_with_a_nul_byte_is_logged_and_the_delivery_settled(
    sessions: sessionmaker[Session],
) -> None:
    """On PostgreSQL the excerpt's NUL failed record_attempt: the delivery stayed leased and was
    posted again after every lease, never recorded, never given up."""

    async def nul(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nok\x00bye")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(nul, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hooks = SqlWebhookStore(sessions)
    endpoint, _ = WebhookEndpoints(hooks, allow_http_loopback=True).create(
        f"http://127.0.0.1:{port}/hooks", ["certificate.issued"]
    )
    Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10).upload_csv(
        CSV, request_id="r8", display_name="x"
    )
    dispatcher = WebhookDispatcher(hooks, policy=FAST, allow_http_loopback=True)
    assert await dispatcher.run_once() == 1
    await dispatcher.close()
    server.close()
    await server.wait_closed()
    (log,) = hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert (log.state, log.response_code) == (DeliveryState.DELIVERED, 200)
    assert log.response_excerpt == "ok\ufffdbye"


def test_two_replicas_recording_a_batch_s_last_two_outcomes_at_once_announce_it_completed(
    sessions: sessionmaker[Session],
) -> None:
    """PostgreSQL, READ COMMITTED: each transaction counted the batch's outcomes without the
    other's (not yet committed) row, so neither saw the batch complete and batch.completed was
    never written. The count now runs under the batch row's lock: the later one sees both."""
    hooks = SqlWebhookStore(sessions)
    endpoint, _ = WebhookEndpoints(hooks, allow_http_loopback=True).create(
        "http://127.0.0.1:9/hooks", ["batch.completed"]
    )
    store = SqlIngestStore(sessions)
    ingest = Ingest(store, ISSUER, max_rows=10)
    batch_id = ingest.upload_csv(CSV, request_id="r9", display_name="x").batch.batch_id
    first, second = _certificates(sessions, batch_id)
    now = datetime.now(UTC)
    replica_a = sessions()
    replica_a.begin()
    replica_a.add(
        tables.CertificateProgress(
            certificate_id=first,
            batch_id=batch_id,
            delivery_outcome=DeliveryOutcome.SENT.value,
            delivery_updated_at=now,
            delivery_attempts=1,
        )
    )
    replica_a.flush()
    enqueue_completed_batches(replica_a, [batch_id], now)  # the second is not in yet
    replica_b = threading.Thread(
        target=store.store_deliveries,
        args=([DeliveryReport(second, DeliveryOutcome.SENT, now, 1)],),
    )
    replica_b.start()
    replica_b.join(timeout=1.0)  # the old code finished here, having counted without A's row
    replica_a.commit()
    replica_a.close()
    replica_b.join()
    completed = hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)
    assert [d.event_type.value for d in completed] == ["batch.completed"]


def test_a_twin_create_racing_the_first_gets_the_stored_endpoint_and_no_secret(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client's retry reaching another replica while the first create is in flight: its
    look-up finds nothing, its insert collides on request_id. It was an IntegrityError (a 500);
    it is the stored endpoint, and no secret (the stored one was shown to the first caller)."""
    hooks = SqlWebhookStore(sessions)
    endpoints = WebhookEndpoints(hooks, allow_http_loopback=True)
    first, secret = endpoints.create("http://127.0.0.1:9/hooks", [], request_id="twin")
    assert secret
    looked_up = hooks._endpoint_for_request
    misses = iter([None])  # the twin's look-up ran before the first's insert committed
    monkeypatch.setattr(
        hooks, "_endpoint_for_request", lambda request_id: next(misses, looked_up(request_id))
    )
    twin, twin_secret = endpoints.create("http://127.0.0.1:9/hooks", [], request_id="twin")
    assert (twin.endpoint_id, twin_secret) == (first.endpoint_id, "")
    assert [e.endpoint_id for e in hooks.endpoints(offset=0, limit=10)] == [first.endpoint_id]


def test_a_nul_in_an_endpoint_or_delivery_id_is_refused_not_a_500(
    sessions: sessionmaker[Session],
) -> None:
    """PostgreSQL's text cannot hold NUL: these were DataErrors (500s)."""
    endpoints = WebhookEndpoints(SqlWebhookStore(sessions), allow_http_loopback=True)
    endpoint, _ = endpoints.create("http://127.0.0.1:9/hooks", [])
    for call in (
        lambda: endpoints.disable("e\x00"),
        lambda: endpoints.rotate_secret("e\x00"),
        lambda: endpoints.deliveries("e\x00", state=None, offset=0, limit=1),
        lambda: endpoints.replay("e\x00"),
    ):
        with pytest.raises(NotFound, match="no webhook endpoint"):
            call()
    with pytest.raises(InvalidInput, match="delivery id"):
        endpoints.replay(endpoint.endpoint_id, "msg_\x00")


def _certificates(sessions: sessionmaker[Session], batch_id: str) -> list[str]:
    c = tables.Certificate
    with sessions() as session:
        return sorted(session.scalars(select(c.id).where(c.batch_id == batch_id)))


def revoked_event(window: str, certificate_ids: list[str], replaced_by: str = "") -> bytes:
    event = events_pb2.CertificatesRevokedEvent(
        revocation_window_id=window, chain_id=31337, transaction_hash="0x" + "ef" * 32
    )
    for certificate_id in certificate_ids:
        event.certificates.add(
            certificate_id=certificate_id,
            reason=certificate_pb2.REVOCATION_REASON_WITHDRAWN,
            reason_text="issued to the wrong cohort",
            replaced_by_certificate_id=replaced_by,
        ).revoke_time.GetCurrentTime()
    return event.SerializeToString()


async def test_certs_revoked_becomes_one_certificate_revoked_delivery(
    sessions: sessionmaker[Session], receiver: tuple[Receiver, web.AppRunner, str]
) -> None:
    found, _, url = receiver
    hooks = SqlWebhookStore(sessions)
    endpoint, found.secret = WebhookEndpoints(hooks, allow_http_loopback=True).create(
        url, ["certificate.revoked"]
    )
    batch_id = (
        Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10)
        .upload_csv(CSV, request_id="r5", display_name="x")
        .batch.batch_id
    )
    ids = _certificates(sessions, batch_id)
    assert parse_revoked(b"\xff\x00garbage") is None
    assert parse_revoked(revoked_event("", ids)) is None  # no window: not usable
    event = parse_revoked(revoked_event("rw1", [ids[0], "not-ingests"]))
    assert event is not None
    announcer = RevocationWebhooks(sessions)
    assert announcer.announce(event) == 1  # another issuer's certificate is left out
    assert announcer.announce(event) == 1  # the event again (redelivered): no second delivery
    # announced again naming its replacement: a new fact, a second delivery
    renamed = parse_revoked(revoked_event("rw1", [ids[0]], replaced_by="cert-new"))
    assert renamed is not None and announcer.announce(renamed) == 1
    dispatcher = WebhookDispatcher(hooks, policy=FAST, allow_http_loopback=True)
    await drain(dispatcher)
    await dispatcher.close()
    assert found.events() == ["certificate.revoked", "certificate.revoked"]
    first, second = sorted(
        (e["data"] for e in found.accepted.values()),
        key=lambda d: d["certificates"][0]["replaced_by_certificate_id"],  # type: ignore[index]
    )
    assert first["batch_id"] == batch_id and first["revocation_window_id"] == "rw1"  # type: ignore[index]
    (revoked,) = first["certificates"]  # type: ignore[index]
    assert revoked["certificate_id"] == ids[0] and revoked["reason"] == "withdrawn"
    assert revoked["reason_text"] == "issued to the wrong cohort"
    assert second["certificates"][0]["replaced_by_certificate_id"] == "cert-new"  # type: ignore[index]
    assert len(hooks.deliveries(endpoint.endpoint_id, state=None, offset=0, limit=10)) == 2
