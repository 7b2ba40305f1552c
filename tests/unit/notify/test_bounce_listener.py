"""The bounce listener over a real socket on 127.0.0.1 with a fake store: RCPT takes only our
bounce addresses, a report is handed to the store, hostile input is refused or ignored, and the
number of sessions at once is bounded (each buffers up to the size limit)."""

import asyncio
import smtplib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from services.notify import bounce_listener
from services.notify.bounces import BounceAddresses, RecipientStatus, VerpToken
from services.notify.outcome_policy import DeliveryState
from services.notify.outcomes import BounceEffect, Ignored
from tests.unit.notify.dsn_samples import postfix_dsn

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
ADDRESSES = BounceAddresses("bounces@certflow.localhost", b"s" * 32)
DELIVERY = str(uuid.uuid4())


class Reports:
    def __init__(self) -> None:
        self.bounces: list[tuple[VerpToken, list[str]]] = []

    def record_bounce(
        self, token: VerpToken, statuses: Sequence[RecipientStatus], *, now: datetime
    ) -> BounceEffect | Ignored:
        self.bounces.append((token, [s.final_recipient for s in statuses]))
        return BounceEffect(True, DeliveryState.BOUNCED, 550, "5.1.1", suppress=True)

    def complain(self, token: VerpToken, detail: str, *, now: datetime) -> bool:
        return False


@pytest.fixture
async def listening() -> AsyncIterator[tuple[int, Reports]]:
    store = Reports()
    handler = bounce_listener.BounceHandler(ADDRESSES, store, lambda: NOW)
    stopping = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        bounce_listener.serve(
            handler,
            host="127.0.0.1",
            port=0,
            max_bytes=100_000,
            stopping=stopping,
            ready=bound.set_result,
            max_connections=2,
        )
    )
    yield await bound, store
    stopping.set()
    await task


def send(port: int, recipient: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("", [recipient], data)


async def test_a_report_to_a_verp_address_reaches_the_store(listening):
    port, store = listening
    report = postfix_dsn(recipient="ann@example.org", message_id="<x@y>")
    await asyncio.to_thread(send, port, ADDRESSES.sender_for(DELIVERY, 1), report)
    assert store.bounces == [(VerpToken(DELIVERY, 1), ["ann@example.org"])]
    forged = BounceAddresses("bounces@certflow.localhost", b"x").sender_for(DELIVERY, 1)
    garbled = ADDRESSES.sender_for(DELIVERY, 1).replace("-1-", "-\u00b2-")  # was a 500 Error
    for refused in (forged, garbled):
        assert await asyncio.to_thread(rcpt_reply, port, refused) == 550
    # not a report: answered 250 and dropped
    await asyncio.to_thread(send, port, ADDRESSES.plain, b"\r\n" * 20_000)
    assert len(store.bounces) == 1


def rcpt_reply(port: int, address: str) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.command_encoding = "utf-8"
        assert smtp.docmd("MAIL FROM:<> SMTPUTF8")[0] == 250
        return smtp.docmd(f"RCPT TO:<{address}>")[0]


async def banner(port: int) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return await reader.readline(), writer


async def test_sessions_beyond_the_limit_are_told_to_come_back_later(listening):
    port, _ = listening
    held = [await banner(port) for _ in range(2)]
    assert [line[:3] for line, _ in held] == [b"220", b"220"]
    refused, writer = await banner(port)
    assert refused.startswith(b"421")
    writer.close()
    _, leaving = held.pop()
    leaving.close()
    await leaving.wait_closed()
    for _ in range(100):  # the listener sees the close on its next turn
        line, writer = await banner(port)
        writer.close()
        if line.startswith(b"220"):
            break
        await asyncio.sleep(0.02)
    assert line.startswith(b"220")
    for _, writer in held:
        writer.close()


class Adds:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, str]]] = []

    def add(self, amount: int, attributes: dict[str, str] | None = None) -> None:
        self.calls.append((amount, dict(attributes or {})))


async def test_a_recorded_bounce_is_counted_as_an_email_outcome(listening, monkeypatch):
    port, _ = listening
    counted = Adds()
    monkeypatch.setattr(bounce_listener, "_emails", counted)
    report = postfix_dsn(recipient="ann@example.org", message_id="<x@y>")
    await asyncio.to_thread(send, port, ADDRESSES.sender_for(DELIVERY, 1), report)
    await asyncio.to_thread(send, port, ADDRESSES.plain, b"not a report\r\n")
    assert counted.calls == [(1, {"certflow.outcome": "bounced"})]
