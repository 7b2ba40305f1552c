"""anchor's spans and metrics around a window: what a pass makes, and when it makes nothing."""

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.anchor import observability
from services.anchor.fees import GWEI
from services.anchor.submission import WindowState
from tests.unit.anchor.test_anchorer import Rig


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(observability, "tracer", provider.get_tracer("test"))
    return exporter


async def test_a_window_waiting_out_a_fee_spike_makes_no_spans(
    spans: InMemorySpanExporter,
) -> None:
    rig = Rig(fee_cap=10 * GWEI)
    rig.chain.base_fee = 50 * GWEI
    rig.add_window()
    for _ in range(5):
        await rig.step()
    assert spans.get_finished_spans() == ()
    rig.chain.base_fee = 2 * GWEI
    await rig.step()
    (sent,) = spans.get_finished_spans()
    attributes = dict(sent.attributes or {})
    assert sent.name == "anchor.sign_and_send"
    assert attributes == {
        "certflow.window_id": "w1",
        "certflow.transaction_hash": rig.window().transaction_hash,
    }


async def test_the_window_built_here_is_signed_and_confirmed_in_its_build_trace(
    spans: InMemorySpanExporter,
) -> None:
    rig = Rig()
    rig.add_window(size=4)
    with observability.tracer.start_as_current_span("anchor.build_window") as build:
        pass
    observability.window_built("w1", 4, build, 0.01)
    await rig.step()
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED
    sign, confirm = (s for s in spans.get_finished_spans() if s.name != "anchor.build_window")
    assert (sign.name, confirm.name) == ("anchor.sign_and_send", "anchor.confirm_window")
    trace_id = build.get_span_context().trace_id
    assert sign.context.trace_id == confirm.context.trace_id == trace_id
    assert dict(confirm.attributes or {})["certflow.certificate_count"] == 4
    assert observability.leaf_count("w1") == 0  # forgotten once confirmed
