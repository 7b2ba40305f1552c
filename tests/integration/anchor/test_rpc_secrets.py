"""RPC URLs often carry an API key (Infura's and Alchemy's in the path, others in the query or
as user:password): failing over between real HTTP endpoints, neither the log lines nor the
errors nor the URL shown in GetSignerStatus may carry it."""

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from certflow.platform.chain import ChainUnavailable, RegistryClient, redacted
from devstack.processes import free_port

REGISTRY = "0x" + "2e" * 20


@pytest.fixture
async def endpoints() -> AsyncIterator[str]:
    """/v3/RATE-LIMITED-KEY answers HTTP 429; /v3/GOOD-KEY answers eth_blockNumber."""

    async def rate_limited(request: web.Request) -> web.Response:
        return web.Response(status=429, text="too many requests")

    async def good(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "0x2a"})

    app = web.Application()
    app.router.add_post("/v3/RATE-LIMITED-KEY", rate_limited)
    app.router.add_post("/v3/GOOD-KEY", good)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_failing_over_logs_and_shows_no_api_key(
    endpoints: str, caplog: pytest.LogCaptureFixture
) -> None:
    failing, good = f"{endpoints}/v3/RATE-LIMITED-KEY", f"{endpoints}/v3/GOOD-KEY"
    chain = RegistryClient([failing, good], REGISTRY, timeout=2, backoff_seconds=0.01)
    try:
        with caplog.at_level(logging.WARNING):
            assert await chain.block_number() == 42
    finally:
        await chain.close()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "failed" in logged and endpoints in logged  # the failover is logged, by host
    assert "KEY" not in logged
    assert chain.current_url == endpoints  # what GetSignerStatus shows


async def test_every_endpoint_failing_raises_an_error_without_the_key(endpoints: str) -> None:
    chain = RegistryClient(
        [f"{endpoints}/v3/RATE-LIMITED-KEY"], REGISTRY, timeout=2, backoff_seconds=0.01
    )
    try:
        with pytest.raises(ChainUnavailable) as raised:
            await chain.block_number()
    finally:
        await chain.close()
    assert "429" in str(raised.value) and "KEY" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://mainnet.infura.io/v3/0123abcd", "https://mainnet.infura.io"),
        ("https://eth.example:8545/?apikey=s3cret", "https://eth.example:8545"),
        ("https://user:s3cret@rpc.example/path", "https://rpc.example"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("wss://node.example/ws/s3cret", "wss://node.example"),
    ],
)
def test_a_url_is_shown_by_its_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert redacted(f"failed: url=URL('{url}') and more") == f"failed: url=URL('{shown}') and more"
