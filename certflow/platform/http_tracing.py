"""A SERVER span per aiohttp request, continuing a caller's W3C traceparent.

The official opentelemetry-instrumentation-aiohttp-server has no release matching our
instrumentation version (0.66b2), so this small middleware does what it does for us: span name
`METHOD route`, HTTP semantic-convention attributes, the status code, 5xx as an error.
"""

from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from certflow.platform.telemetry import extract_context

tracer = trace.get_tracer("certflow.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


@web.middleware
async def traced_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = _route(request)
    with tracer.start_as_current_span(
        f"{request.method} {route}".strip(),
        context=extract_context(request.headers),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": request.method,
            "http.route": route,
            "url.path": request.path,
            "url.scheme": request.scheme,
        },
    ) as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            span.set_attribute("http.response.status_code", exc.status)
            if exc.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            raise
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response
