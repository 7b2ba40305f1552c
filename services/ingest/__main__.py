"""Entrypoint: `python -m services.ingest` (or `certflow-ingest`)."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from certflow.core.document import IssuerProfile
from certflow.platform.outbox import OutboxRelay
from certflow.platform.service_setup import database, jetstream, new_runtime, run_service
from certflow.platform.telemetry import inject_context
from certflow.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from services.ingest.servicer import IngestServicer
from services.ingest.settings import IngestSettings
from services.ingest.tables import IngestOutbox
from services.ingest.usecases import Ingest


async def serve(settings: IngestSettings) -> None:
    runtime = new_runtime("ingest", settings, settings.ingest_port)
    _, sessions = database(runtime, settings.database_url)
    _, js = await jetstream(runtime, settings.nats_url, "certflow-ingest")
    relay = OutboxRelay(sessions, IngestOutbox, js)
    loop = asyncio.get_running_loop()
    ingest = Ingest(
        sessions,
        IssuerProfile(
            id=settings.issuer_id,
            name=settings.issuer_name,
            url=settings.issuer_url,
            email=settings.issuer_email,
        ),
        max_rows=settings.max_rows_per_upload,
        leaves_per_message=settings.leaves_per_message,
        trace_headers=inject_context,
        # use cases run in worker threads; wake the relay on the event loop's thread
        on_committed=lambda: _call_soon(loop, relay.wake),
        allow_smtputf8=settings.allow_smtputf8_addresses,
    )
    uploads = ThreadPoolExecutor(settings.upload_workers, thread_name_prefix="ingest-upload")

    async def stop_uploads() -> None:
        uploads.shutdown(wait=False, cancel_futures=True)

    runtime.on_shutdown(stop_uploads)
    ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestServicer(ingest, max_upload_bytes=settings.max_upload_bytes, upload_executor=uploads),
        runtime.server,
    )
    runtime.add_service(ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name)
    runtime.spawn(relay.run(runtime.stopping), "outbox-relay")
    await runtime.run()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(callback)


def main() -> None:
    run_service("ingest", IngestSettings, serve)


if __name__ == "__main__":
    main()
