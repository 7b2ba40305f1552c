"""One batch through the real stack with every service exporting OTLP to one receiver in this
test: the batch is one trace (or linked to it) across ingest, anchor, notify and verify, and
the metrics count what the batch did."""

import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from devstack.client import StackClient
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: bytes
    links: frozenset[bytes]  # trace ids this span links to
    attributes: dict[str, Any]


@dataclass
class Receiver(
    trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer
):
    """A minimal OTLP/gRPC collector: keeps every span, and the latest value of every metric
    point per (service, name, attributes) — the exporters send cumulative sums."""

    spans: list[Span] = field(default_factory=list)
    points: dict[tuple[str, str, frozenset[tuple[str, Any]]], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def Export(self, request: Any, context: Any) -> Any:
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self._take_spans(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        self._take_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def _take_spans(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                service = _service(resource_spans.resource)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            Span(
                                service,
                                span.name,
                                span.trace_id,
                                frozenset(link.trace_id for link in span.links),
                                {a.key: _value(a.value) for a in span.attributes},
                            )
                        )

    def _take_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        with self.lock:
            for resource_metrics in request.resource_metrics:
                service = _service(resource_metrics.resource)
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        if kind is None:
                            continue
                        for point in getattr(metric, kind).data_points:
                            attributes = frozenset(
                                (a.key, _value(a.value)) for a in point.attributes
                            )
                            if kind == "histogram":
                                value: Any = (point.count, point.sum)
                            else:
                                value = (
                                    point.as_int if point.HasField("as_int") else point.as_double
                                )
                            self.points[(service, metric.name, attributes)] = value

    def metric(self, name: str, **attributes: Any) -> dict[str, Any]:
        """Latest values of `name` per service, of the points with these attributes."""
        wanted = set(attributes.items())
        with self.lock:
            found: dict[str, Any] = defaultdict(int)
            for (service, metric_name, point_attributes), value in self.points.items():
                if metric_name != name or not wanted <= {
                    (k.replace(".", "_"), v) for k, v in point_attributes
                }:
                    continue
                found[service] = value if isinstance(value, tuple) else found[service] + value
            return dict(found)


def _service(resource: Any) -> str:
    for attribute in resource.attributes:
        if attribute.key == "service.name":
            return attribute.value.string_value.removeprefix("certflow-")
    return ""


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, int]]:
    collector = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield collector, port
    server.stop(0)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory, receiver):
    _, port = receiver
    state = tmp_path_factory.mktemp(f"telemetry-{request.param}")
    url = fresh_database_url(request.param, state)
    otel = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }
    with LocalStack(
        StackOptions(
            state_dir=state, database_url=url, window_max_age_seconds=0.3, service_env=otel
        )
    ) as running:
        yield running
    discard_database(url)


def eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    """Polls until `check` passes (exports arrive every few hundred ms); its last failure
    otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_one_batch_is_one_trace_and_its_metrics_count_it(stack, receiver):
    collector, _ = receiver
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    try:
        response = client.upload_csv(
            (ROOT / "examples" / "graduates.csv").read_bytes(), request_id="telemetry-1"
        )
        batch_id = response.batch.batch_id
        batch = client.wait_for_batch(batch_id, until="completed", timeout=120)
        certificate_id = client.deliveries(batch_id)[0].certificate_id
        client.verify_id(certificate_id)  # a look-up over gRPC, the other over HTTP
    finally:
        client.close()
    assert (batch.accepted_count, batch.rejected_count, batch.emailed_count) == (43, 5, 43)
    with urllib.request.urlopen(
        f"{stack.verify_http_url}/api/v1/certificates/{certificate_id}/verification"
    ) as answer:
        assert answer.status == 200
    form = urllib.parse.urlencode({"category": "other", "message": "my name is misspelt"})
    request = urllib.request.Request(
        f"{stack.verify_http_url}/verify/{certificate_id}/report", data=form.encode()
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201

    def the_batch_trace() -> bytes:
        with collector.lock:
            uploads = [
                s
                for s in collector.spans
                if s.service == "ingest" and s.attributes.get("certflow.batch_id") == batch_id
            ]
        assert [s.name for s in uploads] == ["/certflow.v1.IngestService/UploadCsv"], uploads
        return uploads[0].trace_id

    trace_id = eventually(the_batch_trace)

    def every_service_joins_it() -> dict[str, set[str]]:
        with collector.lock:
            joined = [s for s in collector.spans if s.trace_id == trace_id or trace_id in s.links]
        by_service: dict[str, set[str]] = defaultdict(set)
        for span in joined:
            by_service[span.service].add(span.name)
        # ingest: the upload, its statements, the outbox publishes; anchor: the window built
        # from its leaves (linked), signed, confirmed; notify: its recipients stored, then
        # the anchored window's deliveries, the claims sending its emails (linked); verify: its
        # certificates in the read model
        assert "anchor.build_window" in by_service["anchor"], by_service
        assert "anchor.confirm_window" in by_service["anchor"], by_service
        assert "publish certs.leaves" in by_service["ingest"], by_service
        assert "notify.store_recipients" in by_service["notify"], by_service
        assert "notify.send_emails" in by_service["notify"], by_service  # linked to the batch
        assert "process certs.issued" in by_service["verify"], by_service
        # the database: ingest's statements of the upload are spans of the batch's trace
        statements = [
            str(s.attributes.get("db.statement") or s.attributes.get("db.query.text") or "")
            for s in joined
            if s.service == "ingest"
        ]
        assert any(text.startswith("INSERT") for text in statements), by_service
        return by_service

    by_service = eventually(every_service_joins_it)
    assert any(
        name.startswith("/certflow.v1.IngestService/UploadCsv") for name in by_service["ingest"]
    )

    def window_and_http_spans() -> None:
        with collector.lock:
            windows = [
                s
                for s in collector.spans
                if s.name == "anchor.build_window" and trace_id in s.links
            ]
            http = [
                s for s in collector.spans if s.service == "verify" and s.name.startswith("GET ")
            ]
        assert windows, "the window holding the batch's leaves links to the batch's trace"
        assert all(batch_id in w.attributes["certflow.batch_ids"] for w in windows), windows
        assert all(w.attributes.get("certflow.window_id") for w in windows), windows
        assert any(s.attributes.get("http.response.status_code") == 200 for s in http), http

    eventually(window_and_http_spans)

    def metrics_count_the_batch() -> None:
        assert collector.metric("certflow.certificates.issued") == {"ingest": 43}
        refused = {
            reason: collector.metric("certflow.certificates.refused", certflow_reason=reason)
            for reason in ("INVALID_EMAIL", "INVALID_DATE", "MISSING_VALUE", "DUPLICATE_IN_FILE")
        }
        assert refused == {
            "INVALID_EMAIL": {"ingest": 1},
            "INVALID_DATE": {"ingest": 2},
            "MISSING_VALUE": {"ingest": 1},
            "DUPLICATE_IN_FILE": {"ingest": 1},
        }
        assert collector.metric("certflow.emails", certflow_outcome="sent") == {"notify": 43}
        confirmed = collector.metric("certflow.anchor.transactions", certflow_outcome="confirmed")
        assert confirmed.get("anchor", 0) >= 1, sorted(
            (k[1], sorted(k[2]), v) for k, v in collector.points.items() if k[0] == "anchor"
        )
        count, gas = collector.metric("certflow.anchor.gas_per_certificate")["anchor"]
        assert count == confirmed["anchor"] and gas > 0
        fee_count, fee = collector.metric("certflow.anchor.fee_per_certificate")["anchor"]
        assert fee_count == count and fee > 0
        for stage, service in (
            ("upload", "ingest"),
            ("window_build", "anchor"),
            ("anchor", "anchor"),
            ("send", "notify"),
        ):
            timed = collector.metric("certflow.batch.stage.duration", certflow_stage=stage)
            assert timed[service][0] >= 1, (stage, timed)
        # over gRPC, the HTTP API, and the page that answered the report (it verifies again)
        assert collector.metric("certflow.verify.lookups", certflow_outcome="valid") == {
            "verify": 3
        }
        assert collector.metric("certflow.verify.lookup.duration")["verify"][0] == 3
        assert collector.metric("certflow.verify.problem_reports", certflow_reason="other") == {
            "verify": 1
        }
        # the gauges read each service's own state: nothing is left waiting
        assert collector.metric("certflow.notify.deliveries.pending") == {"notify": 0}
        assert collector.metric("certflow.anchor.leaves.pending") == {"anchor": 0}
        assert collector.metric("certflow.anchor.signer.balance")["anchor"] > 0

    eventually(metrics_count_the_batch)
