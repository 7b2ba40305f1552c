"""Deliveries in the database: one row per certificate email, the unit of idempotency.

A delivery is claimed by moving it to "sending" under a claim token with a short lease
(next_attempt_at in the future). The holder renews the lease with a heartbeat while it works
and records each outcome as it happens; a notify that dies stops renewing, so its unfinished
deliveries return to the queue within one lease. A retry carries the same Message-ID so
receiving systems can recognise a repeat.
"""

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BindParameter, ColumnElement, Insert, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform.db.batching import chunked
from certflow.platform.db.read_models import load_certificates
from services.ingest.tables import Certificate, Issuer  # transitional: from events next
from services.notify import tables as models
from services.notify.outcome_policy import FAILED, PENDING, SENDING, SENT, DeliveryUpdate
from services.notify.rendering import CertificateEmail

KIND_ISSUED = "issued"
_TABLE = models.Delivery.__table__


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery_id: str
    attempts: int  # counted attempts so far (the relay judged the message this many times)
    email: CertificateEmail | None  # None when the certificate cannot be emailed (not anchored)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A delivery's new state, stored only if the claim `claim_token` still holds it."""

    claim_token: str
    delivery_id: str
    update: DeliveryUpdate


@dataclass(frozen=True, slots=True)
class Claim:
    token: str
    lease_until: datetime
    deliveries: list[ClaimedDelivery]


class Deliveries:
    def __init__(self, sessions: sessionmaker[Session], *, message_id_domain: str) -> None:
        self._sessions = sessions
        self._domain = message_id_domain
        # this process's writes take turns here: on SQLite a writer waiting for the file lock
        # sleeps in growing steps (busy handler), which left the send pipeline idle
        self._write_turn = threading.Lock()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write_turn, self._sessions.begin() as session:
            yield session

    def create(self, certificate_ids: Sequence[str]) -> int:
        """Creates the missing deliveries for these certificates; returns how many were new.
        Idempotent under races too (a redelivered message handled by two replicas): rows
        that exist, or appear meanwhile, are skipped by the unique key, not an error."""
        wanted = list(dict.fromkeys(certificate_ids))
        with self._writing() as session:
            batches: dict[str, str] = {}
            for chunk in chunked(wanted):
                batches.update(
                    session.execute(
                        select(Certificate.id, Certificate.batch_id).where(
                            Certificate.id.in_(chunk)
                        )
                    ).all()
                )
            now = datetime.now(UTC)
            rows = [self._new_row(cid, batches[cid], now) for cid in wanted if cid in batches]
            created = 0
            for chunk in chunked(rows):
                inserted = _insert_new(session, chunk).returning(_TABLE.c.id)
                created += len(session.execute(inserted).all())  # rowcount: -1 on psycopg
            return created

    def _new_row(self, certificate_id: str, batch_id: str, now: datetime) -> dict[str, object]:
        delivery_id = str(uuid.uuid4())
        return {
            "id": delivery_id,
            "certificate_id": certificate_id,
            "batch_id": batch_id,
            "kind": KIND_ISSUED,
            "state": PENDING,
            "attempts": 0,
            "message_id": f"<{delivery_id}@{self._domain}>",
            "last_error": "",
            "next_attempt_at": now,
            "claim_token": "",
            "created_at": now,
        }

    def claim(self, limit: int, *, now: datetime, lease_until: datetime) -> Claim:
        """Takes up to `limit` due deliveries: pending ones whose retry time has come and
        sending ones whose holder's lease ran out (it died or lost the database)."""
        with self._writing() as session:
            query = (
                select(models.Delivery)
                .where(
                    or_(models.Delivery.state == PENDING, models.Delivery.state == SENDING),
                    models.Delivery.next_attempt_at <= now,
                )
                .order_by(models.Delivery.next_attempt_at)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed = list(session.scalars(query))
            if not claimed:
                return Claim("", lease_until, [])
            token = str(uuid.uuid4())
            session.execute(
                update(models.Delivery)
                .where(models.Delivery.id.in_([d.id for d in claimed]))
                .values(state=SENDING, next_attempt_at=lease_until, claim_token=token)
                .execution_options(synchronize_session=False)
            )
            emails = _emails(session, claimed)
            return Claim(
                token,
                lease_until,
                [ClaimedDelivery(d.id, d.attempts, emails.get(d.certificate_id)) for d in claimed],
            )

    def extend(self, token: str, *, lease_until: datetime) -> set[str]:
        """The heartbeat: renews the lease of what this claim still holds, returns those ids."""
        with self._writing() as session:
            held = _held_by(token)
            session.execute(
                update(models.Delivery)
                .where(*held)
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
            return set(session.scalars(select(models.Delivery.id).where(*held)))

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> int:
        """Stores outcomes (of any claims), each only if its claim still holds the row (a lease
        that ran out may have been re-claimed by another sender, whose outcome then counts).
        Returns rows stored."""
        if not outcomes:
            return 0
        rows = [
            {
                "b_id": o.delivery_id,
                "b_token": o.claim_token,
                "b_state": o.update.state,
                "b_attempts": o.update.attempts,
                "b_next": o.update.next_attempt_at,
                "b_error": o.update.error[:2000],
                "b_sent_at": now if o.update.state == SENT else None,
            }
            for o in outcomes
        ]
        statement = (
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("b_id"), *_held_by(bindparam("b_token")))
            .values(
                state=bindparam("b_state"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
                sent_at=bindparam("b_sent_at"),
                claim_token="",
            )
        )
        with self._writing() as session:
            return session.connection().execute(statement, rows).rowcount

    def release(self, token: str, delivery_ids: Sequence[str], *, now: datetime) -> int:
        """Gives back deliveries this claim did not try (stopping, relay down, lease short):
        due again at once, attempts untouched."""
        released = 0
        with self._writing() as session:
            for chunk in chunked(list(delivery_ids)):
                released += session.execute(
                    update(models.Delivery)
                    .where(models.Delivery.id.in_(chunk), *_held_by(token))
                    .values(state=PENDING, next_attempt_at=now, claim_token="")
                    .execution_options(synchronize_session=False)
                ).rowcount
        return released

    def retry_failed(self, batch_id: str, request_id: str, *, now: datetime) -> int:
        """Re-queues a batch's failed deliveries with a fresh attempt budget; returns how many.
        Idempotent on (batch_id, request_id) (AIP-155): a repeated request, even after later
        re-drives, re-queues nothing more and answers the count it answered first."""
        with self._writing() as session:
            if request_id:
                answered = _redrive_answer(session, batch_id, request_id)
                if answered is not None:
                    return answered
            requeued = session.execute(
                update(models.Delivery)
                .where(models.Delivery.batch_id == batch_id, models.Delivery.state == FAILED)
                .values(state=PENDING, attempts=0, next_attempt_at=now, claim_token="")
                .execution_options(synchronize_session=False)
            ).rowcount
            if request_id:
                row = {
                    "batch_id": batch_id,
                    "request_id": request_id,
                    "requeued_count": requeued,
                    "created_at": now,
                }
                session.execute(_insert_ignoring_duplicates(session, models.DeliveryRedrive, [row]))
                answered = _redrive_answer(session, batch_id, request_id)
                return requeued if answered is None else answered
            return requeued

    def list_for_batch(self, batch_id: str, *, offset: int, limit: int) -> list[models.Delivery]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(models.Delivery)
                    .where(models.Delivery.batch_id == batch_id)
                    .order_by(models.Delivery.created_at, models.Delivery.id)
                    .offset(offset)
                    .limit(limit)
                )
            )


