"""The sender loops: claim due deliveries, render and send them, record each outcome.

A sender loop claims a small batch of due deliveries (sized to the rate so it fits in its
lease), keeps the lease alive with a heartbeat while it works, checks the lease before each
send, and hands each outcome to the process's one recorder (group commit) as soon as the relay
answered, freeing the SMTP connection for the next message. When the relay stops answering it
pauses (see relay_breaker.py) and gives back what it has not tried, spending no attempts.

Crash bound: a message is sent only while holding one of `max_unrecorded` process-wide permits,
released when its outcome is stored; a SIGKILL re-sends at most that many messages.
"""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from opentelemetry import trace

from certflow.platform import metrics
from certflow.platform.rate_limit import TokenBucket
from services.notify.branding import InvalidBranding
from services.notify.claims import Claim, ClaimedDelivery, DeliveryStore, Outcome
from services.notify.observability import batch_links, unknown_batches
from services.notify.outcome_policy import (
    RetryPolicy,
    SenderRefused,
    SendResult,
    Unexpected,
    Unsendable,
    Verdict,
    decide,
    may_start_send,
)
from services.notify.recording import OutcomeRecorder
from services.notify.relay_breaker import RelayBreaker
from services.notify.rendering import (
    CertificateMessages,
    RenderedEmail,
    Unaddressable,
    UnsafeHeader,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.notify")
_emails = metrics.counter(metrics.EMAILS)
_stage = metrics.histogram(metrics.BATCH_STAGE_DURATION)

Clock = Callable[[], datetime]
RECORD_LINGER = 0.02  # seconds an outcome may wait for others to share its write


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SendingRules:
    retry: RetryPolicy
    lease: timedelta  # how long a claim holds its deliveries without a heartbeat
    claim_size: int  # see outcome_policy.claim_size
    max_unrecorded: int  # sent but not yet stored, process-wide: what a crash may re-send

    @property
    def send_margin(self) -> timedelta:
        """A send starts only with at least half a lease left and is cut off after half a lease
        (the pool's send deadline), so it ends before the lease even if no heartbeat renews it
        (heartbeats renew it every quarter lease)."""
        return self.lease / 2


class RelayConnection(Protocol):
    async def send(self, message: RenderedEmail) -> SendResult: ...


class Relay(Protocol):
    """The SMTP relay as the sender loops use it (sender.SmtpPool, or a fake in tests)."""

    def connection(self) -> AbstractAsyncContextManager[RelayConnection]:
        """Waits for a free connection; it is free again when the block ends."""
        ...

    async def probe(self) -> bool:
        """Does the relay answer and accept our sender? Sends no mail."""
        ...


@dataclass(frozen=True, slots=True)
class Sending:
    """What the sender loops share: the store, the relay, the limits and the clock."""

    deliveries: DeliveryStore
    pool: Relay
    messages: CertificateMessages  # renders (and signs) each message
    rate: TokenBucket  # shared by every loop: the relay's ceiling
    rules: SendingRules
    breaker: RelayBreaker  # shared: one relay, one verdict on whether it answers
    clock: Clock = utc_now

    def seconds(self) -> float:
        return self.clock().timestamp()


@dataclass(frozen=True, slots=True)
class Recording:
    """What every sender loop of the process shares to store outcomes: one group-commit
    recorder, and the permits bounding the messages sent but not yet stored."""

    recorder: OutcomeRecorder[Outcome]
    unrecorded: asyncio.Semaphore


class Notifier:
    def __init__(self, sending: Sending) -> None:
        self._sending = sending
        self._deliveries = sending.deliveries
        self._breaker = sending.breaker
        self._probe_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        permits = max(sending.rules.max_unrecorded, 1)
        self._recording = Recording(
            # write when half the permits wait on it: the other half keeps the relay busy
            OutcomeRecorder(self._write_outcomes, batch_size=permits // 2, linger=RECORD_LINGER),
            asyncio.Semaphore(permits),
        )

    def wake(self) -> None:
        """New deliveries were stored: the sender loops look for them at once."""
        self._wakeup.set()

    async def _stored_traces(self, batch_ids: list[str]) -> dict[str, str]:
        """Stored trace contexts of the batches this replica did not see arrive (telemetry
        only: a failed read links nothing and sends as usual)."""
        unknown = unknown_batches(batch_ids)
        if not unknown:
            return {}
        try:
            return await asyncio.to_thread(self._deliveries.batch_traces, unknown)
        except Exception as exc:
            log.debug("batch traces not read (%s)", exc)
            return {}

    async def send(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            if not await self._relay_ready(stopping):
                continue
            claim = await self._claim()
            if claim is not None and claim.deliveries:
                started = time.monotonic()
                batch_ids = sorted({d.batch_id for d in claim.deliveries if d.batch_id})
                with tracer.start_as_current_span(
                    "notify.send_emails",
                    links=batch_links(batch_ids, await self._stored_traces(batch_ids)),
                    attributes={
                        "certflow.count": len(claim.deliveries),
                        "certflow.batch_ids": batch_ids[:100],
                    },
                ):
                    await ClaimWork(self._sending, self._recording, claim, stopping).run()
                _stage.record(time.monotonic() - started, {metrics.STAGE: "send"})
                if len(claim.deliveries) == self._sending.rules.claim_size:
                    continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=0.5)

    async def _claim(self) -> Claim | None:
        now = self._sending.clock()
        try:
            return await asyncio.to_thread(
                self._deliveries.claim,
                self._sending.rules.claim_size,
                now=now,
                lease_until=now + self._sending.rules.lease,
            )
        except Exception:
            log.exception("claiming deliveries failed")
            return None

    async def _relay_ready(self, stopping: asyncio.Event) -> bool:
        """Waits while the relay is unavailable, probing it with backoff; False if stopping."""
        while self._breaker.is_open:
            if stopping.is_set():
                return False
            wait = self._breaker.seconds_until_probe(self._sending.seconds())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=min(wait, 1.0))
                continue
            async with self._probe_lock:  # one probe for all sender loops
                if self._breaker.probe_due(self._sending.seconds()):
                    await self._probe()
        return not stopping.is_set()

    def _write_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        self._deliveries.record(outcomes, now=self._sending.clock())
        # counted per group written, by what the history records (sent, deferred, bounced...);
        # an outcome whose claim was lost meanwhile is counted though not stored (rare)
        for state, count in Counter(o.update.history_state.value for o in outcomes).items():
            _emails.add(count, {metrics.OUTCOME: state})

    async def _probe(self) -> None:
        if await self._sending.pool.probe():
            self._breaker.relay_answered()
            log.info("SMTP relay answers again: sending resumes")
        else:
            self._breaker.relay_failed(self._sending.seconds())
            log.warning(
                "SMTP relay unavailable (probe %d failed); next probe in %.1f s",
                self._breaker.failures,
                self._breaker.seconds_until_probe(self._sending.seconds()),
            )


class ClaimWork:
    """Sends one claim's deliveries, each outcome stored as it happens; on the way out, gives
    back every delivery it did not try."""

    def __init__(
        self, sending: Sending, recording: Recording, claim: Claim, stopping: asyncio.Event
    ) -> None:
        self._sending = sending
        self._recording = recording
        self._claim = claim
        self._stopping = stopping
        self._lease_until = claim.lease_until
        self._started: set[str] = set()  # handed to rendering/SMTP
        self._lost: set[str] = set()  # re-claimed by another sender: not ours to send
        self._recording_failed = False

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await asyncio.gather(*(self._deliver(d) for d in self._claim.deliveries))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._release_untried()

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        if not self._may_send(delivery):  # before any wait: stopping skips the rest at once
            return
        if not await self._slot(delivery):
            return
        async with self._recording.unrecorded:  # held until the outcome is stored
            if not self._may_send(delivery) or not await self._rate_token():
                return
            result = await self._attempt(delivery)
            if result is None:  # the lease or the relay changed while waiting for a connection
                return
            update = decide(
                result,
                attempts=delivery.attempts,
                policy=self._sending.rules.retry,
                now=self._sending.clock(),
            )
            self._note_relay(update.verdict, result)
            outcome = Outcome(self._claim.token, delivery.delivery_id, update)
            try:
                await self._recording.recorder.record(outcome)
            except Exception:
                # sent but not recorded: stop, so a database outage re-sends at most these
                self._recording_failed = True
                log.exception("recording the outcome of delivery %s failed", delivery.delivery_id)

    async def _slot(self, delivery: ClaimedDelivery) -> bool:
        """Waits for the delivery's domain slot (taken no further ahead than a quarter lease,
        so the send still starts inside its lease); False if stopping first."""
        if delivery.send_at is None:
            return True
        while (wait := (delivery.send_at - self._sending.clock()).total_seconds()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(wait, 1.0))
                return False
        return self._may_send(delivery)

    async def _rate_token(self) -> bool:
        """Waits for the shared rate to allow one more message; False if stopping first."""
        rate = self._sending.rate
        while not rate.try_take():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=rate.wait_time())
                return False
        return True

    def _may_send(self, delivery: ClaimedDelivery) -> bool:
        return not (
            self._stopping.is_set()
            or self._recording_failed
            or self._sending.breaker.is_open
            or delivery.delivery_id in self._lost
            or not may_start_send(
                now=self._sending.clock(),
                lease_until=self._lease_until,
                send_margin=self._sending.rules.send_margin,
            )
        )

    async def _attempt(self, delivery: ClaimedDelivery) -> SendResult | None:
        """Renders and sends one message; whatever goes wrong is this message's result. None:
        not tried after all (checked again once a connection is free)."""
        rendered = self._render(delivery)
        if not isinstance(rendered, RenderedEmail):
            self._started.add(delivery.delivery_id)
            return rendered
        async with self._sending.pool.connection() as smtp:
            if not self._may_send(delivery):
                return None
            self._started.add(delivery.delivery_id)
            try:
                return await smtp.send(rendered)
            except Exception as exc:
                log.exception("sending delivery %s failed", delivery.delivery_id)
                return Unexpected(f"{type(exc).__name__}: {exc}")

    def _render(self, delivery: ClaimedDelivery) -> RenderedEmail | Unsendable:
        if delivery.email is None:
            return Unsendable("certificate not anchored")
        try:
            return self._sending.messages.render(delivery.email)
        except (UnsafeHeader, Unaddressable, InvalidBranding) as exc:
            return Unsendable(str(exc))
        except Exception as exc:
            log.exception("rendering delivery %s failed", delivery.delivery_id)
            return Unsendable(f"rendering failed: {type(exc).__name__}: {exc}")

    def _note_relay(self, verdict: Verdict, result: SendResult) -> None:
        breaker = self._sending.breaker
        if verdict is Verdict.RELAY_UNAVAILABLE:
            if not breaker.is_open:  # once per opening, not per message
                _log_relay_pause(result)
            breaker.relay_failed(self._sending.seconds())
        elif not isinstance(result, Unsendable):
            breaker.relay_answered()

    async def _heartbeat(self) -> None:
        lease = self._sending.rules.lease
        while True:
            await asyncio.sleep(lease.total_seconds() / 4)
            until = self._sending.clock() + lease
            try:
                held = await asyncio.to_thread(
                    self._sending.deliveries.extend, self._claim.token, lease_until=until
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
                self._sending.deliveries.release,
                self._claim.token,
                untried,
                now=self._sending.clock(),
            )
        except Exception:
            log.exception(
                "giving back %d deliveries failed; their lease returns them", len(untried)
            )


def _log_relay_pause(result: SendResult) -> None:
    if isinstance(result, SenderRefused):
        log.error(
            "SMTP relay refuses our sender (MAIL FROM: %d %s): a configuration problem "
            "(CERTFLOW_MAIL_FROM, SMTP account or credentials); pausing sends",
            result.code,
            result.text,
        )
    else:
        log.warning("SMTP relay unavailable: pausing sends (%s)", result)
