"""More processes for the public HTTP API: look-ups are CPU-bound Python (canonical JSON, the
Merkle check, rendering), so one process answers on one core. With
`CERTFLOW_VERIFY_HTTP_WORKERS=N` the service process serves HTTP itself and keeps N-1 worker
processes serving the same port (SO_REUSEPORT: the kernel spreads connections across them).

A worker holds what a look-up needs and nothing else: its own engines on the read model, the
registry client and revocation follower, the issuer directory. It consumes no events and serves
no gRPC — the service process does that. Each worker limits clients at rate/N (connections are
spread evenly, so a client's total stays about the configured rate). The service process
restarts a worker that dies and stops them all when it stops; a worker whose parent is gone
stops itself."""

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from aiohttp import web

from certflow.platform.chain import RegistryClient
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.entrypoint import load_settings, parse_command_line
from certflow.platform.issuer_identity import IssuerIdentity
from certflow.platform.telemetry import setup_telemetry, shutdown_telemetry
from services.verify.http_api import quiet_malformed_request_logs
from services.verify.settings import VerifySettings

log = logging.getLogger(__name__)
PROGRAM = "certflow-verify-http-worker"
RESTART_PAUSE_SECONDS = 1.0


class WorkerPool:
    """The service process's N-1 HTTP workers: started, restarted when one dies, stopped."""

    def __init__(self, count: int, command: list[str] | None = None) -> None:
        self._count = count
        self._command = command or [sys.executable, "-m", "services.verify.http_workers"]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.restarts = 0

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self._count)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        # the parent's environment is the configuration; no second metrics endpoint on its port
        env = {**os.environ, "CERTFLOW_METRICS_PORT": "0"}
        return subprocess.Popen(self._command, env=env, stdin=subprocess.DEVNULL)

    async def supervise(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not stopping.is_set():
                    log.error(
                        "verify HTTP worker %d exited with %s; starting it again",
                        process.pid,
                        process.returncode,
                    )
                    self.processes[index] = self._spawn()
                    self.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RESTART_PAUSE_SECONDS)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, grace_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


async def serve_http_worker(
    settings: VerifySettings, parent_alive: Callable[[], bool] | None = None
) -> None:
    # imported here: bootstrap imports this module for WorkerPool
    from services.verify.bootstrap import Adapters, build, identity_settings
    from services.verify.revocation_notes import SqlRevocationNotes
    from services.verify.store import SqlCertificateStore, SqlProblemReports

    parent = os.getppid()
    parent_alive = parent_alive or (lambda: os.getppid() == parent)
    writes_engine = make_engine(settings.database_url)
    reads_engine = make_engine(settings.database_url, sqlite_writer=False)
    writes, reads = make_session_factory(writes_engine), make_session_factory(reads_engine)
    registry = RegistryClient(
        settings.eth_rpc_url,
        settings.registry_address,
        timeout=settings.verify_deadline_seconds,
        retries=False,
    )
    issuers = IssuerIdentity(identity_settings(settings))
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
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    follower = asyncio.create_task(service.revocations.follow(stopping))
    quiet_malformed_request_logs()
    runner = web.AppRunner(service.http_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.verify_http_host, settings.verify_http_port, reuse_port=True
    )
    await site.start()
    log.info("verify HTTP worker serving on port %d", settings.verify_http_port)
    try:
        while not stopping.is_set() and parent_alive():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)
    finally:
        stopping.set()
        await runner.cleanup()
        await follower
        await registry.close()
        await issuers.close()
        writes_engine.dispose()
        reads_engine.dispose()


def main() -> None:
    parse_command_line(
        PROGRAM,
        "One of verify's HTTP worker processes (started by the verify service when "
        "CERTFLOW_VERIFY_HTTP_WORKERS > 1). Configured only through the environment.",
        VerifySettings,
        sys.argv[1:],
    )
    settings = load_settings(PROGRAM, VerifySettings)
    setup_telemetry("verify", settings.log_level, 0)
    try:
        asyncio.run(serve_http_worker(settings))
    finally:
        shutdown_telemetry()


if __name__ == "__main__":
    main()
