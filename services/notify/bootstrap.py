"""notify's object graph. `assemble` wires the use cases and entrypoints around whatever store
and SMTP pool it is given (tests pass fakes or a relay of their own); `start` builds the real
adapters from settings (database, NATS, SMTP, the outbox relay), assembles, and puts the loops
and the gRPC service on the runtime."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from certflow.platform import bus
from certflow.platform.cancellations import CancellationReader, CancelledCertificates
from certflow.platform.grpc_runtime import ServiceRuntime
from certflow.platform.outbox import OutboxRelay
from certflow.platform.rate_limit import TokenBucket
from certflow.platform.service_setup import database, jetstream
from certflow.v1 import notify_service_pb2, notify_service_pb2_grpc
from services.notify.cancellations import SkippingCancelledIntake
from services.notify.claims import DeliveryStore
from services.notify.consumers import ANCHORED_DURABLE, RECIPIENTS_DURABLE, IntakeConsumers
from services.notify.intake import IntakeStore
from services.notify.operations import OperatorStore
from services.notify.outcome_policy import RetryPolicy, claim_size
from services.notify.relay_breaker import RelayBreaker
from services.notify.rendering import Sender
from services.notify.sender import SmtpPool
from services.notify.servicer import NotifyServicer
from services.notify.settings import NotifySettings
from services.notify.store import Deliveries
from services.notify.tables import NotifyOutbox
from services.notify.worker import Notifier, Relay, Sending, SendingRules, utc_now

FETCH_BATCH = 50


class NotifyStore(IntakeStore, DeliveryStore, OperatorStore, Protocol):
    """Everything notify asks of its store (store.Deliveries, or a fake in unit tests)."""


@dataclass(frozen=True, slots=True)
class Notify:
    consumers: IntakeConsumers
    notifier: Notifier
    servicer: NotifyServicer


def assemble(
    settings: NotifySettings,
    *,
    store: NotifyStore,
    pool: Relay,
    clock: Callable[[], datetime] = utc_now,
    cancelled: CancelledCertificates | None = None,
    catch_up_cancellations: Callable[[], None] = lambda: None,
) -> Notify:
    notifier = Notifier(sending(settings, store, pool, clock))
    consumers = IntakeConsumers(
        # certificates cancelled (certs.cancelled) before they were anchored get no delivery
        SkippingCancelledIntake(
            store,
            cancelled if cancelled is not None else CancelledCertificates(),
            catch_up_cancellations,
        ),
        deliveries_created=notifier.wake,
        clock=clock,
    )
    return Notify(consumers=consumers, notifier=notifier, servicer=NotifyServicer(store))


def sending(
    settings: NotifySettings,
    store: DeliveryStore,
    pool: Relay,
    clock: Callable[[], datetime] = utc_now,
) -> Sending:
    rate = settings.rate_limit_per_second
    return Sending(
        deliveries=store,
        pool=pool,
        sender=Sender(settings.mail_from, settings.mail_from_name, settings.verify_base_url),
        rate=TokenBucket(rate, burst=max(rate / 10, 1)),
        rules=SendingRules(
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_base=timedelta(seconds=settings.retry_backoff_seconds),
                backoff_max=timedelta(seconds=settings.retry_backoff_max_seconds),
            ),
            lease=timedelta(seconds=settings.claim_lease_seconds),
            claim_size=claim_size(
                rate_per_second=rate,
                lease_seconds=settings.claim_lease_seconds,
                sender_loops=settings.sender_loops,
                ceiling=settings.send_batch,
            ),
            max_unrecorded=settings.max_unrecorded_sends,
        ),
        breaker=RelayBreaker(settings.relay_probe_seconds, settings.relay_probe_max_seconds),
        clock=clock,
    )


def smtp_pool(settings: NotifySettings) -> SmtpPool:
    return SmtpPool(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        implicit_tls=settings.smtp_implicit_tls,
        timeout=settings.smtp_timeout_seconds,
        send_deadline=settings.send_deadline_seconds,
        connections=settings.smtp_connections,
        mail_from=settings.mail_from,
    )


async def start(settings: NotifySettings, runtime: ServiceRuntime) -> None:
    """Real adapters, wired and running on `runtime`."""
    _, sessions = database(runtime, settings.database_url)
    _, js = await jetstream(runtime, settings.nats_url, "certflow-notify")
    relay = OutboxRelay(sessions, NotifyOutbox, js)
    loop = asyncio.get_running_loop()

    def outbox_written() -> None:  # called from the store's worker thread
        loop.call_soon_threadsafe(relay.wake)

    store = Deliveries(
        sessions,
        message_id_domain=settings.mail_from.rsplit("@", 1)[-1],
        outbox_written=outbox_written,
    )
    pool = smtp_pool(settings)
    runtime.on_shutdown(pool.close)
    cancelled = CancelledCertificates()
    cancellations = CancellationReader(js, cancelled)
    await cancellations.start()  # from the stream's start: the set is rebuilt at every start
    runtime.on_shutdown(cancellations.stop)
    notify = assemble(
        settings,
        store=store,
        pool=pool,
        cancelled=cancelled,
        catch_up_cancellations=cancellations.blocking_catch_up(loop),
    )
    consumers = notify.consumers
    for durable, subject, handle in (
        (RECIPIENTS_DURABLE, bus.SUBJECT_RECIPIENTS, consumers.take_recipients),
        (ANCHORED_DURABLE, bus.SUBJECT_ANCHORED, consumers.take_anchored),
    ):
        subscription = await bus.pull_subscription(
            js, bus.ConsumerSpec(durable=durable, subject=subject)
        )
        runtime.spawn(
            consumers.consume(_fetcher(subscription), handle, runtime.stopping),
            f"consume-{subject}",
        )
    notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(notify.servicer, runtime.server)
    runtime.add_service(notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name)
    for index in range(max(settings.sender_loops, 1)):
        runtime.spawn(notify.notifier.send(runtime.stopping), f"send-emails-{index}")
    runtime.spawn(relay.run(runtime.stopping), "outbox-relay")


def _fetcher(subscription: Any) -> Callable[[], Any]:
    async def fetch() -> list[Any]:
        return await bus.fetch(subscription, FETCH_BATCH, wait_seconds=0.25)

    return fetch
