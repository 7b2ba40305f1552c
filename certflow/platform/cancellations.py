"""What every consumer of "certs.cancelled" (ingest's CancelBatch) keeps: the cancelled
certificate ids, read from the stream.

No service keeps a table for them: at every start an ordered consumer reads "certs.cancelled"
from the stream's beginning (the stream keeps 7 days, far longer than a certificate waits to be
anchored or emailed), then keeps reading. A consumer about to act on a certificate first calls
`catch_up`, which returns once every cancellation the stream held at that moment is applied; so
a cancellation published before the action is always honoured. If that cannot be checked (NATS
unreachable) `catch_up` raises, and the caller does nothing it could regret.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.message import DecodeError
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from certflow.platform import bus
from certflow.v1 import events_pb2

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 10.0


def cancelled_ids(data: bytes) -> list[str] | None:
    """The certificate ids of a "certs.cancelled" event; None when it cannot be read."""
    try:
        event = events_pb2.CertificatesCancelledEvent.FromString(data)
    except DecodeError:
        return None
    ids = list(event.certificate_ids)
    if not event.batch_id or any(not 0 < len(cid) <= 36 for cid in ids):
        return None
    return ids


class CancelledCertificates:
    """The certificate ids cancelled so far."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self.unreadable_messages = 0

    def add(self, certificate_ids: Iterable[str]) -> None:
        self._ids.update(certificate_ids)

    def apply(self, data: bytes) -> None:
        ids = cancelled_ids(data)
        if ids is None:
            self.unreadable_messages += 1
            log.error("unreadable certs.cancelled message skipped (%d)", self.unreadable_messages)
            return
        self.add(ids)

    def among(self, certificate_ids: Iterable[str]) -> set[str]:
        return {cid for cid in certificate_ids if cid in self._ids}

    def __len__(self) -> int:
        return len(self._ids)


class CancellationReader:
    """Reads "certs.cancelled" into `cancelled` (an ordered consumer from the stream's start)."""

    def __init__(
        self,
        js: JetStreamContext,
        cancelled: CancelledCertificates,
        *,
        catch_up_seconds: float = CATCH_UP_SECONDS,
    ) -> None:
        self._js = js
        self._cancelled = cancelled
        self._catch_up_seconds = catch_up_seconds
        self._sequence = 0  # the stream sequence of the last message applied
        self._advanced = asyncio.Event()
        self._subscription: Any = None

    async def start(self) -> None:
        self._subscription = await self._js.subscribe(
            bus.SUBJECT_CANCELLED,
            stream=bus.STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            cb=self._received,
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def _received(self, message: Any) -> None:
        self._cancelled.apply(message.data)
        self._sequence = message.metadata.sequence.stream
        self._advanced.set()

    async def catch_up(self) -> None:
        """Returns once every cancellation the stream holds now is applied."""
        try:
            last = await self._js.get_last_msg(bus.STREAM, bus.SUBJECT_CANCELLED)
        except NotFoundError:
            return  # none was ever published
        async with asyncio.timeout(self._catch_up_seconds):
            while self._sequence < (last.seq or 0):
                self._advanced.clear()
                await self._advanced.wait()

    def blocking_catch_up(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """`catch_up` for a worker thread: runs it on the loop and waits for it."""

        def catch_up() -> None:
            future = asyncio.run_coroutine_threadsafe(self.catch_up(), loop)
            future.result(self._catch_up_seconds + 1)

        return catch_up
