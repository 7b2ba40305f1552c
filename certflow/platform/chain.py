"""The CertificateRegistry on an EVM chain, through web3.py (async)."""

from typing import Any, cast

from aiohttp import ClientTimeout
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import TransactionNotFound
from web3.types import Nonce, TxParams

from certflow.contracts import registry_artifact
from certflow.core.transactions import MinedTransaction


class RegistryClient:
    """`timeout` bounds each RPC request. `retries=False` turns off web3's own retries with
    backoff (several seconds on a dead node): for callers with a deadline of their own, such as
    a public look-up that must answer "chain unavailable" quickly rather than late."""

    def __init__(
        self, rpc_url: str, registry_address: str, *, timeout: float = 30, retries: bool = True
    ) -> None:
        no_retries: dict[str, Any] = {} if retries else {"exception_retry_configuration": None}
        self.w3 = AsyncWeb3(
            AsyncHTTPProvider(
                rpc_url, request_kwargs={"timeout": ClientTimeout(total=timeout)}, **no_retries
            )
        )
        self.address = AsyncWeb3.to_checksum_address(registry_address)
        self.contract = self.w3.eth.contract(address=self.address, abi=registry_artifact()["abi"])

    async def chain_id(self) -> int:
        return await self.w3.eth.chain_id

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        """(block number, timestamp) when `root` was anchored; (0, 0) when never."""
        block, timestamp = await self.contract.functions.anchoredAt(root).call()
        return int(block), int(timestamp)

    async def is_revoked(self, leaf_or_root: bytes) -> bool:
        return bool(await self.contract.functions.isRevoked(leaf_or_root).call())

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]:
        """Hashes revoked in blocks [from_block, to_block], from DocumentRevoked events."""
        logs = await self.contract.events.DocumentRevoked.get_logs(
            from_block=from_block, to_block=to_block
        )
        return [bytes(log["args"]["document"]) for log in logs]

    async def revoke(self, account: LocalAccount, documents: list[bytes]) -> MinedTransaction:
        """Revokes hashes (leaves or roots) in one transaction and waits for it to be mined."""
        nonce = await self.pending_nonce(account.address)
        transaction = await self.contract.functions.bulkRevoke(documents).build_transaction(
            _params(account.address, nonce)
        )
        raw, tx_hash = sign(account, transaction)
        await self.send_raw(raw)
        await self.w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=60)
        mined = await self.mined(tx_hash)
        assert mined is not None
        return mined

    async def pending_nonce(self, address: str) -> int:
        return await self.w3.eth.get_transaction_count(
            AsyncWeb3.to_checksum_address(address), "pending"
        )

    async def build_anchor_transaction(self, root: bytes, sender: str, nonce: int) -> TxParams:
        return await self.contract.functions.issue(root).build_transaction(_params(sender, nonce))

    async def send_raw(self, raw_transaction: bytes) -> bool:
        """Broadcasts. True when the node accepted it or already has it (a re-send after a
        restart); False when its nonce is already used — mined, or taken by another
        transaction, which the caller tells apart by looking for the receipt."""
        try:
            await self.w3.eth.send_raw_transaction(raw_transaction)
        except ValueError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return True
            if "nonce too low" in text:
                return False
            raise
        return True

    async def mined(self, transaction_hash: str) -> MinedTransaction | None:
        try:
            receipt = await self.w3.eth.get_transaction_receipt(HexStr(transaction_hash))
        except TransactionNotFound:
            return None
        return MinedTransaction(
            transaction_hash=transaction_hash,
            block_number=int(receipt["blockNumber"]),
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            succeeded=receipt["status"] == 1,
        )

    async def block_number(self) -> int:
        return await self.w3.eth.block_number

    async def block_hash(self, number: int) -> str | None:
        block = await self.w3.eth.get_block(number)
        return "0x" + bytes(block["hash"]).hex() if block else None

    async def close(self) -> None:
        provider = self.w3.provider
        if hasattr(provider, "disconnect"):
            await provider.disconnect()


def signer(private_key: str) -> LocalAccount:
    return Account.from_key(private_key)


def _params(sender: str, nonce: int) -> TxParams:
    return {"from": AsyncWeb3.to_checksum_address(sender), "nonce": Nonce(nonce)}


def sign(account: LocalAccount, transaction: TxParams) -> tuple[bytes, str]:
    # web3 builds a TxParams TypedDict; eth-account types its input as a plain dict
    signed = account.sign_transaction(cast(dict[str, Any], transaction))
    return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()


async def deploy_registry(rpc_url: str, private_key: str, name: str) -> str:
    """Deploys a new registry owned by the key's address; returns its address."""
    provider = AsyncHTTPProvider(rpc_url)
    w3 = AsyncWeb3(provider)
    account = signer(private_key)
    artifact = registry_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    try:
        nonce = await w3.eth.get_transaction_count(account.address, "pending")
        transaction = await factory.constructor(name).build_transaction(
            _params(account.address, nonce)
        )
        raw, tx_hash = sign(account, transaction)
        await w3.eth.send_raw_transaction(raw)
        receipt = await w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=60)
    finally:
        await provider.disconnect()
    if receipt["status"] != 1:
        raise RuntimeError("registry deployment reverted")
    return str(receipt["contractAddress"])
