"""An in-memory ingest store: the same contract as services/ingest/store.py, no database."""

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import IssuerProfile
from certflow.core.issuance import PlannedCertificate
from certflow.core.validation import RowError
from services.ingest.announcements import (
    AnnouncedCertificate,
    OutboxMessage,
    reference_of,
    render,
)
from services.ingest.intake import BatchClosed
from services.ingest.lifecycle import BatchQuery, Refusal
from services.ingest.progress import AnchoredLeaf, BatchStatus, DeliveryOutcome, DeliveryReport
from services.ingest.usecases import (
    BatchExtension,
    CertificateAnchoring,
    CertificateRecord,
    NewBatch,
    StoredIntake,
    WriteRace,
)


@dataclass
class FakeCertificate:
    record: CertificateRecord
    issuer_row_id: str
    dedupe_key: str
    delivery: DeliveryReport | None = None


@dataclass
class FakeState:
    issuers: dict[str, str] = field(default_factory=dict)  # uri → row id
    batches: dict[str, NewBatch] = field(default_factory=dict)
    certificates: dict[str, FakeCertificate] = field(default_factory=dict)
    issue_requests: dict[str, str] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    cancelled: dict[str, datetime] = field(default_factory=dict)  # batch id → when
    # (batch id, request id) → what that upload into the batch did
    intakes: dict[tuple[str, str], StoredIntake] = field(default_factory=dict)


class FakeWrites:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def batch_for_request(self, request_id: str) -> str | None:
        return next(
            (b.batch_id for b in self.state.batches.values() if b.request_id == request_id), None
        )

    def certificate_for_request(self, request_id: str) -> str | None:
        return self.state.issue_requests.get(request_id)

    def issued_certificates(self, issuer_row_id: str, dedupe_keys: Sequence[str]) -> dict[str, str]:
        wanted = set(dedupe_keys)
        return {
            c.dedupe_key: c.record.certificate_id
            for c in self.state.certificates.values()
            if c.issuer_row_id == issuer_row_id and c.dedupe_key in wanted
        }

    def issued_with_batches(
        self, issuer_row_id: str, dedupe_keys: Sequence[str]
    ) -> dict[str, tuple[str, str]]:
        wanted = set(dedupe_keys)
        return {
            c.dedupe_key: (c.record.certificate_id, c.record.batch_id)
            for c in self.state.certificates.values()
            if c.issuer_row_id == issuer_row_id and c.dedupe_key in wanted
        }

    def stored_refusals(self, batch_id: str) -> frozenset[tuple[int, str, str, str]]:
        batch = self.state.batches.get(batch_id)
        refused = batch.refused if batch else ()
        return frozenset((e.row_number, e.field, e.reason, e.message) for e in refused)

    def refused_cells(self, batch_id: str) -> dict[int, tuple[str, ...]]:
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return {}
        return {
            e.row_number: tuple(batch.refused_cells.get(e.row_number, ())) for e in batch.refused
        }

    def batch_columns(self, batch_id: str) -> tuple[str, ...]:
        batch = self.state.batches.get(batch_id)
        return tuple(batch.source_columns) if batch else ()

    def lock_batch(self, batch_id: str) -> None:
        if batch_id in self.state.cancelled:
            raise BatchClosed("BATCH_CANCELLED", "cancelled")

    def intake_for_request(self, batch_id: str, request_id: str) -> StoredIntake | None:
        return self.state.intakes.get((batch_id, request_id))

    def extend_batch(self, extension: BatchExtension) -> None:
        if extension.request_id:
            self.state.intakes[(extension.batch_id, extension.request_id)] = StoredIntake(
                extension.content_sha256,
                extension.skipped_count,
                extension.held_back_count,
                extension.resolved_count,
            )
        batch = self.state.batches[extension.batch_id]
        kept = [e for e in batch.refused if e.row_number not in extension.replaced_lines]
        cells = {n: c for n, c in batch.refused_cells.items() if n not in extension.replaced_lines}
        grown = replace(
            batch,
            certificates=[],
            refused=[*kept, *extension.refused],
            refused_cells={**extension.refused_cells, **cells},
            messages=extension.messages,
            request_id=None,
        )
        self.add_batch(grown)
        self.state.batches[batch.batch_id] = replace(
            grown,
            certificates=[*batch.certificates, *extension.certificates],
            row_count=batch.row_count + extension.new_rows,
            request_id=batch.request_id,
        )
        self._add_certificates(batch.batch_id, batch.issuer_row_id, extension.certificates)

    def add_batch(self, batch: NewBatch) -> None:
        if batch.request_id and self.batch_for_request(batch.request_id):
            raise WriteRace("batches.request_id")  # the unique key of the real table
        self.state.batches[batch.batch_id] = batch
        self._add_certificates(batch.batch_id, batch.issuer_row_id, batch.certificates)
        self.state.outbox.extend(batch.messages)

    def _add_certificates(
        self, batch_id: str, issuer_row_id: str, certificates: Sequence[PlannedCertificate]
    ) -> None:
        for p in certificates:
            if self.issued_certificates(issuer_row_id, [p.dedupe_key]):
                raise WriteRace("uq_certificates_dedupe")
            self.state.certificates[p.certificate_id] = FakeCertificate(
                CertificateRecord(
                    certificate_id=p.certificate_id,
                    batch_id=batch_id,
                    recipient_name=p.content.recipient_name,
                    recipient_email=p.content.recipient_email,
                    title=p.content.title,
                    completion_date=p.content.completion_date,
                    document=p.canonical_document,
                    leaf_salt=p.leaf_salt,
                    leaf_hash=p.leaf_hash,
                    anchoring=None,
                ),
                issuer_row_id,
                p.dedupe_key,
            )

    def add_issue_request(self, request_id: str, certificate_id: str) -> None:
        if request_id in self.state.issue_requests:
            raise WriteRace("issue_requests.request_id")
        self.state.issue_requests[request_id] = certificate_id


