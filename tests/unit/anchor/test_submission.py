"""The anchor transaction's state machine, decided without a chain."""

import pytest

from certflow.core.transactions import MinedTransaction
from services.anchor.submission import (
    Step,
    WindowState,
    at_depth,
    next_step,
    nonce_for,
    nonce_taken,
    retry_delay,
)


def mined(block: int, *, succeeded: bool = True) -> MinedTransaction:
    return MinedTransaction("0x" + "ab" * 32, block, "0x" + "cd" * 32, 50_000, succeeded)


def step(
    *,
    state: WindowState = WindowState.SUBMITTED,
    mined: MinedTransaction | None = None,
    head: int | None = None,
    confirmations: int = 1,
    last_broadcast: float | None = 100.0,
    now: float = 101.0,
) -> Step:
    return next_step(
        state=state,
        mined=mined,
        head=head,
        confirmations=confirmations,
        last_broadcast=last_broadcast,
        now=now,
        rebroadcast_seconds=30.0,
    )


def test_a_built_window_is_signed() -> None:
    assert step(state=WindowState.BUILT) is Step.SIGN


def test_an_unmined_transaction_waits_then_is_rebroadcast() -> None:
    assert step(now=129.9) is Step.WAIT
    assert step(now=130.0) is Step.REBROADCAST


def test_after_a_restart_the_stored_bytes_are_sent_again_at_once() -> None:
    assert step(last_broadcast=None) is Step.REBROADCAST


def test_a_reverted_transaction_is_reported_not_confirmed() -> None:
    assert step(mined=mined(10, succeeded=False), head=50) is Step.REVERTED


@pytest.mark.parametrize(
    ("confirmations", "head", "expected"),
    [(1, 10, Step.CONFIRM), (3, 11, Step.WAIT), (3, 12, Step.CONFIRM), (0, 10, Step.CONFIRM)],
)
def test_confirmed_only_at_the_configured_depth(
    confirmations: int, head: int, expected: Step
) -> None:
    assert step(mined=mined(10), head=head, confirmations=confirmations) is expected


def test_a_mined_transaction_without_a_known_head_waits() -> None:
    assert step(mined=mined(10), head=None) is Step.WAIT


def test_depth_counts_the_mining_block() -> None:
    assert at_depth(head=10, mined_block=10, confirmations=1)
    assert not at_depth(head=10, mined_block=10, confirmations=2)


def test_the_nonce_is_never_below_one_we_already_used() -> None:
    assert nonce_for(chain_pending=5, highest_stored=None) == 5
    assert nonce_for(chain_pending=5, highest_stored=7) == 8  # the node has not seen ours yet
    assert nonce_for(chain_pending=9, highest_stored=7) == 9
    assert nonce_for(chain_pending=0, highest_stored=None) == 0


def test_a_refused_rebroadcast_that_is_not_mined_means_the_nonce_was_taken() -> None:
    assert nonce_taken(rebroadcast_accepted=False, mined_now=False)
    assert not nonce_taken(rebroadcast_accepted=False, mined_now=True)  # ours was mined
    assert not nonce_taken(rebroadcast_accepted=True, mined_now=False)


def test_a_transaction_not_mined_by_the_deadline_is_replaced() -> None:
    assert unmined(sent_at=100.0, now=160.0, last_broadcast=150.0) is Step.REPLACE
    assert unmined(sent_at=100.5, now=160.0, last_broadcast=150.0) is Step.WAIT
    # after a restart the deadline is unknown: the re-send starts it again
    assert unmined(sent_at=None, now=160.0, last_broadcast=150.0) is Step.WAIT


def test_a_dropped_transaction_is_re_sent_at_once_then_not_on_every_pass() -> None:
    assert unmined(known=False, last_broadcast=100.0, now=102.0) is Step.REBROADCAST
    assert unmined(known=False, last_broadcast=101.0, now=102.0) is Step.WAIT
    assert unmined(known=False, last_broadcast=None, now=102.0) is Step.REBROADCAST
    assert unmined(known=True, last_broadcast=100.0, now=102.0) is Step.WAIT


def test_a_mined_replacement_is_confirmed_whatever_the_deadline() -> None:
    assert unmined(sent_at=0.0, now=500.0, last_broadcast=1.0, mined=mined(7), head=7) is (
        Step.CONFIRM
    )


def test_retries_after_a_revert_back_off_to_a_ceiling() -> None:
    delays = [retry_delay(n, first=30, longest=300) for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 300, 300]


def unmined(
    *,
    now: float,
    last_broadcast: float | None,
    known: bool = True,
    sent_at: float | None = None,
    mined: MinedTransaction | None = None,
    head: int | None = None,
) -> Step:
    return next_step(
        state=WindowState.SUBMITTED,
        mined=mined,
        head=head,
        confirmations=1,
        last_broadcast=last_broadcast,
        now=now,
        rebroadcast_seconds=30.0,
        known=known,
        sent_at=sent_at,
        replace_after_seconds=60.0,
        dropped_resend_seconds=2.0,
    )
