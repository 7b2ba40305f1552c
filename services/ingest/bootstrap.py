"""Builds ingest's object graph: real adapters from settings in `serve`, or any store (an
in-memory fake in unit tests) in `build`."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from certflow.core.document import IssuerProfile
from certflow.platform import bus
from certflow.platform.outbox import OutboxRelay
from certflow.platform.service_setup import database, jetstream, new_runtime
from certflow.platform.telemetry import inject_context
from certflow.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from services.ingest.batch_report import BatchReports
from services.ingest.batch_watch import BatchWatchHub
from services.ingest.consumers import (
    ANCHORED_CONSUMER,
    DELIVERIES_CONSUMER,
    AnchoredEvent,
    EventConsumer,
    anchored_consumer,
    deliveries_consumer,
)
from services.ingest.gas_price import AnchorBaseFee
from services.ingest.lifecycle import BatchLifecycle, BatchStore
from services.ingest.lms_http import lms_intake, start_lms_intake
from services.ingest.progress import BatchProgress, DeliveryReport, ProgressStore
from services.ingest.revocation_webhooks import REVOKED_CONSUMER, revoked_consumer
from services.ingest.schedule_loop import scheduled_batches, start_scheduler
from services.ingest.servicer import IngestServicer
from services.ingest.settings import IngestSettings
from services.ingest.store import SqlIngestStore
from services.ingest.tables import IngestOutbox
from services.ingest.usecases import Ingest, IngestStore
from services.ingest.webhook_dispatcher import start_webhooks
from services.ingest.webhook_endpoints import WebhookEndpoints
from services.ingest.webhook_store import SqlWebhookStore


class Store(IngestStore, ProgressStore, BatchStore, Protocol):
    """Everything ingest stores: SqlIngestStore, or a fake."""


@dataclass(frozen=True, slots=True)
class IngestApp:
    ingest: Ingest
    progress: BatchProgress
    lifecycle: BatchLifecycle
    anchored: EventConsumer[AnchoredEvent]
    deliveries: EventConsumer[list[DeliveryReport]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def issuer_of(settings: IngestSettings) -> IssuerProfile:
    return IssuerProfile(
        id=settings.issuer_id,
        name=settings.issuer_name,
        url=settings.issuer_url,
        email=settings.issuer_email,
    )


def build(
    settings: IngestSettings,
    store: Store,
    *,
    trace_headers: Callable[[], dict[str, str]] = dict,
    on_committed: Callable[[], None] = lambda: None,
    on_changed: Callable[[set[str]], None] = lambda batch_ids: None,
    clock: Callable[[], datetime] = _utcnow,
) -> IngestApp:
    """`on_committed` wakes the outbox relay; `on_changed` rings WatchBatch's hub."""
    ingest = Ingest(
        store,
        issuer_of(settings),
        max_rows=settings.max_rows_per_upload,
        leaves_per_message=settings.leaves_per_message,
        trace_headers=trace_headers,
        on_committed=on_committed,
        clock=clock,
        allow_smtputf8=settings.allow_smtputf8_addresses,
        default_time_zone=settings.default_time_zone,
    )
    progress = BatchProgress(store, clock=clock, on_changed=on_changed)
    return IngestApp(
        ingest=ingest,
        progress=progress,
        lifecycle=BatchLifecycle(
            store, clock=clock, on_committed=on_committed, on_changed=on_changed
        ),
        anchored=anchored_consumer(progress),
        deliveries=deliveries_consumer(progress),
    )


async def serve(settings: IngestSettings) -> None:
    runtime = new_runtime("ingest", settings, settings.ingest_port)
    _, sessions = database(runtime, settings.database_url)
    _, js = await jetstream(runtime, settings.nats_url, "certflow-ingest")
    store = SqlIngestStore(sessions)
    relay = OutboxRelay(sessions, IngestOutbox, js, render=store.render_outbox_payload)
    loop = asyncio.get_running_loop()

    def wake_relay() -> None:
        # use cases run in worker threads; the relay is woken on the event loop's thread
        loop.call_soon_threadsafe(relay.wake)

    hub = BatchWatchHub(loop)
    app = build(
        settings,
        store,
        trace_headers=inject_context,
        on_committed=wake_relay,
        on_changed=hub.changed,
    )
    lms = lms_intake(settings, sessions, app.ingest)
    schedules = scheduled_batches(settings, sessions, app.ingest)
    uploads = ThreadPoolExecutor(settings.upload_workers, thread_name_prefix="ingest-upload")

    async def stop_uploads() -> None:
        uploads.shutdown(wait=False, cancel_futures=True)

    runtime.on_shutdown(stop_uploads)
    token = settings.internal_token.get_secret_value() if settings.internal_token else ""
    base_fee = AnchorBaseFee(settings.anchor_address, token)
    runtime.on_shutdown(base_fee.close)
    ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestServicer(
            app.ingest,
            max_upload_bytes=settings.max_upload_bytes,
            upload_executor=uploads,
            lifecycle=app.lifecycle,
            hub=hub,
            watch_poll_seconds=settings.watch_poll_seconds,
            max_rows=settings.max_rows_per_upload,
            window_size=settings.window_max_leaves,
            gas_per_transaction=settings.anchor_gas_per_transaction,
            base_fee=base_fee,
            lms=lms,
            schedules=schedules,
            webhooks=WebhookEndpoints(
                SqlWebhookStore(sessions),
                allow_http_loopback=settings.webhook_allow_http_loopback,
            ),
            reports=BatchReports(store, clock=_utcnow),
        ),
        runtime.server,
    )
    runtime.add_service(ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name)
    anchored = await bus.pull_subscription(js, ANCHORED_CONSUMER)
    deliveries = await bus.pull_subscription(js, DELIVERIES_CONSUMER)
    revoked = await bus.pull_subscription(js, REVOKED_CONSUMER)
    await start_lms_intake(runtime, settings, lms)
    start_scheduler(runtime, settings, schedules)
    start_webhooks(runtime, settings, sessions)
    runtime.spawn(relay.run(runtime.stopping), "outbox-relay")
    runtime.spawn(app.anchored.run(anchored, runtime.stopping), "anchored-consumer")
    runtime.spawn(app.deliveries.run(deliveries, runtime.stopping), "deliveries-consumer")
    runtime.spawn(revoked_consumer(sessions).run(revoked, runtime.stopping), "revoked-consumer")
    await runtime.run()
