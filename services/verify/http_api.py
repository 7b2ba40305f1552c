"""Public HTTP: JSON API and the verification page, size- and rate-limited per client.

Domain errors become JSON answers in one place (`error_response`): InvalidInput 400,
NotFound 404, TooLarge 413, Unavailable 503 (e.g. CHAIN_UNAVAILABLE).
"""

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, StreamReader, web
from aiohttp.http_exceptions import BadHttpMessage
from jinja2 import Environment, FileSystemLoader, select_autoescape

from certflow.core.errors import DomainError, InvalidInput, NotFound, TooLarge, Unavailable
from certflow.core.verification import (
    RevocationNote,
    Verification,
    VerificationStatus,
    Verifier,
)
from certflow.platform.http_tracing import traced_requests
from certflow.platform.rate_limit import KeyedRateLimiter
from services.verify.by_id import Lookups, is_certificate_id, verify_by_id
from services.verify.client_address import Network, client_address
from services.verify.observability import problem_reported
from services.verify.openapi import openapi_document
from services.verify.page import REVOKED_WITHOUT_REASON, links, public_origin
from services.verify.printable import printable_of, render_pdf, render_png
from services.verify.reports import (
    CATEGORIES,
    MAX_FORM_BYTES,
    MAX_MESSAGE,
    ProblemReports,
    problem_report,
)
from services.verify.revocation_notes import revocation_message

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline';"
        " form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # not no-referrer: with it browsers post forms with "Origin: null", which a same-site
    # check cannot tell from a sandboxed attacker; nothing is sent to other sites either way
    "Referrer-Policy": "same-origin",
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


async def part_at_most(part: BodyPartReader, limit: int) -> bytes | None:
    """A multipart field's content when it has at most `limit` bytes, else None."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await part.read_chunk(min(65_536, limit + 1 - size))
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
        "revocation": _revocation_json(result.revocation),
    }


def _revocation_json(note: RevocationNote | None) -> dict[str, Any] | None:
    if note is None:
        return None
    return {
        "reason": note.reason.upper(),
        "reasonText": note.reason_text,
        "revokedAt": note.revoked_at.isoformat() if note.revoked_at else None,
        "replacedBy": note.replaced_by or None,
        # a link only to what can be one of our certificate ids
        "replacedByPage": (
            f"/verify/{note.replaced_by}" if is_certificate_id(note.replaced_by) else None
        ),
        "transactionHash": note.transaction_hash,
        "message": revocation_message(note),
    }


@dataclass(frozen=True, slots=True)
class PageSettings:
    """The page's and the printable certificate's settings (services/verify/settings.py)."""

    trusted_proxies: list[Network] = field(default_factory=list)
    public_url: str = ""
    accent: str = "#1f4e79"
    report_rate: float = 0.05
    report_burst: float = 5.0


def cross_site(request: web.Request) -> bool:
    """A form posted from another site (CSRF). Browsers send Sec-Fetch-Site with every request
    (trusted when present), older ones at least Origin; a request with neither (curl) is not a
    browser acting for someone else. "null" (a sandboxed frame, a data: page) is not us."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is not None and origin != f"{request.scheme}://{request.host}"


