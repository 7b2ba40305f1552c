"""A batch's life after its upload: listing batches, cancelling one, its error report.

Use cases and pure decisions only (no gRPC, NATS or SQL); store.py implements `BatchStore`.
Cancelling is recorded by ingest and announced on "certs.cancelled" through ingest's outbox, in
the transaction that records it: anchor drops the certificates not yet in a built window, notify
creates no delivery for those anchored after it (one created before, for a certificate anchored
earlier, is still sent: a known gap). Certificates already anchored stay valid and are counted.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from certflow.core.errors import DomainError, NotFound
from certflow.core.spreadsheet import csv_lines
from certflow.core.validation import RowError
from certflow.platform.bus import SUBJECT_CANCELLED
from certflow.v1 import events_pb2
from services.ingest.announcements import OutboxMessage
from services.ingest.progress import FINAL_STATES, BatchState, BatchStatus

# 36-character ids: ~380 KB a message, under the 512 KB every announcement keeps to
CANCELLED_IDS_PER_MESSAGE = 10_000
REPORT_PAGE = 1_000  # refusals read per query: memory stays flat whatever the batch holds
REPORT_CHUNK_BYTES = 64 * 1024
REPORT_COLUMNS = ("line", "field", "code", "message")
_BOM = "\ufeff"  # spreadsheets read the file as UTF-8 (accents intact) only with it


class NotCancellable(DomainError):
    """The batch has reached a final state: there is nothing left to stop (FAILED_PRECONDITION)."""


@dataclass(frozen=True, slots=True)
class BatchQuery:
    states: frozenset[BatchState] = frozenset()  # empty: every state
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Refusal:
    key: int  # position in the report (keyset pagination)
    error: RowError
    cells: tuple[str, ...]  # the row as uploaded; () when not recorded


class BatchStore(Protocol):
    """What these use cases need of storage (store.py implements it)."""

    def batch_status(self, batch_id: str) -> BatchStatus | None: ...

    def list_batches(self, query: BatchQuery, *, offset: int, limit: int) -> list[BatchStatus]: ...

    def cancel_batch(
        self,
        batch_id: str,
        cancelled_at: datetime,
        announce: Callable[[Sequence[str]], Sequence[OutboxMessage]],
    ) -> bool:
        """Records the cancellation and its announcement in one transaction; False when the
        batch already was cancelled."""
        ...

    def report_columns(self, batch_id: str) -> list[str] | None: ...

    def refusals(self, batch_id: str, *, after: int, limit: int) -> list[Refusal]: ...


def cancellation_messages(
    batch_id: str, certificate_ids: Sequence[str], *, per_message: int = CANCELLED_IDS_PER_MESSAGE
) -> list[OutboxMessage]:
    """The "certs.cancelled" events of a batch (cancelled:<batch>:<n>); none when no
    certificate is left to stop."""
    return [
        OutboxMessage(
            SUBJECT_CANCELLED,
            f"cancelled:{batch_id}:{index}",
            events_pb2.CertificatesCancelledEvent(
                batch_id=batch_id, certificate_ids=certificate_ids[start : start + per_message]
            ).SerializeToString(),
        )
        for index, start in enumerate(range(0, len(certificate_ids), per_message))
    ]


def report_lines(columns: Sequence[str], refusals: Iterator[Refusal]) -> Iterator[str]:
    """The error report, line by line: the uploaded columns then line, field, code and
    message; a row's cells padded to the header's width; every cell neutralised."""
    width = len(columns)

    def records() -> Iterator[list[str]]:
        yield [*columns, *REPORT_COLUMNS]
        for refusal in refusals:
            cells = list(refusal.cells[:width]) + [""] * (width - len(refusal.cells))
            error = refusal.error
            yield [*cells, str(error.row_number), error.field, error.reason, error.message]

    lines = csv_lines(records())
    yield _BOM + next(lines)
    yield from lines


def chunked_bytes(lines: Iterator[str], size: int = REPORT_CHUNK_BYTES) -> Iterator[bytes]:
    """UTF-8 chunks of about `size` bytes (whole lines), the last one shorter."""
    held: list[bytes] = []
    held_size = 0
    for line in lines:
        encoded = line.encode()
        held.append(encoded)
        held_size += len(encoded)
        if held_size >= size:
            yield b"".join(held)
            held, held_size = [], 0
    if held:
        yield b"".join(held)


class BatchLifecycle:
    """Use cases; the clock is passed in. `on_changed` is told a batch changed, after commit."""

    def __init__(
        self,
        store: BatchStore,
        *,
        clock: Callable[[], datetime],
        on_committed: Callable[[], None] = lambda: None,
        on_changed: Callable[[set[str]], None] = lambda batch_ids: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_committed = on_committed
        self._on_changed = on_changed

    def status(self, batch_id: str) -> BatchStatus:
        status = self._store.batch_status(batch_id)
        if status is None:
            raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
        return status

    def list_batches(self, query: BatchQuery, *, offset: int, limit: int) -> list[BatchStatus]:
        return self._store.list_batches(query, offset=offset, limit=limit)

    def cancel(self, batch_id: str) -> BatchStatus:
        """Idempotent: cancelling a cancelled batch returns it as it is."""
        status = self.status(batch_id)
        if status.state == BatchState.CANCELLED:
            return status
        if status.state in FINAL_STATES:
            raise NotCancellable(
                "BATCH_FINISHED",
                f"batch {batch_id} is {status.state.value}: there is nothing left to cancel",
                metadata={"state": status.state.value},
            )

        def announce(certificate_ids: Sequence[str]) -> list[OutboxMessage]:
            return cancellation_messages(batch_id, certificate_ids)

        if self._store.cancel_batch(batch_id, self._clock(), announce):
            self._on_committed()
            self._on_changed({batch_id})
        return self.status(batch_id)

    def error_report(self, batch_id: str) -> Iterator[bytes]:
        """The report's chunks; NotFound is raised at once, before the first chunk."""
        columns = self._store.report_columns(batch_id)
        if columns is None:
            raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
        return chunked_bytes(report_lines(columns, self._refusals(batch_id)))

    def _refusals(self, batch_id: str) -> Iterator[Refusal]:
        after = 0
        while True:
            page = self._store.refusals(batch_id, after=after, limit=REPORT_PAGE)
            yield from page
            if len(page) < REPORT_PAGE:
                return
            after = page[-1].key
