"""Maps domain errors to gRPC statuses with google.rpc details (AIP-193), in one place."""

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy.exc import InterfaceError, OperationalError

from certflow.core.errors import (
    Cancelled,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
)

log = logging.getLogger(__name__)
ERROR_DOMAIN = "certflow.dev"
DATABASE_UNAVAILABLE = Unavailable(
    "DATABASE_UNAVAILABLE", "the service's database is not reachable right now; retry shortly"
)

_CODES: list[tuple[type[DomainError], int]] = [
    (InvalidInput, code_pb2.INVALID_ARGUMENT),
    (NotFound, code_pb2.NOT_FOUND),
    (Conflict, code_pb2.ALREADY_EXISTS),
    (TooLarge, code_pb2.RESOURCE_EXHAUSTED),
    (Unavailable, code_pb2.UNAVAILABLE),
    (Cancelled, code_pb2.CANCELLED),
]


def to_status(error: DomainError) -> grpc.Status:
    code = next((c for kind, c in _CODES if isinstance(error, kind)), code_pb2.FAILED_PRECONDITION)
    details = []
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    details.append(_pack(info))
    if isinstance(error, InvalidInput) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        details.append(_pack(bad_request))
    return rpc_status.to_status(
        status_pb2.Status(code=code, message=error.message, details=details)
    )


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def translate_errors(method: F) -> F:
    """Servicer decorator: domain errors become proper statuses; bugs become INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort_for(error, context, method.__qualname__)

    return wrapper  # type: ignore[return-value]


G = TypeVar("G", bound=Callable[..., AsyncIterator[Any]])


def translate_stream_errors(method: G) -> G:
    """`translate_errors` for a server-streaming method written as an async generator (the
    OpenTelemetry server interceptor streams only those, not `context.write` coroutines)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async for response in method(self, request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort_for(error, context, method.__qualname__)

    return wrapper  # type: ignore[return-value]


async def _abort_for(error: Exception, context: grpc.aio.ServicerContext, where: str) -> None:
    """Ends the call with the status `error` deserves (raises grpc.aio.AbortError)."""
    if isinstance(error, DomainError):
        status = to_status(error)
    elif isinstance(error, OperationalError | InterfaceError):
        # the database is down, restarting or locked: a transient state, not a bug
        log.warning("database unavailable in %s: %s", where, error.orig)
        status = to_status(DATABASE_UNAVAILABLE)
    else:
        log.error("unexpected error in %s", where, exc_info=error)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error (logged)")
        return
    await context.abort(status.code, status.details, status.trailing_metadata)
