"""The chain node itself dies (SIGKILL) and comes back from its state file (`anvil --state`):
whatever it had not saved — the pending transaction, blocks mined since — is gone. The
submitter sends its stored bytes again and every window ends anchored exactly once, at the
nonce it was signed for.

The state file is written when anvil stops cleanly; a node killed with SIGKILL comes back as it
was at that moment (the registry deployed, nothing of the test's anchoring), which is the worst
a crashed node can do: forget everything after its last snapshot."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform.chain import RegistryClient, deploy_registry
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from devstack import tools
from devstack.processes import ManagedProcess, free_port, wait_for_port
from services.anchor.store import AnchorStore
from services.anchor.submission import WindowState
from tests.integration.anchor.test_chain_faults import KEY, rig


class Node:
    """anvil on a fixed port with a state file: started, killed and started again."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = tmp_path / "anvil-state.json"
        self.log = tmp_path / "anvil.log"
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        argv = [tools.anvil(), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = ManagedProcess("anvil", [*argv, "--state", str(self.state)], self.log)
        self.process.start()
        wait_for_port(self.port, 30, self.process)

    def stop(self) -> None:
        """A clean stop: anvil writes its state file."""
        assert self.process is not None
        self.process.stop()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path)
    node.start()
    try:
        yield node
    finally:
        if node.process is not None:
            node.process.stop()


@pytest.fixture
def registry(node: Node) -> str:
    """Deployed, then saved: the node restarts from a state that holds the registry."""
    address = asyncio.run(deploy_registry(node.url, KEY, "node restart"))
    node.stop()
    assert node.state.exists()
    node.start()
    return address


@pytest.fixture
def store(database_url: str, registry: str) -> Iterator[AnchorStore]:
    upgrade(database_url, ["anchor"])
    engine = make_engine(database_url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    yield AnchorStore(sessions, chain_id=31337, registry_address=registry)
    engine.dispose()


async def test_a_node_killed_with_the_transaction_pending_gets_it_again(
    node: Node, registry: str, store: AnchorStore
) -> None:
    async with rig(node.url, registry, store) as r:
        await r.rpc("evm_setAutomine", False)
        r.add_window()
        await r.until(lambda: r.state() is WindowState.SUBMITTED)
        [(tx_hash, _)] = store.transactions("w1")
        assert await r.chain.known(tx_hash)
        node.kill()
        node.start()  # back from the state file: automine on, the pool empty
        assert not await r.chain.known(tx_hash)
        await r.until(r.confirmed)
        assert store.transactions("w1") == [(tx_hash, "mined")]  # the same bytes, no other
        await r.assert_anchored_once(transactions=1)


async def test_a_node_killed_after_mining_forgets_the_block_and_the_window_is_mined_again(
    node: Node, registry: str, store: AnchorStore
) -> None:
    async with rig(node.url, registry, store, confirmations=3) as r:
        r.add_window()
        await r.until(lambda: r.state() is WindowState.SUBMITTED)
        [(tx_hash, _)] = store.transactions("w1")
        first = await r.chain.mined(tx_hash)
        assert first is not None  # mined at once, one confirmation of three
        await r.anchor.anchorer.advance_all()
        assert r.state() is WindowState.SUBMITTED
        node.kill()
        node.start()  # the block holding the anchor was never saved
        assert await r.chain.mined(tx_hash) is None
        await r.until(lambda: _mined(r.chain, tx_hash))  # the stored bytes, mined again
        for _ in range(2):
            await r.rpc("evm_mine")
        await r.until(r.confirmed)
        assert store.transactions("w1") == [(tx_hash, "mined")]
        await r.assert_anchored_once(transactions=1)


async def _mined(chain: RegistryClient, tx_hash: str) -> bool:
    return await chain.mined(tx_hash) is not None
