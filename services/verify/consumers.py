"""verify's NATS consumers: "certs.issued" and "certs.anchored" into its read model.

Each message is translated into read-model records and stored, then acked: a lost ack only
redelivers it, and storing it again changes nothing (read_model.CertificateStore). A failed
write is a pause (nak with a growing delay), never the end of the loop; a message that cannot be
read or holds what can never be stored is terminated and counted.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from certflow.platform import bus
from certflow.platform.anchored_event import MalformedAnchoredEvent, read_anchored_event
from certflow.platform.telemetry import consumer_span
from certflow.v1 import events_pb2
from services.verify.read_model import (
    AnchoredCertificate,
    CertificateStore,
    IssuedCertificate,
    UnusableEvent,
    anchored_certificate,
    anchoring,
    issued_certificate,
)

log = logging.getLogger(__name__)

R = TypeVar("R")
ISSUED = bus.ConsumerSpec(durable="verify-issued", subject=bus.SUBJECT_ISSUED)
ANCHORED = bus.ConsumerSpec(durable="verify-anchored", subject=bus.SUBJECT_ANCHORED)
FETCH_SIZE = 50


def issued_records(data: bytes) -> list[IssuedCertificate]:
    """A "certs.issued" payload as read-model records; raises UnusableEvent."""
    event = _parse(events_pb2.CertificatesIssuedEvent, data)
    if not event.leaves:
        raise UnusableEvent("no leaves")
    return [
        issued_certificate(
            leaf.certificate_id,
            bytes(leaf.document),
            bytes(leaf.leaf_salt),
            bytes(leaf.leaf_hash),
            event.batch_id,
        )
        for leaf in event.leaves
    ]


def anchored_records(data: bytes) -> list[AnchoredCertificate]:
    """A "certs.anchored" payload as read-model records; raises UnusableEvent."""
    try:
        announced = read_anchored_event(data)
    except MalformedAnchoredEvent as exc:
        raise UnusableEvent(str(exc)) from exc
    facts = announced.facts
    if not announced.paths:
        # an event with certificate ids alone carries no Merkle path: nothing to answer with
        raise UnusableEvent(f"window {facts.window_id[:40]!r} has no leaves")
    window = anchoring(
        facts.merkle_root,
        facts.chain_id,
        facts.registry_address,
        facts.transaction_hash,
        facts.block_number,
    )
    return [anchored_certificate(cid, path, window) for cid, path in announced.paths]


def _parse(message_type: Any, data: bytes) -> Any:
    try:
        return message_type.FromString(data)
    except Exception as exc:  # DecodeError, or invalid UTF-8 in a string field
        raise UnusableEvent(f"not a {message_type.__name__}: {exc}") from exc


@dataclass
class EventConsumer(Generic[R]):
    """One durable consumer: translate each message, store it, settle it."""

    name: str
    translate: Callable[[bytes], list[R]]
    store: Callable[[Sequence[R]], None]
    failures: int = 0  # consecutive failed writes: sets the redelivery delay
    poison_messages: int = 0

    async def run(self, subscription: Any, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            for message in await bus.fetch(subscription, FETCH_SIZE, wait_seconds=0.25):
                await self.take(message)

    async def take(self, message: Any) -> None:
        try:
            records = self.translate(message.data)
        except UnusableEvent as exc:
            self.poison_messages += 1
            log.error(
                "%s: poison message terminated (%d so far): %s",
                self.name,
                self.poison_messages,
                exc,
            )
            await bus.settle(message.term())
            return
        try:
            with consumer_span(self.name, message, {"certflow.count": len(records)}):
                await asyncio.to_thread(self.store, records)
        except Exception as exc:
            self.failures += 1
            delay = bus.retry_delay(self.failures)
            log.warning(
                "%s: storing %d certificates failed (%s: %s); redelivered in %.1f s",
                self.name,
                len(records),
                type(exc).__name__,
                exc,
                delay,
            )
            await bus.settle(message.nak(delay=delay))
            return
        self.failures = 0
        await bus.settle(message.ack())  # stored: a lost ack only redelivers it


def issued_consumer(store: CertificateStore) -> EventConsumer[IssuedCertificate]:
    return EventConsumer("verify-issued", issued_records, store.add_issued)


def anchored_consumer(store: CertificateStore) -> EventConsumer[AnchoredCertificate]:
    return EventConsumer("verify-anchored", anchored_records, store.add_anchored)
