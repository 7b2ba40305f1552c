"""notify's object graph. `assemble` wires the use cases and entrypoints around whatever store
and SMTP pool it is given (tests pass fakes or a relay of their own); `start` builds the real
adapters from settings (database, NATS, SMTP, the outbox relay), assembles, and puts the loops
and the gRPC service on the runtime."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from certflow.platform import bus
from certflow.platform.cancellations import CancellationReader, CancelledCertificates
from certflow.platform.grpc_runtime import ServiceRuntime
from certflow.platform.outbox import OutboxRelay
from certflow.platform.rate_limit import KeyedRateLimiter, TokenBucket
from certflow.platform.service_setup import database, jetstream
from certflow.v1 import notify_service_pb2, notify_service_pb2_grpc
from services.notify import bounce_listener, unsubscribe
from services.notify.backlog import observe_backlog
from services.notify.bounces import AddressKeys, BounceAddresses, unsubscribe_tokens
from services.notify.branding import Branding
from services.notify.cancellations import SkippingCancelledIntake
from services.notify.claim_timing import TimingRules
from services.notify.claims import DeliveryStore
from services.notify.consumers import ANCHORED_DURABLE, RECIPIENTS_DURABLE, IntakeConsumers
from services.notify.delivery_window import time_zone
from services.notify.dkim_signing import DkimSigner
from services.notify.domain_pacing import DomainRates
from services.notify.intake import IntakeStore
from services.notify.operations import OperatorStore
from services.notify.outcome_policy import RetryPolicy, claim_size
from services.notify.outcomes import OutcomeStore
from services.notify.preview import PreviewStore
from services.notify.relay_breaker import RelayBreaker
from services.notify.rendering import CertificateMessages, Sender
from services.notify.revocation_consumer import (
    REVOKED_DURABLE,
    RevocationConsumer,
    RevocationStore,
)
from services.notify.sender import SmtpPool
from services.notify.servicer import NotifyServicer
from services.notify.settings import BRANDING_SETTINGS, NotifySettings, dkim_domain
from services.notify.store import Deliveries
from services.notify.tables import NotifyOutbox
from services.notify.worker import Notifier, Relay, Sending, SendingRules, utc_now

FETCH_BATCH = 50


class NotifyStore(
    IntakeStore,
    DeliveryStore,
    OperatorStore,
    PreviewStore,
    OutcomeStore,
    RevocationStore,
    Protocol,
):
    """Everything notify asks of its store (store.Deliveries, or a fake in unit tests)."""


@dataclass(frozen=True, slots=True)
class Notify:
    consumers: IntakeConsumers
    notifier: Notifier
    servicer: NotifyServicer
    revocations: RevocationConsumer


def assemble(
    settings: NotifySettings,
    *,
    store: NotifyStore,
    pool: Relay,
    clock: Callable[[], datetime] = utc_now,
    cancelled: CancelledCertificates | None = None,
    catch_up_cancellations: Callable[[], None] = lambda: None,
) -> Notify:
    messages = certificate_messages(settings)
    notifier = Notifier(sending(settings, store, pool, messages, clock))
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
    revocations = RevocationConsumer(
        store,
        clock=clock,
        enabled=settings.revocation_notices,
        deliveries_created=notifier.wake,
    )
    return Notify(
        consumers=consumers,
        notifier=notifier,
        servicer=NotifyServicer(store, messages),
        revocations=revocations,
    )


def certificate_messages(settings: NotifySettings) -> CertificateMessages:
    """The renderer with the settings' branding, signing with DKIM when a key file is set;
    a bad branding value or an unusable key stops notify at start."""
    signer = None
    if settings.dkim_private_key_path is not None:
        signer = DkimSigner.from_file(
            settings.dkim_private_key_path,
            selector=settings.dkim_selector,
            domain=dkim_domain(settings.dkim_domain, settings.mail_from),
        )
    branding = Branding(
        **{field: getattr(settings, name) for name, field in BRANDING_SETTINGS.items()}
    )
    return CertificateMessages(
        Sender(settings.mail_from, settings.verify_base_url), branding, signer=signer
    )


def sending(
    settings: NotifySettings,
    store: DeliveryStore,
    pool: Relay,
    messages: CertificateMessages,
    clock: Callable[[], datetime] = utc_now,
) -> Sending:
    rate = settings.rate_limit_per_second
    return Sending(
        deliveries=store,
        pool=pool,
        messages=messages,
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


def timing_rules(settings: NotifySettings) -> TimingRules:
    """Delivery windows and domain pacing; slots are taken at most a quarter lease ahead, so
    a send waiting for its slot still starts with half its lease left (worker.send_margin)."""
    return TimingRules(
        business_hours=settings.business_hours,
        default_zone=time_zone(settings.default_time_zone),
        rates=DomainRates(settings.domain_rate_per_minute, settings.domain_rate_overrides),
        lookahead=timedelta(seconds=settings.claim_lease_seconds) / 4,
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

    bounces = (
        BounceAddresses(settings.bounce_address, settings.secret)
        if settings.bounce_address
        else None
    )
    store = Deliveries(
        sessions,
        message_id_domain=settings.mail_from.rsplit("@", 1)[-1],
        outbox_written=outbox_written,
        timing=timing_rules(settings),
        keys=AddressKeys(settings.secret),
        bounce_addresses=bounces,
        unsubscribe_tokens=unsubscribe_tokens(settings.secret),
    )
    if settings.unsubscribe_http_port:
        limiter = KeyedRateLimiter(
            settings.unsubscribe_rate_per_second, settings.unsubscribe_rate_burst
        )
        app = unsubscribe.build_app(unsubscribe_tokens(settings.secret), store, utc_now, limiter)
        runner = web.AppRunner(app, access_log=None)  # tokens in URLs stay out of logs
        await runner.setup()
        await web.TCPSite(
            runner, settings.unsubscribe_http_host, settings.unsubscribe_http_port
        ).start()
        runtime.on_shutdown(runner.cleanup)
    if bounces is not None and settings.bounce_listen_port:
        handler = bounce_listener.BounceHandler(bounces, store, utc_now)
        runtime.spawn(
            bounce_listener.serve(
                handler,
                host=settings.bounce_listen_host,
                port=settings.bounce_listen_port,
                max_bytes=settings.bounce_max_bytes,
                max_connections=settings.bounce_max_connections,
                stopping=runtime.stopping,
            ),
            "bounce-listener",
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
    observe_backlog(sessions)
    consumers = notify.consumers
    for durable, subject, handle in (
        (RECIPIENTS_DURABLE, bus.SUBJECT_RECIPIENTS, consumers.take_recipients),
        (ANCHORED_DURABLE, bus.SUBJECT_ANCHORED, consumers.take_anchored),
        (REVOKED_DURABLE, bus.SUBJECT_REVOKED, notify.revocations.take_revoked),
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
