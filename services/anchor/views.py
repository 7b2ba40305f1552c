"""Read use cases behind the gRPC API: anchor windows and certificate proofs, as plain values
(no ORM rows leave the store)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from certflow.core.errors import NotFound
from services.anchor.submission import WindowState


@dataclass(frozen=True, slots=True)
class WindowView:
    window_id: str
    state: WindowState
    leaf_count: int
    merkle_root: bytes
    chain_id: int
    registry_address: str
    transaction_hash: str | None
    block_number: int | None
    gas_used: int | None
    created_at: datetime
    confirmed_at: datetime | None
    waiting_reason: str = ""  # why the window is not moving; "" when it is
    transaction_count: int = 0  # signed for it: the original, replacements, reverted attempts
    effective_gas_price: int | None = None  # wei per gas paid, once confirmed

    @property
    def fee_wei(self) -> int | None:
        """What anchoring the window cost, once confirmed (gas used × price paid)."""
        if self.gas_used is None or self.effective_gas_price is None:
            return None
        return self.gas_used * self.effective_gas_price

    @property
    def fee_per_certificate_wei(self) -> int | None:
        fee = self.fee_wei
        return None if fee is None or not self.leaf_count else -(-fee // self.leaf_count)


@dataclass(frozen=True, slots=True)
class ProofView:
    window_id: str
    window_state: WindowState
    leaf_hash: bytes
    merkle_path: bytes  # siblings concatenated
    merkle_root: bytes


class WindowViews(Protocol):
    def window(self, window_id: str) -> WindowView | None: ...

    def windows(self, *, offset: int, limit: int) -> list[WindowView]:
        """Newest first."""
        ...

    def proof(self, certificate_id: str) -> ProofView | None: ...


@dataclass(frozen=True, slots=True)
class SignerStatus:
    """The signing account as the submitter last saw it (in memory; metrics will follow)."""

    address: str
    rpc_url: str = ""
    balance_wei: int | None = None  # None until first read
    low_balance_wei: int = 0
    next_base_fee_wei: int | None = None
    max_fee_cap_wei: int = 0

    @property
    def balance_low(self) -> bool:
        return self.balance_wei is not None and self.balance_wei < self.low_balance_wei


def get_window(views: WindowViews, window_id: str) -> WindowView:
    window = views.window(window_id)
    if window is None:
        raise NotFound("WINDOW_NOT_FOUND", f"no anchor window {window_id!r}")
    return window


def get_proof(views: WindowViews, certificate_id: str) -> ProofView:
    proof = views.proof(certificate_id)
    if proof is None:
        raise NotFound("PROOF_NOT_FOUND", f"no proof for certificate {certificate_id!r} yet")
    return proof
