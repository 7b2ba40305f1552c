"""The reader of "certs.cancelled" (anchor's and notify's) against a real nats-server: it
replays the stream from its start, and catching up waits for every cancellation published
before it was called."""

import asyncio

from nats.js import JetStreamContext

from certflow.platform import bus
from certflow.platform.cancellations import CancellationReader, CancelledCertificates
from certflow.v1 import events_pb2


async def cancel(js: JetStreamContext, batch_id: str, ids: list[str]) -> None:
    payload = events_pb2.CertificatesCancelledEvent(
        batch_id=batch_id, certificate_ids=ids
    ).SerializeToString()
    await bus.publish(js, bus.SUBJECT_CANCELLED, payload, msg_id=f"cancelled:{batch_id}:0")


async def test_catching_up_with_nothing_published_returns_at_once(js) -> None:
    reader = CancellationReader(js, CancelledCertificates(), catch_up_seconds=5)
    await reader.start()
    await reader.catch_up()
    await reader.stop()


async def test_a_reader_replays_earlier_cancellations_and_catches_up_with_new_ones(js) -> None:
    await cancel(js, "b1", ["a", "b"])
    await bus.publish(js, bus.SUBJECT_LEAVES, b"other subjects are not read", msg_id="x")
    cancelled = CancelledCertificates()
    reader = CancellationReader(js, cancelled, catch_up_seconds=10)
    await reader.start()
    await reader.catch_up()
    assert cancelled.among(["a", "b", "c"]) == {"a", "b"}
    for n in range(20):  # published just before catching up: each is applied by its end
        await cancel(js, f"b{n + 2}", [f"c{n}"])
        await reader.catch_up()
        assert cancelled.among([f"c{n}"]) == {f"c{n}"}
    await reader.stop()


async def test_catching_up_from_a_worker_thread(js) -> None:
    cancelled = CancelledCertificates()
    reader = CancellationReader(js, cancelled, catch_up_seconds=10)
    await reader.start()
    await cancel(js, "b1", ["z"])
    await asyncio.to_thread(reader.blocking_catch_up(asyncio.get_running_loop()))
    assert cancelled.among(["z"]) == {"z"}
    await reader.stop()
