"""An unlucky relay catalogue: the real SMTP pool and sender loop against a real aiosmtpd
(in this process) and a real SQLite database. Each relay behaviour maps to the right outcome
and, across retries, nothing is lost or sent twice (or, where the relay's answer never came,
at most once per counted attempt)."""

import asyncio
import contextlib
import email
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.platform.rate_limit import TokenBucket
from devstack.smtp_sink import RelayBehaviour, SaveToFolder, smtp_server
from services.notify import tables as notify_tables
from services.notify.branding import Branding
from services.notify.outcome_policy import (
    Accepted,
    Refused,
    RelayUnavailable,
    RetryPolicy,
    SenderRefused,
    Unconfirmed,
    Unsendable,
    Verdict,
    decide,
)
from services.notify.relay_breaker import RelayBreaker
from services.notify.rendering import CertificateMessages, RenderedEmail, Sender
from services.notify.sender import SmtpPool
from services.notify.store import Deliveries
from services.notify.worker import Notifier, Sending, SendingRules
from tests.integration.notify.seeding import seed_anchored

MESSAGE = RenderedEmail("ada@example.org", b"Subject: hi\r\n\r\nhello\r\n")


async def start_relay(folder: Path, behaviour: RelayBehaviour) -> tuple[asyncio.Server, int]:
    """A relay on a port the kernel chose (port 0), so no other process can take it first."""
    handler = SaveToFolder(folder, behaviour)
    server = await asyncio.get_running_loop().create_server(
        lambda: smtp_server(handler), "127.0.0.1", 0
    )
    return server, server.sockets[0].getsockname()[1]


