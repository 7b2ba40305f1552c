"""Pure: EIP-1559 fees for an anchor transaction under the operator's cap, and the bump that
lets a stuck transaction be replaced at the same nonce.

geth's pool accepts a replacement only when BOTH its max fee and its tip are strictly higher and
at least 10 % above the pending one's (integer division: `old * 110 // 100`); anvil accepts any
higher max fee. We follow geth's rule, rounding up, so a replacement passes on either."""

from dataclasses import dataclass

GWEI = 10**9
REPLACEMENT_BUMP_PERCENT = 10


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int  # wei
    max_priority_fee_per_gas: int  # wei: the tip


@dataclass(frozen=True, slots=True)
class FeePolicy:
    max_fee_cap: int  # wei: never sign a transaction that may pay more per gas
    tip: int | None = None  # wei: a fixed tip; None takes the node's suggestion


def initial_fees(policy: FeePolicy, *, base_fee: int, suggested_tip: int) -> Fees | None:
    """Fees for a first transaction: room for the base fee to double (two full blocks) plus
    the tip, under the cap. None while the next block's base fee is above the cap: the
    transaction could not be mined, so it is not sent."""
    if base_fee > policy.max_fee_cap:
        return None
    tip = policy.tip if policy.tip is not None else suggested_tip
    max_fee = min(2 * base_fee + tip, policy.max_fee_cap)
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(tip, max_fee))


def raised(value: int) -> int:
    """The least value geth accepts in place of `value`: strictly higher and ≥ +10 %."""
    return max(value + 1, -(-value * (100 + REPLACEMENT_BUMP_PERCENT) // 100))


def bumped(previous: Fees, policy: FeePolicy, *, base_fee: int, suggested_tip: int) -> Fees | None:
    """Fees for a replacement of a transaction sent with `previous`; None when no replacement
    the pool would take fits under the cap (or the base fee is above it): wait instead."""
    if base_fee > policy.max_fee_cap:
        return None
    wanted_tip = policy.tip if policy.tip is not None else suggested_tip
    tip = max(raised(previous.max_priority_fee_per_gas), wanted_tip)
    max_fee = max(raised(previous.max_fee_per_gas), 2 * base_fee + tip)
    if max_fee > policy.max_fee_cap:
        # what the market asks is above the cap: the least accepted bump may still fit
        max_fee = policy.max_fee_cap
        tip = min(tip, max_fee)
    if max_fee < raised(previous.max_fee_per_gas) or tip < raised(
        previous.max_priority_fee_per_gas
    ):
        return None
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)
