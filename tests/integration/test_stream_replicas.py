"""CERTFLOW_STREAM_REPLICAS reaches JetStream: on a real 3-node JetStream cluster (what
deploy/nats/values.yaml runs in production) ensure_stream creates the CERTS stream with 3
replicas, and moves an existing 1-replica stream to 3; a single server refuses 3."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import APIError, ServiceUnavailableError

from certflow.platform import bus
from devstack import tools
from devstack.processes import ManagedProcess, free_port, wait_for_port

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster_urls(tmp_path: Path) -> Iterator[list[str]]:
    client_ports = [free_port() for _ in range(3)]
    route_ports = [free_port() for _ in range(3)]
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
    servers = []
    try:
        for i, (client, route) in enumerate(zip(client_ports, route_ports, strict=True)):
            store = tmp_path / f"n{i}"
            servers.append(
                ManagedProcess(
                    f"nats-{i}",
                    [
                        tools.nats_server(),
                        *("-a", "127.0.0.1", "-p", str(client), "-n", f"n{i}"),
                        *("-js", "-sd", str(store)),
                        *("--cluster_name", "certflow", "--cluster", f"nats://127.0.0.1:{route}"),
                        *("--routes", routes),
                    ],
                    tmp_path / f"nats-{i}.log",
                ).start()
            )
        for port, server in zip(client_ports, servers, strict=True):
            wait_for_port(port, 20, server)
        yield [f"nats://127.0.0.1:{p}" for p in client_ports]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def cluster_js(cluster_urls: list[str]) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(servers=cluster_urls)
    yield connection.jetstream()
    await connection.close()


async def until_jetstream_ready(js: JetStreamContext, replicas: int) -> None:
    """A new cluster answers 'temporarily unavailable' until it has elected its meta leader."""
    for _ in range(300):
        try:
            await bus.ensure_stream(js, replicas=replicas)
            return
        except (ServiceUnavailableError, APIError, nats.errors.TimeoutError):
            await asyncio.sleep(0.1)
    await bus.ensure_stream(js, replicas=replicas)  # the last try raises what is wrong


async def test_the_setting_creates_the_stream_on_three_servers(
    cluster_js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await until_jetstream_ready(cluster_js, replicas=1)
    info = await cluster_js.stream_info(bus.STREAM)
    assert info.config.num_replicas == 1

    monkeypatch.setenv("CERTFLOW_STREAM_REPLICAS", "3")
    await bus.ensure_stream(cluster_js)  # as every service calls it at start
    info = await cluster_js.stream_info(bus.STREAM)
    assert info.config.num_replicas == 3
    # the two new copies join and a leader is elected again, on the cluster's own schedule
    for _ in range(300):
        info = await cluster_js.stream_info(bus.STREAM)
        if info.cluster and info.cluster.leader and len(info.cluster.replicas or []) == 2:
            break
        await asyncio.sleep(0.1)
    assert info.cluster is not None
    servers = {info.cluster.leader, *(peer.name for peer in info.cluster.replicas or [])}
    assert servers == {"n0", "n1", "n2"}


async def test_a_single_server_refuses_three_replicas(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = await nats.connect(nats_url)
    try:
        monkeypatch.setenv("CERTFLOW_STREAM_REPLICAS", "3")
        with pytest.raises(APIError, match="replicas > 1 not supported"):
            await bus.ensure_stream(connection.jetstream())
        monkeypatch.delenv("CERTFLOW_STREAM_REPLICAS")
        await bus.ensure_stream(connection.jetstream())  # the default: 1
    finally:
        await connection.close()
