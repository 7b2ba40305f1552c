"""`python -m bench.notify_cpu --emails 10000 [--replicas 2] [--dkim] [--profile FILE]`: notify's
CPU time per email on its real send path, without the rest of the stack.

N anchored certificates (realistic credentials, 14-step Merkle proofs) are stored in a fresh
SQLite notify database; then `--replicas` processes each run notify's own sender loops (the
Deliveries store, CertificateMessages rendering, the SmtpPool, settings as notify's defaults
except the bench's rate and connections) against a local SMTP sink that only counts
(devstack/smtp_sink.py --count-only) until every delivery has an outcome. Prints notify's CPU
µs per email (user + system of the sender processes, over the send), emails/s, the sink's own
CPU per message and the load average beside the rates (a loaded machine slows the wall clock,
much less the CPU figure). Not measured: notify's outbox relay to NATS and its consumers.
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import CertificateContent, IssuerProfile, build_credential
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from devstack.processes import free_port, wait_for_port
from services.notify import tables
from services.notify.intake import AnchoredWindow, RecipientContent
from services.notify.store import Deliveries

ISSUER = IssuerProfile(id="https://uni.example", name="Université Exemple")
PROOF_STEPS = 14  # a 10,000-leaf window
CHUNK = 5000
SINK = ["-m", "devstack.smtp_sink", "--count-only"]  # the sink must not be what is measured
BENCH_ENV = {  # as bench/measure.py runs notify: the relay is the ceiling, not a rate setting
    "CERTFLOW_RATE_LIMIT_PER_SECOND": "1000000",
    "CERTFLOW_SMTP_CONNECTIONS": "16",
    "CERTFLOW_LOG_LEVEL": "WARNING",
}


def seed(url: str, emails: int) -> None:
    upgrade(url, ["notify"])
    engine = make_engine(url)
    store = Deliveries(make_session_factory(engine), message_id_domain="uni.example")
    batch_id = str(uuid.uuid4())
    for start in range(0, emails, CHUNK):
        content = [_recipient(i, batch_id) for i in range(start, min(start + CHUNK, emails))]
        store.store_recipients(content)
        facts = AnchoredWindowFacts(
            window_id=str(uuid.uuid4()),
            merkle_root=os.urandom(32),
            chain_id=31337,
            registry_address="0x" + "11" * 20,
            transaction_hash="0x" + "22" * 32,
            block_number=7,
        )
        proofs = {c.certificate_id: os.urandom(32 * PROOF_STEPS) for c in content}
        store.store_anchored(AnchoredWindow(facts, proofs), now=datetime.now(UTC))
    engine.dispose()


def _recipient(i: int, batch_id: str) -> RecipientContent:
    certificate_id = str(uuid.uuid4())
    content = CertificateContent(
        f"Zoë Ångström {i}", f"student{i}@example.org", "MSc Data Science", date(2026, 6, 30)
    )
    document = build_credential(
        certificate_id=certificate_id,
        issuer=ISSUER,
        content=content,
        email_salt="ab" * 16,
        issued_at=datetime(2026, 7, 1, tzinfo=UTC),
    )
    return RecipientContent(
        certificate_id=certificate_id,
        batch_id=batch_id,
        recipient_name=content.recipient_name,
        recipient_email=content.recipient_email,
        title=content.title,
        completion_date=content.completion_date,
        issuer_name=ISSUER.name,
        document=orjson.dumps(document),
        leaf_salt=os.urandom(32),
        leaf_hash=os.urandom(32),
    )


def unfinished(url: str) -> int:
    engine = make_engine(url, sqlite_writer=False)
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(
                    tables.Delivery.state.in_(("pending", "sending", "scheduled"))
                )
            ).scalar_one()
    finally:
        engine.dispose()


def states(url: str) -> dict[str, int]:
    engine = make_engine(url, sqlite_writer=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(tables.Delivery.state, func.count()).group_by(tables.Delivery.state)
            )
            return {state: count for state, count in rows}
    finally:
        engine.dispose()


# ---- one sender process (a notify replica's send path) ----


def _time_store_calls(store: Deliveries, profiler: Any) -> dict[str, float]:
    """CPU seconds of the store's calls (they run on worker threads, which cProfile of the
    event loop's thread does not see), by method; profiled too when `profiler` is given."""
    spent: dict[str, float] = {}
    lock = threading.Lock()

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:  # one profiled call at a time (a profiler is per thread)
                began = time.thread_time()
                if profiler is not None:
                    profiler.enable()
                try:
                    return method(*args, **kwargs)
                finally:
                    if profiler is not None:
                        profiler.disable()
                    spent[name] = spent.get(name, 0.0) + time.thread_time() - began

        return call

    for name in ("claim", "record", "extend", "release"):
        setattr(store, name, timed(name, getattr(store, name)))
    return spent


