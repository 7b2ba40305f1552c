"""All of ingest's SQL, behind `usecases.IngestStore` and `progress.ProgressStore`.

Reads and writes only ingest's own tables (services/ingest/tables.py): batch progress comes
from the anchoring facts and delivery outcomes the consumers copy into ingest's narrow
`certificate_progress` rows (never onto the wide certificate rows that hold the credentials).
"""

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import IssuerProfile
from certflow.core.issuance import PlannedCertificate
from certflow.core.validation import RowError
from certflow.platform.db.batching import chunked
from services.ingest import tables
from services.ingest.announcements import AnnouncedCertificate, OutboxMessage, reference_of, render
from services.ingest.batch_report import (
    AnchoringTransaction,
    BatchReport,
    IntakeRecord,
    delivery_counts,
)
from services.ingest.intake import BatchClosed
from services.ingest.lifecycle import BatchQuery, Refusal
from services.ingest.progress import (
    NOT_EMAILED,
    AnchoredLeaf,
    BatchState,
    BatchStatus,
    DeliveryOutcome,
    DeliveryReport,
)
from services.ingest.usecases import (
    WRITE_ATTEMPTS,
    BatchExtension,
    CertificateAnchoring,
    CertificateRecord,
    NewBatch,
    StoredIntake,
    WriteRace,
)
from services.ingest.webhook_store import announce_anchored, announce_deliveries, announce_issued