def build_app(
    verifier: Verifier,
    lookups: Lookups,
    *,
    max_document_bytes: int,
    rate: float,
    burst: float,
    reports: ProblemReports | None = None,
    page_settings: PageSettings | None = None,
) -> web.Application:
    limiter = KeyedRateLimiter(rate, burst)
    settings = page_settings or PageSettings()
    report_limiter = KeyedRateLimiter(settings.report_rate, settings.report_burst)
    rendering = asyncio.Semaphore(1)

    def client(request: web.Request) -> str:
        return client_address(request.remote, request.headers, settings.trusted_proxies)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/healthz" and not limiter.allow(client(request)):
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

    def origin(request: web.Request) -> str:
        return public_origin(settings.public_url, request.scheme, request.host)

    def render(status: int = 200, **context: Any) -> web.Response:
        result = context.get("result")
        if result and is_certificate_id(result.get("certificateId") or ""):
            context["links"] = links(context.pop("origin"), result)
        context.pop("origin", None)
        html = _PAGES.get_template("verify.html").render(
            categories=CATEGORIES,
            max_message=MAX_MESSAGE,
            revoked_notice=REVOKED_WITHOUT_REASON,
            reports_open=reports is not None,
            **context,
        )
        return web.Response(text=html, content_type="text/html", status=status)

    async def page(request: web.Request, **extra: Any) -> web.Response:
        certificate_id = request.match_info.get("certificate_id", "")
        try:
            result = (
                await verify_by_id(verifier, lookups, certificate_id) if certificate_id else None
            )
        except Unavailable as error:
            return render(503, result=None, error=error.message)
        shown = as_json(result) if result else None
        if shown and result and result.status is not VerificationStatus.NOT_FOUND:
            found = await lookups.find(certificate_id)
            valid_from = found.document.get("validFrom") if found else None
            shown["issuedOn"] = valid_from[:10] if isinstance(valid_from, str) else ""
            shown["anchored"] = bool(found and found.anchored)
        not_found = result is not None and result.status is VerificationStatus.NOT_FOUND
        status = extra.pop("status", 404 if not_found else 200)
        return render(status, result=shown, origin=origin(request), **extra)

    async def verify_uploaded(request: web.Request) -> web.Response:
        """The page's form without JavaScript: a multipart POST of the file, answered with the
        page showing the verdict."""
        body: bytes | None = None
        try:
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    body = await part_at_most(part, max_document_bytes)
                    if body is None:
                        return render(
                            413, result=None, error=document_too_large(max_document_bytes).message
                        )
                    break
        except (AssertionError, ValueError, BadHttpMessage):
            body = None  # not a multipart body, or a broken one
        if body is None:
            return render(400, result=None, error="choose a certificate file (.json) to check")
        result = as_json(await verifier.verify_json(body))
        result.pop("certificateId", None)  # no links to a page for a posted file
        return render(200, result=result, origin=origin(request), uploaded=True)

    async def printable(request: web.Request, kind: str) -> web.Response:
        certificate_id = request.match_info["certificate_id"]
        stored = await lookups.find(certificate_id)
        if stored is None or not stored.anchored:
            return web.json_response(
                {"error": "NOT_FOUND", "message": "no anchored certificate"}, status=404
            )
        facts = printable_of(
            stored.document,
            f"{origin(request)}/verify/{certificate_id}",
            settings.accent,
        )
        renderer = render_pdf if kind == "pdf" else render_png
        # one render at a time: they would otherwise take every thread of the default
        # executor, which the look-ups of every other request wait on
        async with rendering:
            content = await asyncio.to_thread(renderer, facts)
        filename = f"certificate-{certificate_id}.{kind}"
        return web.Response(
            body=content,
            content_type="application/pdf" if kind == "pdf" else "image/png",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def certificate_pdf(request: web.Request) -> web.Response:
        return await printable(request, "pdf")

    async def certificate_png(request: web.Request) -> web.Response:
        return await printable(request, "png")

    async def report_problem(request: web.Request) -> web.Response:
        if reports is None:
            raise web.HTTPNotFound()
        if cross_site(request):
            return web.json_response(
                {"error": "CROSS_SITE", "message": "post the form from this site"}, status=403
            )
        if not report_limiter.allow(client(request)):
            return await page(
                request,
                status=429,
                report_error="Too many reports from you "
                "just now: please try again in a few minutes.",
            )
        length = request.content_length
        body = await read_at_most(request.content, MAX_FORM_BYTES)
        if body is None or (length is not None and length > MAX_FORM_BYTES):
            return await page(request, status=413, report_error="The report is too long.")
        try:
            text = body.decode()
            form = dict(parse_qsl(text, max_num_fields=8))
        except (UnicodeDecodeError, ValueError):
            form = {}
        certificate_id = request.match_info["certificate_id"]
        try:
            report = problem_report(certificate_id, form)
        except InvalidInput as error:
            problems = "; ".join(f"{v.field}: {v.description}" for v in error.violations)
            return await page(request, status=400, report_error=problems, report_form=form)
        stored = await asyncio.to_thread(reports.add_report, report)
        if not stored:
            return await page(request, status=404)
        problem_reported(report.category)
        return await page(
            request,
            status=201,
            report_sent=True,
            report_with_email=report.contact_email is not None,
        )

    async def report_counts(request: web.Request) -> web.Response:
        if reports is None:
            raise web.HTTPNotFound()
        batch_id = request.match_info["batch_id"][:64]
        counts = await asyncio.to_thread(reports.count_for_batch, batch_id)
        return web.json_response(
            {"batchId": batch_id, "total": sum(counts.values()), "byCategory": counts}
        )

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    app = web.Application(middlewares=[traced_requests, guard], client_max_size=max_document_bytes)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/v1/verify", verify_posted)
    app.router.add_get("/api/v1/certificates/{certificate_id}/verification", verify_id)
    app.router.add_get("/api/v1/certificates/{certificate_id}/document", document)
    app.router.add_get("/api/v1/certificates/{certificate_id}/certificate.pdf", certificate_pdf)
    app.router.add_get("/api/v1/certificates/{certificate_id}/certificate.png", certificate_png)
    app.router.add_get("/api/v1/batches/{batch_id}/problem-reports", report_counts)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/verify", page)
    app.router.add_post("/verify", verify_uploaded)
    app.router.add_get("/verify/{certificate_id}", page)
    app.router.add_post("/verify/{certificate_id}/report", report_problem)
    return app
