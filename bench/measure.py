"""Runs one size through a fresh local stack and measures every stage."""

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path

import aiohttp

from bench.dataset import Dataset
from devstack.client import StackClient
from devstack.smtp_sink import RelayBehaviour
from devstack.stack import SERVICES, LocalStack, StackOptions


@dataclass
class SizeResult:
    rows: int
    accepted: int
    rejected: int
    upload_mb: float
    stored_s: float
    # the last window's confirmation as anchor recorded it, and when ingest's GetBatch reported
    # every certificate anchored (later by the certs.anchored event hop)
    anchored_on_chain_s: float
    anchored_s: float
    emailed_s: float
    transactions: int
    gas_total: int
    gas_per_certificate: float
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    lookups_per_s: float = 0.0
    lookup_p50_ms: float = 0.0
    lookup_p99_ms: float = 0.0
    # user + system CPU of the notify process(es) from all anchored to all emailed, per email
    notify_cpu_us_per_email: float = 0.0
    emails_sent: int = 0  # accepted by the SMTP server (the rest failed for good)
    notify_replicas: int = 1
    load_average: float = 0.0  # the 1-minute load at the end of the email stage

    @property
    def delivery_success_rate(self) -> float:
        return self.emails_sent / self.accepted if self.accepted else 0.0

    @property
    def stored_per_s(self) -> float:
        return self.accepted / self.stored_s if self.stored_s else 0.0

    @property
    def anchored_per_s(self) -> float:
        return self.accepted / self.anchored_s if self.anchored_s else 0.0

    @property
    def emailed_per_s(self) -> float:
        return self.accepted / self.emailed_s if self.emailed_s else 0.0

    @property
    def email_stage_per_s(self) -> float:
        span = self.emailed_s - self.anchored_s
        return self.accepted / span if span > 0 else 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        for name in (
            "stored_per_s",
            "anchored_per_s",
            "emailed_per_s",
            "email_stage_per_s",
            "delivery_success_rate",
        ):
            data[name] = getattr(self, name)
        return data


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_size(
    dataset: Dataset,
    state_dir: Path,
    *,
    database_url: str,
    lookups: int,
    concurrency: int,
    progress: Callable[[str], None],
    verify_http_workers: int = 1,
    notify_replicas: int = 1,
) -> SizeResult:
    options = StackOptions(
        state_dir=state_dir,
        database_url=database_url,
        window_max_age_seconds=1.0,
        window_max_leaves=1_000_000,
        smtp_connections=16,
        smtp_behaviour=RelayBehaviour(count_only=True),  # measure notify, not the sink's disk
        email_rate_per_second=1_000_000,
        log_level="WARNING",
        # the benchmark is one client: lift the per-client limit of the public API
        service_env={
            "CERTFLOW_HTTP_RATE_PER_SECOND": "1000000",
            "CERTFLOW_HTTP_RATE_BURST": "1000000",
            "CERTFLOW_VERIFY_HTTP_WORKERS": str(verify_http_workers),
        },
    )
    progress(f"{dataset.rows:,} rows: starting the stack")
    with LocalStack(options) as stack:
        for n in range(2, notify_replicas + 1):  # more notify processes on the same database
            stack.start_replica("notify", n)
        notifies = [p.pid for name, p in stack.processes.items() if name.startswith("notify")]
        client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
        progress(f"{dataset.rows:,} rows: uploading {len(dataset.csv_bytes) / 1e6:.1f} MB")
        started_wall = time.time()
        started = time.perf_counter()
        response = client.upload_csv(dataset.csv_bytes, request_id=f"bench-{dataset.rows}")
        stored = time.perf_counter() - started
        batch_id = response.batch.batch_id
        accepted = response.batch.accepted_count
        anchored = emailed = 0.0
        notify_cpu = 0.0
        sent = 0
        while not emailed:
            batch = client.batch(batch_id)
            now = time.perf_counter() - started
            if not anchored and batch.anchored_count >= accepted:
                anchored = now
                notify_cpu = -sum(cpu_seconds(pid) for pid in notifies)
            if batch.emailed_count + batch.email_failed_count >= accepted:
                emailed = now
                notify_cpu += sum(cpu_seconds(pid) for pid in notifies)
                sent = batch.emailed_count
            progress(
                f"{dataset.rows:,} rows: {batch.anchored_count:,} anchored, "
                f"{batch.emailed_count:,} emailed ({now:.1f}s)"
            )
            if now > 3600:
                raise TimeoutError("batch did not complete within an hour")
            time.sleep(0.1)
        load = os.getloadavg()[0]
        windows = [w for w in client.anchor_windows() if w.leaf_count]
        gas = sum(w.gas_used for w in windows)
        confirmed = max(w.confirm_time.ToDatetime(tzinfo=UTC).timestamp() for w in windows)
        ids = [d.certificate_id for d in client.deliveries(batch_id)]
        progress(
            f"{dataset.rows:,} rows: {lookups:,} verification look-ups at concurrency {concurrency}"
        )
        rate, p50, p99 = asyncio.run(
            verify_lookups(stack.verify_http_url, ids, lookups, concurrency)
        )
        rss = {name: peak_rss_mb(stack.processes[name].pid) for name in SERVICES}
        client.close()
    return SizeResult(
        rows=dataset.rows,
        accepted=accepted,
        rejected=response.batch.rejected_count,
        upload_mb=len(dataset.csv_bytes) / 1e6,
        stored_s=stored,
        anchored_on_chain_s=confirmed - started_wall,
        anchored_s=anchored,
        emailed_s=emailed,
        transactions=len(windows),
        gas_total=gas,
        gas_per_certificate=gas / accepted if accepted else 0.0,
        peak_rss_mb=rss,
        lookups_per_s=rate,
        lookup_p50_ms=p50,
        lookup_p99_ms=p99,
        notify_cpu_us_per_email=notify_cpu / sent * 1e6 if sent else 0.0,
        emails_sent=sent,
        notify_replicas=notify_replicas,
        load_average=load,
    )


async def verify_lookups(
    base_url: str, ids: list[str], total: int, concurrency: int
) -> tuple[float, float, float]:
    """Look-ups by id over the public HTTP API, after one warm-up pass over the same ids."""
    if not ids:
        return 0.0, 0.0, 0.0
    targets = [ids[i % len(ids)] for i in range(total)]
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(chunk: list[str], record: bool) -> None:
            for certificate_id in chunk:
                began = time.perf_counter()
                async with session.get(
                    f"{base_url}/api/v1/certificates/{certificate_id}/verification"
                ) as r:
                    body = await r.json()
                    if body.get("status") != "VALID":
                        raise RuntimeError(f"look-up of {certificate_id} gave {body.get('status')}")
                if record:
                    latencies.append(time.perf_counter() - began)

        chunks = [targets[i::concurrency] for i in range(concurrency)]
        await asyncio.gather(*(worker(c[: max(len(c) // 10, 1)], False) for c in chunks))  # warm-up
        began = time.perf_counter()
        await asyncio.gather(*(worker(c, True) for c in chunks))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000
