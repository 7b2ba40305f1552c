"""Pure: what to do next with a window on its way to the chain. The worker does the I/O
(chain look-ups, signing, storing) and asks these functions what each answer means."""

from enum import StrEnum

from certflow.core.transactions import MinedTransaction


class WindowState(StrEnum):
    BUILT = "built"  # tree and proofs stored, no transaction yet
    SUBMITTED = "submitted"  # transaction signed and stored (then broadcast)
    CONFIRMED = "confirmed"  # mined at the confirmation depth; certificates announced


class Step(StrEnum):
    SIGN = "sign"  # no transaction yet: sign one and store it before broadcasting it
    WAIT = "wait"  # broadcast and not mined, or mined but not yet at the confirmation depth
    REBROADCAST = "rebroadcast"  # not mined and not heard of for a while: the same bytes again
    REPLACE = "replace"  # not mined by the deadline: the same nonce again with bumped fees
    REVERTED = "reverted"  # mined but reverted: a configuration fault for an operator
    CONFIRM = "confirm"  # mined and at depth: record it and announce the certificates


def next_step(
    *,
    state: str,
    mined: MinedTransaction | None,
    head: int | None,
    confirmations: int,
    last_broadcast: float | None,
    now: float,
    rebroadcast_seconds: float,
    known: bool = True,
    sent_at: float | None = None,
    replace_after_seconds: float = float("inf"),
    dropped_resend_seconds: float = 0.0,
) -> Step:
    """`mined` is the receipt of whichever of the window's transactions (the original and its
    replacements) was mined, None while none is; `head` the chain's latest block, needed only
    once mined; `last_broadcast` None after a restart; `known` False when the node has
    forgotten the latest transaction (dropped from its pool); `sent_at` when the latest
    transaction was first broadcast by this process (None after a restart: the deadline
    starts again at the re-send); a dropped transaction is re-sent at once, then every
    `dropped_resend_seconds` while the node still does not know it."""
    if state == WindowState.BUILT:
        return Step.SIGN
    if mined is None:
        if sent_at is not None and now - sent_at >= replace_after_seconds:
            return Step.REPLACE
        every = (
            min(dropped_resend_seconds, rebroadcast_seconds) if not known else rebroadcast_seconds
        )
        due = last_broadcast is None or now - last_broadcast >= every
        return Step.REBROADCAST if due else Step.WAIT
    if not mined.succeeded:
        return Step.REVERTED
    if head is None or not at_depth(head, mined.block_number, confirmations):
        return Step.WAIT
    return Step.CONFIRM


def at_depth(head: int, mined_block: int, confirmations: int) -> bool:
    """The mining block counts as the first confirmation."""
    return head - mined_block + 1 >= max(confirmations, 1)


def nonce_for(chain_pending: int, highest_stored: int | None) -> int:
    """The node's pending nonce can lag our own stored, not yet seen transactions."""
    return max(chain_pending, highest_stored + 1 if highest_stored is not None else 0)


def nonce_taken(*, rebroadcast_accepted: bool, mined_now: bool) -> bool:
    """A re-sent transaction refused for its nonce, yet not mined: another transaction used
    the nonce, so the window must be signed again with a new one."""
    return not rebroadcast_accepted and not mined_now


def retry_delay(failures: int, *, first: float, longest: float) -> float:
    """Doubling pause before trying a window again after its `failures`-th revert or refusal."""
    return min(first * 2 ** max(failures - 1, 0), longest)
