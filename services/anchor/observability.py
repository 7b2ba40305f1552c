"""anchor's spans and metrics around a window's life: built (linked to every batch whose leaves
it holds), signed and sent, replaced, confirmed.

A window's trace context is kept in memory from its build to its confirmation, so the chain
spans continue the build span's trace; a window built before a restart is confirmed in a trace
of its own (it still carries certflow.window_id, which the build span has too).
"""

import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from certflow.core.transactions import MinedTransaction
from certflow.platform import metrics

tracer = trace.get_tracer("certflow.anchor")

_transactions = metrics.counter(metrics.ANCHOR_TRANSACTIONS)
_gas = metrics.histogram(metrics.GAS_PER_CERTIFICATE)
_fee = metrics.histogram(metrics.FEE_PER_CERTIFICATE)
_stage = metrics.histogram(metrics.BATCH_STAGE_DURATION)

_KEPT = 10_000  # windows remembered at most (each a few dozen bytes)


@dataclass(frozen=True, slots=True)
class _Built:
    span_context: SpanContext
    leaf_count: int
    built_at: float  # monotonic


_windows: "OrderedDict[str, _Built]" = OrderedDict()


def window_built(window_id: str, leaf_count: int, span: trace.Span, seconds: float) -> None:
    """After the build span ended: its context is kept for the window's chain spans."""
    _windows[window_id] = _Built(span.get_span_context(), leaf_count, time.monotonic())
    while len(_windows) > _KEPT:
        _windows.popitem(last=False)
    _stage.record(seconds, {metrics.STAGE: "window_build"})


@contextmanager
def window_span(name: str, window_id: str) -> Iterator[trace.Span]:
    """A span in the window's trace (child of its build span) when this process built it."""
    built = _windows.get(window_id)
    context = (
        trace.set_span_in_context(NonRecordingSpan(built.span_context))
        if built is not None
        else None
    )
    with tracer.start_as_current_span(
        name, context=context, attributes={"certflow.window_id": window_id}
    ) as span:
        yield span


def transaction_sent(tx_hash: str, outcome: str) -> None:
    trace.get_current_span().set_attribute("certflow.transaction_hash", tx_hash)
    _transactions.add(1, {metrics.OUTCOME: outcome})


def window_confirmed(window_id: str, mined: MinedTransaction, *, certificates: int) -> None:
    """Counted once per confirmation stored; gas and fee shared over the window's leaves."""
    span = trace.get_current_span()
    span.set_attribute("certflow.transaction_hash", mined.transaction_hash)
    span.set_attribute("certflow.block_number", mined.block_number)
    span.set_attribute("certflow.certificate_count", certificates)
    _transactions.add(1, {metrics.OUTCOME: "confirmed"})
    built = _windows.pop(window_id, None)
    if built is not None:
        _stage.record(time.monotonic() - built.built_at, {metrics.STAGE: "anchor"})
    if certificates:
        _gas.record(mined.gas_used / certificates)
        if mined.effective_gas_price:
            _fee.record(mined.gas_used * mined.effective_gas_price / certificates)


def leaf_count(window_id: str) -> int:
    """The window's leaves, as this process built it (0: built before a restart)."""
    built = _windows.get(window_id)
    return built.leaf_count if built is not None else 0
