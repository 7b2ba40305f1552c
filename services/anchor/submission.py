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
) -> Step:
    """`mined` is the stored transaction's receipt (None while unmined); `head` the chain's
    latest block, needed only once mined; `last_broadcast` None after a restart."""
    if state == WindowState.BUILT:
        return Step.SIGN
    if mined is None:
        due = last_broadcast is None or now - last_broadcast >= rebroadcast_seconds
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
