"""Which trace each batch's recipients came in, so the spans that send its emails link to it.

Kept in memory by the replica that stored the recipients (the last 10,000 batches) and in
notify's database (notify_batch_traces): a claim sent by another replica, or after a restart,
links through the stored context.
"""

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext

from certflow.platform.telemetry import extract_context

_KEPT = 10_000
_batches: "OrderedDict[str, SpanContext]" = OrderedDict()


def recipients_stored(batch_id: str, span: trace.Span) -> None:
    context = span.get_span_context()
    if not context.is_valid:
        return
    _batches[batch_id] = context
    _batches.move_to_end(batch_id)
    while len(_batches) > _KEPT:
        _batches.popitem(last=False)


def unknown_batches(batch_ids: Iterable[str]) -> list[str]:
    """The batches whose trace this replica did not see: look them up in the store."""
    return sorted({b for b in batch_ids if b not in _batches})


def batch_links(batch_ids: Iterable[str], stored: Mapping[str, str] | None = None) -> list[Link]:
    """A link to each batch's trace: from memory, else from its stored context (JSON of W3C
    trace headers); a batch with neither is not linked."""
    links = []
    for batch_id in sorted(set(batch_ids)):
        context = _batches.get(batch_id) or _stored_context((stored or {}).get(batch_id))
        if context is not None:
            links.append(Link(context))
    return links


def _stored_context(text: str | None) -> SpanContext | None:
    if not text:
        return None
    try:
        headers = json.loads(text)
    except ValueError:
        return None
    if not isinstance(headers, dict):
        return None
    context = trace.get_current_span(extract_context(headers)).get_span_context()
    return context if context.is_valid else None
