"""What a servicer's exception becomes on the wire: the same rule for unary methods and for
server-streaming ones written as async generators."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from sqlalchemy.exc import OperationalError

from certflow.core.errors import NotFound
from certflow.platform.grpc_errors import translate_errors, translate_stream_errors


class Aborted(grpc.aio.AbortError):
    pass


class RecordingContext:
    """The part of grpc.aio.ServicerContext the decorators use: abort raises, as gRPC's does."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing: Any = None) -> None:
        self.aborted = (code, details)
        raise Aborted()


FAILURES = [
    (NotFound("BATCH_NOT_FOUND", "no batch b-1"), grpc.StatusCode.NOT_FOUND, "no batch b-1"),
    (
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        grpc.StatusCode.UNAVAILABLE,
        "the service's database is not reachable right now; retry shortly",
    ),
    (RuntimeError("a bug"), grpc.StatusCode.INTERNAL, "internal error (logged)"),
]


@pytest.mark.parametrize(("failure", "code", "details"), FAILURES)
async def test_a_unary_method_s_exception_becomes_its_status(failure, code, details) -> None:
    class Servicer:
        @translate_errors
        async def Get(self, request: Any, context: Any) -> None:
            raise failure

    context = RecordingContext()
    with pytest.raises(Aborted):
        await Servicer().Get(None, context)
    assert context.aborted == (code, details)


@pytest.mark.parametrize(("failure", "code", "details"), FAILURES)
async def test_a_streaming_method_s_exception_after_a_response_becomes_its_status(
    failure, code, details
) -> None:
    class Servicer:
        @translate_stream_errors
        async def Watch(self, request: Any, context: Any) -> AsyncIterator[str]:
            yield "first"
            raise failure

    context = RecordingContext()
    received = []
    with pytest.raises(Aborted):
        async for response in Servicer().Watch(None, context):
            received.append(response)
    assert received == ["first"] and context.aborted == (code, details)


async def test_a_bug_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    class Servicer:
        @translate_errors
        async def Get(self, request: Any, context: Any) -> None:
            raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR), pytest.raises(Aborted):
        await Servicer().Get(None, RecordingContext())
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "Servicer.Get" in record.getMessage() and record.exc_info is not None


async def test_an_abort_of_the_method_s_own_goes_through_untouched() -> None:
    class Servicer:
        @translate_errors
        async def Get(self, request: Any, context: Any) -> None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")

    context = RecordingContext()
    with pytest.raises(Aborted):
        await Servicer().Get(None, context)
    assert context.aborted == (grpc.StatusCode.PERMISSION_DENIED, "no")
