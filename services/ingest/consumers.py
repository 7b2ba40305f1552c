"""NATS consumers of ingest: batch progress from "certs.anchored" and "certs.deliveries".

They only translate: a message becomes domain values, a use case of progress.py stores them,
then the message is acked. A failed write is a pause (nak with a growing delay), never the end
of the consumer; a message that cannot be read is terminated and counted.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf.message import DecodeError

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.platform import bus
from certflow.platform.anchored_event import MalformedAnchoredEvent, read_anchored_event
from certflow.platform.telemetry import consumer_span
from certflow.v1 import events_pb2
from services.ingest.progress import AnchoredLeaf, BatchProgress, DeliveryOutcome, DeliveryReport

log = logging.getLogger(__name__)

ANCHORED_CONSUMER = bus.ConsumerSpec(durable="ingest-anchored", subject=bus.SUBJECT_ANCHORED)
DELIVERIES_CONSUMER = bus.ConsumerSpec(durable="ingest-deliveries", subject=bus.SUBJECT_DELIVERIES)
FETCH_BATCH = 50
_OUTCOMES = {
    events_pb2.DELIVERY_OUTCOME_SENT: DeliveryOutcome.SENT,
    events_pb2.DELIVERY_OUTCOME_FAILED: DeliveryOutcome.FAILED,
    events_pb2.DELIVERY_OUTCOME_REQUEUED: DeliveryOutcome.REQUEUED,
    events_pb2.DELIVERY_OUTCOME_BOUNCED: DeliveryOutcome.BOUNCED,
    events_pb2.DELIVERY_OUTCOME_SUPPRESSED: DeliveryOutcome.SUPPRESSED,
}
E = TypeVar("E")


class Message(Protocol):
    """What a consumer needs of a JetStream message (nats.aio.msg.Msg is one)."""

    @property
    def data(self) -> bytes: ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def term(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AnchoredEvent:
    window: AnchoredWindowFacts
    leaves: list[AnchoredLeaf]


def parse_anchored(data: bytes) -> AnchoredEvent | None:
    """None when the payload is not a usable "certs.anchored" event."""
    try:
        announced = read_anchored_event(data)
    except MalformedAnchoredEvent:
        return None
    window = announced.facts
    usable = (
        window.window_id
        and window.chain_id > 0
        and window.registry_address
        and window.transaction_hash
        # every certificate named must come with its proof
        and not announced.unproven
    )
    if not usable:
        return None
    return AnchoredEvent(window, [AnchoredLeaf(cid, path) for cid, path in announced.paths])


def parse_deliveries(data: bytes) -> list[DeliveryReport] | None:
    """None when the payload is not a usable "certs.deliveries" event."""
    try:
        event = events_pb2.DeliveriesUpdatedEvent.FromString(data)
    except DecodeError:
        return None
    reports = []
    for update in event.updates:
        outcome = _OUTCOMES.get(update.outcome)
        if not update.certificate_id or outcome is None or not update.HasField("update_time"):
            return None
        reports.append(
            DeliveryReport(
                certificate_id=update.certificate_id,
                outcome=outcome,
                update_time=update.update_time.ToDatetime(tzinfo=UTC),
                attempts=update.attempts,
            )
        )
    return reports


class EventConsumer(Generic[E]):
    """One durable pull consumer: parse, store through a use case, then ack."""

    def __init__(
        self, name: str, parse: Callable[[bytes], E | None], apply: Callable[[E], Any]
    ) -> None:
        self.name = name
        self._parse = parse
        self._apply = apply
        self._failures = 0  # in a row: the nak delay grows with them
        self.unreadable_messages = 0

    async def handle(self, message: Message) -> None:
        event = self._parse(message.data)
        if event is None:
            self.unreadable_messages += 1
            log.error(
                "%s: unreadable message terminated (%d so far)",
                self.name,
                self.unreadable_messages,
            )
            await bus.settle(message.term())
            return
        try:
            with consumer_span(self.name, message):
                await asyncio.to_thread(self._apply, event)
        except Exception as exc:
            self._failures += 1
            delay = bus.retry_delay(self._failures)
            log.warning("%s: storing failed (%s); it comes back in %.1fs", self.name, exc, delay)
            await bus.settle(message.nak(delay=delay))
            return
        self._failures = 0
        await bus.settle(message.ack())  # only once the effect is stored

    async def run(self, subscription: Any, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            messages: Sequence[Message] = await bus.fetch(
                subscription, FETCH_BATCH, wait_seconds=0.5
            )
            for message in messages:
                await self.handle(message)


def anchored_consumer(progress: BatchProgress) -> EventConsumer[AnchoredEvent]:
    def apply(event: AnchoredEvent) -> int:
        return progress.record_anchored(event.window, event.leaves)

    return EventConsumer(ANCHORED_CONSUMER.durable, parse_anchored, apply)


def deliveries_consumer(progress: BatchProgress) -> EventConsumer[list[DeliveryReport]]:
    return EventConsumer(DELIVERIES_CONSUMER.durable, parse_deliveries, progress.record_deliveries)
