"""What anchoring and revoking cost on chain, measured on a real anvil with the real registry:
one `issue(root)` per window whatever its size (so the cost per certificate falls with the
window), and `bulkRevoke(leaves)`, which pays for every leaf. Fees are shown at the gas price
anvil charged and at two reference prices (an L1-like 20 gwei and an L2-like 0.05 gwei): a
registrar plans with the gas figures, which do not depend on the day's price."""

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from rich.table import Table
from web3.types import TxParams

from certflow.core.merkle import MerkleTree
from certflow.core.transactions import MinedTransaction
from certflow.platform.chain import RegistryClient, deploy_registry, sign, signer
from devstack import tools
from devstack.processes import ManagedProcess, free_port, wait_for_port

ANCHOR_SIZES = (1, 100, 10_000, 100_000)
REVOKE_SIZES = (1, 100, 1_000)
REFERENCE_GWEI = {"L1 at 20 gwei": 20.0, "L2 at 0.05 gwei": 0.05}
GWEI = 10**9
ETH = 10**18


@dataclass(frozen=True, slots=True)
class Cost:
    operation: str  # "anchor" or "revoke"
    certificates: int
    transactions: int
    gas: int
    fee_wei: int  # at the price anvil charged
    tree_seconds: float = 0.0  # building the window's tree (anchor)

    @property
    def gas_per_certificate(self) -> float:
        return self.gas / self.certificates

    def eth_per_certificate(self, gwei: float) -> float:
        return self.gas_per_certificate * gwei * GWEI / ETH


async def _send(chain: RegistryClient, raw: bytes, tx_hash: str) -> MinedTransaction:
    await chain.send_raw(raw)
    for _ in range(600):  # anvil mines at once; a minute at most
        mined = await chain.mined(tx_hash)
        if mined is not None:
            if not mined.succeeded:
                raise RuntimeError(f"{tx_hash} reverted")
            return mined
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{tx_hash} was not mined")


async def _measure(rpc_url: str) -> list[Cost]:
    key = signer(tools.ANVIL_DEV_PRIVATE_KEY)
    registry = await deploy_registry(rpc_url, tools.ANVIL_DEV_PRIVATE_KEY, "costs")
    chain = RegistryClient(rpc_url, registry)
    costs: list[Cost] = []
    try:
        for size in ANCHOR_SIZES:
            leaves = [os.urandom(32) for _ in range(size)]
            began = time.perf_counter()
            root = MerkleTree.build(leaves).root
            tree_seconds = time.perf_counter() - began
            mined = await _sign_and_send(chain, key, await _anchor(chain, key, root))
            costs.append(_cost("anchor", size, mined, tree_seconds))
        for size in REVOKE_SIZES:
            leaves = [os.urandom(32) for _ in range(size)]
            mined = await _sign_and_send(chain, key, await _revoke(chain, key, leaves))
            costs.append(_cost("revoke", size, mined))
    finally:
        await chain.close()
    return costs


async def _anchor(chain: RegistryClient, key: LocalAccount, root: bytes) -> TxParams:
    nonce = await chain.pending_nonce(key.address)
    base, tip = await chain.fees()
    return await chain.build_anchor_transaction(root, key.address, nonce, (2 * base + tip, tip))


async def _revoke(chain: RegistryClient, key: LocalAccount, leaves: Sequence[bytes]) -> TxParams:
    nonce = await chain.pending_nonce(key.address)
    base, tip = await chain.fees()
    return await chain.build_revoke_transaction(leaves, key.address, nonce, (2 * base + tip, tip))


async def _sign_and_send(
    chain: RegistryClient, key: LocalAccount, params: TxParams
) -> MinedTransaction:
    raw, tx_hash = sign(key, params)
    return await _send(chain, raw, tx_hash)


def _cost(operation: str, size: int, mined: MinedTransaction, tree_seconds: float = 0.0) -> Cost:
    return Cost(
        operation=operation,
        certificates=size,
        transactions=1,
        gas=mined.gas_used,
        fee_wei=mined.gas_used * mined.effective_gas_price,
        tree_seconds=tree_seconds,
    )


def measure_costs(state_dir: Path) -> list[Cost]:
    port = free_port()
    anvil = ManagedProcess(
        "anvil",
        # a block large enough for a 1,000-leaf bulkRevoke (~23,000 gas a leaf)
        [tools.anvil(), "--host", "127.0.0.1", "--port", str(port), "--gas-limit", "300000000"],
        state_dir / "anvil.log",
    ).start()
    try:
        wait_for_port(port, 30, anvil)
        return asyncio.run(_measure(f"http://127.0.0.1:{port}"))
    finally:
        anvil.stop()


def render_costs(costs: Sequence[Cost]) -> Table:
    table = Table(title="on-chain cost (real registry on anvil; one transaction each)")
    for column in ("operation", "certificates", "gas", "gas / certificate", "tree"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for label in ("fee at anvil's price", *REFERENCE_GWEI):
        table.add_column(f"{label} / certificate", justify="right")
    for cost in costs:
        table.add_row(
            cost.operation,
            f"{cost.certificates:,}",
            f"{cost.gas:,}",
            f"{cost.gas_per_certificate:,.1f}",
            f"{cost.tree_seconds:.2f}s" if cost.operation == "anchor" else "",
            f"{cost.fee_wei / cost.certificates / ETH:.3g} ETH",
            *(f"{cost.eth_per_certificate(gwei):.3g} ETH" for gwei in REFERENCE_GWEI.values()),
        )
    return table
