"""Which trace each batch's recipients came in, so the spans that send its emails link to it.

Kept in memory by the replica that stored the recipients (the last 10,000 batches): a claim
sent by another replica, or after a restart, is not linked (its span still names the batches).
"""

from collections import OrderedDict
from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext

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


def batch_links(batch_ids: Iterable[str]) -> list[Link]:
    return [Link(_batches[b]) for b in sorted(set(batch_ids)) if b in _batches]
