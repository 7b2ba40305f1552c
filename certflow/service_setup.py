"""Wiring shared by the service entrypoints: database, NATS and their clean shutdown."""

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from certflow import bus
from certflow.db.engine import make_engine, make_session_factory
from certflow.grpc_runtime import ServiceRuntime
from certflow.settings import CommonSettings
from certflow.telemetry import setup_telemetry, shutdown_telemetry


def database(
    runtime: ServiceRuntime, url: str, *, writer: bool = True
) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url, sqlite_writer=writer)

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

    async def drain() -> None:
        # unacked pull messages are redelivered anyway; do not let a slow drain hold the exit
        try:
            if nc.is_connected:
                await asyncio.wait_for(nc.drain(), timeout=2)
        except Exception:
            pass
        finally:
            if not nc.is_closed:
                await nc.close()

    runtime.on_shutdown(drain)
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
    )


S = TypeVar("S", bound=CommonSettings)


def run_service(
    name: str, make_settings: Callable[[], S], serve: Callable[[S], Coroutine[Any, Any, None]]
) -> None:
    """Entrypoint body: settings from the environment (failing fast), telemetry, serve."""
    settings = make_settings()
    setup_telemetry(name, settings.log_level)
    try:
        asyncio.run(serve(settings))
    finally:
        shutdown_telemetry()
