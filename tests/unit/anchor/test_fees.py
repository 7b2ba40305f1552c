"""The EIP-1559 fee rules: first fees under the cap, and the bump a replacement needs (geth:
both max fee and tip strictly higher and ≥ +10 %, rounded up here), or none under the cap."""

import pytest

from services.anchor.fees import GWEI, FeePolicy, Fees, bumped, initial_fees, raised

CAP = FeePolicy(max_fee_cap=100 * GWEI)


def test_first_fees_leave_room_for_the_base_fee_to_double() -> None:
    assert initial_fees(CAP, base_fee=10 * GWEI, suggested_tip=2 * GWEI) == Fees(
        22 * GWEI, 2 * GWEI
    )


def test_first_fees_never_exceed_the_cap() -> None:
    fees = initial_fees(CAP, base_fee=60 * GWEI, suggested_tip=2 * GWEI)
    assert fees == Fees(100 * GWEI, 2 * GWEI)


def test_nothing_is_sent_while_the_base_fee_is_above_the_cap() -> None:
    assert initial_fees(CAP, base_fee=100 * GWEI + 1, suggested_tip=GWEI) is None
    assert initial_fees(CAP, base_fee=100 * GWEI, suggested_tip=GWEI) == Fees(100 * GWEI, GWEI)


def test_a_fixed_tip_overrides_the_nodes_suggestion_and_fits_in_the_max_fee() -> None:
    policy = FeePolicy(max_fee_cap=5 * GWEI, tip=7 * GWEI)
    assert initial_fees(policy, base_fee=GWEI, suggested_tip=GWEI) == Fees(5 * GWEI, 5 * GWEI)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (0, 1),  # strictly higher, even from nothing
        (1, 2),
        (9, 10),  # 9.9 rounds up to 10
        (10, 11),
        (11, 13),  # 12.1 rounds up to 13 (geth's floor would take 12; we stay above it)
        (1_000_000_007, 1_100_000_008),  # 1 100 000 007.7 rounded up
        (3 * GWEI, 3_300_000_000),
    ],
)
def test_a_fee_is_raised_by_ten_percent_rounded_up(old: int, new: int) -> None:
    assert raised(old) == new
    # what geth accepts: strictly higher, and at least old * 110 // 100
    assert raised(old) > old and raised(old) >= old * 110 // 100


def test_a_bump_raises_both_max_fee_and_tip_by_at_least_ten_percent() -> None:
    previous = Fees(20 * GWEI, 2 * GWEI)
    fees = bumped(previous, CAP, base_fee=5 * GWEI, suggested_tip=GWEI)
    assert fees == Fees(22 * GWEI, 2_200_000_000)


def test_a_bump_follows_a_risen_market_when_it_asks_more() -> None:
    previous = Fees(20 * GWEI, 2 * GWEI)
    fees = bumped(previous, CAP, base_fee=30 * GWEI, suggested_tip=3 * GWEI)
    assert fees == Fees(63 * GWEI, 3 * GWEI)


def test_a_bump_is_held_to_the_cap_when_the_least_accepted_one_fits() -> None:
    previous = Fees(80 * GWEI, 2 * GWEI)
    fees = bumped(previous, CAP, base_fee=60 * GWEI, suggested_tip=2 * GWEI)
    assert fees == Fees(100 * GWEI, 2_200_000_000)


def test_no_bump_when_the_least_accepted_one_is_above_the_cap() -> None:
    assert bumped(Fees(91 * GWEI, GWEI), CAP, base_fee=GWEI, suggested_tip=GWEI) is None
    assert bumped(Fees(90_909_090_910, GWEI), CAP, base_fee=GWEI, suggested_tip=GWEI) is None
    assert bumped(Fees(90 * GWEI, GWEI), CAP, base_fee=GWEI, suggested_tip=GWEI) == Fees(
        99 * GWEI, 1_100_000_000
    )


def test_no_bump_when_the_tip_cannot_rise_under_the_cap() -> None:
    # a tip of 95 must become 104.5+: no max fee under the cap can carry it
    assert bumped(Fees(95 * GWEI, 95 * GWEI), CAP, base_fee=GWEI, suggested_tip=GWEI) is None
    assert bumped(Fees(90 * GWEI, 90 * GWEI), CAP, base_fee=GWEI, suggested_tip=GWEI) == Fees(
        100 * GWEI, 99 * GWEI
    )


def test_no_bump_while_the_base_fee_is_above_the_cap() -> None:
    assert bumped(Fees(10 * GWEI, GWEI), CAP, base_fee=101 * GWEI, suggested_tip=GWEI) is None
