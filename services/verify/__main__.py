"""Entrypoint: `python -m services.verify` (or `certflow-verify`)."""

import logging

from aiohttp import web

from certflow.platform.chain import RegistryClient
from certflow.platform.rate_limit import KeyedRateLimiter
from certflow.platform.service_setup import database, new_runtime, run_service
from services.verify.http_api import build_app, quiet_malformed_request_logs
from services.verify.lookups import CertificateLookups
from services.verify.servicer import SERVICE_NAME, VerifyServicer, add_verify_service
from services.verify.settings import VerifySettings
from services.verify.verification import ChainView, RevocationIndex, Verifier

log = logging.getLogger(__name__)


async def serve(settings: VerifySettings) -> None:
    runtime = new_runtime("verify", settings, settings.verify_port, public_services=[SERVICE_NAME])
    _, sessions = database(runtime, settings.database_url, writer=False)
    deadline = settings.verify_deadline_seconds
    # no retries with backoff: a look-up has its own deadline and answers CHAIN_UNAVAILABLE
    registry = RegistryClient(
        settings.eth_rpc_url, settings.registry_address, timeout=deadline, retries=False
    )
    runtime.on_shutdown(registry.close)
    lookups = CertificateLookups(sessions)
    revocations = RevocationIndex(
        registry,
        first_block=settings.registry_first_block,
        blocks_per_request=settings.revocation_sync_blocks,
        poll_seconds=settings.revocation_poll_seconds,
        sync_seconds=settings.revocation_sync_seconds,
    )
    runtime.spawn(revocations.follow(runtime.stopping), "follow-revocations")
    verifier = Verifier(
        ChainView(registry, anchor_seconds=settings.anchor_cache_seconds, revocations=revocations),
        registry_address=registry.address,
        deadline_seconds=deadline,
        is_pending=lookups.is_pending,
    )
    add_verify_service(
        VerifyServicer(
            verifier,
            lookups,
            max_document_bytes=settings.max_document_bytes,
            limiter=KeyedRateLimiter(settings.http_rate_per_second, settings.http_rate_burst),
        ),
        runtime.server,
    )
    runtime.add_service(SERVICE_NAME)
    app = build_app(
        verifier,
        lookups,
        max_document_bytes=settings.max_document_bytes,
        rate=settings.http_rate_per_second,
        burst=settings.http_rate_burst,
    )
    quiet_malformed_request_logs()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.verify_http_host, settings.verify_http_port).start()
    log.info("verify serving HTTP on %s:%d", settings.verify_http_host, settings.verify_http_port)
    runtime.on_shutdown(runner.cleanup)
    await runtime.run()


def main() -> None:
    run_service("verify", VerifySettings, serve)


if __name__ == "__main__":
    main()
