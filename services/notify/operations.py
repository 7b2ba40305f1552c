"""The operator's use cases: a batch's deliveries, and re-driving its failed ones."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from certflow.core.errors import invalid_field
from services.notify.outcome_policy import DeliveryState

MAX_REQUEST_ID = 128
MAX_BATCH_ID = 36  # ingest's batch ids are UUIDs


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery_id: str
    certificate_id: str
    state: DeliveryState
    attempts: int
    message_id: str
    last_error: str
    sent_at: datetime | None


class OperatorStore(Protocol):
    def list_for_batch(self, batch_id: str, *, offset: int, limit: int) -> list[DeliveryView]: ...

    def retry_failed(self, batch_id: str, request_id: str, *, now: datetime) -> int:
        """Re-queues a batch's failed deliveries (and announces them REQUEUED); idempotent per
        (batch_id, request_id): a replay answers the first count and re-queues nothing."""
        ...


def list_deliveries(
    store: OperatorStore, batch_id: str, *, offset: int, limit: int
) -> list[DeliveryView]:
    check_batch_id(batch_id)
    return store.list_for_batch(batch_id, offset=offset, limit=limit)


def retry_failed(store: OperatorStore, batch_id: str, request_id: str, *, now: datetime) -> int:
    check_batch_id(batch_id)
    if len(request_id) > MAX_REQUEST_ID:
        raise invalid_field("request_id", f"request_id has more than {MAX_REQUEST_ID} characters")
    if "\x00" in request_id:  # PostgreSQL's driver refuses it: it was INTERNAL
        raise invalid_field("request_id", "request_id contains NUL")
    return store.retry_failed(batch_id, request_id, now=now)


def check_batch_id(batch_id: str) -> None:
    if not batch_id:
        raise invalid_field("batch_id", "batch_id is required")
    if len(batch_id) > MAX_BATCH_ID:
        raise invalid_field("batch_id", f"batch_id has more than {MAX_BATCH_ID} characters")
    if "\x00" in batch_id:  # PostgreSQL's driver refuses it: it was INTERNAL
        raise invalid_field("batch_id", "batch_id contains NUL")
