"""Wiring shared by the service entrypoints: database, NATS and their clean shutdown."""

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform import bus
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.entrypoint import load_settings, parse_command_line
from certflow.platform.grpc_runtime import BackgroundTaskFailed, ServiceRuntime
from certflow.platform.settings import CommonSettings
from certflow.platform.telemetry import instrument_engine, setup_telemetry, shutdown_telemetry

log = logging.getLogger(__name__)


def database(
    runtime: ServiceRuntime, url: str, *, writer: bool = True
) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url, sqlite_writer=writer)
    instrument_engine(engine)

    async def dispose() -> None:
        await asyncio.to_thread(engine.dispose)

    runtime.on_shutdown(dispose)
    return engine, make_session_factory(engine)


async def jetstream(
    runtime: ServiceRuntime, url: str, name: str
) -> tuple[Client, JetStreamContext]:
    nc = await bus.connect(url, name)
    js = nc.jetstream()
    await bus.ensure_stream(js)

    async def close() -> None:
        # Not nc.drain(): a pull subscription's inbox never drains, so drain() always ran into
        # its timeout and the cancelled gather was logged at ERROR on every clean stop. Every
        # publish is already acked by then and unacked pull messages are redelivered anyway.
        try:
            if nc.is_connected:
                await asyncio.wait_for(nc.flush(), timeout=2)
        except Exception:
            pass
        finally:
            if not nc.is_closed:
                await nc.close()

    runtime.on_shutdown(close)
    return nc, js


def new_runtime(
    name: str, settings: CommonSettings, port: int, *, public_services: Iterable[str] = ()
) -> ServiceRuntime:
    token = settings.internal_token.get_secret_value() if settings.internal_token else None
    return ServiceRuntime(
        name,
        port=port,
        host=settings.grpc_host,
        token=token,
        public_services=public_services,
        grace_seconds=settings.shutdown_grace_seconds,
        reflection=settings.grpc_reflection,
    )


S = TypeVar("S", bound=CommonSettings)


def run_service(
    name: str,
    settings_class: type[S],
    serve: Callable[[S], Coroutine[Any, Any, None]],
    argv: Sequence[str] | None = None,
) -> None:
    """Entrypoint body: `--help`/`--version`, settings from the environment (failing fast with
    a clear message), telemetry, serve. Exits non-zero when a background loop failed, so
    supervisors and alerts see the crash."""
    program = f"certflow-{name}"
    parse_command_line(
        program,
        f"The certflow {name} service. Configured only through the environment.",
        settings_class,
        sys.argv[1:] if argv is None else argv,
    )
    settings = load_settings(program, settings_class)
    setup_telemetry(name, settings.log_level, settings.metrics_port)
    try:
        asyncio.run(serve(settings))
    except BackgroundTaskFailed as exc:
        log.error("%s exiting with status 1: %s", name, exc)
        raise SystemExit(1) from None
    finally:
        shutdown_telemetry()
