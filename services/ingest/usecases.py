"""Ingest use cases: turn a CSV file or one API request into a stored, announced batch.

Knows nothing of gRPC or NATS: the servicer calls these, the outbox relay publishes what they
commit. Everything of one batch is written in ONE transaction: batch, certificates, refused
rows and the outbox messages that announce them.
"""

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.csv_intake import CsvFormatError, CsvRow, read_csv
from certflow.core.document import CertificateContent, IssuerProfile
from certflow.core.errors import (
    NOT_CANCELLED,
    Cancelled,
    CancelSignal,
    Conflict,
    FieldViolation,
    InvalidInput,
    NotFound,
    until_cancelled,
)
from certflow.core.issuance import PlannedCertificate, key_requests, plan_certificates
from certflow.core.validation import RowError, validate_certificate
from certflow.platform.db.batching import chunked
from certflow.platform.db.read_models import StoredCertificate, load_certificate
from certflow.v1 import events_pb2
from services.anchor.tables import (  # transitional: read by events next
    AnchorWindow,
    CertificateProof,
)
from services.ingest import tables as models
from services.notify.tables import Delivery  # transitional: read by events next

log = logging.getLogger(__name__)

MAX_ERRORS_IN_RESPONSE = 100
_WRITE_ATTEMPTS = 3
T = TypeVar("T")


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

    @property
    def state(self) -> str:
        if self.accepted_count == 0:
            return "rejected"
        if self.emailed_count + self.email_failed_count >= self.accepted_count:
            return "completed_with_failures" if self.email_failed_count else "completed"
        if self.anchored_count >= self.accepted_count:
            return "anchored"
        return "issued"


@dataclass(frozen=True, slots=True)
class UploadResult:
    batch: BatchStatus
    row_errors: list[RowError]


