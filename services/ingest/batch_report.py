"""A batch's completion record (GetBatchReport): counts, refused lines, every intake, the
anchoring transactions that hold its certificates, delivery outcomes and timings.

Read from ingest's own tables only: the anchoring facts and delivery outcomes the consumers keep
in certificate_progress from anchor's and notify's events. No gRPC or SQL here (store.py reads).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from certflow.core.errors import NotFound
from services.ingest.progress import BatchStatus

PENDING = "pending"  # a certificate with no delivery outcome yet
CANCELLED = "cancelled"  # never anchored, so never emailed: its batch was cancelled


@dataclass(frozen=True, slots=True)
class IntakeRecord:
    sequence: int
    created_at: datetime
    row_count: int
    accepted_count: int
    rejected_count: int
    skipped_count: int
    held_back_count: int
    resolved_count: int


@dataclass(frozen=True, slots=True)
class AnchoringTransaction:
    transaction_hash: str
    chain_id: int
    block_number: int
    window_id: str
    merkle_root: bytes
    certificate_count: int
    anchored_at: datetime


@dataclass(frozen=True, slots=True)
class BatchReport:
    status: BatchStatus
    refused_row_count: int
    intakes: list[IntakeRecord]
    transactions: list[AnchoringTransaction]  # oldest first
    deliveries: dict[str, int]  # newest outcome → certificates; "pending": none yet
    first_anchored_at: datetime | None
    last_anchored_at: datetime | None
    last_emailed_at: datetime | None


class BatchReportStore(Protocol):
    def batch_report(self, batch_id: str) -> BatchReport | None:
        """None: no such batch."""
        ...


def delivery_counts(
    accepted: int, outcomes: dict[str, int], *, cancelled: int = 0
) -> dict[str, int]:
    """The outcomes stored, "cancelled" for the certificates a cancel left unanchored (they
    will never have one), and "pending" for the other accepted ones with none yet."""
    counted = {outcome: count for outcome, count in outcomes.items() if count}
    if cancelled > 0:
        counted[CANCELLED] = cancelled
    pending = accepted - sum(counted.values())
    if pending > 0:
        counted[PENDING] = pending
    return dict(sorted(counted.items()))


class BatchReports:
    def __init__(self, store: BatchReportStore, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def report(self, batch_id: str) -> BatchReport:
        found = self._store.batch_report(batch_id)
        if found is None:
            raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
        return found
