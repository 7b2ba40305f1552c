"""Batch progress, kept by ingest from the events anchor and notify publish.

Pure decisions (which facts of an event to keep, what state a batch is in) and the use cases
that apply "certs.anchored" and "certs.deliveries" through a small store. Transport is at-least-
once and unordered: a redelivered event changes nothing, an older delivery outcome arriving
after a newer one is ignored.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from certflow.core.anchoring import AnchoredWindowFacts


class BatchState(StrEnum):
    VALIDATING = "validating"
    ANCHORING = "anchoring"
    NOTIFYING = "notifying"
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset(
    {
        BatchState.COMPLETED,
        BatchState.COMPLETED_WITH_FAILURES,
        BatchState.REJECTED,
        BatchState.CANCELLED,
    }
)


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    # an operator re-drove a failed delivery: it is waiting to be sent again
    REQUEUED = "requeued"
    # refused for good or bounced after sending (notify's bounce processing)
    BOUNCED = "bounced"
    # not sent: the address is on the issuer's suppression list
    SUPPRESSED = "suppressed"


# final and not emailed: a batch's email_failed_count, which completes it as sent ones do
NOT_EMAILED = (DeliveryOutcome.FAILED, DeliveryOutcome.BOUNCED, DeliveryOutcome.SUPPRESSED)


def batch_state(
    *,
    accepted: int,
    anchored: int,
    emailed: int,
    email_failed: int,
    cancelled: bool = False,
    intake_open: bool = False,
) -> BatchState:
    """The one rule for a batch's state; store.py's `state_expression` is its SQL mirror (for
    ListBatches' filter) and a test holds the two equal. A batch that finished before its
    cancellation took effect reports how it finished."""
    if intake_open:
        return BatchState.VALIDATING
    if accepted == 0:
        return BatchState.REJECTED
    if emailed + email_failed >= accepted:
        return BatchState.COMPLETED_WITH_FAILURES if email_failed else BatchState.COMPLETED
    if cancelled:
        return BatchState.CANCELLED
    if anchored >= accepted:
        return BatchState.NOTIFYING
    return BatchState.ANCHORING


@dataclass(frozen=True, slots=True)
class BatchStatus:
    batch_id: str
    display_name: str
    source: str
    row_count: int
    accepted_count: int
    rejected_count: int
    anchored_count: int
    emailed_count: int
    email_failed_count: int
    created_at: datetime
    cancelled_at: datetime | None = None
    # rows still being stored (the streaming intake); a batch written in one transaction never is
    intake_open: bool = False
    # of email_failed_count: bounced, and suppressed (notify's outcomes)
    bounced_count: int = 0
    suppressed_count: int = 0

    @property
    def stored_count(self) -> int:
        return self.accepted_count

    @property
    def cancelled_count(self) -> int:
        """Certificates that will never be anchored: not anchored when the batch was cancelled
        (nor since, by a window anchor had already built)."""
        if self.cancelled_at is None:
            return 0
        return max(self.accepted_count - self.anchored_count, 0)

    @property
    def state(self) -> BatchState:
        return batch_state(
            accepted=self.accepted_count,
            anchored=self.anchored_count,
            emailed=self.emailed_count,
            email_failed=self.email_failed_count,
            cancelled=self.cancelled_at is not None,
            intake_open=self.intake_open,
        )

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class AnchoredLeaf:
    certificate_id: str
    merkle_path: bytes  # sibling hashes, 32 bytes each, concatenated


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    certificate_id: str
    outcome: DeliveryOutcome
    update_time: datetime  # timezone-aware
    attempts: int


def anchorings_to_store(
    stored_windows: Mapping[str, str | None], leaves: Iterable[AnchoredLeaf]
) -> list[AnchoredLeaf]:
    """The leaves whose certificate is ours and not yet anchored. `stored_windows` maps each
    known certificate to the window already stored for it (None: not anchored yet); a
    certificate missing from it is not ingest's (ignored). The first window stored wins: a
    redelivered event, or a second window naming the same certificate, changes nothing."""
    chosen: dict[str, AnchoredLeaf] = {}
    for leaf in leaves:
        if leaf.certificate_id in stored_windows and stored_windows[leaf.certificate_id] is None:
            chosen.setdefault(leaf.certificate_id, leaf)
    return list(chosen.values())


def deliveries_to_store(
    stored_times: Mapping[str, datetime | None], reports: Iterable[DeliveryReport]
) -> list[DeliveryReport]:
    """For each known certificate, its newest report if it is newer than the one stored
    (`stored_times`: the update time stored per certificate, None when none is). Equal times
    are a redelivery: nothing changes."""
    newest: dict[str, DeliveryReport] = {}
    for report in reports:
        if report.certificate_id not in stored_times:
            continue
        held = newest.get(report.certificate_id)
        if held is None or report.update_time > held.update_time:
            newest[report.certificate_id] = report
    return [
        report
        for certificate_id, report in newest.items()
        if (stored := stored_times[certificate_id]) is None or report.update_time > stored
    ]


class ProgressStore(Protocol):
    """What applying progress events needs of storage. The writes keep the same rules as the
    decisions above (anchor only where none is stored; a delivery only over an older one), so
    two replicas racing on one certificate cannot undo each other."""

    def stored_windows(self, certificate_ids: Sequence[str]) -> dict[str, str | None]: ...

    def store_anchorings(
        self, window: AnchoredWindowFacts, leaves: Sequence[AnchoredLeaf], anchored_at: datetime
    ) -> set[str]:
        """Returns the batches of the certificates written."""
        ...

    def stored_delivery_times(
        self, certificate_ids: Sequence[str]
    ) -> dict[str, datetime | None]: ...

    def store_deliveries(self, reports: Sequence[DeliveryReport]) -> set[str]:
        """Returns the batches of the certificates written."""
        ...


class BatchProgress:
    """Use cases of the progress consumers; the clock is passed in. `on_changed` is told the
    batches whose progress changed, after the change is committed (WatchBatch's hub)."""

    def __init__(
        self,
        store: ProgressStore,
        *,
        clock: Callable[[], datetime],
        on_changed: Callable[[set[str]], None] = lambda batch_ids: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_changed = on_changed

    def record_anchored(self, window: AnchoredWindowFacts, leaves: Sequence[AnchoredLeaf]) -> int:
        """Stores each newly anchored certificate's facts; returns how many were new."""
        stored = self._store.stored_windows([leaf.certificate_id for leaf in leaves])
        fresh = anchorings_to_store(stored, leaves)
        if fresh:
            self._on_changed(self._store.store_anchorings(window, fresh, self._clock()))
        return len(fresh)

    def record_deliveries(self, reports: Sequence[DeliveryReport]) -> int:
        """Keeps the newest outcome per certificate; returns how many changed."""
        stored = self._store.stored_delivery_times(
            list(dict.fromkeys(r.certificate_id for r in reports))
        )
        newer = deliveries_to_store(stored, reports)
        if newer:
            self._on_changed(self._store.store_deliveries(newer))
        return len(newer)
