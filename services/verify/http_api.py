"""Public HTTP: JSON API and the verification page, size- and rate-limited per client."""

from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from certflow.rate_limit import KeyedRateLimiter
from services.verify.lookups import CertificateLookups
from services.verify.servicer import verify_by_id
from services.verify.verification import Verification, Verifier

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
    lookups: CertificateLookups,
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
        response = await handler(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "SERVING"})

    async def verify_posted(request: web.Request) -> web.Response:
        if request.content_length is None or request.content_length > max_document_bytes:
            return web.json_response(
                {
                    "error": "DOCUMENT_TOO_LARGE",
                    "message": f"send at most {max_document_bytes} bytes",
                },
                status=413,
            )
        body = await request.read()
        return web.json_response(as_json(await verifier.verify_json(body)))

    async def verify_id(request: web.Request) -> web.Response:
        result = await verify_by_id(verifier, lookups, request.match_info["certificate_id"])
        return web.json_response(
            as_json(result), status=404 if result.status == "not_found" else 200
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
        result = await verify_by_id(verifier, lookups, certificate_id) if certificate_id else None
        html = _PAGES.get_template("verify.html").render(result=as_json(result) if result else None)
        return web.Response(
            text=html,
            content_type="text/html",
            status=404 if result and result.status == "not_found" else 200,
        )

    app = web.Application(middlewares=[guard], client_max_size=max_document_bytes)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/v1/verify", verify_posted)
    app.router.add_get("/api/v1/certificates/{certificate_id}/verification", verify_id)
    app.router.add_get("/api/v1/certificates/{certificate_id}/document", document)
    app.router.add_get("/verify", page)
    app.router.add_get("/verify/{certificate_id}", page)
    return app
