"""Pure: which delivery outcomes ingest hears about ("certs.deliveries"), and the messages that
carry them. Written to notify's outbox in the transaction that stores the outcomes, so an
outcome is announced exactly when it is stored; the message id is derived from what the write
stored, so a retried write (which stores nothing new) announces nothing twice.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from certflow.platform.db.batching import chunked
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import events_pb2
from services.notify.outcome_policy import DeliveryState

UPDATES_PER_EVENT = 1000  # ~100 bytes each: a message well under NATS's 1 MB payload limit

_ANNOUNCED = {
    DeliveryState.SENT: events_pb2.DELIVERY_OUTCOME_SENT,
    DeliveryState.FAILED: events_pb2.DELIVERY_OUTCOME_FAILED,
    DeliveryState.BOUNCED: events_pb2.DELIVERY_OUTCOME_BOUNCED,
    DeliveryState.SUPPRESSED: events_pb2.DELIVERY_OUTCOME_SUPPRESSED,
}


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """One outcome a recording write stored: the claim that held the delivery and its result."""

    claim_token: str
    delivery_id: str
    certificate_id: str
    batch_id: str
    state: DeliveryState
    attempts: int


@dataclass(frozen=True, slots=True)
class Requeued:
    """A failed delivery an operator re-drove: waiting to be sent again, attempts reset."""

    certificate_id: str
    batch_id: str


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    msg_id: str
    payload: bytes


def announced_outcome(state: DeliveryState) -> events_pb2.DeliveryOutcome | None:
    """The outcome a batch's progress counts, or None for a state it does not (a retry waiting
    its backoff, a delivery given back untried: still on its way)."""
    return _ANNOUNCED.get(state)


def outcome_messages(
    stored: Sequence[StoredOutcome], *, recorded_at: datetime
) -> list[OutboxMessage]:
    """The "certs.deliveries" messages of one recording write: its SENT and FAILED outcomes.
    Message id: the first announced (claim, delivery) pair, recorded at most once ever (the
    write clears the claim token), so ids never repeat and a re-publish is deduplicated."""
    announced = [(s, outcome) for s in stored if (outcome := announced_outcome(s.state))]
    stamp = to_timestamp(recorded_at)
    messages = []
    for chunk in chunked(announced, UPDATES_PER_EVENT):
        first, _ = chunk[0]
        event = events_pb2.DeliveriesUpdatedEvent(
            updates=[
                _update(s.certificate_id, s.batch_id, outcome, s.attempts, stamp)
                for s, outcome in chunk
            ]
        )
        messages.append(
            OutboxMessage(
                f"deliveries:{first.claim_token}:{first.delivery_id}", event.SerializeToString()
            )
        )
    return messages


def bounce_messages(
    bounced: Sequence[StoredOutcome], *, recorded_at: datetime
) -> list[OutboxMessage]:
    """The BOUNCED (or SUPPRESSED) messages of bounces received after sending: the id names
    the delivery and its send (generation, in the claim token's place), stored once."""
    stamp = to_timestamp(recorded_at)
    messages = []
    for s in bounced:
        outcome = announced_outcome(s.state)
        if outcome is None:
            continue
        event = events_pb2.DeliveriesUpdatedEvent(
            updates=[_update(s.certificate_id, s.batch_id, outcome, s.attempts, stamp)]
        )
        messages.append(
            OutboxMessage(
                f"deliveries:bounce:{s.claim_token}:{s.delivery_id}", event.SerializeToString()
            )
        )
    return messages


def requeued_messages(
    requeued: Sequence[Requeued], *, redrive_id: str, recorded_at: datetime
) -> list[OutboxMessage]:
    """The REQUEUED messages of one re-drive (`redrive_id` is unique per re-drive write)."""
    stamp = to_timestamp(recorded_at)
    return [
        OutboxMessage(
            f"deliveries:redrive:{redrive_id}:{index}",
            events_pb2.DeliveriesUpdatedEvent(
                updates=[
                    _update(
                        r.certificate_id,
                        r.batch_id,
                        events_pb2.DELIVERY_OUTCOME_REQUEUED,
                        0,
                        stamp,
                    )
                    for r in chunk
                ]
            ).SerializeToString(),
        )
        for index, chunk in enumerate(chunked(requeued, UPDATES_PER_EVENT))
    ]


def _update(
    certificate_id: str,
    batch_id: str,
    outcome: events_pb2.DeliveryOutcome,
    attempts: int,
    recorded_at: Timestamp,
) -> events_pb2.DeliveryUpdate:
    return events_pb2.DeliveryUpdate(
        certificate_id=certificate_id,
        batch_id=batch_id,
        outcome=outcome,
        update_time=recorded_at,
        attempts=attempts,
    )
