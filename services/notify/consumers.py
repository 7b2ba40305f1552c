"""NATS entrypoints: "certs.recipients" and "certs.anchored" into notify's own store.

Each message is parsed (a message that cannot be parsed is terminated and counted), handed to
its use case (intake.py), and settled: acked only once its effect is stored; a failed database
write is a pause (nak with a growing delay), never the end of the loop; an anchored event whose
certificates are not all ready (content not arrived, no Merkle path yet) comes back later.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

from opentelemetry import trace

from certflow.platform import bus
from certflow.platform.anchored_event import MalformedAnchoredEvent, read_anchored_event
from certflow.platform.telemetry import extract_context, inject_context
from certflow.v1 import events_pb2
from services.notify.intake import (
    AnchoredTaken,
    AnchoredWindow,
    IntakeStore,
    RecipientContent,
    take_anchored,
    take_recipients,
)
from services.notify.observability import recipients_stored

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.notify")

RECIPIENTS_DURABLE = "notify-recipients"
ANCHORED_DURABLE = "notify"
HASH_BYTES = 32
MAX_ID = 36  # certificate ids are UUIDs (String(36) columns)
MAX_TIME_ZONE = 64  # the time_zone columns; IANA names are far shorter
LONG_WAIT_DELIVERIES = 8  # about 90 s of redeliveries at bus.retry_delay's pace


class MalformedEvent(ValueError):
    """The payload is not the event its subject promises: terminated, never retried."""


class Message(Protocol):
    """The part of a JetStream message a consumer uses (nats.aio.msg.Msg)."""

    subject: str
    data: bytes

    @property
    def headers(self) -> dict[str, str] | None: ...

    @property
    def metadata(self) -> Any: ...  # JetStream's delivery facts (num_delivered)

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def term(self) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IntakeConsumers:
    def __init__(
        self,
        store: IntakeStore,
        *,
        deliveries_created: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._deliveries_created = deliveries_created
        self._clock = clock
        self._failures = 0  # consecutive failed writes: sets the redelivery delay
        self.poison_messages = 0

    async def consume(
        self,
        fetch: Callable[[], Awaitable[list[Any]]],
        handle: Callable[[Message], Awaitable[None]],
        stopping: asyncio.Event,
    ) -> None:
        """One subject's loop: every fetched message is settled by `handle`, which never
        raises for a message (a bad one is terminated, a failed write is a pause)."""
        while not stopping.is_set():
            for message in await fetch():
                await handle(message)

    async def take_recipients(self, message: Message) -> None:
        try:
            batch_id, recipients = read_recipients(message.data)
        except Exception as exc:
            await self._terminate(message, exc)
            return
        try:
            with tracer.start_as_current_span(
                "notify.store_recipients",
                context=extract_context(message.headers),
                attributes={"certflow.batch_id": batch_id, "certflow.count": len(recipients)},
            ) as span:
                await asyncio.to_thread(take_recipients, self._store, recipients)
                recipients_stored(batch_id, span)
                if headers := inject_context():  # for the replica that sends: any replica
                    await asyncio.to_thread(
                        self._store.remember_batch_trace, batch_id, json.dumps(headers)
                    )
        except Exception as exc:
            await self._write_failed(message, f"storing recipients of batch {batch_id}", exc)
            return
        self._failures = 0
        await bus.settle(message.ack())

    async def take_anchored(self, message: Message) -> None:
        try:
            window = read_anchored(message.data)
        except Exception as exc:
            await self._terminate(message, exc)
            return
        try:
            with tracer.start_as_current_span(
                "notify.create_deliveries",
                context=extract_context(message.headers),
                attributes={"certflow.window_id": window.facts.window_id},
            ):
                taken = await asyncio.to_thread(
                    take_anchored, self._store, window, now=self._clock()
                )
        except Exception as exc:
            await self._write_failed(message, f"storing window {window.facts.window_id}", exc)
            return
        self._failures = 0
        if taken.created:
            self._deliveries_created()
        if taken.complete:
            # deliveries are stored: the database drives sending now (a lost ack only
            # redelivers the message, and creating its deliveries again adds nothing)
            await bus.settle(message.ack())
            return
        delivered = _times_delivered(message)
        delay = bus.retry_delay(delivered)
        log.log(
            # a few rounds are the normal race between the two subjects; many are not
            logging.WARNING if delivered >= LONG_WAIT_DELIVERIES else logging.INFO,
            "window %s: %s; %d deliveries stored, the event comes back in %.1f s",
            window.facts.window_id,
            _waiting(taken),
            taken.created,
            delay,
        )
        await bus.settle(message.nak(delay=delay))

    async def _terminate(self, message: Message, exc: Exception) -> None:
        self.poison_messages += 1
        log.error(
            "unreadable message on %s terminated (%d so far): %s",
            message.subject,
            self.poison_messages,
            exc,
        )
        await bus.settle(message.term())

    async def _write_failed(self, message: Message, what: str, exc: Exception) -> None:
        self._failures += 1
        delay = bus.retry_delay(self._failures)
        log.warning(
            "%s failed (%s: %s); redelivered in %.1f s", what, type(exc).__name__, exc, delay
        )
        await bus.settle(message.nak(delay=delay))


def _waiting(taken: AnchoredTaken) -> str:
    parts = []
    if taken.missing:
        parts.append(f"{len(taken.missing)} certificates without their recipient yet")
    if taken.unproven:
        parts.append(f"{len(taken.unproven)} certificates without a Merkle path")
    return " and ".join(parts)


def _times_delivered(message: Message) -> int:
    """How often JetStream has delivered this message (1 the first time)."""
    try:
        return max(int(message.metadata.num_delivered), 1)
    except Exception:  # not a JetStream message (a test's fake, a core NATS message)
        return 1


# ---- parsing: protobuf payloads into the use cases' values ----


def read_recipients(payload: bytes) -> tuple[str, list[RecipientContent]]:
    event = events_pb2.CertificateRecipientsEvent.FromString(payload)
    if not event.batch_id or len(event.batch_id) > MAX_ID:
        raise MalformedEvent("no batch id")
    recipients = []
    for r in event.recipients:
        _check_id(r.certificate_id)
        salt, leaf = bytes(r.leaf_salt), bytes(r.leaf_hash)
        if len(salt) != HASH_BYTES or len(leaf) != HASH_BYTES:
            raise MalformedEvent(f"certificate {r.certificate_id}: salt and leaf are 32 bytes")
        if not r.document or not r.recipient_email:
            raise MalformedEvent(f"certificate {r.certificate_id}: no document or no email")
        if len(r.time_zone) > MAX_TIME_ZONE:
            raise MalformedEvent(f"certificate {r.certificate_id}: time zone name too long")
        try:
            completion = date.fromisoformat(r.completion_date)
        except ValueError as exc:
            raise MalformedEvent(f"certificate {r.certificate_id}: {exc}") from exc
        recipients.append(
            RecipientContent(
                certificate_id=r.certificate_id,
                batch_id=event.batch_id,
                recipient_name=r.recipient_name,
                recipient_email=r.recipient_email,
                title=r.title,
                completion_date=completion,
                issuer_name=r.issuer_name,
                document=bytes(r.document),
                leaf_salt=salt,
                leaf_hash=leaf,
                time_zone=r.time_zone,
                business_hours=r.business_hours,
                send_time=r.send_time.ToDatetime(UTC) if r.HasField("send_time") else None,
            )
        )
    return event.batch_id, recipients


def read_anchored(payload: bytes) -> AnchoredWindow:
    try:
        announced = read_anchored_event(payload)
    except MalformedAnchoredEvent as exc:
        raise MalformedEvent(str(exc)) from exc
    return AnchoredWindow(announced.facts, dict(announced.paths), announced.unproven)


def _check_id(certificate_id: str) -> None:
    if not certificate_id or len(certificate_id) > MAX_ID:
        raise MalformedEvent(f"not a certificate id: {certificate_id[:40]!r}")
