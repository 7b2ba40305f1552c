"""Starts and stops the whole local stack, each part a real server on a free local port."""

import asyncio
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certflow.core.issuer_binding import RegistryRef, issuer_domain
from certflow.platform.chain import deploy_registry
from certflow.platform.db.migrate import upgrade
from devstack import tools
from devstack.issuer_identity import demo_issuer_records
from devstack.processes import ManagedProcess, free_port, wait_for_port
from devstack.smtp_sink import RelayBehaviour

SERVICES = ("ingest", "anchor", "notify", "verify")
# the demo issuer; its domain's TXT records and its profile are served by the local identity
# servers (devstack/issuer_identity.py), which verify is pointed at
DEMO_ISSUER_ID = "https://certflow.localhost/issuers/demo"
DEMO_ISSUER_NAME = "certflow Demo Academy"
ANVIL_CHAIN_ID = 31337


@dataclass
class StackOptions:
    state_dir: Path
    # one database for every service (e.g. a PostgreSQL URL); default: a SQLite file per service
    # in state_dir (each service owns its tables, and separate files do not queue for one lock)
    database_url: str = ""
    # a service → its own database URL, overriding the two above
    database_urls: dict[str, str] = field(default_factory=dict)
    window_max_age_seconds: float = 0.5
    window_max_leaves: int = 200_000
    smtp_connections: int = 4
    email_rate_per_second: float = 2000.0
    # how the local SMTP sink behaves: slow, refusing, dropping (fault tests); read at each
    # start_smtp(), so a test can change it and restart the sink
    smtp_behaviour: RelayBehaviour = field(default_factory=RelayBehaviour)
    service_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"


