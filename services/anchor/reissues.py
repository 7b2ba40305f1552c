"""NATS entrypoint: "certs.reissued" (ingest's outbox, committed with the replacing certificate)
into a revocation of the old certificate, reason SUPERSEDED, naming the new one.

Idempotent: the request id is derived from the new certificate, and a certificate is revoked at
most once. An old certificate anchor has not placed yet (its leaf still on its way) comes back
later (nak with a growing delay); a message that cannot be read is terminated."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import DecodeError

from certflow.core.errors import DomainError, InvalidInput, NotFound
from certflow.platform import bus
from certflow.v1 import events_pb2
from services.anchor.revocations import (
    RevocationReason,
    RevocationRecords,
    RevocationRequest,
    checked_request,
    revoke,
)

log = logging.getLogger(__name__)

REISSUED = bus.ConsumerSpec(durable="anchor-reissued", subject=bus.SUBJECT_REISSUED)
# an old certificate still unknown after this many deliveries (≥ 30 s apart after the first
# few: about an hour) was never placed
MAX_WAITS = 120


def _deliveries(message: Any) -> int:
    try:
        return int(message.metadata.num_delivered)
    except (AttributeError, TypeError, ValueError):
        return 1


def reissue_revocation(data: bytes) -> RevocationRequest | None:
    """The revocation a "certs.reissued" event asks for; None when it cannot be read or is not
    a valid request (poison). Any other error is raised: a fault of ours, not the event's."""
    try:
        event = events_pb2.CertificateReissuedEvent.FromString(data)
    except DecodeError:
        return None
    replacement = event.replaced_by_certificate_id
    if not 0 < len(replacement) <= 36 or not replacement.isprintable():
        return None  # (a NUL would fail the insert on PostgreSQL on every redelivery)
    try:
        return checked_request(
            request_id=f"reissue:{event.replaced_by_certificate_id}",
            certificate_ids=[event.certificate_id],
            batch_id="",
            reason=RevocationReason.SUPERSEDED,
            reason_text=event.reason_text,
            replaced_by=event.replaced_by_certificate_id,
        )
    except InvalidInput:
        return None


class ReissuedConsumer:
    def __init__(
        self,
        records: RevocationRecords,
        *,
        on_revoked: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._records = records
        self._on_revoked = on_revoked
        self._now = now
        self._failures = 0
        self.poison_messages = 0

    async def run(
        self, fetch: Callable[[], Awaitable[Sequence[Any]]], stopping: asyncio.Event
    ) -> None:
        while not stopping.is_set():
            for message in await fetch():
                await self.take(message)

    async def take(self, message: Any) -> None:
        try:
            request = reissue_revocation(message.data)
        except Exception as exc:
            # not the event's fault: it comes back rather than losing the old one's revocation
            self._failures += 1
            log.error("certs.reissued: reading an event failed (%s); it comes back", exc)
            await bus.settle(message.nak(delay=bus.retry_delay(self._failures)))
            return
        if request is None:
            self.poison_messages += 1
            log.error("certs.reissued: unreadable message terminated (%d)", self.poison_messages)
            await bus.settle(message.term())
            return
        try:
            outcome = await asyncio.to_thread(revoke, self._records, request, self._now)
        except NotFound:
            if _deliveries(message) >= MAX_WAITS:
                # never placed: its batch was cancelled before its window was built
                self.poison_messages += 1
                log.error(
                    "certs.reissued: %s is still unknown to anchor after %d tries (cancelled"
                    " before anchoring?); not revoked — revoke it by id if it ever is anchored",
                    request.certificate_ids[0],
                    MAX_WAITS,
                )
                await bus.settle(message.term())
                return
            # the old certificate's leaf is not in a window yet: it will be
            self._failures += 1
            await bus.settle(message.nak(delay=bus.retry_delay(self._failures, base=2.0)))
            return
        except DomainError as exc:
            self.poison_messages += 1
            log.error("certs.reissued: refused and terminated: %s", exc)
            await bus.settle(message.term())
            return
        except Exception as exc:
            self._failures += 1
            delay = bus.retry_delay(self._failures)
            log.warning("recording a reissue's revocation failed (%s); again in %.1fs", exc, delay)
            await bus.settle(message.nak(delay=delay))
            return
        self._failures = 0
        if outcome.newly_revoked_count:
            self._on_revoked()
        await bus.settle(message.ack())
