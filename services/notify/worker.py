"""The notify loops: turn "certs.anchored" messages into deliveries, then send them.

A sender loop claims a small batch of due deliveries (sized to the rate so it fits in its
lease), keeps the lease alive with a heartbeat while it works, checks the lease before each
send, and records each outcome as it happens. When the relay stops answering it pauses (see
relay_breaker.py) and gives back what it has not tried, spending no attempts.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opentelemetry import trace

from certflow import bus
from certflow.rate_limit import TokenBucket
from certflow.telemetry import extract_context
from certflow.v1 import events_pb2
from services.notify.deliveries import Claim, ClaimedDelivery, Deliveries
from services.notify.outcome_policy import (
    RetryPolicy,
    SendResult,
    Unexpected,
    Unsendable,
    Verdict,
    decide,
    may_start_send,
)
from services.notify.recording import Outcome, OutcomeRecorder
from services.notify.relay_breaker import RelayBreaker
from services.notify.rendering import Sender, Unaddressable, UnsafeHeader, render
from services.notify.sender import SmtpPool

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.notify")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SendingRules:
    retry: RetryPolicy
    lease: timedelta  # how long a claim holds its deliveries without a heartbeat
    claim_size: int  # see outcome_policy.claim_size
    in_flight: int  # concurrent sends, one per SMTP connection

    @property
    def send_margin(self) -> timedelta:
        """A send starts only with at least half a lease left (heartbeats renew it every
        quarter lease, so this stops sending only when renewals fail)."""
        return self.lease / 2


@dataclass(frozen=True, slots=True)
class Sending:
    """What the sender loops share: the store, the relay, the limits and the clock."""

    deliveries: Deliveries
    pool: SmtpPool
    sender: Sender
    rate: TokenBucket  # shared by every loop: the relay's ceiling
    rules: SendingRules
    breaker: RelayBreaker  # shared: one relay, one verdict on whether it answers
    clock: Clock = utc_now

    def seconds(self) -> float:
        return self.clock().timestamp()


class Notifier:
    def __init__(self, sending: Sending) -> None:
        self._s = sending
        self._deliveries = sending.deliveries
        self._breaker = sending.breaker
        self._probe_lock = asyncio.Lock()
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
            if not await self._relay_ready(stopping):
                continue
            claim = await self._claim()
            if claim is not None and claim.deliveries:
                with tracer.start_as_current_span(
                    "notify.send_emails", attributes={"certflow.count": len(claim.deliveries)}
                ):
                    await ClaimWork(self._s, claim, stopping).run()
                if len(claim.deliveries) == self._s.rules.claim_size:
                    continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=0.5)

    async def _claim(self) -> Claim | None:
        now = self._s.clock()
        try:
            return await asyncio.to_thread(
                self._deliveries.claim,
                self._s.rules.claim_size,
                now=now,
                lease_until=now + self._s.rules.lease,
            )
        except Exception:
            log.exception("claiming deliveries failed")
            return None

    async def _relay_ready(self, stopping: asyncio.Event) -> bool:
        """Waits while the relay is unavailable, probing it with backoff; False if stopping."""
        while self._breaker.is_open:
            if stopping.is_set():
                return False
            wait = self._breaker.seconds_until_probe(self._s.seconds())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=min(wait, 1.0))
                continue
            async with self._probe_lock:  # one probe for all sender loops
                if self._breaker.probe_due(self._s.seconds()):
                    await self._probe()
        return not stopping.is_set()

    async def _probe(self) -> None:
        if await self._s.pool.probe():
            self._breaker.relay_answered()
            log.info("SMTP relay answers again: sending resumes")
        else:
            self._breaker.relay_failed(self._s.seconds())
            log.warning(
                "SMTP relay unavailable (probe %d failed); next probe in %.1f s",
                self._breaker.failures,
                self._breaker.seconds_until_probe(self._s.seconds()),
            )


class ClaimWork:
    """Sends one claim's deliveries, each outcome stored as it happens; on the way out, gives
    back every delivery it did not try."""

    def __init__(self, sending: Sending, claim: Claim, stopping: asyncio.Event) -> None:
        self._n = sending  # short: used on every line
        self._claim = claim
        self._stopping = stopping
        self._lease_until = claim.lease_until
        self._started: set[str] = set()  # handed to rendering/SMTP
        self._decided: set[str] = set()  # outcome stored
        self._lost: set[str] = set()  # re-claimed by another sender: not ours to send
        self._recording_failed = False
        self._recorder = OutcomeRecorder(self._write)

    async def run(self) -> None:
        slots = asyncio.Semaphore(self._n.rules.in_flight)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await asyncio.gather(*(self._deliver(d, slots) for d in self._claim.deliveries))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._release_untried()

    async def _deliver(self, delivery: ClaimedDelivery, slots: asyncio.Semaphore) -> None:
        async with slots:  # held until the outcome is stored: bounds re-sends after a crash
            await self._n.rate.take()
            if not self._may_send(delivery):
                return
            self._started.add(delivery.delivery_id)
            result = await self._attempt(delivery)
            update = decide(
                result,
                attempts=delivery.attempts,
                policy=self._n.rules.retry,
                now=self._n.clock(),
            )
            self._note_relay(update.verdict, result)
            try:
                await self._recorder.record(delivery.delivery_id, update)
                self._decided.add(delivery.delivery_id)
            except Exception:
                # sent but not recorded: stop, so a database outage re-sends at most these
                self._recording_failed = True
                log.exception("recording the outcome of delivery %s failed", delivery.delivery_id)

    def _may_send(self, delivery: ClaimedDelivery) -> bool:
        return not (
            self._stopping.is_set()
            or self._recording_failed
            or self._n.breaker.is_open
            or delivery.delivery_id in self._lost
            or not may_start_send(
                now=self._n.clock(),
                lease_until=self._lease_until,
                send_margin=self._n.rules.send_margin,
            )
        )

    async def _attempt(self, delivery: ClaimedDelivery) -> SendResult:
        """Renders and sends one message; whatever goes wrong is this message's result."""
        if delivery.email is None:
            return Unsendable("certificate not anchored")
        try:
            message = render(delivery.email, self._n.sender)
        except (UnsafeHeader, Unaddressable) as exc:
            return Unsendable(str(exc))
        except Exception as exc:
            log.exception("rendering delivery %s failed", delivery.delivery_id)
            return Unsendable(f"rendering failed: {type(exc).__name__}: {exc}")
        try:
            return await self._n.pool.send(message)
        except Exception as exc:
            log.exception("sending delivery %s failed", delivery.delivery_id)
            return Unexpected(f"{type(exc).__name__}: {exc}")

    def _note_relay(self, verdict: Verdict, result: SendResult) -> None:
        if verdict is Verdict.RELAY_UNAVAILABLE:
            if not self._n.breaker.is_open:
                log.warning("SMTP relay unavailable: pausing sends (%s)", result)
            self._n.breaker.relay_failed(self._n.seconds())
        elif not isinstance(result, Unsendable):
            self._n.breaker.relay_answered()

    async def _heartbeat(self) -> None:
        lease = self._n.rules.lease
        while True:
            await asyncio.sleep(lease.total_seconds() / 4)
            until = self._n.clock() + lease
            try:
                held = await asyncio.to_thread(
                    self._n.deliveries.extend, self._claim.token, lease_until=until
                )
            except Exception:
                log.warning("renewing the claim lease failed; sends stop before it ends")
                continue
            self._lease_until = until
            untouched = {d.delivery_id for d in self._claim.deliveries} - self._started
            self._lost |= untouched - held

    async def _release_untried(self) -> None:
        # started but unrecorded ones may have reached the relay: their lease returns them
        untried = [
            d.delivery_id for d in self._claim.deliveries if d.delivery_id not in self._started
        ]
        if not untried:
            return
        try:
            await asyncio.to_thread(
                self._n.deliveries.release, self._claim.token, untried, now=self._n.clock()
            )
        except Exception:
            log.exception(
                "giving back %d deliveries failed; their lease returns them", len(untried)
            )

    def _write(self, outcomes: Sequence[Outcome]) -> None:
        self._n.deliveries.record(self._claim.token, outcomes, now=self._n.clock())