class LocalStack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.database_url = options.database_url
        self.mail_dir = self.state_dir / "mail"
        self.logs_dir = self.state_dir / "logs"
        self.token = secrets.token_urlsafe(24)
        self.ports = {
            name: free_port()
            for name in ("nats", "anvil", "smtp", "identity", "dns", *SERVICES, "http")
        }
        self.registry_address = ""
        self.issuer_id = options.service_env.get("CERTFLOW_ISSUER_ID", DEMO_ISSUER_ID)
        self.issuer_records = self.state_dir / "issuer-identity.json"
        self.processes: dict[str, ManagedProcess] = {}

    # ---- addresses ----

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.ports['nats']}"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['anvil']}"

    @property
    def verify_http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def database_url_of(self, service: str) -> str:
        default = self.database_url or f"sqlite:///{self.state_dir / f'{service}.db'}"
        return self.options.database_urls.get(service, default)

    def target(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    # ---- lifecycle ----

    def __enter__(self) -> "LocalStack":
        # Free ports are picked before the servers bind them; on a busy machine another process
        # can take one in between, so a failed start is retried once on fresh ports.
        for attempt in (1, 2):
            try:
                self.start()
                return self
            except Exception:
                self.stop()
                if attempt == 2:
                    raise
                self.ports = {name: free_port() for name in self.ports}
                self.processes = {}
            except BaseException:
                self.stop()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.start_nats()
        self.start_anvil()
        self.registry_address = asyncio.run(
            deploy_registry(self.rpc_url, tools.ANVIL_DEV_PRIVATE_KEY, "certflow local registry")
        )
        self.publish_issuer_registries([self.registry_address])
        self.start_identity()
        for service in SERVICES:
            upgrade(self.database_url_of(service), [service])
        self.start_smtp()
        for service in SERVICES:
            self.start_service(service, wait=False)
        for service in SERVICES:
            self.wait_healthy(service)

    def start_nats(self) -> None:
        process = self._spawn(
            "nats",
            [
                tools.nats_server(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.ports["nats"]),
                "-js",
                "-sd",
                str(self.state_dir / "nats"),
            ],
        )
        wait_for_port(self.ports["nats"], 20, process)

    def start_anvil(self) -> None:
        process = self._spawn(
            "anvil",
            [
                tools.anvil(),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports["anvil"]),
                # keep anvil's cache inside the state folder, not ~/.foundry (it grows to GBs)
                "--prune-history",
                "--cache-path",
                str(self.state_dir / "anvil-cache"),
            ],
        )
        wait_for_port(self.ports["anvil"], 30, process)

    def publish_issuer_registries(
        self, addresses: list[str], *, dns: bool = True, profile: bool = True
    ) -> None:
        """What the demo issuer publishes as its registries, in its DNS TXT records and its
        profile (or only one of them); verify reads it again once its cache
        (CERTFLOW_ISSUER_BINDING_CACHE_SECONDS) has expired."""
        domain = issuer_domain(self.issuer_id)
        if domain is None:
            raise ValueError(f"the issuer id {self.issuer_id} names no domain")
        demo_issuer_records(
            self.issuer_records,
            self.issuer_id,
            DEMO_ISSUER_NAME,
            domain,
            [RegistryRef.of(ANVIL_CHAIN_ID, address) for address in addresses],
            dns=dns,
            profile=profile,
        )

    def start_identity(self) -> None:
        process = self._spawn(
            "identity",
            [
                sys.executable,
                "-m",
                "devstack.issuer_identity",
                "--dns-port",
                str(self.ports["dns"]),
                "--http-port",
                str(self.ports["identity"]),
                "--records",
                str(self.issuer_records),
            ],
        )
        wait_for_port(self.ports["identity"], 20, process)

    def start_smtp(self) -> None:
        b = self.options.smtp_behaviour
        process = self._spawn(
            "smtp",
            [
                sys.executable,
                "-m",
                "devstack.smtp_sink",
                "--port",
                str(self.ports["smtp"]),
                "--dir",
                str(self.mail_dir),
                f"--delay-seconds={b.delay_seconds}",
                f"--fail-every={b.fail_every}",
                f"--fail-reply={b.fail_reply}",
                f"--fail-stage={b.fail_stage}",
                f"--drop-every={b.drop_every}",
                *([] if b.smtputf8 else ["--no-smtputf8"]),
                *(["--count-only"] if b.count_only else []),
                *(f"--refuse={address}={reply}" for address, reply in b.refuse),
            ],
        )
        wait_for_port(self.ports["smtp"], 20, process)

    def service_env(self, service: str) -> dict[str, str]:
        env = {
            "CERTFLOW_DATABASE_URL": self.database_url_of(service),
            "CERTFLOW_NATS_URL": self.nats_url,
            "CERTFLOW_INTERNAL_TOKEN": self.token,
            "CERTFLOW_LOG_LEVEL": self.options.log_level,
            "CERTFLOW_GRPC_HOST": "127.0.0.1",
            "CERTFLOW_ETH_RPC_URL": self.rpc_url,
            "CERTFLOW_REGISTRY_ADDRESS": self.registry_address,
            "CERTFLOW_ISSUER_ID": self.issuer_id,
            "CERTFLOW_ISSUER_NAME": DEMO_ISSUER_NAME,
            "CERTFLOW_ISSUER_DNS_RESOLVER": f"127.0.0.1:{self.ports['dns']}",
            "CERTFLOW_ISSUER_PROFILE_BASE_URL": f"http://127.0.0.1:{self.ports['identity']}",
            "CERTFLOW_INGEST_PORT": str(self.ports["ingest"]),
            "CERTFLOW_ANCHOR_PORT": str(self.ports["anchor"]),
            # ingest asks anchor the base fee for a dry run's fee estimate
            "CERTFLOW_ANCHOR_ADDRESS": self.target("anchor"),
            "CERTFLOW_NOTIFY_PORT": str(self.ports["notify"]),
            "CERTFLOW_VERIFY_PORT": str(self.ports["verify"]),
            "CERTFLOW_VERIFY_HTTP_HOST": "127.0.0.1",
            "CERTFLOW_VERIFY_HTTP_PORT": str(self.ports["http"]),
            "CERTFLOW_SMTP_HOST": "127.0.0.1",
            "CERTFLOW_SMTP_PORT": str(self.ports["smtp"]),
            "CERTFLOW_SMTP_CONNECTIONS": str(self.options.smtp_connections),
            "CERTFLOW_RATE_LIMIT_PER_SECOND": str(self.options.email_rate_per_second),
            "CERTFLOW_VERIFY_BASE_URL": self.verify_http_url,
            "CERTFLOW_WINDOW_MAX_AGE_SECONDS": str(self.options.window_max_age_seconds),
            "CERTFLOW_WINDOW_MAX_LEAVES": str(self.options.window_max_leaves),
            "CERTFLOW_SHUTDOWN_GRACE_SECONDS": "5",
            # the caller's OTEL_* (e.g. an OTLP collector) reach the services; no export otherwise
            "OTEL_TRACES_EXPORTER": os.environ.get("OTEL_TRACES_EXPORTER", "none"),
        }
        if service == "anchor":
            env["CERTFLOW_ANCHOR_PRIVATE_KEY"] = tools.ANVIL_DEV_PRIVATE_KEY
        env.update(self.options.service_env)
        return env

    def start_service(self, service: str, *, wait: bool = True) -> None:
        self._spawn(
            service,
            [sys.executable, "-m", f"services.{service}"],
            env=self.service_env(service),
        )
        if wait:
            self.wait_healthy(service)

    def start_replica(self, service: str, number: int) -> ManagedProcess:
        """Another process of `service` on the same database and durable consumers, on a gRPC
        port of its own, named "<service>-<number>" (stopped with the stack)."""
        env = {**self.service_env(service), f"CERTFLOW_{service.upper()}_PORT": str(free_port())}
        argv = [sys.executable, "-m", f"services.{service}"]
        return self._spawn(f"{service}-{number}", argv, env)

    def restart(self, name: str, *, crash: bool = False) -> None:
        """Stops (or kills) one part and starts it again on the same port and state."""
        process = self.processes[name]
        process.kill() if crash else process.stop()
        process.start()
        if name in SERVICES:
            self.wait_healthy(name)
        else:
            wait_for_port(self.ports[name], 30, process)

    def wait_healthy(self, service: str, timeout: float = 60) -> None:
        process = self.processes[service]
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target(service)) as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs package misses Check
            while time.monotonic() < deadline:
                process.check_alive()
                try:
                    response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(f"{service} not healthy after {timeout}s:\n{process.log_tail()}")

    def stop(self) -> None:
        # services first (they drain into NATS and the database), then the infrastructure
        infrastructure = ("smtp", "identity", "anvil", "nats")
        replicas = [n for n in self.processes if n not in (*SERVICES, *infrastructure)]
        for name in (*replicas, *reversed(SERVICES), *infrastructure):
            process = self.processes.get(name)
            if process is not None:
                process.stop()

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> ManagedProcess:
        process = ManagedProcess(
            name, argv, self.logs_dir / f"{name}.log", env=env or {}, cwd=tools.PROJECT_ROOT
        ).start()
        self.processes[name] = process
        return process
