"""The submitter against a real anvil and the real registry, with anvil's own fault methods:
a stuck transaction (automine off past the deadline), a dropped one, a base fee above the cap,
a revert, a root anchored before, and a dead first RPC endpoint. Each ends with every
certificate anchored exactly once with a valid proof, and the wallet's nonce says how many
transactions reached the chain.

The loop is driven pass by pass (`advance_all`), so a test stops it exactly when a condition
holds; deadlines are ~1 s and the waits are bounded, never asserted on."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.typed_transactions import TypedTransaction
from eth_typing import HexStr
from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import RPCEndpoint, Wei

from certflow.core.merkle import unpack_proof, verify_proof
from certflow.platform.chain import (
    RegistryClient,
    RemoteSigner,
    RemoteSignerError,
    check_signed,
    deploy_registry,
    sign,
    signer,
)
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import events_pb2
from devstack import tools
from devstack.processes import ManagedProcess, free_port, wait_for_port
from services.anchor import tables as t
from services.anchor.bootstrap import Anchor, assemble, signer_from
from services.anchor.fees import GWEI
from services.anchor.lease import SignerLeaseHolder
from services.anchor.settings import AnchorSettings
from services.anchor.store import AnchorStore
from services.anchor.submission import WindowState
from services.anchor.windows import build_window
from tests.unit.anchor.fakes import leaf_of

KEY = tools.ANVIL_DEV_PRIVATE_KEY
OWNER = signer(KEY).address
# anvil's second dev account: a stranger the registry is handed to in the revert tests
STRANGER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OWNER_SLOT = 1  # CertificateRegistry's storage: name (0), owner (1)


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess(
        "anvil",
        [
            tools.anvil(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # full history (no --prune-history): anvil_reorg needs the state of past blocks
            "--cache-path",
            str(tmp_path / "anvil-cache"),
        ],
        tmp_path / "anvil.log",
    ).start()
    try:
        wait_for_port(port, 30, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
def registry(anvil: str) -> str:
    return asyncio.run(deploy_registry(anvil, KEY, "chain faults"))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["anchor"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(sessions: sessionmaker[Session], registry: str) -> AnchorStore:
    return AnchorStore(sessions, chain_id=31337, registry_address=registry)


def signed_fields(sessions: sessionmaker[Session], tx_hash: str) -> dict[str, Any]:
    """The stored signed transaction, decoded (the node evicts a replaced one from its pool)."""
    with sessions() as session:
        row = session.get(t.AnchorTransaction, tx_hash)
        assert row is not None
        return dict(TypedTransaction.from_bytes(HexBytes(row.raw_transaction)).as_dict())


class Rig:
    """One anchor submitter wired by bootstrap.assemble from settings, and a direct line to
    anvil for its fault methods."""

    def __init__(
        self, anvil: str, registry: str, store: AnchorStore, *, rpc_urls: list[str], **settings: Any
    ) -> None:
        values: dict[str, Any] = {
            "anchor_private_key": KEY,
            "registry_address": registry,
            "eth_rpc_urls": ",".join(rpc_urls),
            "rebroadcast_seconds": 30.0,
            "replace_after_seconds": 60.0,
            "retry_first_seconds": 0.3,
            "balance_check_seconds": 0.0,
            "max_fee_per_gas_cap_gwei": 100.0,
            **settings,
        }
        self.settings = AnchorSettings(**values)
        self.store = store
        self.chain = RegistryClient(
            self.settings.rpc_urls,
            registry,
            timeout=2,
            attempts_per_url=2,
            backoff_seconds=0.05,
        )
        key = signer_from(self.settings)
        self.key = key
        self.anchor: Anchor[Any] = assemble(
            self.settings,
            store=store,
            chain=self.chain,
            signer=key,
            lease=SignerLeaseHolder(store, sender=key.address, holder="test"),
            rpc_url=lambda: self.chain.current_url,
        )
        self.node = AsyncWeb3(AsyncHTTPProvider(anvil))
        self.registry = registry

    async def __aenter__(self) -> "Rig":
        self.first_nonce = await self.nonce()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.chain.close()
        if isinstance(self.key, RemoteSigner):
            await self.key.close()
        await self.node.provider.disconnect()

    async def rpc(self, method: str, *params: Any) -> Any:
        response = await self.node.provider.make_request(RPCEndpoint(method), list(params))
        assert "error" not in response, response
        return response.get("result")

    async def nonce(self) -> int:
        return await self.node.eth.get_transaction_count(OWNER, "latest")

    async def until(
        self, condition: Callable[[], bool | Awaitable[bool]], within: float = 30
    ) -> None:
        """Passes of the submitter until `condition` holds (checked before each pass)."""
        deadline = time.monotonic() + within
        while True:
            held = condition()
            if not isinstance(held, bool):
                held = await held
            if held:
                return
            assert time.monotonic() < deadline, "condition not reached"
            await self.anchor.anchorer.advance_all()
            await asyncio.sleep(0.05)

    def add_window(self, window_id: str = "w1", size: int = 5) -> bytes:
        ids = [f"{window_id}-c{i}" for i in range(size)]
        window = build_window(window_id, [(c, leaf_of(c)) for c in ids])
        self.store.add_window(window)
        return window.merkle_root

    def state(self, window_id: str = "w1") -> WindowState:
        view = self.store.window(window_id)
        assert view is not None
        return view.state

    def waiting_reason(self, window_id: str = "w1") -> str:
        view = self.store.window(window_id)
        assert view is not None
        return view.waiting_reason

    def confirmed(self, window_id: str = "w1") -> bool:
        return self.state(window_id) is WindowState.CONFIRMED

    async def set_owner(self, address: str) -> None:
        word = "0x" + address[2:].lower().rjust(64, "0")
        await self.rpc("anvil_setStorageAt", self.registry, hex(OWNER_SLOT), word)

    async def assert_anchored_once(self, window_id: str = "w1", *, transactions: int) -> None:
        """Confirmed with a transaction that really anchored the root, every proof valid
        against it, and `transactions` transactions of ours mined since the test began."""
        view = self.store.window(window_id)
        assert view is not None and view.state is WindowState.CONFIRMED
        assert view.transaction_hash and view.block_number
        block, _ = await self.chain.anchored_at(view.merkle_root)
        assert block == view.block_number
        receipt = await self.node.eth.get_transaction_receipt(HexStr(view.transaction_hash))
        assert receipt["status"] == 1 and receipt["blockNumber"] == block
        # what it cost, as recorded: the receipt's gas × the price paid per gas
        assert view.fee_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"] > 0
        issued = await self.chain.contract.events.DocumentIssued.get_logs(
            from_block=0, to_block="latest", argument_filters={"document": view.merkle_root}
        )
        assert len(issued) == 1  # one anchor of this root, ever
        leaves = self.store.window_leaves(window_id)
        assert len(leaves) == view.leaf_count
        for certificate_id, leaf in leaves:
            proof = self.store.proof(certificate_id)
            assert proof is not None and leaf == leaf_of(certificate_id)
            assert verify_proof(leaf, unpack_proof(proof.merkle_path), view.merkle_root)
        assert await self.nonce() - self.first_nonce == transactions


def rig(anvil: str, registry: str, store: AnchorStore, **settings: Any) -> Rig:
    return Rig(anvil, registry, store, rpc_urls=[anvil], **settings)


async def test_a_stuck_transaction_is_replaced_once_at_its_nonce_and_anchored_once(
    anvil: str, registry: str, store: AnchorStore, sessions: sessionmaker[Session]
) -> None:
    async with rig(anvil, registry, store, replace_after_seconds=1.0) as r:
        await r.rpc("evm_setAutomine", False)
        r.add_window()
        await r.until(lambda: len(store.transactions("w1")) == 2)  # the deadline passed
        [(original, _), (replacement, _)] = store.transactions("w1")
        first = signed_fields(sessions, original)
        second = signed_fields(sessions, replacement)
        assert first["nonce"] == second["nonce"]
        # both fees raised ≥ 10 %, as geth requires (anvil would take less)
        assert second["maxFeePerGas"] >= first["maxFeePerGas"] * 110 // 100
        assert second["maxPriorityFeePerGas"] >= first["maxPriorityFeePerGas"] * 110 // 100
        assert second["maxFeePerGas"] <= 100 * GWEI
        await r.rpc("evm_mine")
        await r.until(r.confirmed)
        assert store.transactions("w1") == [(original, "replaced"), (replacement, "mined")]
        view = store.window("w1")
        assert view is not None and view.transaction_hash == replacement
        await r.assert_anchored_once(transactions=1)


async def test_a_dropped_transaction_is_sent_again_from_the_stored_bytes(
    anvil: str, registry: str, store: AnchorStore
) -> None:
    async with rig(anvil, registry, store) as r:
        await r.rpc("evm_setAutomine", False)
        r.add_window()
        await r.until(lambda: r.state() is WindowState.SUBMITTED)
        [(tx_hash, _)] = store.transactions("w1")
        await r.rpc("anvil_dropTransaction", tx_hash)
        assert not await r.chain.known(tx_hash)
        await r.until(lambda: r.chain.known(tx_hash))  # re-sent: the node has it again
        await r.rpc("evm_mine")
        await r.until(r.confirmed)
        assert store.transactions("w1") == [(tx_hash, "mined")]  # the same bytes, no other
        await r.assert_anchored_once(transactions=1)


async def test_nothing_is_sent_while_the_base_fee_is_above_the_cap_then_anchoring_resumes(
    anvil: str, registry: str, store: AnchorStore
) -> None:
    async with rig(anvil, registry, store, max_fee_per_gas_cap_gwei=5.0) as r:
        await r.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))
        r.add_window()
        await r.until(lambda: "above the cap" in r.waiting_reason())
        for _ in range(5):  # it keeps waiting, sending nothing
            await r.anchor.anchorer.advance_all()
        assert r.state() is WindowState.BUILT and store.transactions("w1") == []
        assert await r.node.eth.get_transaction_count(OWNER, "pending") == r.first_nonce
        await r.rpc("anvil_setNextBlockBaseFeePerGas", hex(GWEI))  # the spike is over
        await r.until(r.confirmed)
        [(tx_hash, state)] = store.transactions("w1")
        sent = await r.node.eth.get_transaction(HexStr(tx_hash))
        assert state == "mined" and sent["maxFeePerGas"] <= 5 * GWEI
        assert r.waiting_reason() == ""
        await r.assert_anchored_once(transactions=1)


async def test_a_revert_is_diagnosed_alerted_once_and_retried_until_anchored(
    anvil: str, registry: str, store: AnchorStore, caplog: pytest.LogCaptureFixture
) -> None:
    async with rig(anvil, registry, store) as r:
        await r.rpc("evm_setAutomine", False)
        r.add_window()
        await r.until(lambda: r.state() is WindowState.SUBMITTED)
        await r.set_owner(STRANGER)  # the registry changes hands before ours is mined
        await r.rpc("evm_mine")
        with caplog.at_level(logging.ERROR, logger="services.anchor"):
            await r.until(lambda: "NotOwner" in r.waiting_reason())
        alerts = [x for x in caplog.records if x.levelno == logging.ERROR]
        assert len(alerts) == 1 and "reverted: NotOwner" in alerts[0].getMessage()
        assert r.state() is WindowState.BUILT
        assert [state for _, state in store.transactions("w1")] == ["reverted"]
        view = store.window("w1")
        assert view is not None and view.transaction_count == 1
        await r.set_owner(OWNER)  # an operator gives it back
        await r.rpc("evm_setAutomine", True)
        await r.until(r.confirmed)
        assert [s for _, s in store.transactions("w1")] == ["reverted", "mined"]
        # the reverted transaction used a nonce: two transactions, one anchor
        await r.assert_anchored_once(transactions=2)
        assert r.waiting_reason() == ""


async def test_a_revert_because_the_root_was_anchored_meanwhile_adopts_that_anchor(
    anvil: str, registry: str, store: AnchorStore
) -> None:
    """While ours waits in the pool, a stranger, owner for a moment, anchors the same root and
    hands the registry back, in the same block and ahead of ours (a higher tip): ours reverts
    with AlreadyIssued. The root on chain is this window's, so its proofs hold: the window is
    anchored by that transaction, and nothing is sent again."""
    async with rig(anvil, registry, store) as r:
        await r.rpc("evm_setAutomine", False)
        root = r.add_window()
        await r.until(lambda: r.state() is WindowState.SUBMITTED)
        [(ours, _)] = store.transactions("w1")
        await r.set_owner(STRANGER)
        await r.rpc("anvil_impersonateAccount", STRANGER)
        calls = [("issue", [root]), ("transferOwnership", [OWNER])]
        theirs = [
            await r.node.eth.send_transaction(
                {
                    "from": STRANGER,
                    "to": registry,
                    "data": r.chain.contract.encode_abi(name, args),
                    "gas": 100_000,
                    "maxFeePerGas": Wei(50 * GWEI),
                    "maxPriorityFeePerGas": Wei(20 * GWEI),
                }
            )
            for name, args in calls
        ]
        await r.rpc("evm_mine")
        statuses = [
            (await r.node.eth.get_transaction_receipt(HexStr(h)))["status"]
            for h in ("0x" + bytes(theirs[0]).hex(), "0x" + bytes(theirs[1]).hex(), ours)
        ]
        assert statuses == [1, 1, 0]  # ours reverted
        await r.until(r.confirmed)
        view = store.window("w1")
        assert view is not None and view.transaction_hash == "0x" + bytes(theirs[0]).hex()
        assert store.transactions("w1") == [(ours, "reverted")]  # nothing sent after it
        await r.assert_anchored_once(transactions=1)  # ours, reverted; theirs is not ours


async def test_a_root_anchored_by_an_earlier_transaction_of_ours_is_adopted_not_resent(
    anvil: str, registry: str, store: AnchorStore
) -> None:
    """As after a database restored from a backup older than the last anchor."""
    async with rig(anvil, registry, store) as r:
        root = r.add_window()
        account = signer(KEY)
        nonce = await r.chain.pending_nonce(OWNER)
        earlier = await r.chain.build_anchor_transaction(root, OWNER, nonce, (3 * GWEI, GWEI))
        raw, earlier_hash = sign(account, earlier)
        await r.chain.send_raw(raw)
        await r.until(r.confirmed)
        view = store.window("w1")
        assert view is not None and view.transaction_hash == earlier_hash
        assert store.transactions("w1") == []
        await r.assert_anchored_once(transactions=1)


async def test_a_reorg_below_the_confirmation_depth_re_anchors_and_announces_once(
    anvil: str, registry: str, store: AnchorStore, sessions: sessionmaker[Session]
) -> None:
    async with rig(anvil, registry, store, confirmations=3) as r:
        r.add_window()
        await r.until(lambda: r.state() is WindowState.SUBMITTED)
        [(tx_hash, _)] = store.transactions("w1")
        first = await r.chain.mined(tx_hash)
        assert first is not None  # automine: mined at once, one confirmation of three
        await r.rpc("evm_mine")  # two
        await r.anchor.anchorer.advance_all()
        assert r.state() is WindowState.SUBMITTED
        await r.rpc("anvil_reorg", 2, [])  # both blocks replaced by empty ones
        assert await r.chain.mined(tx_hash) is None and not await r.chain.known(tx_hash)
        # the stored bytes go out again and are mined in a new block; two more for depth
        await r.until(lambda: _mined_again(r, tx_hash, first.block_hash))
        for _ in range(2):
            await r.rpc("evm_mine")
        await r.until(r.confirmed)
        view = store.window("w1")
        again = await r.chain.mined(tx_hash)
        assert view is not None and again is not None and again.block_hash != first.block_hash
        assert (view.transaction_hash, view.block_number) == (tx_hash, again.block_number)
        with sessions() as session:
            payloads = list(session.scalars(select(t.AnchorOutbox.payload)))
        events = [events_pb2.CertificatesAnchoredEvent.FromString(p) for p in payloads]
        assert len(events) == 1 and events[0].block_number == again.block_number
        assert events[0].transaction_hash == tx_hash
        await r.assert_anchored_once(transactions=1)


async def _mined_again(r: Rig, tx_hash: str, old_block_hash: str) -> bool:
    mined = await r.chain.mined(tx_hash)
    return mined is not None and mined.block_hash != old_block_hash


async def test_with_the_first_rpc_url_down_the_next_one_anchors(
    anvil: str, registry: str, store: AnchorStore, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with Rig(anvil, registry, store, rpc_urls=[dead, anvil], low_balance_eth=20_000) as r:
        r.add_window()
        r.add_window("w2", size=3)
        with caplog.at_level(logging.WARNING):
            await r.until(lambda: r.confirmed() and r.confirmed("w2"))
        assert r.chain.current_url == anvil
        assert any(dead in x.getMessage() for x in caplog.records)
        # the dev account holds 10,000 ETH: below the 20,000 threshold, so warned (once)
        status = r.anchor.anchorer.status
        assert status.balance_low and status.rpc_url == anvil and status.address == OWNER
        assert len([x for x in caplog.records if "running dry" in x.getMessage()]) == 1
        await r.assert_anchored_once(transactions=2)
        await r.assert_anchored_once("w2", transactions=2)


async def test_every_rpc_url_down_is_a_clear_error_after_the_retries() -> None:
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    chain = RegistryClient(dead, "0x" + "2e" * 20, timeout=1, backoff_seconds=0.01)
    with pytest.raises(ConnectionError, match="no chain RPC endpoint answered"):
        await chain.block_number()
    await chain.close()


async def test_a_remote_signer_signs_every_transaction_and_the_key_stays_out(
    anvil: str, registry: str, store: AnchorStore, sessions: sessionmaker[Session]
) -> None:
    """anvil holds its dev accounts unlocked: an eth_signTransaction signer like Web3Signer."""
    remote = {"remote_signer_url": anvil, "remote_signer_address": OWNER}
    async with rig(
        anvil, registry, store, anchor_private_key=None, replace_after_seconds=1.0, **remote
    ) as r:
        assert isinstance(r.key, RemoteSigner)
        await r.rpc("evm_setAutomine", False)
        r.add_window()
        await r.until(lambda: len(store.transactions("w1")) == 2)  # original and replacement
        await r.rpc("evm_mine")
        await r.until(r.confirmed)
        [(_, first), (_, second)] = store.transactions("w1")
        assert (first, second) == ("replaced", "mined")
        await r.assert_anchored_once(transactions=1)


def test_a_remote_signature_by_another_key_or_of_another_transaction_is_refused() -> None:
    asked: Any = {
        "chainId": 31337,
        "nonce": 3,
        "to": AsyncWeb3.to_checksum_address("0x" + "2e" * 20),
        "data": "0x0f75e81f" + "01" * 32,
        "gas": 70_000,
        "maxFeePerGas": 3 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "value": 0,
    }
    raw, _ = sign(signer(KEY), asked)
    check_signed(raw, asked, OWNER)  # the one asked, by the key asked
    with pytest.raises(RemoteSignerError, match="another key"):
        check_signed(raw, asked, STRANGER)
    changed: Any = {**asked, "maxFeePerGas": 4 * GWEI}
    with pytest.raises(RemoteSignerError, match="maxFeePerGas"):
        check_signed(raw, changed, OWNER)


async def test_a_block_beyond_the_head_has_no_hash(anvil: str, registry: str) -> None:
    """After a rollback to a shorter chain a receipt's block may be beyond the head: None, as
    the Chain protocol says, not web3's BlockNotFound aborting the submitter's pass."""
    chain = RegistryClient(anvil, registry)
    try:
        head = await chain.block_number()
        assert await chain.block_hash(head) is not None
        assert await chain.block_hash(head + 10) is None
    finally:
        await chain.close()