class FakeIngestStore:
    """Transactions work on a copy that replaces the state only when the block ends normally."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.fail_writes = 0  # the next n progress writes raise, as a database that is down

    def register_issuer(self, issuer: IssuerProfile) -> str:
        return self.state.issuers.setdefault(issuer.id, f"issuer-{len(self.state.issuers) + 1}")

    @contextmanager
    def transaction(self) -> Iterator[FakeWrites]:
        working = copy.deepcopy(self.state)
        yield FakeWrites(working)
        self.state = working

    @contextmanager
    def snapshot(self) -> Iterator[FakeWrites]:
        yield FakeWrites(copy.deepcopy(self.state))  # whatever it does is thrown away

    def batch_for_request(self, request_id: str) -> str | None:
        return FakeWrites(self.state).batch_for_request(request_id)

    def upload_digest(self, batch_id: str) -> str | None:
        batch = self.state.batches.get(batch_id)
        return batch.content_sha256 if batch else None

    def list_batches(self, query: BatchQuery, *, offset: int, limit: int) -> list[BatchStatus]:
        found = [
            status
            for batch_id in self.state.batches
            if (status := self.batch_status(batch_id)) is not None
            and (not query.states or status.state in query.states)
            and (query.created_from is None or status.created_at >= query.created_from)
            and (query.created_before is None or status.created_at < query.created_before)
        ]
        found.sort(key=lambda s: (s.created_at, s.batch_id), reverse=True)
        return found[offset : offset + limit]

    def cancel_batch(
        self,
        batch_id: str,
        cancelled_at: datetime,
        announce: Callable[[Sequence[str]], Sequence[OutboxMessage]],
    ) -> bool:
        if batch_id in self.state.cancelled:
            return False
        self.state.cancelled[batch_id] = cancelled_at
        pending = sorted(
            cid
            for cid, c in self.state.certificates.items()
            if c.record.batch_id == batch_id
            and (c.delivery is None or c.delivery.outcome == DeliveryOutcome.REQUEUED)
        )
        self.state.outbox.extend(announce(pending))
        return True

    def report_columns(self, batch_id: str) -> list[str] | None:
        batch = self.state.batches.get(batch_id)
        return None if batch is None else list(batch.source_columns)

    def refusals(self, batch_id: str, *, after: int, limit: int) -> list[Refusal]:
        batch = self.state.batches[batch_id]
        ordered = sorted(batch.refused, key=lambda e: e.row_number)
        return [
            Refusal(key, error, tuple(batch.refused_cells.get(error.row_number, ())))
            for key, error in enumerate(ordered, start=1)
            if key > after
        ][:limit]

    def render_outbox_payload(self, subject: str, payload: bytes) -> bytes:
        reference = reference_of(payload)
        if reference is None:
            return payload
        stored = {
            cid: AnnouncedCertificate(
                certificate_id=cid,
                recipient_name=c.record.recipient_name,
                recipient_email=c.record.recipient_email,
                title=c.record.title,
                completion_date=c.record.completion_date.isoformat(),
                document=c.record.document,
                leaf_salt=c.record.leaf_salt,
                leaf_hash=c.record.leaf_hash,
            )
            for cid, c in self.state.certificates.items()
        }
        return render(subject, reference, stored)

    def published(self) -> list[OutboxMessage]:
        """The outbox as the relay publishes it."""
        return [
            replace(m, payload=self.render_outbox_payload(m.subject, m.payload))
            for m in self.state.outbox
        ]

    def certificate_for_request(self, request_id: str) -> str | None:
        return FakeWrites(self.state).certificate_for_request(request_id)

    def batch_status(self, batch_id: str) -> BatchStatus | None:
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return None
        mine = [c for c in self.state.certificates.values() if c.record.batch_id == batch_id]
        outcomes = [c.delivery.outcome for c in mine if c.delivery]
        return BatchStatus(
            batch_id=batch_id,
            display_name=batch.display_name,
            source=batch.source,
            row_count=batch.row_count,
            accepted_count=len(batch.certificates),
            rejected_count=len(batch.refused),
            anchored_count=sum(1 for c in mine if c.record.anchoring),
            emailed_count=outcomes.count(DeliveryOutcome.SENT),
            email_failed_count=outcomes.count(DeliveryOutcome.FAILED),
            created_at=batch.created_at,
            cancelled_at=self.state.cancelled.get(batch_id),
        )

    def row_errors(self, batch_id: str, *, offset: int, limit: int) -> list[RowError] | None:
        batch = self.state.batches.get(batch_id)
        return None if batch is None else list(batch.refused[offset : offset + limit])

    def certificate(self, certificate_id: str) -> CertificateRecord | None:
        found = self.state.certificates.get(certificate_id)
        return found.record if found else None

    def anchoring_of(self, certificate_id: str) -> CertificateAnchoring | None:
        return self.state.certificates[certificate_id].record.anchoring

    # ---- progress ----

    def _maybe_fail(self) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("database unavailable")

    def stored_windows(self, certificate_ids: Sequence[str]) -> dict[str, str | None]:
        return {
            cid: (c.record.anchoring.window.window_id if c.record.anchoring else None)
            for cid in certificate_ids
            if (c := self.state.certificates.get(cid))
        }

    def store_anchorings(
        self, window: AnchoredWindowFacts, leaves: Sequence[AnchoredLeaf], anchored_at: datetime
    ) -> set[str]:
        self._maybe_fail()
        batches = set()
        for leaf in leaves:
            c = self.state.certificates[leaf.certificate_id]
            batches.add(c.record.batch_id)
            if c.record.anchoring is None:
                c.record = replace(
                    c.record,
                    anchoring=CertificateAnchoring(window, leaf.merkle_path, anchored_at),
                )
        return batches

    def stored_delivery_times(self, certificate_ids: Sequence[str]) -> dict[str, datetime | None]:
        return {
            cid: (c.delivery.update_time if c.delivery else None)
            for cid in certificate_ids
            if (c := self.state.certificates.get(cid))
        }

    def store_deliveries(self, reports: Sequence[DeliveryReport]) -> set[str]:
        self._maybe_fail()
        batches = set()
        for report in reports:
            c = self.state.certificates[report.certificate_id]
            batches.add(c.record.batch_id)
            if c.delivery is None or c.delivery.update_time < report.update_time:
                c.delivery = report
        return batches


NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