class Ingest:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        issuer: IssuerProfile,
        *,
        max_rows: int,
        leaves_per_message: int,
        trace_headers: Callable[[], dict[str, str]] = dict,
        on_committed: Callable[[], None] = lambda: None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        allow_smtputf8: bool = False,
    ) -> None:
        self._sessions = sessions
        self._issuer = issuer
        self._max_rows = max_rows
        self._leaves_per_message = leaves_per_message
        self._trace_headers = trace_headers
        self._on_committed = on_committed
        self._today = today
        self._allow_smtputf8 = allow_smtputf8
        self.issuer_row_id = self._ensure_issuer()

    # ---- use cases ----

    def upload_csv(
        self,
        data: bytes,
        *,
        request_id: str,
        display_name: str,
        cancel: CancelSignal = NOT_CANCELLED,
    ) -> UploadResult:
        """Reads, validates and plans the whole file before writing anything; stops (writing
        nothing) at the next check once `cancel` is set because the caller has gone."""
        if request_id and (previous := self._batch_for_request(request_id)):
            return previous
        try:
            rows = read_csv(data, max_rows=self._max_rows, cancel=cancel).rows
        except CsvFormatError as exc:
            raise InvalidInput(
                exc.reason, exc.message, violations=[FieldViolation("file", exc.message)]
            ) from exc
        valid, errors = self._validate_rows(until_cancelled(rows, cancel))
        keyed, duplicates = key_requests(self._issuer.id, valid)
        errors.extend(duplicates)
        planned = plan_certificates(
            self._issuer, until_cancelled(keyed, cancel), issued_at=datetime.now(UTC)
        )
        if cancel.is_set():
            raise Cancelled("CANCELLED", "the caller cancelled the request; nothing was written")
        batch_id = self._store_batch(
            planned,
            errors,
            row_count=len(rows),
            source="csv",
            request_id=request_id or None,
            display_name=display_name,
        )
        return self._result(batch_id)

    def _validate_rows(
        self, rows: Iterable[CsvRow]
    ) -> tuple[list[tuple[int, CertificateContent]], list[RowError]]:
        valid: list[tuple[int, CertificateContent]] = []
        errors: list[RowError] = []
        today = self._today()
        for row in rows:
            if row.error:
                errors.append(
                    RowError(
                        row.row_number, "", "UNREADABLE_ROW", f"line {row.row_number} {row.error}"
                    )
                )
                continue
            result = validate_certificate(
                row.known,
                row.custom,
                row_number=row.row_number,
                today=today,
                allow_smtputf8=self._allow_smtputf8,
            )
            if isinstance(result, list):
                errors.extend(result)
            else:
                valid.append((row.row_number, result))
        return valid, errors

    def issue_one(
        self,
        *,
        request_id: str,
        fields: dict[str, str],
        custom_fields: dict[str, str],
        source: str = "api",
    ) -> StoredCertificate:
        if request_id and (certificate_id := self._certificate_for_request(request_id)):
            return self.certificate(certificate_id)
        result = validate_certificate(
            fields,
            custom_fields,
            row_number=0,
            today=self._today(),
            allow_smtputf8=self._allow_smtputf8,
        )
        if isinstance(result, list):
            raise InvalidInput(
                "INVALID_CERTIFICATE",
                "; ".join(e.message for e in result),
                violations=[FieldViolation(e.field, e.message) for e in result],
            )
        keyed, _ = key_requests(self._issuer.id, [(0, result)])
        (planned,) = plan_certificates(self._issuer, keyed, issued_at=datetime.now(UTC))
        return self.certificate(self._store_single(planned, request_id, source))

    def _store_single(self, planned: PlannedCertificate, request_id: str, source: str) -> str:
        """Stores one certificate with its request id; returns the request's certificate id
        (ours, or the one a concurrent call with the same request id stored first)."""

        def write() -> str:
            with self._sessions.begin() as session:
                existing = self._existing_keys(session, [planned.dedupe_key])
                # Looked up AFTER the dedupe key: a concurrent call commits its certificate and
                # request id together, so once its certificate is visible (PostgreSQL READ
                # COMMITTED takes a new snapshot per statement) its request id is too.
                if request_id and (done := self._certificate_for_request(request_id, session)):
                    return done
                if existing:
                    raise Conflict(
                        "ALREADY_ISSUED",
                        "this recipient already has this certificate for this date",
                        metadata={"certificate_id": existing[planned.dedupe_key]},
                    )
                self._insert_batch(session, [planned], [], 1, source, None, "")
                if request_id:
                    session.add(
                        models.IssueRequest(
                            request_id=request_id, certificate_id=planned.certificate_id
                        )
                    )
            self._on_committed()
            return planned.certificate_id

        return _retrying(write)

    def batch_status(self, batch_id: str) -> BatchStatus:
        with self._sessions() as session:
            batch = session.get(models.Batch, batch_id)
            if batch is None:
                raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
            return self._status(session, batch)

    def row_errors(self, batch_id: str, *, offset: int, limit: int) -> list[RowError]:
        with self._sessions() as session:
            if session.get(models.Batch, batch_id) is None:
                raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
            rows = session.scalars(
                select(models.BatchRowError)
                .where(models.BatchRowError.batch_id == batch_id)
                .order_by(models.BatchRowError.id)
                .offset(offset)
                .limit(limit)
            )
            return [RowError(r.row_number, r.field, r.reason, r.message) for r in rows]

    def certificate(self, certificate_id: str) -> StoredCertificate:
        with self._sessions() as session:
            stored = load_certificate(session, certificate_id)
        if stored is None:
            raise NotFound("CERTIFICATE_NOT_FOUND", f"no certificate {certificate_id!r}")
        return stored

    # ---- storage ----

    def _ensure_issuer(self) -> str:
        for _ in range(_WRITE_ATTEMPTS):
            with self._sessions.begin() as session:
                row = session.scalar(
                    select(models.Issuer).where(models.Issuer.uri == self._issuer.id)
                )
                if row:
                    row.name, row.url, row.email = (
                        self._issuer.name,
                        self._issuer.url,
                        self._issuer.email,
                    )
                    return row.id
            try:
                with self._sessions.begin() as session:
                    new_id = str(uuid.uuid4())
                    session.add(
                        models.Issuer(
                            id=new_id,
                            uri=self._issuer.id,
                            name=self._issuer.name,
                            url=self._issuer.url,
                            email=self._issuer.email,
                        )
                    )
                    return new_id
            except (IntegrityError, OperationalError) as exc:
                if not _retryable(exc):
                    raise
                continue  # another replica created it first
        raise RuntimeError("could not register the issuer")

    def _store_batch(
        self,
        planned: list[PlannedCertificate],
        errors: list[RowError],
        *,
        row_count: int,
        source: str,
        request_id: str | None,
        display_name: str,
    ) -> str:
        def write() -> str:
            with self._sessions.begin() as session:
                if request_id:
                    done = session.scalar(
                        select(models.Batch.id).where(models.Batch.request_id == request_id)
                    )
                    if done:
                        return done
                existing = self._existing_keys(session, [p.dedupe_key for p in planned])
                fresh = [p for p in planned if p.dedupe_key not in existing]
                refused = errors + [
                    RowError(
                        p.row_number,
                        "",
                        "ALREADY_ISSUED",
                        f"already issued as certificate {existing[p.dedupe_key]}",
                    )
                    for p in planned
                    if p.dedupe_key in existing
                ]
                batch_id = self._insert_batch(
                    session, fresh, refused, row_count, source, request_id, display_name
                )
            self._on_committed()
            return batch_id

        return _retrying(write)

    def _insert_batch(
        self,
        session: Session,
        planned: Sequence[PlannedCertificate],
        errors: Sequence[RowError],
        row_count: int,
        source: str,
        request_id: str | None,
        display_name: str,
    ) -> str:
        batch_id = str(uuid.uuid4())
        session.add(
            models.Batch(
                id=batch_id,
                issuer_id=self.issuer_row_id,
                request_id=request_id,
                display_name=display_name,
                source=source,
                row_count=row_count,
                accepted_count=len(planned),
                rejected_count=len(errors),
            )
        )
        session.flush()
        now = datetime.now(UTC)
        if planned:
            session.execute(
                insert(models.Certificate),
                [
                    {
                        "id": p.certificate_id,
                        "batch_id": batch_id,
                        "issuer_id": self.issuer_row_id,
                        "dedupe_key": p.dedupe_key,
                        "recipient_name": p.content.recipient_name,
                        "recipient_email": p.content.recipient_email,
                        "title": p.content.title,
                        "completion_date": p.content.completion_date,
                        "expiry_date": p.content.expiry_date,
                        "document": p.canonical_document,
                        "leaf_salt": p.leaf_salt,
                        "leaf_hash": p.leaf_hash,
                        "created_at": now,
                    }
                    # one key order for every upload: overlapping uploads cannot deadlock
                    for p in sorted(planned, key=lambda p: p.dedupe_key)
                ],
            )
        if errors:
            session.execute(
                insert(models.BatchRowError),
                [
                    {
                        "batch_id": batch_id,
                        "row_number": e.row_number,
                        "field": e.field,
                        "reason": e.reason,
                        "message": e.message,
                    }
                    for e in errors
                ],
            )
        trace_context = _json(self._trace_headers())
        outbox = []
        for index, chunk in enumerate(chunked(planned, self._leaves_per_message)):
            event = events_pb2.CertificatesIssuedEvent(
                batch_id=batch_id,
                leaves=[
                    events_pb2.IssuedLeaf(certificate_id=p.certificate_id, leaf_hash=p.leaf_hash)
                    for p in chunk
                ],
            )
            outbox.append(
                {
                    "subject": "certs.issued",
                    "msg_id": f"issued:{batch_id}:{index}",
                    "payload": event.SerializeToString(),
                    "trace_context": trace_context,
                    "created_at": now,
                }
            )
        if outbox:
            session.execute(insert(models.IngestOutbox), outbox)
        return batch_id

    def _existing_keys(self, session: Session, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunked(keys):
            rows = session.execute(
                select(models.Certificate.dedupe_key, models.Certificate.id).where(
                    models.Certificate.issuer_id == self.issuer_row_id,
                    models.Certificate.dedupe_key.in_(chunk),
                )
            )
            found.update({key: cid for key, cid in rows})
        return found

    def _batch_for_request(self, request_id: str) -> UploadResult | None:
        with self._sessions() as session:
            batch_id = session.scalar(
                select(models.Batch.id).where(models.Batch.request_id == request_id)
            )
        return self._result(batch_id) if batch_id else None

    def _certificate_for_request(
        self, request_id: str, session: Session | None = None
    ) -> str | None:
        if session is not None:
            return session.scalar(
                select(models.IssueRequest.certificate_id).where(
                    models.IssueRequest.request_id == request_id
                )
            )
        with self._sessions() as own:
            return self._certificate_for_request(request_id, own)

    def _result(self, batch_id: str) -> UploadResult:
        return UploadResult(
            self.batch_status(batch_id),
            self.row_errors(batch_id, offset=0, limit=MAX_ERRORS_IN_RESPONSE),
        )

    def _status(self, session: Session, batch: models.Batch) -> BatchStatus:
        anchored = session.scalar(
            select(func.count())
            .select_from(models.Certificate)
            .join(
                CertificateProof,
                CertificateProof.certificate_id == models.Certificate.id,
            )
            .join(AnchorWindow, AnchorWindow.id == CertificateProof.window_id)
            .where(models.Certificate.batch_id == batch.id, AnchorWindow.state == "confirmed")
        )
        deliveries = dict(
            session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.batch_id == batch.id)
                .group_by(Delivery.state)
            ).all()
        )
        return BatchStatus(
            batch_id=batch.id,
            display_name=batch.display_name,
            source=batch.source,
            row_count=batch.row_count,
            accepted_count=batch.accepted_count,
            rejected_count=batch.rejected_count,
            anchored_count=anchored or 0,
            emailed_count=deliveries.get("sent", 0),
            email_failed_count=deliveries.get("failed", 0),
            created_at=batch.created_at,
        )


def _retrying(write: Callable[[], T]) -> T:
    """Runs a write transaction again when a concurrent writer took a unique key first (the
    retry sees its committed rows) or PostgreSQL chose it as a deadlock victim."""
    attempt = 1
    while True:
        try:
            return write()
        except (IntegrityError, OperationalError) as exc:
            if not _retryable(exc) or attempt == _WRITE_ATTEMPTS:
                raise
            attempt += 1


def _retryable(exc: Exception) -> bool:
    """A unique-key race, or a PostgreSQL deadlock/serialisation failure between uploads."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in {"40P01", "40001"}


def _json(headers: dict[str, str]) -> str:
    return json.dumps(headers) if headers else ""
