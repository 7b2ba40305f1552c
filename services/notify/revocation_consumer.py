"""NATS entrypoint: "certs.revoked" (from anchor) into revocation notices (revocation_notices.py).

Settled like the other consumers (consumers.py): an unreadable message is terminated and
counted; a failed write is a pause (nak with a growing delay); acked once what it decides is
stored. A certificate whose first email is still on its way makes the message come back later
(what was stored stays; storing it again adds nothing).
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from opentelemetry import trace

from certflow.platform import bus
from certflow.platform.telemetry import extract_context
from services.notify.consumers import LONG_WAIT_DELIVERIES, Message
from services.notify.revocation_notices import (
    NoticeDecision,
    RevocationsTaken,
    RevokedCertificate,
    read_revoked,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.notify")

REVOKED_DURABLE = "notify-revoked"


class RevocationStore(Protocol):
    def store_revocations(
        self, revoked: Sequence[RevokedCertificate], *, now: datetime
    ) -> RevocationsTaken:
        """In one transaction: the reasons and the notices decide_notice allows (unique per
        certificate and kind), and each certificate's decision."""
        ...


class RevocationConsumer:
    def __init__(
        self,
        store: RevocationStore,
        *,
        clock: Callable[[], datetime],
        enabled: bool = True,
        deliveries_created: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._enabled = enabled  # off: events are acked, nothing stored, nobody emailed
        self._deliveries_created = deliveries_created
        self._failures = 0  # consecutive failed writes: sets the redelivery delay
        self.poison_messages = 0

    async def take_revoked(self, message: Message) -> None:
        try:
            window_id, revoked = read_revoked(message.data)
        except Exception as exc:
            self.poison_messages += 1
            log.error(
                "unreadable message on %s terminated (%d so far): %s",
                message.subject,
                self.poison_messages,
                exc,
            )
            await bus.settle(message.term())
            return
        if not self._enabled:
            await bus.settle(message.ack())
            return
        try:
            with tracer.start_as_current_span(
                "notify.revocation_notices",
                context=extract_context(message.headers),
                attributes={"certflow.window_id": window_id, "certflow.count": len(revoked)},
            ):
                taken = await asyncio.to_thread(
                    self._store.store_revocations, revoked, now=self._clock()
                )
        except Exception as exc:
            self._failures += 1
            delay = bus.retry_delay(self._failures)
            log.warning(
                "storing revocation window %s failed (%s: %s); redelivered in %.1f s",
                window_id,
                type(exc).__name__,
                exc,
                delay,
            )
            await bus.settle(message.nak(delay=delay))
            return
        self._failures = 0
        if taken.created:
            self._deliveries_created()
        delivered = _times_delivered(message)
        if delivered == 1:  # said once per event, not at each return of a waiting one
            _log_skipped(window_id, taken)
        if taken.complete:
            await bus.settle(message.ack())
            return
        delay = bus.retry_delay(delivered)
        log.log(
            logging.WARNING if delivered >= LONG_WAIT_DELIVERIES else logging.INFO,
            "revocation window %s: %d certificates' first email is still on its way; "
            "%d notices stored, the event comes back in %.1f s",
            window_id,
            len(taken.among(NoticeDecision.WAIT)),
            taken.created,
            delay,
        )
        await bus.settle(message.nak(delay=delay))


def _log_skipped(window_id: str, taken: RevocationsTaken) -> None:
    unknown = taken.among(NoticeDecision.UNKNOWN)
    if unknown:
        log.info(
            "revocation window %s: %d certificates notify holds no content for get no notice "
            "(first: %s)",
            window_id,
            len(unknown),
            unknown[0],
        )
    quiet = len(taken.among(NoticeDecision.NOT_EMAILED)) + len(
        taken.among(NoticeDecision.SUPPRESSED)
    )
    if quiet:
        log.info(
            "revocation window %s: %d certificates never emailed or suppressed get no notice",
            window_id,
            quiet,
        )


def _times_delivered(message: Message) -> int:
    try:
        return max(int(message.metadata.num_delivered), 1)
    except Exception:  # not a JetStream message (a test's fake)
        return 1
