from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from certflow.platform.telemetry import extract_context, inject_context

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
