"""The notify loops: turn "certs.anchored" messages into deliveries, then send them."""

import asyncio
import contextlib
import logging

from opentelemetry import trace

from certflow import bus
from certflow.telemetry import extract_context
from certflow.v1 import events_pb2
from services.notify.deliveries import Deliveries
from services.notify.rendering import Sender
from services.notify.sender import SmtpPool, deliver_all

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.notify")


class Notifier:
    def __init__(
        self, deliveries: Deliveries, pool: SmtpPool, sender: Sender, *, send_batch: int
    ) -> None:
        self._deliveries = deliveries
        self._pool = pool
        self._sender = sender
        self._send_batch = send_batch
        self._wakeup = asyncio.Event()

    async def consume(self, subscription, stopping: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        while not stopping.is_set():
            for message in await bus.fetch(subscription, 50, wait_seconds=0.25):
                try:
                    event = events_pb2.CertificatesAnchoredEvent.FromString(message.data)
                except Exception:
                    log.error("poison message on %s terminated", message.subject)
                    await message.term()
                    continue
                with tracer.start_as_current_span(
                    "notify.create_deliveries",
                    context=extract_context(message.headers),
                    attributes={"certflow.window_id": event.window_id},
                ):
                    await asyncio.to_thread(self._deliveries.create, list(event.certificate_ids))
                await message.ack()  # deliveries are stored: the database drives sending now
                self._wakeup.set()

    async def send(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                claim = await asyncio.to_thread(self._deliveries.claim, self._send_batch)
            except Exception:
                log.exception("claiming deliveries failed")
                claim = None
            claimed = claim.deliveries if claim else []
            if claim and claimed:
                with tracer.start_as_current_span(
                    "notify.send_emails", attributes={"certflow.count": len(claimed)}
                ):
                    outcomes = await deliver_all(self._pool, self._sender, claim)
                    await asyncio.to_thread(self._deliveries.record, claim, outcomes)
                failed = [o for o in outcomes if not o.sent]
                if failed:
                    log.warning(
                        "%d of %d emails not sent; first error: %s",
                        len(failed),
                        len(outcomes),
                        failed[0].error,
                    )
                if len(claimed) == self._send_batch:
                    continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=0.5)
