"""ingest's LMS listener: `POST /xapi/statements` (an LRS's statement resource, HTTP Basic or
bearer per source) and `POST /webhooks/{source}` (HMAC-signed completion events).

Thin: a request becomes an `LmsIntake` call in a worker thread; domain errors become JSON
answers in one place (`_error`). The body is read up to its limit and no further.
"""

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
)
from certflow.platform.grpc_runtime import ServiceRuntime
from services.ingest.lms import LmsIntake, NotConfigured, StoredStatements, Unauthenticated
from services.ingest.lms_store import SqlLmsStore
from services.ingest.settings import IngestSettings
from services.ingest.usecases import Ingest
from services.ingest.xapi import check_version

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Certflow-Signature"
XAPI_VERSION = "1.0.3"
_STATUS: list[tuple[type[DomainError], int]] = [
    (Unauthenticated, 401),
    (InvalidInput, 400),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (Unavailable, 503),
    (NotConfigured, 503),  # the service's setting, not the sender's fault
]


def _error(error: DomainError) -> web.Response:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
    headers = {"WWW-Authenticate": 'Basic realm="certflow-lms"'} if status == 401 else None
    return web.json_response(
        {"error": error.reason, "message": error.message}, status=status, headers=headers
    )


async def _body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge("BODY_TOO_LARGE", f"send at most {limit} bytes per request")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge("BODY_TOO_LARGE", f"send at most {limit} bytes per request")
        chunks.append(chunk)
    return b"".join(chunks)


def _credentials(request: web.Request) -> tuple[tuple[str, str] | None, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            name, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return (name, secret), None
    if scheme.lower() == "bearer" and value.strip():
        return None, value.strip()
    return None, None


def _stored(result: StoredStatements) -> web.Response:
    # xAPI answers a POST with the statement ids, in the order sent
    return web.json_response(result.statement_ids, status=200)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _xapi_version(request: web.Request, response: web.StreamResponse) -> None:
    # xAPI 1.0.3 §6.2: an LRS names its version in every response, errors included
    if request.path.startswith("/xapi/"):
        response.headers["X-Experience-API-Version"] = XAPI_VERSION


def build_lms_app(intake: LmsIntake, *, max_body_bytes: int) -> web.Application:
    @web.middleware
    async def domain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except DomainError as error:
            return _error(error)
        except web.HTTPException:
            raise  # the framework's own answers (404, 405)
        except Exception:
            # a bug: what was committed stays (a retry is a replay); the sender sees JSON
            log.exception("LMS request %s %s failed", request.method, request.path)
            return web.json_response(
                {"error": "INTERNAL", "message": "an internal error; retry later"}, status=500
            )

    async def post_statements(request: web.Request) -> web.Response:
        basic, bearer = _credentials(request)
        source = await asyncio.to_thread(intake.authenticate, basic=basic, bearer=bearer)
        check_version(request.headers.get("X-Experience-API-Version"))
        body = await _body(request, max_body_bytes)
        result = await asyncio.to_thread(intake.receive_statements, source, body)
        return _stored(result)

    async def post_webhook(request: web.Request) -> web.Response:
        body = await _body(request, max_body_bytes)
        result = await asyncio.to_thread(
            intake.receive_webhook,
            request.match_info["source"],
            body,
            signature=request.headers.get(SIGNATURE_HEADER),
        )
        return web.json_response({"statement_ids": result.statement_ids, "new": result.new})

    # the framework's own limit is one byte above ours, so ours answers with its JSON error
    app = web.Application(middlewares=[domain_errors], client_max_size=max_body_bytes + 1)
    app.on_response_prepare.append(_xapi_version)
    app.router.add_post("/xapi/statements", post_statements)
    app.router.add_post("/webhooks/{source}", post_webhook)
    return app


async def serve_lms(app: web.Application, host: str, port: int) -> Callable[[], Awaitable[None]]:
    """Starts the listener; returns its cleanup."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("ingest serving LMS intake on %s:%d", host, port)
    return runner.cleanup


def lms_intake(
    settings: IngestSettings, sessions: sessionmaker[Session], ingest: Ingest
) -> LmsIntake:
    key = settings.lms_secret_key.get_secret_value().encode() if settings.lms_secret_key else b""
    return LmsIntake(
        SqlLmsStore(sessions),
        ingest,
        max_statements=settings.lms_max_statements,
        secret_key=key,
        signature_tolerance_seconds=settings.lms_signature_tolerance_seconds,
        issue_attempts=settings.lms_issue_attempts,
    )


async def start_lms_intake(
    runtime: ServiceRuntime, settings: IngestSettings, intake: LmsIntake
) -> None:
    """The listener (when a port is set) and the loop that issues achievements left pending."""
    if settings.lms_http_port:
        app = build_lms_app(intake, max_body_bytes=settings.lms_max_body_bytes)
        runtime.on_shutdown(await serve_lms(app, settings.lms_http_host, settings.lms_http_port))

    async def retry_pending() -> None:
        while not runtime.stopping.is_set():
            try:
                await asyncio.wait_for(runtime.stopping.wait(), settings.lms_retry_seconds)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.to_thread(intake.issue_pending)
            except Exception:  # the next round tries again; a bug is logged, not fatal
                log.exception("issuing pending LMS achievements failed")

    runtime.spawn(retry_pending(), "lms-pending-achievements")
