from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, text

from certflow.platform import http_tracing, metrics, telemetry
from certflow.platform.telemetry import batch_links, consumer_span, extract_context, inject_context

tracer = TracerProvider().get_tracer("test")


def test_trace_context_round_trips_through_message_headers():
    with tracer.start_as_current_span("upload") as span:
        headers = inject_context()
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    context = extract_context(headers)
    with tracer.start_as_current_span("anchor", context=context) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
    assert trace.get_current_span().get_span_context().is_valid is False


def test_no_active_span_gives_no_headers():
    assert inject_context() == {}


def test_work_for_many_batches_continues_the_first_and_links_every_batch_once():
    with tracer.start_as_current_span("batch a") as a:
        headers_a = inject_context()
    with tracer.start_as_current_span("batch b") as b:
        headers_b = inject_context()
    parent, links = batch_links([headers_a, None, {}, headers_b, headers_a])
    assert parent is not None
    assert (
        trace.get_current_span(parent).get_span_context().trace_id == a.get_span_context().trace_id
    )
    assert [link.context.trace_id for link in links] == [
        a.get_span_context().trace_id,
        b.get_span_context().trace_id,
    ]
    assert batch_links([None, {}]) == (None, [])


def test_a_consumer_span_continues_the_message_trace(monkeypatch):
    monkeypatch.setattr(telemetry, "_tracer", tracer)
    with tracer.start_as_current_span("upload") as upload:
        message = SimpleNamespace(subject="certs.issued", headers=inject_context())
    with consumer_span("verify-issued", message, {"certflow.count": 3}) as span:
        pass
    assert span.get_span_context().trace_id == upload.get_span_context().trace_id
    assert isinstance(span, ReadableSpan)
    assert span.kind is SpanKind.CONSUMER and span.name == "process certs.issued"
    assert span.attributes == {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": "certs.issued",
        "messaging.consumer.group.name": "verify-issued",
        "certflow.count": 3,
    }
    untraced = SimpleNamespace(subject="certs.issued", headers=None)
    with consumer_span("verify-issued", untraced) as own:
        pass
    assert own.get_span_context().trace_id != upload.get_span_context().trace_id


def test_a_gauge_reads_floats_and_a_failed_read_reports_nothing():
    callback = metrics.gauge_callback(metrics.SIGNER_BALANCE, lambda: [(10**22, {})])
    (observation,) = callback(CallbackOptions())
    assert observation.value == 1e22 and isinstance(observation.value, float)

    def broken() -> metrics.Reading:
        raise ConnectionError("database away")

    assert list(metrics.gauge_callback(metrics.SIGNER_BALANCE, broken)(CallbackOptions())) == []


def test_every_metric_is_named_in_the_certflow_namespace_with_a_unit():
    names = [spec.name for spec in metrics.ALL_METRICS]
    assert len(names) == len(set(names))
    for spec in metrics.ALL_METRICS:
        assert spec.name.startswith("certflow.") and spec.name == spec.name.lower()
        assert spec.unit and spec.description


async def test_a_public_http_request_is_one_server_span(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(http_tracing, "tracer", provider.get_tracer("test"))

    async def found(request: web.Request) -> web.Response:
        return web.json_response({})

    async def broken(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable()

    app = web.Application(middlewares=[http_tracing.traced_requests])
    app.router.add_get("/api/v1/certificates/{certificate_id}/verification", found)
    app.router.add_get("/broken", broken)
    caller = tracer.start_span("caller")
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(caller))
    async with TestClient(TestServer(app)) as client:
        assert (
            await client.get("/api/v1/certificates/x/verification", headers=carrier)
        ).status == 200
        assert (await client.get("/broken")).status == 503
    first, second = exporter.get_finished_spans()
    assert first.name == "GET /api/v1/certificates/{certificate_id}/verification"
    assert first.kind is SpanKind.SERVER
    assert first.context.trace_id == caller.get_span_context().trace_id
    assert dict(first.attributes or {})["http.response.status_code"] == 200
    assert dict(second.attributes or {})["http.response.status_code"] == 503
    assert second.status.status_code is StatusCode.ERROR


def test_database_statements_are_spans_only_when_exporting(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    quiet = create_engine("sqlite://")
    telemetry.instrument_engine(quiet, provider)
    with quiet.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert exporter.get_finished_spans() == ()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    traced = create_engine("sqlite://")
    telemetry.instrument_engine(traced, provider)
    try:
        with traced.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        SQLAlchemyInstrumentor().uninstrument()
    statements = [s for s in exporter.get_finished_spans() if s.name == "SELECT"]
    assert [dict(s.attributes or {}).get("db.statement") for s in statements] == ["SELECT 1"]