def _insert_new(session: Session, rows: Sequence[dict[str, object]]) -> Insert:
    return _insert_ignoring_duplicates(session, models.Delivery, rows)


def _insert_ignoring_duplicates(
    session: Session, model: type[models.Base], rows: Sequence[dict[str, object]]
) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect (SQLite or PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).values(list(rows)).on_conflict_do_nothing()
    return sqlite.insert(model).values(list(rows)).on_conflict_do_nothing()


def _redrive_answer(session: Session, batch_id: str, request_id: str) -> int | None:
    return session.scalar(
        select(models.DeliveryRedrive.requeued_count).where(
            models.DeliveryRedrive.batch_id == batch_id,
            models.DeliveryRedrive.request_id == request_id,
        )
    )


def _held_by(token: str | BindParameter[str]) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Rows that this claim still holds: claimed by it and not yet given an outcome."""
    return (_TABLE.c.state == SENDING, _TABLE.c.claim_token == token)


def _emails(session: Session, claimed: Sequence[models.Delivery]) -> dict[str, CertificateEmail]:
    """What each claimed delivery needs to render, by certificate id (anchored ones only)."""
    ids = [d.certificate_id for d in claimed]
    message_ids = {d.certificate_id: d.message_id for d in claimed}
    stored = load_certificates(session, ids)
    issuers = dict(session.execute(select(Issuer.id, Issuer.name)).all())
    issuer_of: dict[str, str] = {}
    for chunk in chunked(ids):
        issuer_of.update(
            session.execute(
                select(Certificate.id, Certificate.issuer_id).where(Certificate.id.in_(chunk))
            ).all()
        )
    return {
        c.certificate_id: CertificateEmail(
            certificate_id=c.certificate_id,
            message_id=message_ids[c.certificate_id],
            recipient_name=c.recipient_name,
            recipient_email=c.recipient_email,
            issuer_name=issuers.get(issuer_of.get(c.certificate_id, ""), ""),
            title=c.title,
            completion_date=c.completion_date.isoformat(),
            document=c.document,
        )
        for c in stored.values()
        if c.anchored
    }
