"""What an upload adds to its trace and to the metrics: one call per batch, never per row."""

from collections import Counter
from collections.abc import Iterable

from opentelemetry import trace

from certflow.platform import metrics

_issued = metrics.counter(metrics.CERTIFICATES_ISSUED)
_refused = metrics.counter(metrics.CERTIFICATES_REFUSED)
_stage = metrics.histogram(metrics.BATCH_STAGE_DURATION)


def batch_stored(
    batch_id: str, *, accepted: int, refused_reasons: Iterable[str], seconds: float | None
) -> None:
    """A batch was committed: its id on the current (upload) span, which is the batch's trace."""
    reasons = Counter(refused_reasons)
    span = trace.get_current_span()
    span.set_attribute("certflow.batch_id", batch_id)
    span.set_attribute("certflow.accepted_count", accepted)
    span.set_attribute("certflow.refused_count", sum(reasons.values()))
    if accepted:
        _issued.add(accepted)
    for reason, count in reasons.items():
        _refused.add(count, {metrics.REASON: reason})
    if seconds is not None:
        _stage.record(seconds, {metrics.STAGE: "upload"})