async def _send_all(url: str, profiler: Any = None) -> dict[str, Any]:
    from services.notify.bootstrap import certificate_messages, sending, smtp_pool, timing_rules
    from services.notify.bounces import AddressKeys, unsubscribe_tokens
    from services.notify.settings import NotifySettings
    from services.notify.worker import Notifier

    settings = NotifySettings()  # from the environment the harness gives this process
    engine = make_engine(url)
    store = Deliveries(
        make_session_factory(engine),
        message_id_domain=settings.mail_from.rsplit("@", 1)[-1],
        timing=timing_rules(settings),
        keys=AddressKeys(settings.secret),
        unsubscribe_tokens=unsubscribe_tokens(settings.secret),
    )
    store_cpu = _time_store_calls(store, profiler)
    pool = smtp_pool(settings)
    notifier = Notifier(sending(settings, store, pool, certificate_messages(settings)))
    stopping = asyncio.Event()
    started_cpu, started = time.process_time(), time.perf_counter()
    loops = [
        asyncio.create_task(notifier.send(stopping)) for _ in range(max(settings.sender_loops, 1))
    ]
    while await asyncio.to_thread(unfinished, url):  # noqa: ASYNC110 (another process's rows)
        await asyncio.sleep(0.2)
    finished = time.perf_counter()
    stopping.set()
    await asyncio.gather(*loops)
    cpu = time.process_time() - started_cpu
    await pool.close()
    engine.dispose()
    return {"cpu_s": cpu, "wall_s": finished - started, "store_cpu_s": store_cpu}


def child(url: str, profile: str) -> None:
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not a loaded wall clock
        store_profiler = cProfile.Profile(time.thread_time)
        result = profiler.runcall(asyncio.run, _send_all(url, store_profiler))
        profiler.dump_stats(profile)
        store_profiler.dump_stats(f"{profile}.store")
    else:
        result = asyncio.run(_send_all(url))
    print(json.dumps(result), flush=True)


# ---- the harness ----


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dkim_key_file(folder: Path) -> str:
    from Crypto.PublicKey import RSA

    path = folder / "dkim.pem"
    path.write_bytes(RSA.generate(2048).export_key(format="PEM", pkcs=1))
    return str(path)


def run(emails: int, replicas: int, dkim: bool, profile: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="notify-cpu-") as folder:
        url = f"sqlite:///{folder}/notify.db"
        began = time.perf_counter()
        seed(url, emails)
        print(f"seeded {emails:,} deliveries in {time.perf_counter() - began:.1f}s", flush=True)
        port = free_port()
        mail = f"{folder}/mail"
        sink = subprocess.Popen(
            [sys.executable, *SINK, "--port", str(port), "--dir", mail],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_port(port, 20)
            env = {
                **os.environ,
                **BENCH_ENV,
                "CERTFLOW_SMTP_PORT": str(port),
                "CERTFLOW_DATABASE_URL": url,
            }
            if dkim:
                env["CERTFLOW_DKIM_PRIVATE_KEY_PATH"] = dkim_key_file(Path(folder))
                env["CERTFLOW_DKIM_SELECTOR"] = "bench"
            sink_cpu = cpu_seconds(sink.pid)
            load = os.getloadavg()[0]
            senders = [
                subprocess.Popen(
                    [sys.executable, "-m", "bench.notify_cpu", "--child", url]
                    + (["--profile", f"{profile}.{n}"] if profile else []),
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for n in range(replicas)
            ]
            results = []
            for sender in senders:
                out, _ = sender.communicate()
                if sender.returncode:
                    raise RuntimeError(f"a sender exited with {sender.returncode}")
                results.append(json.loads(out.strip().splitlines()[-1]))
            sink_cpu = cpu_seconds(sink.pid) - sink_cpu
            load = max(load, os.getloadavg()[0])
        finally:
            sink.terminate()
            _, sink_log = sink.communicate(timeout=10)
        counted = [line for line in sink_log.splitlines() if "messages accepted" in line]
        found = states(url)
    sent = found.get("sent", 0)
    wall = max(r["wall_s"] for r in results)
    cpu = sum(r["cpu_s"] for r in results)
    store = {
        name: sum(r["store_cpu_s"].get(name, 0.0) for r in results) / max(sent, 1) * 1e6
        for name in ("claim", "record", "extend", "release")
    }
    return {
        "emails": emails,
        "replicas": replicas,
        "sent": sent,
        "states": found,
        "notify_cpu_us_per_email": cpu / max(sent, 1) * 1e6,
        "store_cpu_us_per_email": store,
        "emails_per_s": sent / wall if wall else 0.0,
        "sink_cpu_us_per_message": sink_cpu / max(sent, 1) * 1e6,
        "load_average": load,
        "sink": counted[-1] if counted else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--dkim", action="store_true", help="sign with DKIM (off by default)")
    parser.add_argument("--profile", default="", help="cProfile stats to FILE.<replica>")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile)
        return
    result = run(args.emails, args.replicas, args.dkim, args.profile)
    print(json.dumps(result))
    print(
        f"{result['sent']:,}/{args.emails:,} sent by {args.replicas} replica(s)"
        f"{' with DKIM' if args.dkim else ''}: notify {result['notify_cpu_us_per_email']:.0f} "
        f"µs CPU/email, {result['emails_per_s']:,.0f} emails/s (load average "
        f"{result['load_average']:.1f}); sink {result['sink_cpu_us_per_message']:.0f} µs/message"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
