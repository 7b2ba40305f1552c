"""Tracing and logging set-up, configured only through the standard OTEL_* variables.

No exporter runs unless OTEL_TRACES_EXPORTER names one ("otlp" or "console"), so a dev machine
pays nothing; trace context still flows across gRPC calls and NATS headers, so that one batch
is one trace from upload to the last email once an exporter is on.
"""

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Link
from sqlalchemy import Engine

from certflow.platform.metrics import setup_metrics, shutdown_metrics

_tracer = trace.get_tracer("certflow.messaging")


def tracing_enabled() -> bool:
    """Whether spans leave the process: per-statement database spans are made only then."""
    return os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() in ("otlp", "console")


def setup_telemetry(service_name: str, log_level: str = "INFO", metrics_port: int = 0) -> None:
    os.environ.setdefault("OTEL_SERVICE_NAME", f"certflow-{service_name}")
    provider = TracerProvider(resource=Resource.create())
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    trace.set_tracer_provider(provider)
    _setup_json_logging(service_name, log_level)
    setup_metrics(metrics_port)


def shutdown_telemetry() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
    shutdown_metrics()


def instrument_engine(engine: Engine, tracer_provider: trace.TracerProvider | None = None) -> None:
    """A span per SQL statement (the official SQLAlchemy instrumentation), when exporting."""
    if tracing_enabled():
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # 0.66b2 declares SQLAlchemy < 2.1 and otherwise does nothing but log; the engine
        # events it listens to are the same in 2.1 (tests/e2e/test_telemetry.py sees the spans)
        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=tracer_provider, skip_dep_check=True
        )


def inject_context() -> dict[str, str]:
    """The current trace context as message headers (W3C traceparent/tracestate)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(headers or {}))


def consumer_span(
    name: str, message: object, attributes: dict[str, str | int] | None = None
) -> AbstractContextManager[trace.Span]:
    """A CONSUMER span continuing the trace in a NATS message's headers (the batch's, or the
    window's for certs.anchored); a message without them starts its own trace."""
    subject = str(getattr(message, "subject", ""))
    return _tracer.start_as_current_span(
        f"process {subject}" if subject else name,
        context=extract_context(getattr(message, "headers", None)),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": name,
            **(attributes or {}),
        },
    )


def batch_links(
    headers: Iterable[Mapping[str, str] | None], *, attributes: dict[str, str] | None = None
) -> tuple[Context | None, list[Link]]:
    """For work serving many batches (an anchor window, a notify claim): the first message's
    context as parent, and a link to every distinct trace among the messages, so each batch's
    trace leads to the shared span and the shared span to each batch."""
    parent: Context | None = None
    links: list[Link] = []
    seen: set[int] = set()
    for carrier in headers:
        if not carrier:
            continue
        context = extract_context(carrier)
        span_context = trace.get_current_span(context).get_span_context()
        if not span_context.is_valid or span_context.trace_id in seen:
            continue
        seen.add(span_context.trace_id)
        if parent is None:
            parent = context
        links.append(Link(span_context, attributes))
    return parent, links


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace and span ids of the current span."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "service": self.service_name,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _setup_json_logging(service_name: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiosmtpd", "mail.log", "web3", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
