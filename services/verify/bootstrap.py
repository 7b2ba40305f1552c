"""verify's object graph: `build` wires the use cases and entrypoints from settings and the
adapters it is given (real ones in `serve`, in-memory fakes in tests); `serve` makes the real
adapters (two engines on the service's own database, NATS, the chain) and runs it all."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from certflow.core.verification import (
    ChainView,
    IssuerDirectory,
    RegistryReader,
    RevocationIndex,
    RevocationNote,
    Verifier,
)
from certflow.platform import bus
from certflow.platform.chain import RegistryClient
from certflow.platform.issuer_identity import IdentitySettings, IssuerIdentity
from certflow.platform.rate_limit import KeyedRateLimiter
from certflow.platform.service_setup import database, jetstream, new_runtime
from services.verify.client_address import trusted_networks
from services.verify.consumers import (
    ANCHORED,
    ISSUED,
    EventConsumer,
    anchored_consumer,
    issued_consumer,
)
from services.verify.http_api import PageSettings, build_app, quiet_malformed_request_logs
from services.verify.http_workers import WorkerPool
from services.verify.lookups import CertificateLookups
from services.verify.read_model import AnchoredCertificate, CertificateStore, IssuedCertificate
from services.verify.reports import ProblemReports
from services.verify.revocation_notes import (
    REVOKED,
    NotedRevocation,
    NotedVerifier,
    RevocationNotes,
    SqlRevocationNotes,
    revoked_consumer,
)
from services.verify.servicer import SERVICE_NAME, VerifyServicer, add_verify_service
from services.verify.settings import VerifySettings
from services.verify.store import SqlCertificateStore, SqlProblemReports

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Adapters:
    store: CertificateStore
    registry: RegistryReader
    issuers: IssuerDirectory
    reports: ProblemReports | None = None  # None: no "report a problem" form
    notes: RevocationNotes | None = None  # why certificates are revoked (certs.revoked)


@dataclass(frozen=True, slots=True)
class VerifyService:
    lookups: CertificateLookups
    verifier: Verifier
    revocations: RevocationIndex
    issued: EventConsumer[IssuedCertificate]
    anchored: EventConsumer[AnchoredCertificate]
    revoked: EventConsumer[NotedRevocation] | None
    servicer: VerifyServicer
    http_app: web.Application


def build(settings: VerifySettings, adapters: Adapters, *, http_share: int = 1) -> VerifyService:
    """`http_share`: how many processes serve HTTP (http_workers.py); each limits a client at
    its share of the rate, connections being spread evenly across them."""
    lookups = CertificateLookups(adapters.store)
    revocations = RevocationIndex(
        adapters.registry,
        first_block=settings.registry_first_block,
        blocks_per_request=settings.revocation_sync_blocks,
        poll_seconds=settings.revocation_poll_seconds,
        sync_seconds=settings.revocation_sync_seconds,
    )
    verifier = NotedVerifier(
        ChainView(
            adapters.registry, anchor_seconds=settings.anchor_cache_seconds, revocations=revocations
        ),
        issuers=adapters.issuers,
        registry_address=settings.registry_address,
        deadline_seconds=settings.verify_deadline_seconds,
        is_pending=lookups.is_pending,
        notes=adapters.notes or _NoNotes(),
    )
    servicer = VerifyServicer(
        verifier,
        lookups,
        max_document_bytes=settings.max_document_bytes,
        limiter=KeyedRateLimiter(settings.http_rate_per_second, settings.http_rate_burst),
    )
    http_app = build_app(
        verifier,
        lookups,
        max_document_bytes=settings.max_document_bytes,
        rate=settings.http_rate_per_second / http_share,
        burst=max(settings.http_rate_burst / http_share, 1.0),
        reports=adapters.reports,
        page_settings=page_settings(settings),
    )
    return VerifyService(
        lookups=lookups,
        verifier=verifier,
        revocations=revocations,
        issued=issued_consumer(adapters.store),
        anchored=anchored_consumer(adapters.store),
        revoked=revoked_consumer(adapters.notes) if adapters.notes else None,
        servicer=servicer,
        http_app=http_app,
    )


class _NoNotes:
    def add_notes(self, notes: Sequence[NotedRevocation]) -> None:
        pass

    def note(self, certificate_id: str) -> RevocationNote | None:
        return None


def page_settings(settings: VerifySettings) -> PageSettings:
    """Raises ValueError naming a trusted proxy that is not a CIDR."""
    return PageSettings(
        trusted_proxies=trusted_networks(settings.trusted_proxies),
        public_url=settings.verify_public_url,
        accent=settings.certificate_accent_color,
        report_rate=settings.problem_report_rate_per_second,
        report_burst=settings.problem_report_burst,
    )


def identity_settings(settings: VerifySettings) -> IdentitySettings:
    return IdentitySettings(
        dns_resolver=settings.issuer_dns_resolver,
        profile_base_url=settings.issuer_profile_base_url,
        cache_seconds=settings.issuer_binding_cache_seconds,
        timeout_seconds=settings.issuer_binding_timeout_seconds,
    )


async def serve(settings: VerifySettings) -> None:
    runtime = new_runtime("verify", settings, settings.verify_port, public_services=[SERVICE_NAME])
    _, writes = database(runtime, settings.database_url)
    # look-ups on their own engine, which never takes SQLite's write lock up front
    _, reads = database(runtime, settings.database_url, writer=False)
    # no retries with backoff: a look-up has its own deadline and answers CHAIN_UNAVAILABLE
    registry = RegistryClient(
        settings.eth_rpc_url,
        settings.registry_address,
        timeout=settings.verify_deadline_seconds,
        retries=False,
    )
    runtime.on_shutdown(registry.close)
    issuers = IssuerIdentity(identity_settings(settings))
    runtime.on_shutdown(issuers.close)
    service = build(
        settings,
        Adapters(
            SqlCertificateStore(writes, reads),
            registry,
            issuers,
            SqlProblemReports(writes),
            SqlRevocationNotes(writes, reads),
        ),
        http_share=settings.verify_http_workers,
    )

    _, js = await jetstream(runtime, settings.nats_url, "certflow-verify")
    for spec, consumer in ((ISSUED, service.issued), (ANCHORED, service.anchored)):
        subscription = await bus.pull_subscription(js, spec)
        runtime.spawn(consumer.run(subscription, runtime.stopping), f"consume-{spec.subject}")
    runtime.spawn(service.revocations.follow(runtime.stopping), "follow-revocations")
    if service.revoked is not None:
        subscription = await bus.pull_subscription(js, REVOKED)
        runtime.spawn(service.revoked.run(subscription, runtime.stopping), "consume-certs.revoked")

    add_verify_service(service.servicer, runtime.server)
    runtime.add_service(SERVICE_NAME)
    quiet_malformed_request_logs()
    runner = web.AppRunner(service.http_app, access_log=None)
    await runner.setup()
    workers = settings.verify_http_workers
    await web.TCPSite(
        runner, settings.verify_http_host, settings.verify_http_port, reuse_port=workers > 1
    ).start()
    log.info(
        "verify serving HTTP on %s:%d (%d processes)",
        settings.verify_http_host,
        settings.verify_http_port,
        workers,
    )
    runtime.on_shutdown(runner.cleanup)
    if workers > 1:
        pool = WorkerPool(workers - 1)
        pool.start()
        runtime.spawn(pool.supervise(runtime.stopping), "supervise-http-workers")
        runtime.on_shutdown(pool.stop)
    await runtime.run()
