"""Which outcomes ingest hears about, and the messages that carry them: pure."""

from datetime import UTC, datetime

from certflow.v1 import events_pb2
from services.notify.outcome_events import (
    UPDATES_PER_EVENT,
    Requeued,
    StoredOutcome,
    announced_outcome,
    outcome_messages,
    requeued_messages,
)
from services.notify.outcome_policy import DeliveryState

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def stored(n: int, state: DeliveryState, *, token: str = "claim-1") -> StoredOutcome:
    return StoredOutcome(token, f"d{n}", f"c{n}", "batch-1", state, 1)


def updates(payload: bytes) -> list[events_pb2.DeliveryUpdate]:
    return list(events_pb2.DeliveriesUpdatedEvent.FromString(payload).updates)


def test_sent_and_failed_are_announced_waiting_states_are_not():
    assert announced_outcome(DeliveryState.SENT) == events_pb2.DELIVERY_OUTCOME_SENT
    assert announced_outcome(DeliveryState.FAILED) == events_pb2.DELIVERY_OUTCOME_FAILED
    assert announced_outcome(DeliveryState.PENDING) is None  # a retry waiting its backoff
    assert announced_outcome(DeliveryState.SENDING) is None


def test_one_write_is_one_message_named_after_its_first_announced_outcome():
    write = [
        stored(1, DeliveryState.PENDING),
        stored(2, DeliveryState.SENT),
        stored(3, DeliveryState.FAILED),
    ]
    (message,) = outcome_messages(write, recorded_at=NOW)
    assert message.msg_id == "deliveries:claim-1:d2"
    assert [
        (u.certificate_id, u.outcome, u.attempts, u.batch_id) for u in updates(message.payload)
    ] == [
        ("c2", events_pb2.DELIVERY_OUTCOME_SENT, 1, "batch-1"),
        ("c3", events_pb2.DELIVERY_OUTCOME_FAILED, 1, "batch-1"),
    ]
    assert all(u.update_time.ToDatetime(tzinfo=UTC) == NOW for u in updates(message.payload))


def test_a_write_of_retries_only_has_no_message():
    assert outcome_messages([stored(1, DeliveryState.PENDING)], recorded_at=NOW) == []
    assert outcome_messages([], recorded_at=NOW) == []


def test_the_same_delivery_under_another_claim_is_another_message():
    """A delivery failed, was re-driven and failed again: two announcements, two ids (the
    claim differs), so JetStream's duplicate window cannot swallow the second."""
    first = outcome_messages([stored(1, DeliveryState.FAILED, token="a")], recorded_at=NOW)
    second = outcome_messages([stored(1, DeliveryState.FAILED, token="b")], recorded_at=NOW)
    assert first[0].msg_id != second[0].msg_id
    assert outcome_messages([stored(1, DeliveryState.FAILED, token="a")], recorded_at=NOW) == first


def test_a_large_write_is_split_into_messages_with_distinct_ids():
    write = [stored(n, DeliveryState.SENT) for n in range(UPDATES_PER_EVENT + 5)]
    messages = outcome_messages(write, recorded_at=NOW)
    assert [len(updates(m.payload)) for m in messages] == [UPDATES_PER_EVENT, 5]
    assert len({m.msg_id for m in messages}) == 2
    assert all(len(m.msg_id) <= 100 for m in messages)  # the outbox's msg_id column


def test_a_re_drive_announces_each_requeued_delivery_with_no_attempt():
    requeued = [Requeued(f"c{n}", "batch-1") for n in range(UPDATES_PER_EVENT + 1)]
    messages = requeued_messages(requeued, redrive_id="r-1", recorded_at=NOW)
    assert [m.msg_id for m in messages] == ["deliveries:redrive:r-1:0", "deliveries:redrive:r-1:1"]
    every = [u for m in messages for u in updates(m.payload)]
    assert {(u.outcome, u.attempts) for u in every} == {(events_pb2.DELIVERY_OUTCOME_REQUEUED, 0)}
    assert [u.certificate_id for u in every] == [r.certificate_id for r in requeued]
    assert requeued_messages([], redrive_id="r-2", recorded_at=NOW) == []
