"""Pure facts about a mined transaction, so decision code needs no chain library."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MinedTransaction:
    transaction_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    succeeded: bool
    effective_gas_price: int = 0  # wei per gas actually paid (0: not known)
