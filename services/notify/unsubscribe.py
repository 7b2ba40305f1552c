"""RFC 8058 one-click unsubscribe: the URL of each email's List-Unsubscribe header.

`POST /unsubscribe/<token>` with the body `List-Unsubscribe=One-Click` (what mailbox providers
send when the recipient clicks "unsubscribe") puts the address the delivery went to on its
issuer's suppression list as UNSUBSCRIBED. No login: the token (bounces.DeliveryTokens, signed
for this purpose only) names one send of one delivery and cannot be made without notify's
secret. `GET` only shows a page with a button that posts (a link scanner fetching the URL must
not unsubscribe anyone). Nothing about the recipient is shown or returned, and a forged token
gets the same short refusal however close it came.

Served by notify itself on its own port (CERTFLOW_UNSUBSCRIBE_HTTP_PORT), the one public path
of notify: the secret and the suppression list stay in the one service that owns them, and no
new event is needed (docs/notify.md says why not verify).
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from certflow.platform.rate_limit import KeyedRateLimiter
from services.notify.bounces import DeliveryTokens, VerpToken

log = logging.getLogger(__name__)

ONE_CLICK = "List-Unsubscribe=One-Click"
MAX_BODY = 1024
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsubscribe</title></head>
<body><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>Stop emails about certificates from this issuer to your address?</p>
<button type="submit">Unsubscribe</button></form></body></html>"""
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


class UnsubscribeStore(Protocol):
    def unsubscribe(self, token: VerpToken, *, now: datetime) -> bool: ...


def build_app(
    tokens: DeliveryTokens,
    store: UnsubscribeStore,
    clock: Callable[[], datetime],
    limiter: KeyedRateLimiter | None = None,
) -> web.Application:
    """`limiter` limits each peer address (every request, before its token is looked at): a
    valid token's POST is a write in the transaction turn the senders wait for."""

    @web.middleware
    async def limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        if limiter is not None and not limiter.allow(request.remote or "unknown"):
            response = _text("Too many requests: please try again in a minute.", 429)
            response.headers["Retry-After"] = "60"
            return response
        return await handler(request)

    async def page(request: web.Request) -> web.Response:
        if tokens.read(request.match_info["token"]) is None:
            return _text("This unsubscribe link is not valid.", 404)
        return web.Response(text=_PAGE, content_type="text/html", headers=_HEADERS)

    async def one_click(request: web.Request) -> web.Response:
        token = tokens.read(request.match_info["token"])
        if token is None:
            return _text("This unsubscribe link is not valid.", 404)
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY or ONE_CLICK.encode() not in body:
            return _text(f"Expected the body {ONE_CLICK} (RFC 8058).", 400)
        try:
            known = await asyncio.to_thread(store.unsubscribe, token, now=clock())
        except Exception:
            log.exception("recording an unsubscribe failed")
            return _text("Please try again later.", 503)
        if not known:
            return _text("This unsubscribe link is not valid.", 404)
        return _text("You are unsubscribed: no more emails from this issuer to your address.", 200)

    app = web.Application(client_max_size=MAX_BODY, middlewares=[limited])
    app.router.add_get("/unsubscribe/{token}", page)
    app.router.add_post("/unsubscribe/{token}", one_click)
    return app


def _text(message: str, status: int) -> web.Response:
    return web.Response(text=message, status=status, headers=_HEADERS)
