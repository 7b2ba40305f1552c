"""Outbound webhooks and schedules on the real stack (SQLite and PostgreSQL): a local HTTP
receiver (aiohttp on 127.0.0.1) registered with `certflow webhooks create` gets
certificate.issued, certificate.anchored, certificate.delivered and batch.completed for an
uploaded batch, then certificate.revoked when one is revoked through anchor, each verified
with the documented Standard Webhooks scheme; its first answer (500) is retried with the same
webhook-id and the event is taken once; the delivery log shows it. A one-off schedule made
with `certflow schedules create --at` fires in the running service (its firing recorded,
nothing collected so no batch)."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from certflow.v1 import anchor_service_pb2 as apb
from certflow.v1 import certificate_pb2
from devstack.client import StackClient
from devstack.stack import SERVICES, LocalStack, StackOptions
from services.ingest.webhooks import verify
from tests.conftest import BACKENDS, discard_database, fresh_database_url
from tests.e2e.test_cli import base_env, certflow

CSV = (
    b"name,email,title,completion_date\r\n"
    b"Ada Lovelace,ada@example.edu,BSc Mathematics,2026-06-10\r\n"
    b"Bob Byron,bob@example.edu,BSc Mathematics,2026-06-10\r\n"
    b"Cy Young,cy@example.edu,BSc Mathematics,2026-06-10\r\n"
)


@dataclass
class Receiver:
    secret: str = ""
    fail_first: int = 1  # answer this many requests with 500 first
    seen: list[str] = field(default_factory=list)
    events: dict[str, dict[str, object]] = field(default_factory=dict)  # by webhook-id
    bad: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        message_id = request.headers["webhook-id"]
        self.seen.append(message_id)
        ok = verify(
            self.secret,
            message_id,
            request.headers["webhook-timestamp"],
            body,
            request.headers["webhook-signature"],
            now=int(time.time()),
        )
        if not ok:
            self.bad += 1
            return web.Response(status=401)
        if self.fail_first:
            self.fail_first -= 1
            return web.Response(status=500, text="try later")
        self.events.setdefault(message_id, json.loads(body))
        return web.Response(text="ok")

    def of_type(self, kind: str) -> list[dict[str, object]]:
        return [e for e in list(self.events.values()) if e["type"] == kind]


@pytest.fixture(scope="module")
def receiver(stack: LocalStack) -> Iterator[Receiver]:
    """One per stack (backend): its events are that stack's alone."""
    found = Receiver()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/hooks", found.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runner_box.append(runner)
        found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
        started.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert started.wait(10)
    yield found
    asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp(f"webhooks-{request.param}")
    url = fresh_database_url(request.param, state)
    env = {
        "CERTFLOW_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",  # the receiver is http on 127.0.0.1
        "CERTFLOW_WEBHOOK_POLL_SECONDS": "0.2",
        "CERTFLOW_WEBHOOK_FIRST_RETRY_SECONDS": "0.3",
        "CERTFLOW_SCHEDULE_TICK_SECONDS": "0.5",
    }
    options = StackOptions(
        state_dir=state, database_url=url, window_max_age_seconds=0.3, service_env=env
    )
    with LocalStack(options) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack) -> Iterator[StackClient]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def cli_env(stack: LocalStack, tmp_path: Path) -> dict[str, str]:
    token = tmp_path / "token"
    token.write_text(stack.token)
    return {
        **base_env(tmp_path),
        "CERTFLOW_INGEST_ADDRESS": stack.target("ingest"),
        "CERTFLOW_TOKEN_FILE": str(token),
    }


def wait(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.1)


