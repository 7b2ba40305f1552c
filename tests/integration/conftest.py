"""Fixtures of the integration tests: a real nats-server with JetStream per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from certflow.platform import bus
from devstack import tools
from devstack.processes import ManagedProcess, free_port, wait_for_port


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A single JetStream server on a free 127.0.0.1 port, storing under the test's tmp_path."""
    port = free_port()
    server = ManagedProcess(
        "nats",
        [tools.nats_server(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)],
        tmp_path / "nats.log",
    ).start()
    try:
        wait_for_port(port, 20, server)
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on `nats_url` with the CERTS stream in place."""
    connection = await nats.connect(nats_url)
    context = connection.jetstream()
    await bus.ensure_stream(context)
    yield context
    await connection.close()
