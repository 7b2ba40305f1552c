"""verify's public HTTP API on two processes (CERTFLOW_VERIFY_HTTP_WORKERS=2): the worker
answers look-ups on the same port, is started again when it dies, and goes when verify goes."""

import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.client import StackClient, status_name
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.e2e.test_verify_read_model import GRADUATES, issued_ids, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("stack-http-workers"),
        window_max_age_seconds=0.3,
        service_env={
            "CERTFLOW_VERIFY_HTTP_WORKERS": "2",
            "CERTFLOW_HTTP_RATE_PER_SECOND": "100000",
            "CERTFLOW_HTTP_RATE_BURST": "100000",
        },
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def valid_ids(stack: LocalStack) -> list[str]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    try:
        batch = client.upload_csv(GRADUATES.read_bytes(), request_id="http-workers").batch
        assert batch.accepted_count == 43
        found: set[str] = set()

        def announced() -> bool:
            found.update(issued_ids(stack.nats_url, batch.batch_id))
            return len(found) >= batch.accepted_count

        wait_until(announced, 30, "the batch's certs.issued events")
        ids = sorted(found)
        wait_until(
            lambda: {status_name(client.verify_id(i).status) for i in ids} == {"VALID"},
            60,
            "every certificate VALID",
        )
        return ids
    finally:
        client.close()


def workers_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` and that run the HTTP worker module."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"services.verify.http_workers" in command:
            found.append(int(entry.name))
    return found


def look_up(stack: LocalStack, certificate_id: str, timeout: float = 5) -> str:
    url = f"{stack.verify_http_url}/api/v1/certificates/{certificate_id}/verification"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # a new connection each time
        return str(json.loads(response.read())["status"])


def test_the_worker_answers_on_the_same_port(stack: LocalStack, valid_ids: list[str]) -> None:
    verify = stack.processes["verify"].pid
    [worker] = workers_of(verify)
    assert {look_up(stack, i) for i in valid_ids} == {"VALID"}
    # with the service process frozen, connections the kernel gives the worker are answered:
    # of 24 fresh connections, some reach it (each has an even chance)
    os.kill(verify, signal.SIGSTOP)
    try:
        answered = 0
        for certificate_id in valid_ids[:24]:
            # one that reaches the frozen process waits in its queue until the timeout
            with contextlib.suppress(urllib.error.URLError, TimeoutError):
                answered += look_up(stack, certificate_id, timeout=1) == "VALID"
        assert answered > 0
    finally:
        os.kill(verify, signal.SIGCONT)
    assert worker in workers_of(verify)


def test_a_killed_worker_is_started_again(stack: LocalStack, valid_ids: list[str]) -> None:
    verify = stack.processes["verify"].pid
    [worker] = workers_of(verify)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not [w for w in workers_of(verify) if w != worker]:
        assert time.monotonic() < deadline, "the worker was not started again"
        time.sleep(0.2)
    assert {look_up(stack, i) for i in valid_ids[:10]} == {"VALID"}


def test_stopping_verify_stops_its_workers(stack: LocalStack, valid_ids: list[str]) -> None:
    process = stack.processes["verify"]
    workers = workers_of(process.pid)
    assert workers
    assert process.stop() == 0
    for worker in workers:
        assert not Path(f"/proc/{worker}").exists() or "Z" in _state(worker)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