def test_a_batch_s_events_reach_a_receiver_signed_and_once(
    stack: LocalStack, client: StackClient, receiver: Receiver, tmp_path: Path
) -> None:
    env = cli_env(stack, tmp_path)
    created = certflow("webhooks", "create", receiver.url, "--json", env=env)
    assert created.code == 0, created.stderr
    document = created.json()
    receiver.secret = document["secret"]
    endpoint_id = document["endpoint"]["endpoint_id"]
    # a private address (https, so it is the address that is refused, not the scheme)
    refused = certflow("webhooks", "create", "https://10.0.0.1/hooks", env=env)
    assert refused.code == 4 and "private" in refused.stderr, refused.stderr
    refused = certflow("webhooks", "create", "http://hooks.example.com/hooks", env=env)
    assert refused.code == 4 and "https" in refused.stderr
    listed = certflow("webhooks", "list", "--json", env=env)
    assert listed.code == 0 and endpoint_id in listed.stdout
    assert receiver.secret not in listed.stdout  # shown once, at creation

    upload = client.upload_csv(CSV, request_id="webhooks-e2e", display_name="June")
    batch_id = upload.batch.batch_id
    client.wait_for_batch(batch_id, timeout=120)
    wait(lambda: bool(receiver.of_type("batch.completed")))
    wait(lambda: len(receiver.of_type("certificate.delivered")) >= 1)
    assert receiver.bad == 0

    certificates: set[str] = set()
    for kind in ("certificate.issued", "certificate.anchored", "certificate.delivered"):
        for event in receiver.of_type(kind):
            data = event["data"]
            assert data["batch_id"] == batch_id  # type: ignore[index]
            certificates.update(c["certificate_id"] for c in data["certificates"])  # type: ignore[index]
        named = {
            c["certificate_id"]
            for e in receiver.of_type(kind)
            for c in e["data"]["certificates"]  # type: ignore[index]
        }
        assert len(named) == 3, kind  # every certificate, each once
    assert len(certificates) == 3
    (completed,) = receiver.of_type("batch.completed")
    summary = completed["data"]
    assert summary["issued"] == 3 and summary["delivered"] == 3 and summary["pending"] == 0  # type: ignore[index]
    assert summary["state"] == "completed"  # type: ignore[index]
    # the first request got a 500: sent again with the same webhook-id, taken once
    assert len(receiver.seen) == len(set(receiver.seen)) + 1

    log = certflow("webhooks", "deliveries", endpoint_id, "--json", env=env).json()
    states = {d["delivery_id"]: d["state"] for d in log["deliveries"]}
    assert set(states) == set(receiver.events) and set(states.values()) == {"delivered"}
    retried = [d for d in log["deliveries"] if d["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["response_code"] == 200

    # a revocation through anchor reaches the receiver as certificate.revoked (certs.revoked)
    victim = sorted(certificates)[0]
    client.anchor.RevokeCertificates(
        apb.RevokeCertificatesRequest(
            request_id="webhooks-e2e-revoke",
            certificate_ids=[victim],
            reason=certificate_pb2.REVOCATION_REASON_WITHDRAWN,
            reason_text="awarded to the wrong cohort",
        ),
        metadata=[("authorization", f"Bearer {stack.token}")],
        timeout=30,
    )
    wait(lambda: bool(receiver.of_type("certificate.revoked")), timeout=90)
    (revoked,) = receiver.of_type("certificate.revoked")
    data = revoked["data"]
    assert data["batch_id"] == batch_id and data["transaction_hash"]  # type: ignore[index]
    assert [c["certificate_id"] for c in data["certificates"]] == [victim]  # type: ignore[index]
    assert data["certificates"][0]["reason"] == "withdrawn"  # type: ignore[index]
    assert receiver.bad == 0


def test_a_one_off_schedule_fires_in_the_running_service(stack: LocalStack, tmp_path: Path) -> None:
    env = cli_env(stack, tmp_path)
    at = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    created = certflow("schedules", "create", "graduation", "--at", at, "--json", env=env)
    assert created.code == 0, created.stderr
    schedule_id = created.json()["schedule"]["schedule_id"]
    bad = certflow(
        "schedules", "create", "x", "--cron", "0 0 30 2 *", "--time-zone", "UTC", env=env
    )
    assert bad.code == 4 and "never fires" in bad.stderr

    def fired() -> bool:
        listed = certflow("schedules", "list", "--json", env=env).json()["schedules"]
        return any(s["schedule_id"] == schedule_id and "last_fire_time" in s for s in listed)

    wait(fired, timeout=30)
    assert certflow("schedules", "disable", schedule_id, env=env).code == 0
    assert certflow("schedules", "disable", "no-such", env=env).code == 6