@contextlib.contextmanager
def port_nobody_listens_on() -> Iterator[int]:
    """A bound but not listening socket: connecting to it is refused while it is held."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def pool_for(port: int, connections: int = 1, timeout: float = 5) -> SmtpPool:
    return SmtpPool(
        host="127.0.0.1",
        port=port,
        username="",
        password=None,
        starttls=False,
        implicit_tls=False,
        timeout=timeout,
        send_deadline=2 * timeout,
        connections=connections,
        mail_from="certificates@uni.example",
    )


@pytest.mark.parametrize(
    ("behaviour", "expected", "verdict"),
    [
        (RelayBehaviour(), Accepted(), Verdict.SENT),
        (RelayBehaviour(delay_seconds=0.3), Accepted(), Verdict.SENT),
        (
            RelayBehaviour(fail_every=1, fail_stage="rcpt", fail_reply="421 4.3.2 closing"),
            Refused(421, "4.3.2 closing"),
            Verdict.RELAY_UNAVAILABLE,
        ),
        (
            RelayBehaviour(fail_every=1, fail_stage="rcpt", fail_reply="451 4.7.1 greylisted"),
            Refused(451, "4.7.1 greylisted"),
            Verdict.RETRY,
        ),
        (
            RelayBehaviour(fail_every=1, fail_stage="rcpt", fail_reply="550 5.1.1 no such user"),
            Refused(550, "5.1.1 no such user"),
            Verdict.PERMANENT,
        ),
        (
            RelayBehaviour(fail_every=1, fail_stage="data", fail_reply="421 4.3.2 closing"),
            Refused(421, "4.3.2 closing"),
            Verdict.RELAY_UNAVAILABLE,
        ),
        (
            RelayBehaviour(fail_every=1, fail_stage="data", fail_reply="451 4.3.0 try later"),
            Refused(451, "4.3.0 try later"),
            Verdict.RETRY,
        ),
        (
            RelayBehaviour(fail_every=1, fail_stage="data", fail_reply="552 5.3.4 too big"),
            Refused(552, "5.3.4 too big"),
            Verdict.PERMANENT,
        ),
    ],
    ids=lambda v: getattr(v, "name", None) or repr(v)[:60],
)
async def test_each_relay_reply_maps_to_its_outcome(tmp_path, behaviour, expected, verdict):
    server, port = await start_relay(tmp_path, behaviour)
    pool = pool_for(port)
    try:
        result = await pool.send(MESSAGE)
    finally:
        await pool.close()
        server.close()
    assert result == expected
    assert decide(result, attempts=0, policy=RetryPolicy(), now=_now()).verdict is verdict
    stored = list(tmp_path.glob("*.eml"))
    assert len(stored) == (1 if verdict is Verdict.SENT else 0)


async def test_a_connection_dropped_after_the_body_is_unconfirmed_and_counted(tmp_path):
    """The relay got the body and vanished: it may have stored it, so the attempt counts."""
    server, port = await start_relay(tmp_path, RelayBehaviour(drop_every=1))
    pool = pool_for(port)
    try:
        result = await pool.send(MESSAGE)
    finally:
        await pool.close()
        server.close()
    assert isinstance(result, Unconfirmed)
    assert decide(result, attempts=0, policy=RetryPolicy(), now=_now()).verdict is Verdict.RETRY


async def test_a_relay_that_is_not_there_is_unavailable_and_a_probe_says_so(tmp_path):
    with port_nobody_listens_on() as port:
        pool = pool_for(port)
        assert isinstance(await pool.send(MESSAGE), RelayUnavailable)
        assert await pool.probe() is False


@pytest.mark.parametrize("smtputf8", [True, False])
async def test_a_non_ascii_local_part_goes_only_to_a_relay_offering_smtputf8(tmp_path, smtputf8):
    server, port = await start_relay(tmp_path, RelayBehaviour(smtputf8=smtputf8))
    pool = pool_for(port)
    message = RenderedEmail("jösé@xn--bcher-kva.example", b"Subject: hi\r\n\r\nhi\r\n", True)
    try:
        result = await pool.send(message)
        after = await pool.send(MESSAGE)  # the connection is still good for the next one
    finally:
        await pool.close()
        server.close()
    assert after == Accepted()
    if smtputf8:
        assert result == Accepted()
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("*.eml"))
        assert "X-Envelope-To: jösé@xn--bcher-kva.example\r\n".encode() in stored
    else:
        assert isinstance(result, Unsendable) and "SMTPUTF8" in result.reason
        decided = decide(result, attempts=0, policy=RetryPolicy(), now=_now())
        assert decided.verdict is Verdict.PERMANENT


# ---- the sender loop end to end against the unlucky relay ----

UNLUCKY = [
    RelayBehaviour(fail_every=3, fail_stage="rcpt", fail_reply="451 4.7.1 greylisted"),
    RelayBehaviour(fail_every=4, fail_stage="data", fail_reply="421 4.3.2 closing"),
    RelayBehaviour(drop_every=5),
    RelayBehaviour(delay_seconds=0.05, fail_every=2, fail_reply="452 4.3.1 full"),
]


@pytest.mark.parametrize("behaviour", UNLUCKY, ids=lambda b: repr(b)[14:80])
async def test_the_sender_loop_delivers_everything_once_through_an_unlucky_relay(
    tmp_path, behaviour
):
    recipients = [f"s{i}@example.org" for i in range(24)] + ["user@bücher.example"]
    sessions, engine = _database(tmp_path)
    store = Deliveries(sessions, message_id_domain="uni.example")
    _, ids = seed_anchored(store, recipients)
    server, port = await start_relay(tmp_path / "mail", behaviour)
    pool = pool_for(port, connections=3)
    notifier = Notifier(_sending(store, pool))
    stopping = asyncio.Event()
    loops = [asyncio.create_task(notifier.send(stopping)) for _ in range(2)]
    try:
        await _wait_until(lambda: _count(sessions, "sent") == len(ids), within=60)
    finally:
        stopping.set()
        await asyncio.gather(*loops)
        await pool.close()
        server.close()
        engine.dispose()
    received = Counter(
        email.message_from_bytes(p.read_bytes())["X-Envelope-To"]
        for p in (tmp_path / "mail").glob("*.eml")
    )
    expected = {r.replace("bücher", "xn--bcher-kva") for r in recipients}
    assert set(received) == expected and set(received.values()) == {1}


async def test_a_failing_message_does_not_stop_the_others(tmp_path):
    """One recipient the wire cannot carry (bad IDNA) fails alone; the loop carries on."""
    recipients = ["ok1@example.org", "user@bü..cher.example", "ok2@example.org"]
    sessions, engine = _database(tmp_path)
    store = Deliveries(sessions, message_id_domain="uni.example")
    seed_anchored(store, recipients)
    server, port = await start_relay(tmp_path / "mail", RelayBehaviour())
    pool = pool_for(port)
    stopping = asyncio.Event()
    loop = asyncio.create_task(Notifier(_sending(store, pool)).send(stopping))
    try:
        await _wait_until(lambda: _count(sessions, "sent") == 2, within=30)
        await _wait_until(lambda: _count(sessions, "failed") == 1, within=30)
        assert not loop.done()
    finally:
        stopping.set()
        await loop
        await pool.close()
        server.close()
    with sessions() as session:
        (error,) = session.scalars(
            select(notify_tables.Delivery.last_error).where(
                notify_tables.Delivery.state == "failed"
            )
        )
    engine.dispose()
    assert "IDNA" in error


async def test_a_relay_slower_than_the_timeout_gets_each_message_at_most_once_per_attempt(
    tmp_path,
):
    """The relay stores the body, then answers after our timeout. Before the fix that was
    'relay unavailable': no attempt counted, the probe (which never waits on DATA) succeeded,
    and the same message went out again about once per probe interval, for ever."""
    recipients = ["slow1@example.org", "slow2@example.org"]
    sessions, engine = _database(tmp_path)
    store = Deliveries(sessions, message_id_domain="uni.example")
    _, ids = seed_anchored(store, recipients)
    server, port = await start_relay(tmp_path / "mail", RelayBehaviour(delay_seconds=1.0))
    pool = pool_for(port, connections=2, timeout=0.2)
    notifier = Notifier(_sending(store, pool, max_attempts=3))
    stopping = asyncio.Event()
    loop = asyncio.create_task(notifier.send(stopping))
    try:
        await _wait_until(lambda: _count(sessions, "failed") == len(ids), within=60)
    finally:
        stopping.set()
        await loop
        await pool.close()
        server.close()
    with sessions() as session:
        rows = session.execute(
            select(notify_tables.Delivery.attempts, notify_tables.Delivery.last_error)
        )
        outcomes = list(rows)
    engine.dispose()
    assert all(attempts == 3 and "unconfirmed" in error for attempts, error in outcomes)
    received = Counter(
        email.message_from_bytes(p.read_bytes())["X-Envelope-To"]
        for p in (tmp_path / "mail").glob("*.eml")
    )
    assert set(received) == set(recipients) and max(received.values()) <= 3


async def test_a_relay_refusing_our_sender_pauses_sending_and_spends_no_attempt(tmp_path, caplog):
    """530/553 at MAIL FROM is about our account: before the fix every delivery failed for
    good (5xx) or spent its attempts (4xx) at full rate."""
    refusing = RelayBehaviour(fail_every=1, fail_stage="mail", fail_reply="553 5.7.1 not yours")
    server, port = await start_relay(tmp_path / "mail", refusing)
    pool = pool_for(port)
    assert await pool.send(MESSAGE) == SenderRefused(553, "5.7.1 not yours")
    assert await pool.probe() is False  # the probe asks MAIL FROM too: the breaker stays open
    sessions, engine = _database(tmp_path)
    store = Deliveries(sessions, message_id_domain="uni.example")
    seed_anchored(store, [f"s{i}@example.org" for i in range(10)])
    sending = _sending(store, pool, max_attempts=1)
    stopping = asyncio.Event()
    loop = asyncio.create_task(Notifier(sending).send(stopping))
    try:
        await _wait_until(
            lambda: sending.breaker.failures >= 3 or _count(sessions, "failed") > 0, within=60
        )
    finally:
        stopping.set()
        await loop
        await pool.close()
        server.close()
    assert _count(sessions, "failed") == 0
    with sessions() as session:
        attempts = set(session.scalars(select(notify_tables.Delivery.attempts)))
    engine.dispose()
    assert attempts == {0}
    configuration_errors = [r for r in caplog.records if "refuses our sender" in r.getMessage()]
    assert len(configuration_errors) == 1  # once per breaker opening, not per message
    assert list((tmp_path / "mail").glob("*.eml")) == []


async def test_stopping_does_not_wait_for_rate_tokens(tmp_path):
    """At one message per 100 s, stopping after the first send must not wait for the next
    token (before the fix each remaining delivery waited for a token, then was skipped)."""
    sessions, engine = _database(tmp_path)
    store = Deliveries(sessions, message_id_domain="uni.example")
    seed_anchored(store, [f"s{i}@example.org" for i in range(3)])
    server, port = await start_relay(tmp_path / "mail", RelayBehaviour())
    pool = pool_for(port)
    sending = _sending(store, pool, rate=TokenBucket(0.01, burst=1))
    stopping = asyncio.Event()
    loop = asyncio.create_task(Notifier(sending).send(stopping))
    try:
        await _wait_until(lambda: _count(sessions, "sent") == 1, within=30)
        stopping.set()
        await asyncio.wait_for(loop, timeout=30)  # the next token is 100 s away
    finally:
        stopping.set()
        await pool.close()
        server.close()
    assert _count(sessions, "pending") == 2  # given back untried
    engine.dispose()


def _sending(
    store: Deliveries, pool: SmtpPool, max_attempts: int = 50, rate: TokenBucket | None = None
) -> Sending:
    return Sending(
        deliveries=store,
        pool=pool,
        messages=CertificateMessages(
            Sender("certificates@uni.example", "https://verify.example"), Branding("Uni")
        ),
        rate=rate or TokenBucket(10_000, burst=100),
        rules=SendingRules(
            retry=RetryPolicy(max_attempts=max_attempts, backoff_base=timedelta(milliseconds=20)),
            lease=timedelta(seconds=5),
            claim_size=5,
            max_unrecorded=8,
        ),
        breaker=RelayBreaker(probe_delay=0.05, max_probe_delay=0.2),
    )


def _database(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'notify.db'}"
    upgrade(url)
    engine = make_engine(url)
    return make_session_factory(engine), engine


def _count(sessions, state: str) -> int:
    with sessions() as session:
        return len(
            session.scalars(
                select(notify_tables.Delivery.id).where(notify_tables.Delivery.state == state)
            ).all()
        )


async def _wait_until(condition, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.to_thread(condition):
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
