"""Public HTTP: JSON API and the verification page, size- and rate-limited per client.

Domain errors become JSON answers in one place (`error_response`): InvalidInput 400,
NotFound 404, TooLarge 413, Unavailable 503 (e.g. CHAIN_UNAVAILABLE).
"""

import logging
from pathlib import Path
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import BadHttpMessage
from jinja2 import Environment, FileSystemLoader, select_autoescape

from certflow.core.errors import DomainError, InvalidInput, NotFound, TooLarge, Unavailable
from certflow.core.verification import Verification, VerificationStatus, Verifier
from certflow.platform.rate_limit import KeyedRateLimiter
from services.verify.by_id import Lookups, verify_by_id

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


_HTTP_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (NotFound, 404),
    (TooLarge, 413),
    (Unavailable, 503),
]


def error_response(error: DomainError) -> web.Response:
    status = next((code for kind, code in _HTTP_STATUS if isinstance(error, kind)), 400)
    return web.json_response({"error": error.reason, "message": error.message}, status=status)


def document_too_large(max_document_bytes: int) -> TooLarge:
    return TooLarge("DOCUMENT_TOO_LARGE", f"send at most {max_document_bytes} bytes")


async def read_at_most(body: StreamReader, limit: int) -> bytes | None:
    """The whole body when it has at most `limit` bytes, None when it has more (reading no
    more than limit + 1 bytes): works for chunked bodies, which have no Content-Length."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await body.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


class MalformedRequestLogFilter(logging.Filter):
    """aiohttp logs every unparsable request (garbage request line, bad header, oversized
    line) at ERROR with a traceback: anyone could flood our logs. Those become one DEBUG line;
    real errors of the server are left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, BadHttpMessage):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = "refused a malformed HTTP request: %s", (error.message,)
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_malformed_request_logs() -> None:
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestLogFilter())


def as_json(result: Verification) -> dict[str, Any]:
    return {
        "status": result.status.upper(),
        "certificateId": result.certificate_id,
        "issuerName": result.issuer_name,
        "recipientName": result.recipient_name,
        "title": result.title,
        "anchoredAt": result.anchored_at.isoformat() if result.anchored_at else None,
        "transactionHash": result.transaction_hash,
        "chainId": result.chain_id,
        "checks": [
            {"check": c.name, "status": c.status.upper(), "message": c.message}
            for c in result.checks
        ],
    }


def build_app(
    verifier: Verifier,
    lookups: Lookups,
    *,
    max_document_bytes: int,
    rate: float,
    burst: float,
) -> web.Application:
    limiter = KeyedRateLimiter(rate, burst)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/healthz" and not limiter.allow(request.remote or "unknown"):
            return web.json_response(
                {"error": "RATE_LIMITED", "message": "too many requests"}, status=429
            )
        try:
            response = await handler(request)
        except DomainError as error:
            response = error_response(error)
        response.headers.update(_SECURITY_HEADERS)
        return response

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "SERVING"})

    async def verify_posted(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_document_bytes:
            raise document_too_large(max_document_bytes)
        body = await read_at_most(request.content, max_document_bytes)
        if body is None:
            raise document_too_large(max_document_bytes)
        return web.json_response(as_json(await verifier.verify_json(body)))

    async def verify_id(request: web.Request) -> web.Response:
        result = await verify_by_id(verifier, lookups, request.match_info["certificate_id"])
        return web.json_response(
            as_json(result), status=404 if result.status is VerificationStatus.NOT_FOUND else 200
        )

    async def document(request: web.Request) -> web.Response:
        stored = await lookups.find(request.match_info["certificate_id"])
        if stored is None or not stored.anchored:
            return web.json_response(
                {"error": "NOT_FOUND", "message": "no anchored certificate"}, status=404
            )
        filename = f"certificate-{stored.certificate_id}.json"
        disposition = f'attachment; filename="{filename}"'
        return web.json_response(stored.document, headers={"Content-Disposition": disposition})

    async def page(request: web.Request) -> web.Response:
        certificate_id = request.match_info.get("certificate_id", "")
        try:
            result = (
                await verify_by_id(verifier, lookups, certificate_id) if certificate_id else None
            )
        except Unavailable as error:
            html = _PAGES.get_template("verify.html").render(result=None, error=error.message)
            return web.Response(text=html, content_type="text/html", status=503)
        html = _PAGES.get_template("verify.html").render(result=as_json(result) if result else None)
        return web.Response(
            text=html,
            content_type="text/html",
            status=404 if result and result.status is VerificationStatus.NOT_FOUND else 200,
        )

    app = web.Application(middlewares=[guard], client_max_size=max_document_bytes)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/v1/verify", verify_posted)
    app.router.add_get("/api/v1/certificates/{certificate_id}/verification", verify_id)
    app.router.add_get("/api/v1/certificates/{certificate_id}/document", document)
    app.router.add_get("/verify", page)
    app.router.add_get("/verify/{certificate_id}", page)
    return app
