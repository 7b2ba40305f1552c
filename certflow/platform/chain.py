"""The CertificateRegistry on an EVM chain, through web3.py (async), over one or several RPC
endpoints: a connection error or timeout is retried with backoff, then the next URL is tried."""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from aiohttp import ClientError, ClientTimeout
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_typing import HexStr
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import Nonce, RPCEndpoint, TxParams, Wei

from certflow.contracts import registry_artifact
from certflow.core.transactions import MinedTransaction

log = logging.getLogger(__name__)

T = TypeVar("T")

# what an unreachable, overloaded or hung endpoint looks like; a JSON-RPC error is an answer
_TRANSIENT = (ClientError, TimeoutError, OSError)


# an endpoint URL in any text: what follows the host (path, query) and user:password@ go
_URL = re.compile(r"\b((?:http|ws)s?://)(?:[^/\s'\"@]*@)?([^/\s'\"?#]+)[^\s'\")]*")


def redacted(text: str) -> str:
    """`text` with each URL cut to scheme://host[:port]: providers put the API key in the path
    (Infura, Alchemy), the query or user:password, and logs and status replies must not carry it."""
    return _URL.sub(r"\1\2", text)


class ChainUnavailable(ConnectionError):
    """Every RPC endpoint failed, each after its retries."""


