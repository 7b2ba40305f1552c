"""Entrypoint: `python -m services.anchor` (or `certflow-anchor`)."""

import asyncio
import logging
import os
import socket

from certflow.platform import bus
from certflow.platform.chain import RegistryClient, signer
from certflow.platform.outbox import OutboxRelay
from certflow.platform.service_setup import database, jetstream, new_runtime, run_service
from certflow.platform.telemetry import inject_context
from certflow.v1 import anchor_service_pb2, anchor_service_pb2_grpc
from services.anchor.lease import SignerLeaseHolder
from services.anchor.servicer import AnchorServicer
from services.anchor.settings import AnchorSettings
from services.anchor.tables import AnchorOutbox
from services.anchor.window_buffer import WindowBuffer
from services.anchor.windows import AnchorWindows
from services.anchor.worker import Anchorer

log = logging.getLogger(__name__)


async def _chain_id(registry: RegistryClient, stopping: asyncio.Event) -> int | None:
    """The chain may start after us: wait for it rather than crash-loop."""
    delay = 0.5
    while not stopping.is_set():
        try:
            return await registry.chain_id()
        except Exception as exc:
            log.warning("chain RPC not reachable yet (%s); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
    return None


async def serve(settings: AnchorSettings) -> None:
    runtime = new_runtime("anchor", settings, settings.anchor_port)
    _, sessions = database(runtime, settings.database_url)
    _, js = await jetstream(runtime, settings.nats_url, "certflow-anchor")
    registry = RegistryClient(settings.eth_rpc_url, settings.registry_address)
    runtime.on_shutdown(registry.close)
    chain_id = await _chain_id(registry, runtime.stopping)
    if chain_id is None:
        return
    relay = OutboxRelay(sessions, AnchorOutbox, js)
    windows = AnchorWindows(
        sessions, chain_id=chain_id, registry_address=registry.address, trace_headers=inject_context
    )
    account = signer(settings.anchor_private_key.get_secret_value())
    lease = SignerLeaseHolder(
        sessions, sender=account.address, holder=f"{socket.gethostname()}:{os.getpid()}"
    )

    async def release_lease() -> None:
        await asyncio.to_thread(lease.release)  # a restarted replica need not wait it out

    runtime.on_shutdown(release_lease)
    anchorer = Anchorer(
        windows,
        registry,
        account,
        buffer=WindowBuffer(settings.window_max_leaves, settings.window_max_age_seconds),
        confirmations=settings.confirmations,
        rebroadcast_seconds=settings.rebroadcast_seconds,
        fetch_batch=settings.fetch_batch,
        on_confirmed=relay.wake,
        lease=lease,
    )
    subscription = await bus.pull_subscription(
        js,
        bus.ConsumerSpec(
            durable="anchor",
            subject=bus.SUBJECT_ISSUED,
            ack_wait_seconds=max(60, settings.window_max_age_seconds * 3),
        ),
    )
    anchor_service_pb2_grpc.add_AnchorServiceServicer_to_server(
        AnchorServicer(sessions), runtime.server
    )
    runtime.add_service(anchor_service_pb2.DESCRIPTOR.services_by_name["AnchorService"].full_name)
    runtime.spawn(anchorer.consume(subscription, runtime.stopping), "consume-issued")
    runtime.spawn(anchorer.submit(runtime.stopping), "submit-windows")
    runtime.spawn(relay.run(runtime.stopping), "outbox-relay")
    await runtime.run()


def main() -> None:
    run_service("anchor", AnchorSettings, serve)


if __name__ == "__main__":
    main()
