"""In-memory stand-ins for anchor's store, chain, key, lease and NATS messages: the use cases
run against these in unit tests, with no server and no database."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from certflow.core.transactions import MinedTransaction
from certflow.v1 import events_pb2
from services.anchor.anchored_events import AnchoredMessage
from services.anchor.fees import GWEI, Fees
from services.anchor.submission import WindowState
from services.anchor.views import ProofView, WindowView
from services.anchor.windows import NewWindow, WindowToSend

SENDER = "0x" + "5e" * 20
REGISTRY = "0x" + "2e" * 20
CHAIN_ID = 31337


class StoreDown(Exception):
    """What a database outage looks like to the use cases."""


@dataclass
class UnsignedTransaction:
    root: bytes
    sender: str
    nonce: int
    max_fee: int = 0
    tip: int = 0


def encode(tx: UnsignedTransaction) -> bytes:
    return f"{tx.sender}|{tx.nonce}|{tx.root.hex()}|{tx.max_fee}|{tx.tip}".encode()


def decode(raw: bytes) -> UnsignedTransaction:
    sender, nonce, root, max_fee, tip = raw.decode().split("|")
    return UnsignedTransaction(bytes.fromhex(root), sender, int(nonce), int(max_fee), int(tip))


def tx_hash(raw: bytes) -> str:
    return "0x" + hashlib.sha256(raw).hexdigest()


class FakeSigner:
    address = SENDER

    def __init__(self) -> None:
        self.signed: list[UnsignedTransaction] = []

    async def sign(self, transaction: UnsignedTransaction) -> tuple[bytes, str]:
        self.signed.append(transaction)
        raw = encode(transaction)
        return raw, tx_hash(raw)


@dataclass
class FakeChain:
    """A node with a mempool: transactions are mined in nonce order when a test calls mine()."""

    log: list[tuple[str, str]] = field(default_factory=list)  # shared with the store
    head: int = 100
    nonces: dict[str, int] = field(default_factory=dict)  # next nonce per sender, as mined
    mempool: dict[str, bytes] = field(default_factory=dict)
    receipts: dict[str, MinedTransaction] = field(default_factory=dict)
    roots: dict[bytes, int] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)
    anchored_by: dict[bytes, str] = field(default_factory=dict)  # root -> transaction hash
    canonical: dict[int, str] = field(default_factory=dict)  # a block replaced by a reorg
    revert: bool = False
    refusal: str | None = None  # what would_revert answers (e.g. "NotOwner")
    base_fee: int = GWEI
    tip: int = GWEI
    wallet: int = 10**18
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("chain RPC unreachable")

    async def mined(self, transaction_hash: str) -> MinedTransaction | None:
        self._check()
        return self.receipts.get(transaction_hash)

    async def block_number(self) -> int:
        self._check()
        return self.head

    async def block_hash(self, number: int) -> str | None:
        self._check()
        return self.canonical.get(number, f"0xblock{number}")

    async def send_raw(self, raw_transaction: bytes) -> bool:
        self._check()
        self.sent.append(raw_transaction)
        h = tx_hash(raw_transaction)
        self.log.append(("broadcast", h))
        tx = decode(raw_transaction)
        if tx.nonce < self.nonces.get(tx.sender, 0):
            return False  # "nonce too low": mined, or another transaction used the nonce
        for other, raw in list(self.mempool.items()):
            if decode(raw).nonce == tx.nonce and decode(raw).sender == tx.sender and other != h:
                if decode(raw).max_fee >= tx.max_fee:
                    return True  # "replacement transaction underpriced": a better one waits
                del self.mempool[other]  # replaced
        self.mempool[h] = raw_transaction
        return True

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        self._check()
        return self.roots.get(root, 0), 0

    async def known(self, transaction_hash: str) -> bool:
        self._check()
        return transaction_hash in self.mempool or transaction_hash in self.receipts

    async def anchoring_transaction(self, root: bytes) -> MinedTransaction | None:
        self._check()
        h = self.anchored_by.get(root)
        if h is not None:
            return self.receipts.get(h)
        if root in self.roots:  # anchored by a transaction this fake did not mine
            return MinedTransaction(
                "0xforeign", self.roots[root], f"0xblock{self.roots[root]}", 50_000, True
            )
        return None

    async def would_revert(self, root: bytes, sender: str) -> str | None:
        self._check()
        return self.refusal or ("AlreadyIssued" if root in self.roots else None)

    async def ran_out_of_gas(self, transaction_hash: str) -> bool:
        return False

    async def balance(self, address: str) -> int:
        self._check()
        return self.wallet

    async def fees(self) -> tuple[int, int]:
        self._check()
        return self.base_fee, self.tip

    async def pending_nonce(self, address: str) -> int:
        self._check()
        pending = [decode(raw).nonce for raw in self.mempool.values()]
        return max([self.nonces.get(address, 0) - 1, *pending]) + 1

    async def build_anchor_transaction(
        self, root: bytes, sender: str, nonce: int, fees: tuple[int, int]
    ) -> UnsignedTransaction:
        self._check()
        return UnsignedTransaction(root, sender, nonce, *fees)

    def mine(self) -> list[str]:
        """Mines what the mempool holds, one transaction per block, in nonce order."""
        mined = []
        for h, raw in sorted(self.mempool.items(), key=lambda item: decode(item[1]).nonce):
            tx = decode(raw)
            if tx.nonce != self.nonces.get(tx.sender, 0):
                continue
            self.head += 1
            self.nonces[tx.sender] = tx.nonce + 1
            self.receipts[h] = MinedTransaction(
                h, self.head, f"0xblock{self.head}", 50_000, not self.revert
            )
            if not self.revert:
                self.roots[tx.root] = self.head
                self.anchored_by[tx.root] = h
            mined.append(h)
        for h in mined:
            del self.mempool[h]
        return mined

    def use_nonce_elsewhere(self, sender: str = SENDER) -> None:
        """Another transaction of the same wallet takes the next nonce; ours is dropped."""
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        self.head += 1
        self.mempool = {h: r for h, r in self.mempool.items() if decode(r).nonce != nonce}

    def drop_mempool(self) -> None:
        """A node restart: what was not mined is forgotten."""
        self.mempool.clear()


@dataclass
class StoredWindow:
    window: WindowToSend
    leaves: tuple[tuple[str, int, bytes, bytes], ...]  # (id, index, leaf hash, packed path)
    created_at: datetime
    sender: str = ""
    # (hash, state, fees) of every transaction signed for the window
    transactions: list[tuple[str, str, Fees]] = field(default_factory=list)
    waiting_reason: str = ""
    block_number: int | None = None
    gas_used: int | None = None
    confirmed_at: datetime | None = None


class FakeStore:
    """anchor's store in memory, with the same guarantees: a certificate is in one window at
    most, a window is signed once, confirmation writes the outbox once."""

    def __init__(self, log: list[tuple[str, str]] | None = None) -> None:
        self.log = log if log is not None else []
        self.stored: dict[str, StoredWindow] = {}
        self.proofs: dict[str, str] = {}  # certificate id -> window id
        self.outbox: list[AnchoredMessage] = []
        self.fail_writes = 0  # the next this many writes raise StoreDown
        self.fail_signing = False

    def _write(self) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise StoreDown("database unreachable")

    # WindowPlacement
    def placed(self, certificate_ids: Sequence[str]) -> set[str]:
        return {cid for cid in certificate_ids if cid in self.proofs}

    def add_window(self, window: NewWindow) -> None:
        self._write()
        if any(leaf.certificate_id in self.proofs for leaf in window.leaves):
            raise StoreDown("unique key violated: a certificate is already in a window")
        self.stored[window.window_id] = StoredWindow(
            WindowToSend(
                window.window_id, WindowState.BUILT, window.merkle_root, CHAIN_ID, REGISTRY
            ),
            tuple(
                (x.certificate_id, x.leaf_index, x.leaf_hash, x.merkle_path) for x in window.leaves
            ),
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for leaf in window.leaves:
            self.proofs[leaf.certificate_id] = window.window_id

    # SubmissionStore
    def unfinished(self) -> list[WindowToSend]:
        return [
            w.window
            for w in self.stored.values()
            if w.window.state in (WindowState.BUILT, WindowState.SUBMITTED)
        ]

    def highest_used_nonce(self, sender: str) -> int | None:
        used = [
            w.window.nonce
            for w in self.stored.values()
            if w.sender == sender and w.window.nonce is not None
        ]
        return max(used, default=None)

    def record_signed(
        self, window_id: str, *, sender: str, nonce: int, raw: bytes, tx_hash: str, fees: Fees
    ) -> None:
        if self.fail_signing:
            raise StoreDown("database unreachable")
        stored = self.stored[window_id]
        assert stored.window.state == WindowState.BUILT, "a window is signed once"
        stored.sender = sender
        stored.transactions.append((tx_hash, "pending", fees))
        stored.waiting_reason = ""
        stored.window = replace(
            stored.window,
            state=WindowState.SUBMITTED,
            nonce=nonce,
            raw_transaction=raw,
            transaction_hash=tx_hash,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            transaction_hashes=(tx_hash,),
        )
        self.log.append(("stored", tx_hash))

    def record_replacement(self, window_id: str, *, raw: bytes, tx_hash: str, fees: Fees) -> None:
        stored = self.stored[window_id]
        assert stored.window.state == WindowState.SUBMITTED, "only a sent window is replaced"
        stored.transactions.append((tx_hash, "pending", fees))
        stored.waiting_reason = ""
        stored.window = replace(
            stored.window,
            raw_transaction=raw,
            transaction_hash=tx_hash,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            transaction_hashes=(*stored.window.transaction_hashes, tx_hash),
        )
        self.log.append(("stored", tx_hash))

    def reset_to_built(
        self, window_id: str, *, outcome: str = "abandoned", reason: str = ""
    ) -> None:
        stored = self.stored[window_id]
        if stored.window.state == WindowState.SUBMITTED:
            stored.transactions = [
                (h, outcome if state == "pending" else state, fees)
                for h, state, fees in stored.transactions
            ]
            stored.waiting_reason = reason
            stored.window = replace(
                stored.window,
                state=WindowState.BUILT,
                nonce=None,
                raw_transaction=None,
                transaction_hash=None,
                transaction_hashes=(),
            )

    def set_waiting_reason(self, window_id: str, reason: str) -> None:
        self.stored[window_id].waiting_reason = reason

    def window_leaves(self, window_id: str) -> list[tuple[str, bytes]]:
        return [(cid, leaf) for cid, _, leaf, _ in self.stored[window_id].leaves]

    def record_confirmed(
        self, window_id: str, mined: MinedTransaction, events: Sequence[AnchoredMessage]
    ) -> bool:
        stored = self.stored[window_id]
        if stored.window.state == WindowState.CONFIRMED:
            return False
        stored.window = replace(
            stored.window, state=WindowState.CONFIRMED, transaction_hash=mined.transaction_hash
        )
        stored.block_number = mined.block_number
        stored.gas_used = mined.gas_used
        stored.waiting_reason = ""
        stored.transactions = [
            (h, "mined", fees)
            if h == mined.transaction_hash
            else (h, "replaced" if state == "pending" else state, fees)
            for h, state, fees in stored.transactions
        ]
        stored.confirmed_at = datetime(2026, 1, 2, tzinfo=UTC)
        self.outbox.extend(events)
        return True

    # WindowViews
    def window(self, window_id: str) -> WindowView | None:
        stored = self.stored.get(window_id)
        return _view(stored) if stored else None

    def windows(self, *, offset: int, limit: int) -> list[WindowView]:
        return [_view(s) for s in reversed(self.stored.values())][offset : offset + limit]

    def proof(self, certificate_id: str) -> ProofView | None:
        window_id = self.proofs.get(certificate_id)
        if window_id is None:
            return None
        stored = self.stored[window_id]
        _, _, leaf, path = next(x for x in stored.leaves if x[0] == certificate_id)
        return ProofView(window_id, stored.window.state, leaf, path, stored.window.merkle_root)

    # ---- helpers for assertions ----

    def leaf_counts(self) -> list[int]:
        return [len(w.leaves) for w in self.stored.values()]

    def states(self) -> list[WindowState]:
        return [w.window.state for w in self.stored.values()]


def _view(stored: StoredWindow) -> WindowView:
    w = stored.window
    return WindowView(
        window_id=w.window_id,
        state=w.state,
        leaf_count=len(stored.leaves),
        merkle_root=w.merkle_root,
        chain_id=w.chain_id,
        registry_address=w.registry_address,
        transaction_hash=w.transaction_hash,
        block_number=stored.block_number,
        gas_used=stored.gas_used,
        created_at=stored.created_at,
        confirmed_at=stored.confirmed_at,
        waiting_reason=stored.waiting_reason,
        transaction_count=len(stored.transactions),
    )


class FakeLease:
    def __init__(self, held: bool = True) -> None:
        self.is_held = held

    def held(self) -> bool:
        return self.is_held


class FakeMessage:
    """A JetStream message: records how it was settled."""

    subject = "certs.leaves"
    headers: dict[str, str] | None = None

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.settled: list[str] = []
        self.nak_delays: list[float] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")
        self.nak_delays.append(delay or 0.0)

    async def term(self) -> None:
        self.settled.append("term")


def issued(ids: Sequence[str], *, batch_id: str = "batch-1") -> FakeMessage:
    """A "certs.issued" message with one leaf per id (leaf hash derived from the id)."""
    event = events_pb2.CertificatesIssuedEvent(
        batch_id=batch_id,
        leaves=[
            events_pb2.IssuedLeaf(
                certificate_id=cid,
                leaf_hash=leaf_of(cid),
                leaf_salt=b"\x01" * 32,
                document=b"{}",
            )
            for cid in ids
        ],
    )
    return FakeMessage(event.SerializeToString())


def leaf_of(certificate_id: str) -> bytes:
    return hashlib.sha256(certificate_id.encode()).digest()


class Ids:
    """Deterministic window ids."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"w{self.n}"
