"""certflow's metrics: every instrument in one table, so the dashboard and alert rules in
deploy/ are checked against the names the code really exports (tests/unit/test_deploy_manifests).

Instruments come from the global meter: until `setup_metrics` installs a provider they record
nothing and cost a no-op call. Counters are added to in bulk (per batch, window or recorded
group of outcomes), never per certificate in a loop.

Names follow the OpenTelemetry conventions (dotted, `certflow.` namespace, UCUM units); a
Prometheus scrape turns `certflow.emails` {email} into `certflow_emails_total` and
`certflow.batch.stage.duration` (s) into `certflow_batch_stage_duration_seconds_*`.
"""

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

log = logging.getLogger(__name__)


class Kind(StrEnum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"  # observable: read from the service's own state at each collection


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Kind
    unit: str
    description: str
    buckets: tuple[float, ...] = ()


_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

# attribute keys
STAGE = "certflow.stage"
REASON = "certflow.reason"
OUTCOME = "certflow.outcome"
STATE = "certflow.state"
CHANNEL = "certflow.channel"

BATCH_STAGE_DURATION = MetricSpec(
    "certflow.batch.stage.duration",
    Kind.HISTOGRAM,
    "s",
    "Time a batch (or a window of batches) spent in one stage: upload, window_build (anchor "
    "stores the tree), anchor (window built → confirmed on chain), send (one claim of emails)",
    _SECONDS,
)
CERTIFICATES_ISSUED = MetricSpec(
    "certflow.certificates.issued", Kind.COUNTER, "{certificate}", "Certificates accepted"
)
CERTIFICATES_REFUSED = MetricSpec(
    "certflow.certificates.refused",
    Kind.COUNTER,
    "{certificate}",
    "Rows refused at upload, by reason (certflow.reason: INVALID_EMAIL, ALREADY_ISSUED, ...)",
)
EMAILS = MetricSpec(
    "certflow.emails",
    Kind.COUNTER,
    "{email}",
    "Email outcomes stored by notify (certflow.outcome: sent, deferred, bounced, failed, "
    "suppressed; bounced and complained also when a report arrives later)",
)
ANCHOR_TRANSACTIONS = MetricSpec(
    "certflow.anchor.transactions",
    Kind.COUNTER,
    "{transaction}",
    "Anchoring transactions (certflow.outcome: broadcast, replaced, confirmed, reverted)",
)
GAS_PER_CERTIFICATE = MetricSpec(
    "certflow.anchor.gas_per_certificate",
    Kind.HISTOGRAM,
    "{gas}",
    "Gas a confirmed window used, divided by its certificates",
    (1, 5, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000, 100_000),
)
FEE_PER_CERTIFICATE = MetricSpec(
    "certflow.anchor.fee_per_certificate",
    Kind.HISTOGRAM,
    "wei",
    "Fee a confirmed window paid (gas used × effective gas price), divided by its certificates",
    tuple(float(10**e) for e in range(6, 17)),
)
LEAVES_PENDING = MetricSpec(
    "certflow.anchor.leaves.pending",
    Kind.GAUGE,
    "{leaf}",
    "Leaves waiting for the chain (certflow.state: buffered — held for the next window; "
    "in_window — in a window built but not yet confirmed)",
)
WINDOW_OLDEST_AGE = MetricSpec(
    "certflow.anchor.window.oldest_age",
    Kind.GAUGE,
    "s",
    "Age of the oldest window built but not confirmed (0 when none): a stuck window grows it",
)
SIGNER_BALANCE = MetricSpec(
    "certflow.anchor.signer.balance",
    Kind.GAUGE,
    "wei",
    "Balance of the signing account at its last check",
)
SIGNER_LOW_BALANCE = MetricSpec(
    "certflow.anchor.signer.low_balance_threshold",
    Kind.GAUGE,
    "wei",
    "CERTFLOW_LOW_BALANCE_ETH in wei: below it anchoring is about to stop",
)
DELIVERIES_PENDING = MetricSpec(
    "certflow.notify.deliveries.pending",
    Kind.GAUGE,
    "{delivery}",
    "Deliveries waiting in notify (certflow.state: pending — due or backing off; scheduled — "
    "waiting for a delivery window; sending — claimed)",
)
VERIFY_LOOKUPS = MetricSpec(
    "certflow.verify.lookups",
    Kind.COUNTER,
    "{lookup}",
    "Verification look-ups (certflow.channel: http, grpc; certflow.outcome: the verdict)",
)
VERIFY_LOOKUP_DURATION = MetricSpec(
    "certflow.verify.lookup.duration",
    Kind.HISTOGRAM,
    "s",
    "Time to answer one verification look-up",
    _SECONDS,
)
PROBLEM_REPORTS = MetricSpec(
    "certflow.verify.problem_reports",
    Kind.COUNTER,
    "{report}",
    "Problem reports recipients sent from the verification page",
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    BATCH_STAGE_DURATION,
    CERTIFICATES_ISSUED,
    CERTIFICATES_REFUSED,
    EMAILS,
    ANCHOR_TRANSACTIONS,
    GAS_PER_CERTIFICATE,
    FEE_PER_CERTIFICATE,
    LEAVES_PENDING,
    WINDOW_OLDEST_AGE,
    SIGNER_BALANCE,
    SIGNER_LOW_BALANCE,
    DELIVERIES_PENDING,
    VERIFY_LOOKUPS,
    VERIFY_LOOKUP_DURATION,
    PROBLEM_REPORTS,
)

_meter = metrics.get_meter("certflow")


def counter(spec: MetricSpec) -> metrics.Counter:
    assert spec.kind is Kind.COUNTER
    return _meter.create_counter(spec.name, unit=spec.unit, description=spec.description)


def histogram(spec: MetricSpec) -> metrics.Histogram:
    assert spec.kind is Kind.HISTOGRAM
    return _meter.create_histogram(
        spec.name,
        unit=spec.unit,
        description=spec.description,
        explicit_bucket_boundaries_advisory=list(spec.buckets) or None,
    )


Reading = Iterable[tuple[float, dict[str, str]]]  # (value, attributes) for a gauge


def observe(spec: MetricSpec, read: Callable[[], Reading]) -> None:
    """An observable gauge read at each collection (export interval or scrape). A failed read
    (the database away) reports nothing this time rather than breaking the export."""
    assert spec.kind is Kind.GAUGE
    _meter.create_observable_gauge(
        spec.name, [gauge_callback(spec, read)], unit=spec.unit, description=spec.description
    )


def gauge_callback(
    spec: MetricSpec, read: Callable[[], Reading]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        try:
            # as floats: an int beyond 64 bits (a balance in wei) fails the whole OTLP export
            return [Observation(float(value), attributes) for value, attributes in read()]
        except Exception as exc:
            log.warning("reading %s failed: %s", spec.name, exc)
            return []

    return callback


def setup_metrics(metrics_port: int = 0) -> None:
    """OTLP export when OTEL_METRICS_EXPORTER=otlp (interval OTEL_METRIC_EXPORT_INTERVAL), a
    Prometheus scrape endpoint on `metrics_port` when it is not 0; neither: no provider, and
    every instrument stays a no-op."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource

    readers: list[MetricReader] = []
    exporters = os.environ.get("OTEL_METRICS_EXPORTER", "none").strip().lower().split(",")
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if metrics_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        host = os.environ.get("CERTFLOW_METRICS_HOST", "0.0.0.0")
        start_http_server(metrics_port, addr=host)
        readers.append(PrometheusMetricReader())
        log.info("metrics scrape endpoint on %s:%d/metrics", host, metrics_port)
    if readers:
        metrics.set_meter_provider(
            MeterProvider(metric_readers=readers, resource=Resource.create())
        )


def shutdown_metrics() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    provider = metrics.get_meter_provider()
    if isinstance(provider, MeterProvider):
        provider.shutdown()
