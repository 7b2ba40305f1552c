"""anchor's object graph. `assemble` wires the use cases and entrypoints around whatever store,
chain, signer and lease it is given (unit tests pass in-memory fakes); `start` builds the real
adapters from settings (database, NATS, the chain RPC, the key), assembles, and puts the loops
and the gRPC service on the runtime."""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker
from web3.types import TxParams

from certflow.platform import bus, metrics
from certflow.platform.cancellations import CancellationReader, CancelledCertificates
from certflow.platform.chain import RegistryClient, RemoteSigner, sign, signer
from certflow.platform.grpc_runtime import ServiceRuntime
from certflow.platform.outbox import OutboxRelay
from certflow.platform.service_setup import database, jetstream
from certflow.platform.telemetry import inject_context
from certflow.v1 import anchor_service_pb2, anchor_service_pb2_grpc
from services.anchor.anchorer import Anchorer, Chain, Lease, Signer, SubmissionStore
from services.anchor.backlog import unconfirmed
from services.anchor.cancellations import SkippingCancelled
from services.anchor.consumers import IssuedConsumer
from services.anchor.fees import GWEI, FeePolicy
from services.anchor.lease import SignerLeaseHolder
from services.anchor.presence import PostgresPresence
from services.anchor.reissues import REISSUED, ReissuedConsumer
from services.anchor.revocation_store import SqlRevocations
from services.anchor.revocations import RevocationRecords
from services.anchor.revoker import RevocationChain, RevocationLedger, Revoker
from services.anchor.servicer import AnchorServicer
from services.anchor.settings import AnchorSettings
from services.anchor.store import AnchorStore
from services.anchor.tables import AnchorOutbox
from services.anchor.views import WindowViews
from services.anchor.window_buffer import WindowBuffer
from services.anchor.windows import WindowPlacement

log = logging.getLogger(__name__)


class AnchorStoreLike(WindowPlacement, SubmissionStore, WindowViews, Protocol):
    """Everything anchor asks of its store (AnchorStore, or a fake in unit tests)."""


Tx = TypeVar("Tx")


class RevocationStoreLike(RevocationRecords, RevocationLedger, Protocol):
    """What revocation asks of its store (SqlRevocations)."""


@dataclass(frozen=True, slots=True)
class Anchor(Generic[Tx]):
    consumer: IssuedConsumer
    anchorer: Anchorer[Tx]
    servicer: AnchorServicer
    revoker: Revoker[Tx] | None = None
    reissued: ReissuedConsumer | None = None


def assemble(
    settings: AnchorSettings,
    *,
    store: AnchorStoreLike,
    chain: Chain[Tx],
    signer: Signer[Tx],
    lease: Lease,
    on_confirmed: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    cancelled: CancelledCertificates | None = None,
    catch_up_cancellations: Callable[[], None] = lambda: None,
    rpc_url: Callable[[], str] = str,
    revocations: RevocationStoreLike | None = None,
    revocation_chain: RevocationChain[Tx] | None = None,
    chain_id: int = 0,
) -> Anchor[Tx]:
    tip = settings.priority_fee_gwei
    fee_policy = FeePolicy(
        max_fee_cap=int(settings.max_fee_per_gas_cap_gwei * GWEI),
        tip=int(tip * GWEI) if tip is not None else None,
    )
    revoker = None
    if revocations is not None and revocation_chain is not None:
        revoker = Revoker(
            revocations,
            revocation_chain,
            signer,
            chain_id=chain_id,
            confirmations=settings.confirmations,
            rebroadcast_seconds=settings.rebroadcast_seconds,
            fee_policy=fee_policy,
            window_max_leaves=settings.revocation_window_max_leaves,
            window_max_age_seconds=settings.revocation_window_max_age_seconds,
            replace_after_seconds=settings.replace_after_seconds,
            retry_first_seconds=settings.retry_first_seconds,
            retry_longest_seconds=settings.retry_longest_seconds,
            on_confirmed=on_confirmed,
            clock=clock,
            new_id=new_id,
        )
    anchorer = Anchorer(
        store,
        chain,
        signer,
        lease,
        confirmations=settings.confirmations,
        rebroadcast_seconds=settings.rebroadcast_seconds,
        fee_policy=fee_policy,
        replace_after_seconds=settings.replace_after_seconds,
        retry_first_seconds=settings.retry_first_seconds,
        retry_longest_seconds=settings.retry_longest_seconds,
        low_balance_wei=int(settings.low_balance_eth * 10**18),
        balance_check_seconds=settings.balance_check_seconds,
        rpc_url=rpc_url,
        on_confirmed=on_confirmed,
        clock=clock,
        after_pass=revoker.advance_all if revoker is not None else None,
    )
    consumer = IssuedConsumer(
        # leaves of certificates cancelled (certs.cancelled) before their window is built are
        # left out of it
        SkippingCancelled(
            store,
            cancelled if cancelled is not None else CancelledCertificates(),
            catch_up_cancellations,
        ),
        WindowBuffer(settings.window_max_leaves, settings.window_max_age_seconds),
        new_id=new_id,
        on_built=anchorer.wake,
        clock=clock,
    )
    return Anchor(
        consumer=consumer,
        anchorer=anchorer,
        servicer=AnchorServicer(
            store,
            signer_status=lambda: anchorer.status,
            revocations=revocations,
            on_revoked=anchorer.wake,
        ),
        revoker=revoker,
        reissued=(
            ReissuedConsumer(revocations, on_revoked=anchorer.wake)
            if revocations is not None
            else None
        ),
    )


