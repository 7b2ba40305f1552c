"""Pure: where one anchor window's root is on chain — the facts every certificate in the window
shares, as anchor announces them in `certs.anchored` and the consumers keep them."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnchoredWindowFacts:
    window_id: str
    merkle_root: bytes
    chain_id: int
    registry_address: str
    transaction_hash: str
    block_number: int