class RegistryClient:
    """`rpc_url` is one URL or several in order of preference: each call goes to the endpoint
    that last answered, is retried `attempts_per_url` times with doubling backoff on a
    connection error or timeout, then moves on to the next URL. `timeout` bounds each request.
    `retries=False` makes that one attempt per URL: for callers with a deadline of their own,
    such as a public look-up that must answer "chain unavailable" quickly rather than late."""

    def __init__(
        self,
        rpc_url: str | Sequence[str],
        registry_address: str,
        *,
        timeout: float = 30,
        retries: bool = True,
        attempts_per_url: int = 3,
        backoff_seconds: float = 0.25,
    ) -> None:
        self.urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
        if not self.urls:
            raise ValueError("at least one RPC URL is needed")
        self.address = AsyncWeb3.to_checksum_address(registry_address)
        abi = registry_artifact()["abi"]
        self._endpoints: list[tuple[AsyncWeb3, AsyncContract]] = []
        for url in self.urls:
            # web3's own retries are off: ours move on to the next URL after backing off
            w3 = AsyncWeb3(
                AsyncHTTPProvider(
                    url,
                    request_kwargs={"timeout": ClientTimeout(total=timeout)},
                    exception_retry_configuration=None,
                )
            )
            self._endpoints.append((w3, w3.eth.contract(address=self.address, abi=abi)))
        self._attempts = max(attempts_per_url, 1) if retries else 1
        self._backoff = backoff_seconds
        self._current = 0
        self._errors = _error_names(abi)

    @property
    def w3(self) -> AsyncWeb3:
        return self._endpoints[self._current][0]

    @property
    def contract(self) -> AsyncContract:
        return self._endpoints[self._current][1]

    @property
    def current_url(self) -> str:
        """The endpoint in use, redacted (scheme://host:port): for logs and status replies."""
        return redacted(self.urls[self._current])

    async def _call(self, operation: Callable[[AsyncWeb3, AsyncContract], Awaitable[T]]) -> T:
        failure: BaseException | None = None
        for offset in range(len(self._endpoints)):
            index = (self._current + offset) % len(self._endpoints)
            w3, contract = self._endpoints[index]
            delay = self._backoff
            for attempt in range(self._attempts):
                try:
                    result = await operation(w3, contract)
                except _TRANSIENT as exc:
                    failure = exc
                    if attempt + 1 < self._attempts:
                        await asyncio.sleep(delay)
                        delay *= 2
                    continue
                if index != self._current:
                    log.warning(
                        "chain RPC %s failed (%s); now using %s",
                        redacted(self.urls[self._current]),
                        redacted(str(failure)),
                        redacted(self.urls[index]),
                    )
                    self._current = index
                return result
        # not chained: the cause's text (aiohttp's names the full URL) would carry the key
        raise ChainUnavailable(f"no chain RPC endpoint answered: {redacted(str(failure))}")

    async def chain_id(self) -> int:
        return await self._call(lambda w3, _: w3.eth.chain_id)

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        """(block number, timestamp) when `root` was anchored; (0, 0) when never."""
        block, timestamp = await self._call(
            lambda _, contract: contract.functions.anchoredAt(root).call()
        )
        return int(block), int(timestamp)

    async def is_revoked(self, leaf_or_root: bytes) -> bool:
        return bool(
            await self._call(lambda _, contract: contract.functions.isRevoked(leaf_or_root).call())
        )

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]:
        """Hashes revoked in blocks [from_block, to_block], from DocumentRevoked events."""
        logs = await self._call(
            lambda _, contract: contract.events.DocumentRevoked.get_logs(
                from_block=from_block, to_block=to_block
            )
        )
        return [bytes(log["args"]["document"]) for log in logs]

    async def revoke(self, account: LocalAccount, documents: list[bytes]) -> MinedTransaction:
        """Revokes hashes (leaves or roots) in one transaction and waits for it to be mined."""
        nonce = await self.pending_nonce(account.address)
        transaction = await self._call(
            lambda _, contract: contract.functions.bulkRevoke(documents).build_transaction(
                _params(account.address, nonce)
            )
        )
        raw, tx_hash = sign(account, transaction)
        await self.send_raw(raw)
        await self._call(
            lambda w3, _: w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=60)
        )
        mined = await self.mined(tx_hash)
        assert mined is not None
        return mined

    async def revoked_among(self, leaves: Sequence[bytes]) -> set[bytes]:
        """Those of the hashes already revoked in the registry."""
        return {leaf for leaf in leaves if await self.is_revoked(leaf)}

    async def revoking_transaction(self, leaf: bytes) -> MinedTransaction | None:
        """The transaction that revoked `leaf`, from its DocumentRevoked event; None if the
        hash is not revoked."""
        block = int(
            await self._call(lambda _, contract: contract.functions.documentRevoked(leaf).call())
        )
        if not block:
            return None
        logs = await self._call(
            lambda _, contract: contract.events.DocumentRevoked.get_logs(
                from_block=block, to_block=block, argument_filters={"document": leaf}
            )
        )
        if not logs:
            return None
        return await self.mined("0x" + bytes(logs[0]["transactionHash"]).hex())

    async def would_revert_revoke(self, leaves: Sequence[bytes], sender: str) -> str | None:
        """Why bulkRevoke(leaves) sent by `sender` would revert now (NotOwner, AlreadyRevoked),
        None when it would succeed."""
        caller = AsyncWeb3.to_checksum_address(sender)
        try:
            await self._call(
                lambda _, contract: contract.functions.bulkRevoke(list(leaves)).call(
                    {"from": caller}
                )
            )
        except ContractLogicError as exc:
            return self._error_name(exc)
        return None

    async def build_revoke_transaction(
        self, leaves: Sequence[bytes], sender: str, nonce: int, fees: tuple[int, int]
    ) -> TxParams:
        """bulkRevoke(leaves) at `nonce` with (max fee per gas, tip), gas estimated by the node."""
        params = _params(sender, nonce)
        params["maxFeePerGas"], params["maxPriorityFeePerGas"] = Wei(fees[0]), Wei(fees[1])
        return await self._call(
            lambda _, contract: contract.functions.bulkRevoke(list(leaves)).build_transaction(
                params
            )
        )

    async def pending_nonce(self, address: str) -> int:
        sender = AsyncWeb3.to_checksum_address(address)
        return await self._call(lambda w3, _: w3.eth.get_transaction_count(sender, "pending"))

    async def balance(self, address: str) -> int:
        """Wei held by `address` at the latest block."""
        holder = AsyncWeb3.to_checksum_address(address)
        return int(await self._call(lambda w3, _: w3.eth.get_balance(holder)))

    async def fees(self) -> tuple[int, int]:
        """(base fee of the next block, the node's suggested tip), both in wei: the last entry
        of eth_feeHistory is the block to come, and eth_maxPriorityFeePerGas the tip."""
        history = await self._call(lambda w3, _: w3.eth.fee_history(1, "latest", []))
        tip = await self._call(lambda w3, _: w3.eth.max_priority_fee)
        return int(history["baseFeePerGas"][-1]), int(tip)

    async def build_anchor_transaction(
        self, root: bytes, sender: str, nonce: int, fees: tuple[int, int]
    ) -> TxParams:
        """issue(root) at `nonce` with (max fee per gas, tip), gas estimated by the node."""
        params = _params(sender, nonce)
        params["maxFeePerGas"], params["maxPriorityFeePerGas"] = Wei(fees[0]), Wei(fees[1])
        return await self._call(
            lambda _, contract: contract.functions.issue(root).build_transaction(params)
        )

    async def would_revert(self, root: bytes, sender: str) -> str | None:
        """Why issue(root) sent by `sender` would revert now (the contract's error name, e.g.
        NotOwner or AlreadyIssued), None when it would succeed."""
        caller = AsyncWeb3.to_checksum_address(sender)
        try:
            await self._call(
                lambda _, contract: contract.functions.issue(root).call({"from": caller})
            )
        except ContractLogicError as exc:
            return self._error_name(exc)
        return None

    async def ran_out_of_gas(self, transaction_hash: str) -> bool:
        """A mined transaction that used all the gas it was given."""
        tx = await self._call(lambda w3, _: w3.eth.get_transaction(HexStr(transaction_hash)))
        receipt = await self._call(
            lambda w3, _: w3.eth.get_transaction_receipt(HexStr(transaction_hash))
        )
        return int(receipt["gasUsed"]) >= int(tx["gas"])

    async def anchoring_transaction(self, root: bytes) -> MinedTransaction | None:
        """The transaction that anchored `root`, from its DocumentIssued event; None when the
        root is not anchored."""
        block, _ = await self.anchored_at(root)
        if not block:
            return None
        logs = await self._call(
            lambda _, contract: contract.events.DocumentIssued.get_logs(
                from_block=block, to_block=block, argument_filters={"document": root}
            )
        )
        if not logs:
            return None
        return await self.mined("0x" + bytes(logs[0]["transactionHash"]).hex())

    async def send_raw(self, raw_transaction: bytes) -> bool:
        """Broadcasts. True when the node accepted it or already has it (a re-send after a
        restart, or an older transaction of ours at this nonce replaced by a better one);
        False when its nonce is already used — mined, or taken by another transaction, which
        the caller tells apart by looking for the receipt."""
        try:
            await self._call(lambda w3, _: w3.eth.send_raw_transaction(raw_transaction))
        except Web3RPCError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return True
            if "replacement transaction underpriced" in text:
                return True  # the pool holds a better-paying transaction at this nonce
            if "nonce too low" in text:
                return False
            if "less than block base fee" in text:
                # priced out by a risen base fee: the node will not hold it now; the caller's
                # replacement deadline bumps it (under its cap) or waits
                return True
            raise
        return True

    async def known(self, transaction_hash: str) -> bool:
        """Whether the node has the transaction (pending or mined): False once it dropped it."""
        try:
            await self._call(lambda w3, _: w3.eth.get_transaction(HexStr(transaction_hash)))
        except TransactionNotFound:
            return False
        return True

    async def mined(self, transaction_hash: str) -> MinedTransaction | None:
        try:
            receipt = await self._call(
                lambda w3, _: w3.eth.get_transaction_receipt(HexStr(transaction_hash))
            )
        except TransactionNotFound:
            return None
        return MinedTransaction(
            transaction_hash=transaction_hash,
            block_number=int(receipt["blockNumber"]),
            block_hash="0x" + bytes(receipt["blockHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            succeeded=receipt["status"] == 1,
            effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
        )

    async def block_number(self) -> int:
        return await self._call(lambda w3, _: w3.eth.block_number)

    async def block_hash(self, number: int) -> str | None:
        """The canonical block's hash at `number`; None beyond the head (say after a reorg
        to a shorter chain)."""
        try:
            block = await self._call(lambda w3, _: w3.eth.get_block(number))
        except BlockNotFound:
            return None
        return "0x" + bytes(block["hash"]).hex()

    async def close(self) -> None:
        for w3, _ in self._endpoints:
            provider = w3.provider
            if hasattr(provider, "disconnect"):
                await provider.disconnect()

    def _error_name(self, exc: ContractLogicError) -> str:
        data = exc.data if isinstance(exc.data, str) else ""
        name = self._errors.get(data[:10].lower())
        if name:
            return name
        return exc.message or str(exc) or "reverted"


def _error_names(abi: list[dict[str, Any]]) -> dict[str, str]:
    """0x selector → name of each custom error the contract declares."""
    names = {}
    for entry in abi:
        if entry.get("type") == "error":
            types = ",".join(i["type"] for i in entry.get("inputs", []))
            selector = "0x" + keccak(text=f"{entry['name']}({types})")[:4].hex()
            names[selector] = entry["name"]
    return names


def signer(private_key: str) -> LocalAccount:
    return Account.from_key(private_key)


class RemoteSignerError(RuntimeError):
    """The remote signer refused, or answered with a transaction other than the one asked."""


class RemoteSigner:
    """Signs through an `eth_signTransaction` JSON-RPC signer (Web3Signer, Clef, a node with
    the account unlocked), so the production key never sits in this process. What comes back
    is checked: signed by `address`, for the same nonce, recipient, data and fees."""

    def __init__(self, url: str, address: str, *, timeout: float = 10) -> None:
        self.url = url
        self.address = AsyncWeb3.to_checksum_address(address)
        self._provider = AsyncHTTPProvider(
            url,
            request_kwargs={"timeout": ClientTimeout(total=timeout)},
            exception_retry_configuration=None,
        )

    async def sign(self, transaction: TxParams) -> tuple[bytes, str]:
        request = {
            key: hex(value) if isinstance(value, int) else value
            for key, value in transaction.items()
        }
        request["from"] = self.address
        response = await self._provider.make_request(RPCEndpoint("eth_signTransaction"), [request])
        if "error" in response:
            raise RemoteSignerError(f"remote signer refused: {response['error']}")
        result = response["result"]
        # Web3Signer and anvil answer the raw hex; Clef and geth {"raw": …, "tx": …}
        raw = bytes(HexBytes(result["raw"] if isinstance(result, dict) else result))
        check_signed(raw, transaction, self.address)
        return raw, "0x" + keccak(raw).hex()

    async def close(self) -> None:
        await self._provider.disconnect()


def check_signed(raw: bytes, asked: TxParams, address: str) -> None:
    """Refuses a signed transaction that is not `asked`, signed by `address`."""
    if Account.recover_transaction(raw) != address:
        raise RemoteSignerError("remote signer signed with another key")
    signed = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    for field in ("nonce", "to", "data", "maxFeePerGas", "maxPriorityFeePerGas", "chainId"):
        wanted = cast(dict[str, Any], asked).get(field)
        if wanted is not None and not _same(signed.get(field), wanted):
            raise RemoteSignerError(f"remote signer changed the transaction's {field}")


def _same(signed: Any, asked: Any) -> bool:
    if isinstance(asked, str) and asked.startswith("0x"):
        return bytes(HexBytes(signed)) == bytes(HexBytes(asked))
    return int(signed) == int(asked) if isinstance(asked, int) else signed == asked


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
