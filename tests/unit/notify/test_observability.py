from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN

from services.notify import observability

tracer = TracerProvider().get_tracer("test")


def test_a_claim_links_to_each_batch_whose_recipients_this_replica_stored(monkeypatch) -> None:
    monkeypatch.setattr(observability, "_KEPT", 2)
    monkeypatch.setattr(observability, "_batches", type(observability._batches)())
    spans = {}
    for batch_id in ("a", "b", "c"):
        with tracer.start_as_current_span(f"store {batch_id}") as span:
            observability.recipients_stored(batch_id, span)
        spans[batch_id] = span.get_span_context()
    observability.recipients_stored("never traced", INVALID_SPAN)
    links = observability.batch_links(["c", "a", "b", "c", "never traced", "unknown"])
    # the oldest ("a") was forgotten beyond the kept count; each batch linked once
    assert [link.context for link in links] == [spans["b"], spans["c"]]


def test_a_batch_this_replica_did_not_see_links_through_its_stored_context(monkeypatch) -> None:
    import json

    from certflow.platform.telemetry import inject_context

    monkeypatch.setattr(observability, "_batches", type(observability._batches)())
    with tracer.start_as_current_span("store elsewhere") as span:
        stored = {"other-replica": json.dumps(inject_context())}
    assert observability.unknown_batches(["other-replica", "other-replica"]) == ["other-replica"]
    links = observability.batch_links(
        ["other-replica", "garbled", "no-trace"],
        {**stored, "garbled": "{not json", "no-trace": "{}"},
    )
    sent = span.get_span_context()
    assert [(link.context.trace_id, link.context.span_id) for link in links] == [
        (sent.trace_id, sent.span_id)
    ]
