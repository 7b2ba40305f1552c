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
