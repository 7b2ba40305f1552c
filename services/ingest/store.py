"""All of ingest's SQL, behind `usecases.IngestStore` and `progress.ProgressStore`.

Reads and writes only ingest's own tables (services/ingest/tables.py): batch progress comes
from the anchoring facts and delivery outcomes the consumers copy onto ingest's certificates.
"""

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.document import IssuerProfile
from certflow.core.validation import RowError
from certflow.platform.db.batching import chunked
from services.ingest import tables
from services.ingest.progress import (
    AnchoredLeaf,
    AnchoredWindow,
    BatchStatus,
    DeliveryOutcome,
    DeliveryReport,
)
from services.ingest.usecases import (
    WRITE_ATTEMPTS,
    CertificateAnchoring,
    CertificateRecord,
    NewBatch,
    WriteRace,
)

_certificates = cast(Table, tables.Certificate.__table__)


class SqlIngestStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # ---- intake ----

    def register_issuer(self, issuer: IssuerProfile) -> str:
        for _ in range(WRITE_ATTEMPTS):
            with self._sessions.begin() as session:
                row = session.scalar(select(tables.Issuer).where(tables.Issuer.uri == issuer.id))
                if row:
                    row.name, row.url, row.email = issuer.name, issuer.url, issuer.email
                    return row.id
            try:
                with self._sessions.begin() as session:
                    new_id = str(uuid.uuid4())
                    session.add(
                        tables.Issuer(
                            id=new_id,
                            uri=issuer.id,
                            name=issuer.name,
                            url=issuer.url,
                            email=issuer.email,
                        )
                    )
                    return new_id
            except (IntegrityError, OperationalError) as exc:
                if not _lost_race(exc):
                    raise
                continue  # another replica created it first
        raise RuntimeError("could not register the issuer")

    @contextmanager
    def transaction(self) -> Iterator["SqlIngestWrites"]:
        try:
            with self._sessions.begin() as session:
                yield SqlIngestWrites(session)
        except (IntegrityError, OperationalError) as exc:
            if _lost_race(exc):
                raise WriteRace(type(exc).__name__) from exc
            raise

    def batch_for_request(self, request_id: str) -> str | None:
        with self._sessions() as session:
            return SqlIngestWrites(session).batch_for_request(request_id)

    def certificate_for_request(self, request_id: str) -> str | None:
        with self._sessions() as session:
            return SqlIngestWrites(session).certificate_for_request(request_id)

    # ---- reads ----

    def batch_status(self, batch_id: str) -> BatchStatus | None:
        certificate = tables.Certificate
        with self._sessions() as session:
            batch = session.get(tables.Batch, batch_id)
            if batch is None:
                return None
            anchored, emailed, failed = session.execute(
                select(
                    func.count(certificate.window_id),
                    _count_outcome(DeliveryOutcome.SENT),
                    _count_outcome(DeliveryOutcome.FAILED),
                ).where(certificate.batch_id == batch_id)
            ).one()
            return BatchStatus(
                batch_id=batch.id,
                display_name=batch.display_name,
                source=batch.source,
                row_count=batch.row_count,
                accepted_count=batch.accepted_count,
                rejected_count=batch.rejected_count,
                anchored_count=anchored or 0,
                emailed_count=emailed or 0,
                email_failed_count=failed or 0,
                created_at=batch.created_at,
            )

    def row_errors(self, batch_id: str, *, offset: int, limit: int) -> list[RowError] | None:
        with self._sessions() as session:
            if session.get(tables.Batch, batch_id) is None:
                return None
            rows = session.scalars(
                select(tables.BatchRowError)
                .where(tables.BatchRowError.batch_id == batch_id)
                .order_by(tables.BatchRowError.id)
                .offset(offset)
                .limit(limit)
            )
            return [RowError(r.row_number, r.field, r.reason, r.message) for r in rows]

    def certificate(self, certificate_id: str) -> CertificateRecord | None:
        with self._sessions() as session:
            row = session.get(tables.Certificate, certificate_id)
            return None if row is None else _record(row)

    # ---- progress (from events) ----

    def stored_windows(self, certificate_ids: Sequence[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        with self._sessions() as session:
            for chunk in chunked(certificate_ids):
                rows = session.execute(
                    select(tables.Certificate.id, tables.Certificate.window_id).where(
                        tables.Certificate.id.in_(chunk)
                    )
                )
                found.update({cid: window_id for cid, window_id in rows})
        return found

    def store_anchorings(
        self, window: AnchoredWindow, leaves: Sequence[AnchoredLeaf], anchored_at: datetime
    ) -> None:
        statement = (
            update(_certificates)
            # only where none is stored: a racing replica's first window stays
            .where(_certificates.c.id == bindparam("b_id"), _certificates.c.window_id.is_(None))
            .values(
                window_id=window.window_id,
                merkle_root=window.merkle_root,
                merkle_path=bindparam("b_path"),
                chain_id=window.chain_id,
                registry_address=window.registry_address,
                transaction_hash=window.transaction_hash,
                block_number=window.block_number,
                anchored_at=_utc(anchored_at),
            )
        )
        with self._sessions.begin() as session:
            session.execute(
                statement,
                [{"b_id": leaf.certificate_id, "b_path": leaf.merkle_path} for leaf in leaves],
            )

    def stored_delivery_times(self, certificate_ids: Sequence[str]) -> dict[str, datetime | None]:
        found: dict[str, datetime | None] = {}
        with self._sessions() as session:
            for chunk in chunked(certificate_ids):
                rows = session.execute(
                    select(tables.Certificate.id, tables.Certificate.delivery_updated_at).where(
                        tables.Certificate.id.in_(chunk)
                    )
                )
                found.update({cid: _aware(at) for cid, at in rows})
        return found

    def store_deliveries(self, reports: Sequence[DeliveryReport]) -> None:
        updated_at = _certificates.c.delivery_updated_at
        statement = (
            update(_certificates)
            # only over an older outcome: a racing replica's newer one stays
            .where(
                _certificates.c.id == bindparam("b_id"),
                or_(updated_at.is_(None), updated_at < bindparam("b_time")),
            )
            .values(
                delivery_outcome=bindparam("b_outcome"),
                delivery_updated_at=bindparam("b_time"),
                delivery_attempts=bindparam("b_attempts"),
            )
        )
        with self._sessions.begin() as session:
            session.execute(
                statement,
                [
                    {
                        "b_id": r.certificate_id,
                        "b_outcome": r.outcome.value,
                        "b_time": _utc(r.update_time),
                        "b_attempts": r.attempts,
                    }
                    for r in reports
                ],
            )


class SqlIngestWrites:
    """One transaction's reads and writes (`usecases.IngestWrites`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def batch_for_request(self, request_id: str) -> str | None:
        return self._session.scalar(
            select(tables.Batch.id).where(tables.Batch.request_id == request_id)
        )

    def certificate_for_request(self, request_id: str) -> str | None:
        return self._session.scalar(
            select(tables.IssueRequest.certificate_id).where(
                tables.IssueRequest.request_id == request_id
            )
        )

    def issued_certificates(self, issuer_row_id: str, dedupe_keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunked(dedupe_keys):
            rows = self._session.execute(
                select(tables.Certificate.dedupe_key, tables.Certificate.id).where(
                    tables.Certificate.issuer_id == issuer_row_id,
                    tables.Certificate.dedupe_key.in_(chunk),
                )
            )
            found.update({key: cid for key, cid in rows})
        return found

    def add_batch(self, batch: NewBatch) -> None:
        session = self._session
        session.execute(
            insert(tables.Batch).values(
                id=batch.batch_id,
                issuer_id=batch.issuer_row_id,
                request_id=batch.request_id,
                display_name=batch.display_name,
                source=batch.source,
                row_count=batch.row_count,
                accepted_count=len(batch.certificates),
                rejected_count=len(batch.refused),
                created_at=_utc(batch.created_at),
            )
        )
        if batch.certificates:
            session.execute(
                insert(tables.Certificate),
                [
                    {
                        "id": p.certificate_id,
                        "batch_id": batch.batch_id,
                        "issuer_id": batch.issuer_row_id,
                        "dedupe_key": p.dedupe_key,
                        "recipient_name": p.content.recipient_name,
                        "recipient_email": p.content.recipient_email,
                        "title": p.content.title,
                        "completion_date": p.content.completion_date,
                        "expiry_date": p.content.expiry_date,
                        "document": p.canonical_document,
                        "leaf_salt": p.leaf_salt,
                        "leaf_hash": p.leaf_hash,
                        "created_at": _utc(batch.created_at),
                    }
                    # one key order for every upload: overlapping uploads cannot deadlock
                    for p in sorted(batch.certificates, key=lambda p: p.dedupe_key)
                ],
            )
        if batch.refused:
            session.execute(
                insert(tables.BatchRowError),
                [
                    {
                        "batch_id": batch.batch_id,
                        "row_number": e.row_number,
                        "field": e.field,
                        "reason": e.reason,
                        "message": e.message,
                    }
                    for e in batch.refused
                ],
            )
        if batch.messages:
            session.execute(
                insert(tables.IngestOutbox),
                [
                    {
                        "subject": m.subject,
                        "msg_id": m.msg_id,
                        "payload": m.payload,
                        "trace_context": batch.trace_context,
                        "created_at": _utc(batch.created_at),
                    }
                    for m in batch.messages
                ],
            )

    def add_issue_request(self, request_id: str, certificate_id: str) -> None:
        self._session.add(tables.IssueRequest(request_id=request_id, certificate_id=certificate_id))


def _count_outcome(outcome: DeliveryOutcome) -> ColumnElement[int]:
    return func.count(case((tables.Certificate.delivery_outcome == outcome.value, 1)))


def _record(row: tables.Certificate) -> CertificateRecord:
    anchoring = None
    if row.window_id is not None:
        anchoring = CertificateAnchoring(
            window=AnchoredWindow(
                window_id=row.window_id,
                merkle_root=row.merkle_root or b"",
                chain_id=row.chain_id or 0,
                registry_address=row.registry_address or "",
                transaction_hash=row.transaction_hash or "",
                block_number=row.block_number or 0,
            ),
            merkle_path=row.merkle_path or b"",
            anchored_at=_aware(row.anchored_at) or datetime.min.replace(tzinfo=UTC),
        )
    return CertificateRecord(
        certificate_id=row.id,
        batch_id=row.batch_id,
        recipient_name=row.recipient_name,
        recipient_email=row.recipient_email,
        title=row.title,
        completion_date=row.completion_date,
        document=row.document,
        leaf_salt=row.leaf_salt,
        leaf_hash=row.leaf_hash,
        anchoring=anchoring,
    )


def _utc(moment: datetime) -> datetime:
    """SQLite keeps no offset: every stored time is UTC so that they compare in order."""
    return moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # SQLite hands back what _utc stored, without its offset


def _lost_race(exc: Exception) -> bool:
    """A unique-key race, or a PostgreSQL deadlock/serialisation failure between uploads."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in {"40P01", "40001"}