_progress = cast(Table, tables.CertificateProgress.__table__)
# Core tables for the upload's bulk inserts: a plain executemany, without the ORM's bulk path
_batches = cast(Table, tables.Batch.__table__)
_certificates = cast(Table, tables.Certificate.__table__)
_row_errors = cast(Table, tables.BatchRowError.__table__)
_outbox = cast(Table, tables.IngestOutbox.__table__)
_refused_rows = cast(Table, tables.BatchRefusedRow.__table__)
_intakes = cast(Table, tables.BatchIntake.__table__)


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

    @contextmanager
    def snapshot(self) -> Iterator["SqlIngestWrites"]:
        """A session that is never committed (closing it rolls back): a dry run's reads."""
        with self._sessions() as session:
            yield SqlIngestWrites(session)

    def batch_for_request(self, request_id: str) -> str | None:
        with self._sessions() as session:
            return SqlIngestWrites(session).batch_for_request(request_id)

    def certificate_for_request(self, request_id: str) -> str | None:
        with self._sessions() as session:
            return SqlIngestWrites(session).certificate_for_request(request_id)

    # ---- reads ----

    def batch_status(self, batch_id: str) -> BatchStatus | None:
        progress = tables.CertificateProgress
        with self._sessions() as session:
            batch = session.get(tables.Batch, batch_id)
            if batch is None:
                return None
            anchored, emailed, failed, bounced, suppressed = session.execute(
                select(
                    func.count(progress.window_id),
                    _count_outcome(DeliveryOutcome.SENT),
                    _count_outcome(*NOT_EMAILED),
                    _count_outcome(DeliveryOutcome.BOUNCED),
                    _count_outcome(DeliveryOutcome.SUPPRESSED),
                ).where(progress.batch_id == batch_id)
            ).one()
            status = _status(batch, anchored or 0, emailed or 0, failed or 0)
            return replace(status, bounced_count=bounced or 0, suppressed_count=suppressed or 0)

    def list_batches(self, query: BatchQuery, *, offset: int, limit: int) -> list[BatchStatus]:
        """Newest first. Each batch's counts are correlated subqueries on the covering index
        of certificate_progress, so a page reads the progress of the batches it scans only."""
        b = tables.Batch
        anchored, emailed, failed = _progress_counts()
        bounced, suppressed = _outcome_counts(DeliveryOutcome.BOUNCED, DeliveryOutcome.SUPPRESSED)
        statement = select(b, anchored, emailed, failed, bounced, suppressed).order_by(
            b.created_at.desc(), b.id.desc()
        )
        if query.created_from is not None:
            statement = statement.where(b.created_at >= _utc(query.created_from))
        if query.created_before is not None:
            statement = statement.where(b.created_at < _utc(query.created_before))
        if query.states:
            statement = statement.where(
                state_expression(anchored, emailed, failed).in_([s.value for s in query.states])
            )
        with self._sessions() as session:
            rows = session.execute(statement.offset(offset).limit(limit)).all()
            return [
                replace(
                    _status(row[0], row[1], row[2], row[3]),
                    bounced_count=row[4],
                    suppressed_count=row[5],
                )
                for row in rows
            ]

    def batch_report(self, batch_id: str) -> BatchReport | None:
        """Every fact the completion record shows, in a few queries on the progress index
        (progress arriving meanwhile may show in one count and not yet in another)."""
        p, e, i = tables.CertificateProgress, tables.BatchRowError, tables.BatchIntake
        status = self.batch_status(batch_id)
        if status is None:
            return None
        with self._sessions() as session:
            refused_lines = session.scalar(
                select(func.count(func.distinct(e.row_number))).where(e.batch_id == batch_id)
            )
            intakes = [
                IntakeRecord(
                    sequence=row.sequence,
                    created_at=_aware(row.created_at) or row.created_at,
                    row_count=row.row_count,
                    accepted_count=row.accepted_count,
                    rejected_count=row.rejected_count,
                    skipped_count=row.skipped_count,
                    held_back_count=row.held_back_count,
                    resolved_count=row.resolved_count,
                )
                for row in session.scalars(
                    select(i).where(i.batch_id == batch_id).order_by(i.sequence)
                )
            ]
            windows = session.execute(
                select(
                    p.window_id,
                    p.transaction_hash,
                    p.chain_id,
                    p.block_number,
                    p.merkle_root,
                    func.count(),
                    func.min(p.anchored_at),
                )
                .where(p.batch_id == batch_id, p.window_id.is_not(None))
                .group_by(
                    p.window_id, p.transaction_hash, p.chain_id, p.block_number, p.merkle_root
                )
            ).all()
            transactions = sorted(
                (
                    AnchoringTransaction(
                        transaction_hash=row[1] or "",
                        chain_id=row[2] or 0,
                        block_number=row[3] or 0,
                        window_id=row[0] or "",
                        merkle_root=row[4] or b"",
                        certificate_count=row[5],
                        anchored_at=_aware(row[6]) or datetime.min.replace(tzinfo=UTC),
                    )
                    for row in windows
                ),
                key=lambda t: (t.block_number, t.anchored_at),
            )
            outcomes = {
                str(outcome): count
                for outcome, count in session.execute(
                    select(p.delivery_outcome, func.count())
                    .where(p.batch_id == batch_id, p.delivery_outcome.is_not(None))
                    .group_by(p.delivery_outcome)
                )
            }
            first, last = session.execute(
                select(func.min(p.anchored_at), func.max(p.anchored_at)).where(
                    p.batch_id == batch_id
                )
            ).one()
            emailed = session.scalar(
                select(func.max(p.delivery_updated_at)).where(
                    p.batch_id == batch_id, p.delivery_outcome == DeliveryOutcome.SENT.value
                )
            )
        return BatchReport(
            status=status,
            refused_row_count=refused_lines or 0,
            intakes=intakes,
            transactions=transactions,
            deliveries=delivery_counts(
                status.accepted_count, outcomes, cancelled=status.cancelled_count
            ),
            first_anchored_at=_aware(first),
            last_anchored_at=_aware(last),
            last_emailed_at=_aware(emailed),
        )

    def upload_digest(self, batch_id: str) -> str | None:
        with self._sessions() as session:
            return session.scalar(
                select(tables.Batch.content_sha256).where(tables.Batch.id == batch_id)
            )

    def cancel_batch(
        self,
        batch_id: str,
        cancelled_at: datetime,
        announce: Callable[[Sequence[str]], Sequence[OutboxMessage]],
    ) -> bool:
        """Marks the batch cancelled and, in the same transaction, queues the announcement of
        its certificates with no final delivery outcome; False when it already was cancelled
        (the guarded update lets one of two racing calls through)."""
        b = tables.Batch
        with self._sessions.begin() as session:
            marked = session.execute(
                update(b)
                .where(b.id == batch_id, b.cancelled_at.is_(None))
                .values(cancelled_at=_utc(cancelled_at))
            )
            if marked.rowcount != 1:  # type: ignore[attr-defined]
                return False
            c, p = tables.Certificate, tables.CertificateProgress
            pending = session.scalars(
                select(c.id)
                .outerjoin(p, p.certificate_id == c.id)
                .where(
                    c.batch_id == batch_id,
                    or_(
                        p.delivery_outcome.is_(None),
                        p.delivery_outcome.not_in(
                            [DeliveryOutcome.SENT.value, *(o.value for o in NOT_EMAILED)]
                        ),
                    ),
                )
                .order_by(c.id)
            ).all()
            messages = announce(pending)
            if messages:
                session.execute(
                    insert(_outbox),
                    [
                        {
                            "subject": m.subject,
                            "msg_id": m.msg_id,
                            "payload": m.payload,
                            "trace_context": "",
                            "created_at": _utc(cancelled_at),
                        }
                        for m in messages
                    ],
                )
            return True

    def report_columns(self, batch_id: str) -> list[str] | None:
        """The uploaded header of a batch ([] when not recorded); None: no such batch."""
        with self._sessions() as session:
            found = session.execute(
                select(tables.Batch.source_columns).where(tables.Batch.id == batch_id)
            ).first()
            if found is None:
                return None
            return list(json.loads(found[0])) if found[0] else []

    def refusals(self, batch_id: str, *, after: int, limit: int) -> list[Refusal]:
        """The next refusals (keyset on the error id, in line order: the upload writes them
        sorted) with the cells of their row."""
        e, r = tables.BatchRowError, tables.BatchRefusedRow
        # the page first, then its cells: joined before the LIMIT, PostgreSQL (its statistics
        # not yet refreshed after a big upload) joined every remaining refusal for each page
        page = (
            select(e.id, e.row_number, e.field, e.reason, e.message)
            .where(e.batch_id == batch_id, e.id > after)
            .order_by(e.id)
            .limit(limit)
            .subquery()
        )
        with self._sessions() as session:
            rows = session.execute(
                select(page, r.cells)
                .outerjoin(r, and_(r.batch_id == batch_id, r.row_number == page.c.row_number))
                .order_by(page.c.id)
            )
            return [
                Refusal(
                    key=row.id,
                    error=RowError(row.row_number, row.field, row.reason, row.message),
                    cells=tuple(json.loads(row.cells)) if row.cells else (),
                )
                for row in rows
            ]

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
            if row is None:
                return None
            return _record(row, session.get(tables.CertificateProgress, certificate_id))

    # ---- the outbox relay ----

    def render_outbox_payload(self, subject: str, payload: bytes) -> bytes:
        """The event an outbox row announces: a reference is rendered from the certificate
        rows committed with it; a row holding a rendered event goes out as it is."""
        reference = reference_of(payload)
        if reference is None:
            return payload
        c = tables.Certificate
        with self._sessions() as session:
            rows = session.execute(
                select(
                    c.id,
                    c.recipient_name,
                    c.recipient_email,
                    c.title,
                    c.completion_date,
                    c.document,
                    c.leaf_salt,
                    c.leaf_hash,
                    c.time_zone,
                ).where(c.id.in_(reference.certificate_ids))
            )
            stored = {
                row.id: AnnouncedCertificate(
                    certificate_id=row.id,
                    recipient_name=row.recipient_name,
                    recipient_email=row.recipient_email,
                    title=row.title,
                    completion_date=row.completion_date.isoformat(),
                    document=row.document,
                    leaf_salt=row.leaf_salt,
                    leaf_hash=row.leaf_hash,
                    time_zone=row.time_zone,
                )
                for row in rows
            }
        return render(subject, reference, stored)

    # ---- progress (from events) ----

    def stored_windows(self, certificate_ids: Sequence[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        with self._sessions() as session:
            for chunk in chunked(certificate_ids):
                rows = session.execute(
                    select(tables.Certificate.id, tables.CertificateProgress.window_id)
                    .outerjoin(tables.CertificateProgress)
                    .where(tables.Certificate.id.in_(chunk))
                )
                found.update({cid: window_id for cid, window_id in rows})
        return found

    def store_anchorings(
        self, window: AnchoredWindowFacts, leaves: Sequence[AnchoredLeaf], anchored_at: datetime
    ) -> set[str]:
        facts = {
            "window_id": window.window_id,
            "merkle_root": window.merkle_root,
            "chain_id": window.chain_id,
            "registry_address": window.registry_address,
            "transaction_hash": window.transaction_hash,
            "block_number": window.block_number,
            "anchored_at": _utc(anchored_at),
        }
        with self._sessions.begin() as session:
            statement = _dialect(session).insert(_progress)
            statement = statement.on_conflict_do_update(
                index_elements=[_progress.c.certificate_id],
                set_={name: statement.excluded[name] for name in (*facts, "merkle_path")},
                # only where none is stored: a racing replica's first window stays
                where=_progress.c.window_id.is_(None),
            )
            batches = _batches_of(session, [leaf.certificate_id for leaf in leaves])
            rows = [
                {
                    "certificate_id": leaf.certificate_id,
                    "batch_id": batches[leaf.certificate_id],
                    "merkle_path": leaf.merkle_path,
                    **facts,
                }
                # one key order for every writer: racing replicas cannot deadlock
                for leaf in sorted(leaves, key=lambda leaf: leaf.certificate_id)
                if leaf.certificate_id in batches
            ]
            if rows:
                session.execute(statement, rows)
                announce_anchored(session, rows, _utc(anchored_at))
            return {str(row["batch_id"]) for row in rows}

    def stored_delivery_times(self, certificate_ids: Sequence[str]) -> dict[str, datetime | None]:
        found: dict[str, datetime | None] = {}
        with self._sessions() as session:
            for chunk in chunked(certificate_ids):
                rows = session.execute(
                    select(tables.Certificate.id, tables.CertificateProgress.delivery_updated_at)
                    .outerjoin(tables.CertificateProgress)
                    .where(tables.Certificate.id.in_(chunk))
                )
                found.update({cid: _aware(at) for cid, at in rows})
        return found

    def store_deliveries(self, reports: Sequence[DeliveryReport]) -> set[str]:
        updated_at = _progress.c.delivery_updated_at
        fields = ("delivery_outcome", "delivery_updated_at", "delivery_attempts")
        with self._sessions.begin() as session:
            statement = _dialect(session).insert(_progress)
            statement = statement.on_conflict_do_update(
                index_elements=[_progress.c.certificate_id],
                set_={name: statement.excluded[name] for name in fields},
                # only over an older outcome: a racing replica's newer one stays
                where=or_(
                    updated_at.is_(None), updated_at < statement.excluded.delivery_updated_at
                ),
            )
            batches = _batches_of(session, [r.certificate_id for r in reports])
            rows = [
                {
                    "certificate_id": r.certificate_id,
                    "batch_id": batches[r.certificate_id],
                    "delivery_outcome": r.outcome.value,
                    "delivery_updated_at": _utc(r.update_time),
                    "delivery_attempts": r.attempts,
                }
                for r in sorted(reports, key=lambda r: r.certificate_id)
                if r.certificate_id in batches
            ]
            if rows:
                session.execute(statement, rows)
                announce_deliveries(session, rows, datetime.now(UTC))
            return {str(row["batch_id"]) for row in rows}


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

    def issued_with_batches(
        self, issuer_row_id: str, dedupe_keys: Sequence[str]
    ) -> dict[str, tuple[str, str]]:
        c = tables.Certificate
        found: dict[str, tuple[str, str]] = {}
        for chunk in chunked(dedupe_keys):
            rows = self._session.execute(
                select(c.dedupe_key, c.id, c.batch_id).where(
                    c.issuer_id == issuer_row_id, c.dedupe_key.in_(chunk)
                )
            )
            found.update({key: (cid, batch_id) for key, cid, batch_id in rows})
        return found

    def stored_refusals(self, batch_id: str) -> frozenset[tuple[int, str, str, str]]:
        e = tables.BatchRowError
        rows = self._session.execute(
            select(e.row_number, e.field, e.reason, e.message).where(e.batch_id == batch_id)
        )
        return frozenset((r.row_number, r.field, r.reason, r.message) for r in rows)

    def refused_cells(self, batch_id: str) -> dict[int, tuple[str, ...]]:
        e, r = tables.BatchRowError, tables.BatchRefusedRow
        lines = self._session.scalars(
            select(e.row_number).where(e.batch_id == batch_id).distinct()
        ).all()
        found: dict[int, tuple[str, ...]] = dict.fromkeys(lines, ())
        for number, cells in self._session.execute(
            select(r.row_number, r.cells).where(r.batch_id == batch_id)
        ):
            if number in found:
                found[number] = tuple(json.loads(cells))
        return found

    def batch_columns(self, batch_id: str) -> tuple[str, ...]:
        found = self._session.scalar(
            select(tables.Batch.source_columns).where(tables.Batch.id == batch_id)
        )
        return tuple(json.loads(found)) if found else ()

    def add_batch(self, batch: NewBatch) -> None:
        session = self._session
        session.execute(
            insert(_batches).values(
                id=batch.batch_id,
                issuer_id=batch.issuer_row_id,
                request_id=batch.request_id,
                display_name=batch.display_name,
                source=batch.source,
                row_count=batch.row_count,
                accepted_count=len(batch.certificates),
                rejected_count=len(batch.refused),
                created_at=_utc(batch.created_at),
                content_sha256=batch.content_sha256,
                source_columns=json.dumps(list(batch.source_columns))
                if batch.source_columns
                else None,
            )
        )
        _insert_certificates(
            session, batch.batch_id, batch.issuer_row_id, batch.certificates, batch.created_at
        )
        _insert_refusals(session, batch.batch_id, batch.refused, batch.refused_cells)
        _insert_outbox(session, batch.messages, batch.trace_context, batch.created_at)
        ids = [c.certificate_id for c in batch.certificates]
        announce_issued(session, batch.batch_id, ids, batch.created_at)  # webhooks, same tx
        if batch.source == "csv":
            session.execute(
                insert(_intakes).values(
                    batch_id=batch.batch_id,
                    sequence=1,
                    created_at=_utc(batch.created_at),
                    row_count=batch.row_count,
                    accepted_count=len(batch.certificates),
                    rejected_count=len(batch.refused),
                    skipped_count=0,
                    held_back_count=batch.held_back_count,
                    resolved_count=0,
                )
            )

    def lock_batch(self, batch_id: str) -> None:
        b = tables.Batch
        # a guarded update takes the row lock (PostgreSQL; SQLite locks the database) and sees
        # a cancel that committed first
        marked = self._session.execute(
            update(b)
            .where(b.id == batch_id, b.cancelled_at.is_(None))
            .values(accepted_count=b.accepted_count)
        )
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            raise BatchClosed(
                "BATCH_CANCELLED",
                f"batch {batch_id} was cancelled meanwhile: nothing of this upload was stored",
                metadata={"batch_id": batch_id},
            )

    def extend_batch(self, extension: BatchExtension) -> None:
        session = self._session
        b, e, r = tables.Batch, tables.BatchRowError, tables.BatchRefusedRow
        batch_id = extension.batch_id
        session.execute(
            update(b)
            .where(b.id == batch_id)
            .values(
                accepted_count=b.accepted_count + len(extension.certificates),
                row_count=b.row_count + extension.new_rows,
            )
        )
        if extension.replaced_lines:
            for chunk in chunked(sorted(extension.replaced_lines)):
                session.execute(delete(e).where(e.batch_id == batch_id, e.row_number.in_(chunk)))
                session.execute(delete(r).where(r.batch_id == batch_id, r.row_number.in_(chunk)))
        _insert_certificates(
            session,
            batch_id,
            session.scalar(select(b.issuer_id).where(b.id == batch_id)) or "",
            extension.certificates,
            extension.created_at,
        )
        _insert_refusals(session, batch_id, extension.refused, extension.refused_cells)
        _insert_outbox(session, extension.messages, extension.trace_context, extension.created_at)
        refusals = select(func.count(e.id)).where(e.batch_id == batch_id).scalar_subquery()
        session.execute(update(b).where(b.id == batch_id).values(rejected_count=refusals))
        sequence = session.scalar(
            select(func.coalesce(func.max(tables.BatchIntake.sequence), 1)).where(
                tables.BatchIntake.batch_id == batch_id
            )
        )
        session.execute(
            insert(_intakes).values(
                batch_id=batch_id,
                sequence=(sequence or 1) + 1,
                created_at=_utc(extension.created_at),
                row_count=extension.new_rows,
                accepted_count=len(extension.certificates),
                rejected_count=len(extension.refused),
                skipped_count=extension.skipped_count,
                held_back_count=extension.held_back_count,
                resolved_count=extension.resolved_count,
                request_id=extension.request_id,
                content_sha256=extension.content_sha256,
            )
        )

    def intake_for_request(self, batch_id: str, request_id: str) -> StoredIntake | None:
        i = tables.BatchIntake
        row = self._session.execute(
            select(i.content_sha256, i.skipped_count, i.held_back_count, i.resolved_count).where(
                i.batch_id == batch_id, i.request_id == request_id
            )
        ).first()
        return None if row is None else StoredIntake(*row)

    def add_issue_request(self, request_id: str, certificate_id: str) -> None:
        self._session.add(tables.IssueRequest(request_id=request_id, certificate_id=certificate_id))


def _insert_certificates(
    session: Session,
    batch_id: str,
    issuer_row_id: str,
    certificates: Sequence[PlannedCertificate],
    created_at: datetime,
) -> None:
    if not certificates:
        return
    session.execute(
        insert(_certificates),
        [
            {
                "id": p.certificate_id,
                "batch_id": batch_id,
                "issuer_id": issuer_row_id,
                "dedupe_key": p.dedupe_key,
                "recipient_name": p.content.recipient_name,
                "recipient_email": p.content.recipient_email,
                "title": p.content.title,
                "completion_date": p.content.completion_date,
                "expiry_date": p.content.expiry_date,
                "document": p.canonical_document,
                "leaf_salt": p.leaf_salt,
                "leaf_hash": p.leaf_hash,
                "created_at": _utc(created_at),
                "time_zone": p.content.time_zone,
            }
            # one key order for every upload: overlapping uploads cannot deadlock
            for p in sorted(certificates, key=lambda p: p.dedupe_key)
        ],
    )


def _insert_refusals(
    session: Session,
    batch_id: str,
    refused: Sequence[RowError],
    cells: Mapping[int, Sequence[str]],
) -> None:
    if refused:
        session.execute(
            insert(_row_errors),
            [
                {
                    "batch_id": batch_id,
                    "row_number": e.row_number,
                    "field": e.field,
                    "reason": e.reason,
                    "message": e.message,
                }
                # in line order: the error report and ListRowErrors page by id
                for e in sorted(refused, key=lambda e: e.row_number)
            ],
        )
    if cells:
        # a line refused again (another reason) keeps the cells stored first
        statement = _dialect(session).insert(_refused_rows).on_conflict_do_nothing()
        session.execute(
            statement,
            [
                {"batch_id": batch_id, "row_number": number, "cells": json.dumps(list(row))}
                for number, row in cells.items()
            ],
        )


def _insert_outbox(
    session: Session, messages: Sequence[OutboxMessage], trace_context: str, created_at: datetime
) -> None:
    if messages:
        session.execute(
            insert(_outbox),
            [
                {
                    "subject": m.subject,
                    "msg_id": m.msg_id,
                    "payload": m.payload,
                    "trace_context": trace_context,
                    "created_at": _utc(created_at),
                }
                for m in messages
            ],
        )


def _batches_of(session: Session, certificate_ids: Sequence[str]) -> dict[str, str]:
    """The batch of each of these certificates that is ingest's (others are left out)."""
    found: dict[str, str] = {}
    for chunk in chunked(list(dict.fromkeys(certificate_ids))):
        rows = session.execute(
            select(tables.Certificate.id, tables.Certificate.batch_id).where(
                tables.Certificate.id.in_(chunk)
            )
        )
        found.update({cid: batch_id for cid, batch_id in rows})
    return found


def _dialect(session: Session) -> Any:
    """The session's dialect module (SQLite or PostgreSQL), for INSERT … ON CONFLICT."""
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _count_outcome(*outcomes: DeliveryOutcome) -> ColumnElement[int]:
    column = tables.CertificateProgress.delivery_outcome
    return func.count(case((column.in_([o.value for o in outcomes]), 1)))


def _outcome_counts(*outcomes: DeliveryOutcome) -> tuple[ColumnElement[int], ...]:
    """A batch's count of each of these outcomes, as correlated scalar subqueries."""
    p = tables.CertificateProgress
    return tuple(
        select(_count_outcome(outcome))
        .where(p.batch_id == tables.Batch.id)
        .correlate(tables.Batch)
        .scalar_subquery()
        for outcome in outcomes
    )


def _progress_counts() -> tuple[ColumnElement[int], ColumnElement[int], ColumnElement[int]]:
    """A batch's anchored, emailed and failed counts, as correlated scalar subqueries."""
    p = tables.CertificateProgress

    def counted(column: ColumnElement[int]) -> ColumnElement[int]:
        return (
            select(column)
            .where(p.batch_id == tables.Batch.id)
            .correlate(tables.Batch)
            .scalar_subquery()
        )

    return (
        counted(func.count(p.window_id)),
        counted(_count_outcome(DeliveryOutcome.SENT)),
        counted(_count_outcome(*NOT_EMAILED)),
    )


def state_expression(
    anchored: ColumnElement[int], emailed: ColumnElement[int], failed: ColumnElement[int]
) -> ColumnElement[str]:
    """progress.batch_state in SQL, for ListBatches' state filter (a test holds them equal)."""
    b = tables.Batch
    return case(
        (b.accepted_count == 0, BatchState.REJECTED.value),
        (
            emailed + failed >= b.accepted_count,
            case(
                (failed > 0, BatchState.COMPLETED_WITH_FAILURES.value),
                else_=BatchState.COMPLETED.value,
            ),
        ),
        (b.cancelled_at.is_not(None), BatchState.CANCELLED.value),
        (anchored >= b.accepted_count, BatchState.NOTIFYING.value),
        else_=BatchState.ANCHORING.value,
    )


def _status(batch: tables.Batch, anchored: int, emailed: int, failed: int) -> BatchStatus:
    return BatchStatus(
        batch_id=batch.id,
        display_name=batch.display_name,
        source=batch.source,
        row_count=batch.row_count,
        accepted_count=batch.accepted_count,
        rejected_count=batch.rejected_count,
        anchored_count=anchored,
        emailed_count=emailed,
        email_failed_count=failed,
        created_at=_aware(batch.created_at) or batch.created_at,
        cancelled_at=_aware(batch.cancelled_at),
    )


def _record(
    row: tables.Certificate, progress: tables.CertificateProgress | None
) -> CertificateRecord:
    anchoring = None
    if progress is not None and progress.window_id is not None:
        anchoring = CertificateAnchoring(
            window=AnchoredWindowFacts(
                window_id=progress.window_id,
                merkle_root=progress.merkle_root or b"",
                chain_id=progress.chain_id or 0,
                registry_address=progress.registry_address or "",
                transaction_hash=progress.transaction_hash or "",
                block_number=progress.block_number or 0,
            ),
            merkle_path=progress.merkle_path or b"",
            anchored_at=_aware(progress.anchored_at) or datetime.min.replace(tzinfo=UTC),
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
