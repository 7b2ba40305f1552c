"""Crashes and restarts lose nothing and duplicate nothing (real processes, SIGKILL)."""

import email
from collections import Counter

import pytest

from devstack.client import StackClient
from devstack.stack import SERVICES, LocalStack, StackOptions

CSV = "name,email,title,completion_date\n" + "".join(
    f"Student {i},student{i}@example.org,Fault Tolerance 101,2026-05-01\n" for i in range(200)
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("faults")
    # a window cap far below the 200 leaves one message carries: windows must still respect it
    options = StackOptions(state_dir=state, window_max_age_seconds=0.3, window_max_leaves=64)
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def recipients(stack) -> Counter:
    return Counter(
        email.message_from_bytes(p.read_bytes())["X-Envelope-To"]
        for p in stack.mail_dir.glob("*.eml")
    )


def test_work_queued_while_anchor_and_notify_are_down_completes_after_restart(stack, client):
    stack.processes["anchor"].kill()
    stack.processes["notify"].kill()
    response = client.upload_csv(CSV.encode(), request_id="faults-1")
    assert response.batch.accepted_count == 200
    assert client.batch(response.batch.batch_id).anchored_count == 0
    stack.restart("anchor")
    stack.restart("notify")
    batch = client.wait_for_batch(response.batch.batch_id, until="completed", timeout=120)
    assert batch.anchored_count == batch.emailed_count == 200
    windows = [w for w in client.anchor_windows() if w.leaf_count]
    assert sum(w.leaf_count for w in windows) == 200  # nothing anchored twice
    assert max(w.leaf_count for w in windows) <= 64  # CERTFLOW_WINDOW_MAX_LEAVES is a cap
    counts = recipients(stack)
    assert len(counts) == 200 and set(counts.values()) == {1}


def test_nats_restart_loses_nothing(stack, client):
    stack.restart("nats")
    csv = CSV.replace("Fault Tolerance 101", "Fault Tolerance 102")
    response = client.upload_csv(csv.encode(), request_id="faults-2")
    batch = client.wait_for_batch(response.batch.batch_id, until="completed", timeout=120)
    assert batch.anchored_count == batch.emailed_count == 200
    counts = recipients(stack)
    assert len(counts) == 200 and set(counts.values()) == {2}  # one email per certificate


def test_services_stop_cleanly_on_sigterm(stack):
    for name in SERVICES:
        assert stack.processes[name].stop() == 0, stack.processes[name].log_tail()
        log = stack.processes[name].log_path.read_text()
        assert f"{name} stopped" in log
        assert '"asyncio"' not in log and "never retrieved" not in log  # a clean stop is quiet
