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
    """The revocation a "certs.reissued" event asks for; None when it cannot be read."""
    try:
        event = events_pb2.CertificateReissuedEvent.FromString(data)
        if not event.replaced_by_certificate_id or len(event.replaced_by_certificate_id) > 36:
            return None
        return checked_request(
            request_id=f"reissue:{event.replaced_by_certificate_id}",
            certificate_ids=[event.certificate_id],
            batch_id="",
            reason=RevocationReason.SUPERSEDED,
            reason_text=event.reason_text,
            replaced_by=event.replaced_by_certificate_id,
        )
    except (InvalidInput, Exception):
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
        request = reissue_revocation(message.data)
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