class AccountSigner:
    """The registry owner's key (eth-account)."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address)

    async def sign(self, transaction: TxParams) -> tuple[bytes, str]:
        return sign(self._account, transaction)


def signer_from(settings: AnchorSettings) -> AccountSigner | RemoteSigner:
    """The local key, or the remote signer that holds it (settings allow exactly one)."""
    if settings.anchor_private_key is not None:
        return AccountSigner(signer(settings.anchor_private_key.get_secret_value()))
    return RemoteSigner(
        settings.remote_signer_url,
        settings.remote_signer_address,
        timeout=settings.remote_signer_timeout_seconds,
    )


async def start(settings: AnchorSettings, runtime: ServiceRuntime) -> bool:
    """Real adapters, wired and running on `runtime`; False when asked to stop before the
    chain answered."""
    engine, sessions = database(runtime, settings.database_url)
    _, js = await jetstream(runtime, settings.nats_url, "certflow-anchor")
    registry = RegistryClient(
        settings.rpc_urls,
        settings.registry_address,
        timeout=settings.rpc_timeout_seconds,
        attempts_per_url=settings.rpc_attempts_per_url,
    )
    runtime.on_shutdown(registry.close)
    chain_id = await _chain_id(registry, runtime.stopping)
    if chain_id is None:
        return False
    store = AnchorStore(
        sessions, chain_id=chain_id, registry_address=registry.address, trace_headers=inject_context
    )
    revocations = SqlRevocations(
        sessions, chain_id=chain_id, registry_address=registry.address, trace_headers=inject_context
    )
    relay = OutboxRelay(sessions, AnchorOutbox, js)
    key = signer_from(settings)
    if isinstance(key, RemoteSigner):
        runtime.on_shutdown(key.close)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    lease = SignerLeaseHolder(
        store,
        sender=key.address,
        holder=holder,
        # on PostgreSQL a stand-by takes over as soon as the holder's session ends
        presence=PostgresPresence(engine, holder) if engine.dialect.name == "postgresql" else None,
    )

    async def release_lease() -> None:
        await asyncio.to_thread(lease.release)  # a restarted replica need not wait it out

    runtime.on_shutdown(release_lease)
    cancelled = CancelledCertificates()
    cancellations = CancellationReader(js, cancelled)
    await cancellations.start()  # from the stream's start: the set is rebuilt at every start
    runtime.on_shutdown(cancellations.stop)
    anchor = assemble(
        settings,
        store=store,
        chain=registry,
        signer=key,
        lease=lease,
        on_confirmed=relay.wake,
        cancelled=cancelled,
        catch_up_cancellations=cancellations.blocking_catch_up(asyncio.get_running_loop()),
        rpc_url=lambda: registry.current_url,
        revocations=revocations,
        revocation_chain=registry,
        chain_id=chain_id,
    )
    subscription = await bus.pull_subscription(
        js,
        bus.ConsumerSpec(
            # "anchor-leaves" since certs.leaves: the durable "anchor" of certs.issued is
            # no longer read (CHANGELOG: remove it once it has nothing pending)
            durable="anchor-leaves",
            subject=bus.SUBJECT_LEAVES,
            ack_wait_seconds=max(60, settings.window_max_age_seconds * 3),
        ),
    )

    async def fetch() -> list[Any]:
        return await bus.fetch(subscription, settings.fetch_batch, wait_seconds=0.25)

    _observe(anchor, sessions)
    anchor_service_pb2_grpc.add_AnchorServiceServicer_to_server(anchor.servicer, runtime.server)
    runtime.add_service(anchor_service_pb2.DESCRIPTOR.services_by_name["AnchorService"].full_name)
    runtime.spawn(anchor.consumer.run(fetch, runtime.stopping), "consume-issued")
    runtime.spawn(anchor.anchorer.submit(runtime.stopping), "submit-windows")
    runtime.spawn(relay.run(runtime.stopping), "outbox-relay")
    reissued = await bus.pull_subscription(js, REISSUED)

    async def fetch_reissued() -> list[Any]:
        return await bus.fetch(reissued, 50, wait_seconds=0.25)

    assert anchor.reissued is not None
    runtime.spawn(anchor.reissued.run(fetch_reissued, runtime.stopping), "consume-reissued")
    return True


def _observe(anchor: Anchor[Any], sessions: sessionmaker[Session]) -> None:
    """The gauges: leaves waiting (held for a window, in windows not yet confirmed), the
    oldest unconfirmed window's age, and the signer's balance against its threshold."""

    def leaves() -> metrics.Reading:
        backlog = unconfirmed(sessions)
        return [
            (anchor.consumer.buffered_leaves, {metrics.STATE: "buffered"}),
            (backlog.leaves, {metrics.STATE: "in_window"}),
        ]

    def balance() -> metrics.Reading:
        status = anchor.anchorer.status
        return [] if status.balance_wei is None else [(status.balance_wei, {})]

    metrics.observe(metrics.LEAVES_PENDING, leaves)
    metrics.observe(metrics.WINDOW_OLDEST_AGE, lambda: [(unconfirmed(sessions).oldest_seconds, {})])
    metrics.observe(metrics.SIGNER_BALANCE, balance)
    metrics.observe(
        metrics.SIGNER_LOW_BALANCE, lambda: [(anchor.anchorer.status.low_balance_wei, {})]
    )


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
