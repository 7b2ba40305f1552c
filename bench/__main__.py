"""`python -m bench`: graduation day, measured end to end on the real local stack.

Prints a table, writes the figures as JSON (bench/results/), and with --compare OLD.json prints
the ratios new/old. Benchmarks are not tests: nothing in `make test` depends on timing.
"""

import argparse
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.costs import measure_costs, render_costs
from bench.dataset import generate
from bench.measure import SizeResult, run_size
from devstack import tools
from devstack.databases import create_database, drop_database

console = Console()
TARGETS = {"anchored_per_s": 5000, "email_stage_per_s": 1500, "lookups_per_s": 2000}
NOTIFY_CPU_TARGET_US = 250  # notify's CPU per email (issue 9)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,10000", help="comma-separated row counts (e.g. 1000,10000,100000)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--lookups", type=int, default=5000, help="verification look-ups per size")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--costs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure anchoring and revocation gas for 1 to 100,000 certificates (bench/costs.py)",
    )
    parser.add_argument(
        "--verify-workers",
        type=int,
        default=2,
        help="processes serving verify's HTTP API (CERTFLOW_VERIFY_HTTP_WORKERS; one per core)",
    )
    parser.add_argument(
        "--notify-replicas",
        type=int,
        default=1,
        help="notify processes sharing the database and the sending (the target: 2)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON output (default bench/results/<time>.json)"
    )
    parser.add_argument(
        "--compare", type=Path, default=None, help="an earlier JSON output to compare with"
    )
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: list[SizeResult] = []
    with console.status("benchmark starting…") as status:
        for size in sizes:
            status.update(f"{size:,} rows: generating the CSV")
            dataset = generate(size, seed=args.seed)
            state = tools.PROJECT_ROOT / ".state" / "bench" / str(size)
            shutil.rmtree(state, ignore_errors=True)
            url = create_database(args.postgres_admin_url) if args.database == "postgresql" else ""
            try:
                result = run_size(
                    dataset,
                    state,
                    database_url=url,
                    lookups=args.lookups,
                    concurrency=args.concurrency,
                    progress=status.update,
                    verify_http_workers=args.verify_workers,
                    notify_replicas=args.notify_replicas,
                )
            finally:
                if url:
                    drop_database(args.postgres_admin_url, url)
            results.append(result)
            console.print(
                f"[green]done[/] {size:,} rows: all emailed after {result.emailed_s:.1f}s"
            )

    print_table(results, args.database)
    costs = []
    if args.costs:
        with console.status("measuring on-chain costs…"):
            state = tools.PROJECT_ROOT / ".state" / "bench" / "costs"
            state.mkdir(parents=True, exist_ok=True)
            costs = measure_costs(state)
        console.print(render_costs(costs))
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "database": args.database,
        "seed": args.seed,
        "results": [r.to_json() for r in results],
        "costs": [asdict(c) for c in costs],
    }
    out = (
        args.out
        or tools.PROJECT_ROOT / "bench" / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"figures written to {out}")
    if args.compare:
        print_comparison(json.loads(args.compare.read_text()), payload)


def _cpus() -> int:
    return os.cpu_count() or 0


def _rss_of(service: str) -> Callable[[SizeResult], str]:
    return lambda r: f"{r.peak_rss_mb.get(service, 0):.0f} MB"


def print_table(results: list[SizeResult], database: str) -> None:
    table = Table(title=f"certflow benchmark ({database}); times from the first byte uploaded")
    table.add_column("metric")
    for r in results:
        table.add_column(f"{r.rows:,} rows", justify="right")
    rows: list[tuple[str, Callable[[SizeResult], str]]] = [
        ("accepted / rejected", lambda r: f"{r.accepted:,} / {r.rejected:,}"),
        ("(a) all stored", lambda r: f"{r.stored_s:.2f}s  {r.stored_per_s:,.0f}/s"),
        ("(b) all anchored on chain", lambda r: f"{r.anchored_on_chain_s:.2f}s"),
        ("(b) all anchored + proofs", lambda r: f"{r.anchored_s:.2f}s  {r.anchored_per_s:,.0f}/s"),
        ("(c) all emails accepted", lambda r: f"{r.emailed_s:.2f}s  {r.emailed_per_s:,.0f}/s"),
        (
            "email stage alone",
            lambda r: f"{r.email_stage_per_s:,.0f}/s (load {r.load_average:.1f})",
        ),
        (
            "notify CPU per email",
            lambda r: f"{r.notify_cpu_us_per_email:,.0f} µs ({r.notify_replicas} notify)",
        ),
        ("delivery success rate", lambda r: f"{r.delivery_success_rate:.2%}"),
        ("anchor transactions", lambda r: f"{r.transactions}"),
        ("gas per certificate", lambda r: f"{r.gas_per_certificate:,.1f}"),
        ("verify look-ups", lambda r: f"{r.lookups_per_s:,.0f}/s"),
        ("look-up p50 / p99", lambda r: f"{r.lookup_p50_ms:.1f} / {r.lookup_p99_ms:.1f} ms"),
    ]
    rows += [
        (f"peak RSS {name}", _rss_of(name)) for name in ("ingest", "anchor", "notify", "verify")
    ]
    for label, render in rows:
        table.add_row(label, *(render(r) for r in results))
    console.print(table)
    biggest = results[-1]
    console.print(
        "targets (2-core machine): anchored ≥ 5,000/s → "
        f"{biggest.anchored_per_s / TARGETS['anchored_per_s']:.2f}×; email stage ≥ 1,500/s → "
        f"{biggest.email_stage_per_s / TARGETS['email_stage_per_s']:.2f}× "
        f"(notify CPU {biggest.notify_cpu_us_per_email:,.0f} µs/email, target ≤ "
        f"{NOTIFY_CPU_TARGET_US}); look-ups ≥ 2,000/s → "
        f"{biggest.lookups_per_s / TARGETS['lookups_per_s']:.2f}× "
        f"(p99 {biggest.lookup_p99_ms:.1f} ms, target < 20)"
    )
    if len(results) > 1:
        first, last = results[0], results[-1]
        scale = last.accepted / first.accepted
        growth = last.anchored_s / first.anchored_s if first.anchored_s else 0
        console.print(
            f"linearity: {scale:.0f}× the certificates took {growth:.1f}× the time to anchor"
        )


COMPARED = {  # JSON field → short column label
    "stored_s": "stored s",
    "anchored_on_chain_s": "on chain s",
    "anchored_s": "anchored s",
    "emailed_s": "emailed s",
    "anchored_per_s": "anchor/s",
    "email_stage_per_s": "email/s",
    "notify_cpu_us_per_email": "notify µs/email",
    "lookups_per_s": "lookup/s",
    "lookup_p99_ms": "p99 ms",
}


def print_comparison(old: dict, new: dict) -> None:
    table = Table(title="new / old (times and p99: lower is better; rates: higher is better)")
    table.add_column("rows")
    for label in COMPARED.values():
        table.add_column(label, justify="right")
    old_by_rows = {r["rows"]: r for r in old["results"]}
    for result in new["results"]:
        before = old_by_rows.get(result["rows"])
        if not before:
            continue
        table.add_row(
            f"{result['rows']:,}",
            *(f"{result[m] / before[m]:.2f}×" if before.get(m) else "n/a" for m in COMPARED),
        )
    console.print(table)


if __name__ == "__main__":
    main()
