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
