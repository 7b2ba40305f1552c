"""The lifecycle every service shares: gRPC server with health, reflection, auth and tracing;
background tasks; and graceful shutdown on SIGTERM/SIGINT.

On a stop signal: health goes NOT_SERVING (load balancers stop sending), the server stops
accepting and finishes in-flight calls within the grace period, background tasks are asked to
stop and awaited, then the caller's cleanups run (drain NATS, dispose the engine).
"""

import asyncio
import hmac
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# Probes must work without credentials; reflection describes every internal API, so it is not
# open: it needs the token like any internal call (and can be switched off entirely).
_ALWAYS_OPEN = ("/grpc.health.v1.Health/",)


class BackgroundTaskFailed(RuntimeError):
    """A background loop ended with an error: the service shut down and must exit non-zero."""


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Internal calls must carry `authorization: Bearer <token>`; health is open, and so are the
    methods of `public_services` (verification is for anyone)."""

    def __init__(self, token: str, public_services: Iterable[str] = ()) -> None:
        self._expected = f"Bearer {token}".encode()
        self._open = (*_ALWAYS_OPEN, *(f"/{s}/" for s in public_services))

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        method = handler_call_details.method
        if method.startswith(self._open):
            return await continuation(handler_call_details)
        presented = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if isinstance(presented, str) and hmac.compare_digest(presented.encode(), self._expected):
            return await continuation(handler_call_details)
        return _deny_handler()


def _deny_handler() -> grpc.RpcMethodHandler:
    # Served as unary whatever the method's shape: the call is refused before any real work.
    async def deny(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    return grpc.unary_unary_rpc_method_handler(deny)


def client_channel(target: str, token: str | None = None) -> grpc.aio.Channel:
    """A traced aio channel that sends the internal bearer token when given one."""
    interceptors: list[Any] = list(aio_client_interceptors())
    if token:
        interceptors.append(_TokenClientInterceptor(token))
    return grpc.aio.insecure_channel(
        target,
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ],
    )


class _TokenClientInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.StreamUnaryClientInterceptor
):
    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._metadata)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._with_token(details), request)

    async def intercept_stream_unary(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(self._with_token(details), request_iterator)


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        *,
        port: int,
        host: str = "0.0.0.0",
        token: str | None,
        public_services: Iterable[str] = (),
        grace_seconds: float = 10.0,
        reflection: bool = True,
    ) -> None:
        self.name = name
        self.reflection = reflection
        self.failed_task: str | None = None
        self.port = port
        self.host = host
        self.grace_seconds = grace_seconds
        self.stopping = asyncio.Event()
        self.serving = asyncio.Event()  # set once the port is bound and the server started
        interceptors: list[Any] = [aio_server_interceptor()]
        if token:
            interceptors.append(BearerTokenInterceptor(token, public_services))
        else:
            log.warning("CERTFLOW_INTERNAL_TOKEN is not set: internal gRPC is unauthenticated")
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []

    def add_service(self, full_name: str) -> None:
        self._service_names.append(full_name)

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """A background loop; it must return soon after `self.stopping` is set."""
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    def on_shutdown(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        self._cleanups.append(cleanup)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.stopping.is_set():
            return
        exc = task.exception()
        self.failed_task = task.get_name()
        log.error("background task %s stopped: %r; shutting down", task.get_name(), exc)
        self.stopping.set()

    async def run(self) -> None:
        if self.reflection:
            names = [*self._service_names, reflection.SERVICE_NAME, health.SERVICE_NAME]
            reflection.enable_server_reflection(names, self.server)
        bound = self.server.add_insecure_port(f"{self.host}:{self.port}")
        if not bound:
            raise RuntimeError(f"cannot bind gRPC port {self.port}")
        self.port = bound
        await self.server.start()
        for service_name in ["", *self._service_names]:
            await self.health.set(service_name, health_pb2.HealthCheckResponse.SERVING)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        log.info("%s serving gRPC on %s:%d", self.name, self.host, self.port)
        self.serving.set()
        await self.stopping.wait()
        await self._shutdown()
        if self.failed_task:
            raise BackgroundTaskFailed(f"{self.name}: background task {self.failed_task} failed")

    async def _shutdown(self) -> None:
        log.info("%s stopping", self.name)
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace_seconds)
        _, pending = (
            await asyncio.wait(self._tasks, timeout=self.grace_seconds)
            if self._tasks
            else (
                set(),
                set(),
            )
        )
        for task in pending:
            task.cancel()
        for cleanup in reversed(self._cleanups):
            try:
                await asyncio.wait_for(cleanup(), timeout=self.grace_seconds)
            except Exception:
                log.exception("cleanup %s failed", getattr(cleanup, "__qualname__", cleanup))
        log.info("%s stopped", self.name)
