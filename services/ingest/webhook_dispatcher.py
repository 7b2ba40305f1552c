"""Sends webhook deliveries: claims the due ones, posts each signed, logs the answer, retries
with backoff for a day, disables an endpoint that fails for long (with a notice).

SSRF: the URL is checked again at send time, the host name is resolved by `SafeResolver` and
refused if ANY address it resolves to is private, loopback (unless the dev setting allows it),
link-local or metadata, and the connection goes to the address that was checked (aiohttp
connects to what the resolver returned: no second lookup to rebind). No redirect is followed
(a 3xx is a failed attempt), the answer's body is read up to a short excerpt only, and every
request has a total timeout.
"""

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.errors import InvalidInput
from certflow.platform.grpc_runtime import ServiceRuntime
from services.ingest.settings import IngestSettings
from services.ingest.webhook_store import Claimed, SqlWebhookStore
from services.ingest.webhooks import (
    RetryPolicy,
    check_url,
    excerpt,
    next_attempt,
    printable,
    refused_address,
    should_disable,
    signature_header,
)

log = logging.getLogger(__name__)


class RefusedAddress(OSError):
    def __init__(self, why: str) -> None:
        # aiohttp's connector error shows only strerror: without it the log read "[None]"
        super().__init__(errno.EACCES, why)


class SafeResolver(AbstractResolver):
    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for entry in found:
            why = refused_address(
                ipaddress.ip_address(entry["host"]), allow_loopback=self._allow_loopback
            )
            if why:
                raise RefusedAddress(f"{host} resolves to {entry['host']}, {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookDispatcher:
    def __init__(
        self,
        store: SqlWebhookStore,
        *,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen)
        allow_http_loopback: bool = False,
        timeout_seconds: float = 10.0,
        lease: timedelta = timedelta(minutes=2),
        per_round: int = 50,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._policy = policy
        self._allow_loopback = allow_http_loopback
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._lease = lease
        self._per_round = per_round
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(
                resolver=SafeResolver(allow_loopback=self._allow_loopback),
                use_dns_cache=False,
                force_close=True,
            )
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def run_once(self) -> int:
        """One round: every delivery due now, sent; returns how many were tried."""
        claimed = await asyncio.to_thread(
            self._store.claim_due, self._clock(), self._lease, self._per_round
        )
        await asyncio.gather(*(self._send(c) for c in claimed))
        return len(claimed)

    async def run(self, stopping: asyncio.Event, interval_seconds: float) -> None:
        try:
            while not stopping.is_set():
                try:
                    tried = await self.run_once()
                except Exception:  # the next round tries again
                    log.exception("webhook round failed")
                    tried = 0
                if tried:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), interval_seconds)
        finally:
            await self.close()

    async def _send(self, claimed: Claimed) -> None:
        delivery = claimed.delivery
        code: int | None = None
        body_excerpt = error = ""
        try:
            check_url(claimed.url, allow_http_loopback=self._allow_loopback)
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "user-agent": "certflow-webhooks/1",
                "webhook-id": delivery.delivery_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature_header(
                    claimed.secrets, delivery.delivery_id, timestamp, delivery.payload
                ),
            }
            http = await self._session()
            async with http.post(
                claimed.url, data=delivery.payload, headers=headers, allow_redirects=False
            ) as response:
                code = response.status
                body_excerpt = excerpt(await response.content.read(1024))
            if not 200 <= code < 300:
                error = f"HTTP {code}" + (" (redirects are not followed)" if code < 400 else "")
        except InvalidInput as exc:
            error = f"refused: {exc.message}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
            if isinstance(cause, RefusedAddress):
                error = f"refused: {cause.strerror}"
            elif isinstance(exc, TimeoutError) and not str(exc):  # it says nothing itself
                error = f"TimeoutError: no whole answer within {self._timeout.total} s"
            else:
                error = f"{type(exc).__name__}: {exc}"[:300]
        error = printable(error)  # an exception's text may quote the receiver's bytes
        delivered = not error
        now = self._clock()
        retry_at = (
            None
            if delivered
            else next_attempt(
                self._policy,
                created_at=delivery.created_at,
                attempts=delivery.attempts + 1,
                now=now,
            )
        )
        recorded = await asyncio.to_thread(
            self._store.record_attempt,
            claimed,
            delivered=delivered,
            next_attempt_at=retry_at,
            response_code=code,
            error=error,
            excerpt=body_excerpt,
            now=now,
        )
        if not recorded:
            log.info(
                "webhook %s: lease lapsed, another sender's outcome stands", delivery.delivery_id
            )
            return
        if delivered:
            return
        log.info(
            "webhook %s to endpoint %s failed (attempt %d): %s; %s",
            delivery.delivery_id,
            delivery.endpoint_id,
            delivery.attempts + 1,
            error,
            f"next at {retry_at.isoformat()}" if retry_at else "given up",
        )
        since = await asyncio.to_thread(self._store.failing_since, delivery.endpoint_id)
        if should_disable(self._policy, since, now):
            reason = f"every delivery failed since {since.isoformat() if since else '?'}: {error}"
            await asyncio.to_thread(self._store.disable_endpoint, delivery.endpoint_id, reason, now)
            # the notice: an operator alert on this line, and the endpoint's disabled_reason
            log.warning("webhook endpoint %s disabled: %s", delivery.endpoint_id, reason)


def start_webhooks(
    runtime: ServiceRuntime, settings: IngestSettings, sessions: sessionmaker[Session]
) -> WebhookDispatcher:
    """The dispatcher every replica runs (the lease keeps a delivery to one sender at a time)."""
    dispatcher = WebhookDispatcher(
        SqlWebhookStore(sessions),
        policy=RetryPolicy(
            first_delay=timedelta(seconds=settings.webhook_first_retry_seconds),
            give_up_after=timedelta(seconds=settings.webhook_give_up_seconds),
            disable_after=timedelta(seconds=settings.webhook_disable_after_seconds),
        ),
        allow_http_loopback=settings.webhook_allow_http_loopback,
        timeout_seconds=settings.webhook_timeout_seconds,
        lease=timedelta(seconds=settings.webhook_timeout_seconds * 3),
    )
    runtime.spawn(
        dispatcher.run(runtime.stopping, settings.webhook_poll_seconds), "webhook-dispatcher"
    )
    return dispatcher
