"""The claim, lease and record rules the store applies (pure)."""

from datetime import UTC, datetime, timedelta

from services.notify.claims import Holder, Outcome, holds, is_due, outcomes_to_store
from services.notify.outcome_policy import Accepted, DeliveryState, RetryPolicy, decide

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
SENT = decide(Accepted(), attempts=0, policy=RetryPolicy(), now=NOW)


def test_due_means_pending_and_time_come_or_sending_and_lease_run_out():
    earlier, later = NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)
    assert is_due(DeliveryState.PENDING, earlier, now=NOW)
    assert is_due(DeliveryState.PENDING, NOW, now=NOW)
    assert not is_due(DeliveryState.PENDING, later, now=NOW)  # waiting its backoff
    assert is_due(DeliveryState.SENDING, earlier, now=NOW)  # its holder died
    assert not is_due(DeliveryState.SENDING, later, now=NOW)  # the lease still holds
    assert not is_due(DeliveryState.SENT, earlier, now=NOW)
    assert not is_due(DeliveryState.FAILED, earlier, now=NOW)


def test_a_claim_holds_only_its_own_sending_rows():
    assert holds(DeliveryState.SENDING, "t1", "t1")
    assert not holds(DeliveryState.SENDING, "t2", "t1")  # re-claimed by another sender
    assert not holds(DeliveryState.SENT, "", "t1")  # already given an outcome
    assert not holds(DeliveryState.PENDING, "", "")


def test_only_outcomes_whose_claim_still_holds_the_row_are_stored():
    holders = {
        "d1": Holder("t1", "c1", "b"),
        "d2": Holder("t2", "c2", "b"),  # re-claimed after t1's lease ran out
    }
    outcomes = [
        Outcome("t1", "d1", SENT),
        Outcome("t1", "d2", SENT),  # stale: t2 holds it now
        Outcome("t1", "d3", SENT),  # already recorded (no longer sending)
        Outcome("t2", "d2", SENT),
    ]
    stored = outcomes_to_store(outcomes, holders)
    assert [(o.claim_token, o.delivery_id, h.certificate_id) for o, h in stored] == [
        ("t1", "d1", "c1"),
        ("t2", "d2", "c2"),
    ]
    assert outcomes_to_store(outcomes, {}) == []  # a retried write: nothing holds any more
