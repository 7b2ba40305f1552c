"""NATS JetStream: connection, stream set-up, publishing with dedupe ids, pull consumers.

At-least-once transport: publishers retry until JetStream acks (same Nats-Msg-Id, so a retry is
not stored twice within the duplicate window) and consumers are idempotent in the database,
because a message id alone is not remembered across a server restart (nats-server #3272).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import nats
import nats.errors
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from certflow.platform.settings import CommonSettings

log = logging.getLogger(__name__)

STREAM = "CERTS"
# the payloads and who publishes and consumes each: protos/certflow/v1/events.proto
SUBJECT_LEAVES = "certs.leaves"
SUBJECT_ISSUED = "certs.issued"
SUBJECT_RECIPIENTS = "certs.recipients"
SUBJECT_ANCHORED = "certs.anchored"
SUBJECT_DELIVERIES = "certs.deliveries"
SUBJECT_CANCELLED = "certs.cancelled"
SUBJECT_REVOKED = "certs.revoked"
SUBJECT_REISSUED = "certs.reissued"


async def connect(url: str, name: str) -> Client:
    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,  # keep trying: a NATS restart must not kill the service
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


async def ensure_stream(js: JetStreamContext, *, replicas: int | None = None) -> None:
    """Creates the CERTS stream, or updates it to this config (a clustered JetStream moves an
    existing stream to a new replica count). `replicas` defaults to CERTFLOW_STREAM_REPLICAS:
    every service calls this at start, so they all read the one setting."""
    config = StreamConfig(
        name=STREAM,
        subjects=["certs.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=7 * 24 * 3600,
        duplicate_window=120,
        num_replicas=CommonSettings().stream_replicas if replicas is None else replicas,
    )
    try:
        await js.stream_info(STREAM)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)


async def publish(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    *,
    msg_id: str,
    headers: Mapping[str, str] | None = None,
    attempts: int = 5,
) -> None:
    """Publishes until acked; raises after `attempts` so the outbox keeps the row for later."""
    all_headers = {"Nats-Msg-Id": msg_id, **(headers or {})}
    for attempt in range(1, attempts + 1):
        try:
            await js.publish(subject, payload, headers=all_headers, timeout=5)
            return
        except Exception:
            if attempt == attempts:
                raise
            await asyncio.sleep(min(0.2 * 2**attempt, 3))


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    durable: str
    subject: str
    ack_wait_seconds: float = 60
    max_deliver: int = -1  # never give up on a certificate; poison messages are `term`ed
    max_ack_pending: int = 1000


async def pull_subscription(
    js: JetStreamContext, spec: ConsumerSpec
) -> JetStreamContext.PullSubscription:
    config = ConsumerConfig(
        durable_name=spec.durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait_seconds,
        max_deliver=spec.max_deliver,
        filter_subject=spec.subject,
        max_ack_pending=spec.max_ack_pending,
    )
    return await js.pull_subscribe(spec.subject, durable=spec.durable, stream=STREAM, config=config)


async def fetch(sub: JetStreamContext.PullSubscription, batch: int, wait_seconds: float) -> list:
    try:
        return await sub.fetch(batch, timeout=wait_seconds)
    except (NatsTimeoutError, TimeoutError):
        return []
    except nats.errors.Error as exc:
        # JetStream restarting or the connection re-establishing: a pause, not a failure
        log.warning("fetch failed (%s); retrying", type(exc).__name__)
        await asyncio.sleep(wait_seconds * 2)
        return []


async def settle(acknowledgement: Awaitable[None]) -> None:
    """Acks, naks and terms are best effort: a lost one means JetStream redelivers, and every
    consumer is idempotent."""
    try:
        await acknowledgement
    except Exception as exc:
        log.warning("acknowledging a message failed (%s); it will be redelivered", exc)


def retry_delay(failures: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before a message that failed `failures` times in a row comes back."""
    return min(base * 2 ** max(failures - 1, 0), cap)


MessageHandler = Callable[[list], Awaitable[None]]
