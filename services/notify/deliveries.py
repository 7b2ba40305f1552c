"""Deliveries in the database: one row per certificate email, the unit of idempotency.

A delivery is claimed by moving it to "sending" with a lease (next_attempt_at in the future);
a notify replica that dies mid-send leaves it to be re-claimed when the lease runs out, and the
retry carries the same Message-ID so receiving systems can recognise a repeat.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from certflow.db import models
from certflow.db.batching import chunked
from certflow.db.read_models import load_certificates
from services.notify.rendering import CertificateEmail

KIND_ISSUED = "issued"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: str
    sent: bool
    permanent: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery_id: str
    attempts: int
    email: CertificateEmail | None  # None when the certificate cannot be emailed (not anchored)


@dataclass(frozen=True, slots=True)
class Claim:
    token: str
    lease_until: datetime
    deliveries: list[ClaimedDelivery]


class Deliveries:
    def __init__(
        self, sessions: sessionmaker[Session], *, message_id_domain: str, max_attempts: int
    ) -> None:
        self._sessions = sessions
        self._domain = message_id_domain
        self._max_attempts = max_attempts

    def create(self, certificate_ids: Sequence[str]) -> int:
        """Creates the missing deliveries for these certificates; returns how many were new."""
        with self._sessions.begin() as session:
            existing = set()
            for chunk in chunked(certificate_ids):
                existing.update(
                    session.scalars(
                        select(models.Delivery.certificate_id).where(
                            models.Delivery.kind == KIND_ISSUED,
                            models.Delivery.certificate_id.in_(chunk),
                        )
                    )
                )
            missing = [cid for cid in dict.fromkeys(certificate_ids) if cid not in existing]
            if not missing:
                return 0
            batches = {}
            for chunk in chunked(missing):
                batches.update(
                    session.execute(
                        select(models.Certificate.id, models.Certificate.batch_id).where(
                            models.Certificate.id.in_(chunk)
                        )
                    ).all()
                )
            now = datetime.now(UTC)
            rows = []
            for cid in missing:
                if cid not in batches:
                    continue  # unknown certificate: nothing to send
                delivery_id = str(uuid.uuid4())
                rows.append(
                    {
                        "id": delivery_id,
                        "certificate_id": cid,
                        "batch_id": batches[cid],
                        "kind": KIND_ISSUED,
                        "state": PENDING,
                        "attempts": 0,
                        "message_id": f"<{delivery_id}@{self._domain}>",
                        "last_error": "",
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
            if rows:
                session.execute(insert(models.Delivery), rows)
            return len(rows)

    def claim(self, limit: int) -> "Claim":
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
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
                return Claim("", now, [])
            token = str(uuid.uuid4())
            attempts = {d.id: d.attempts + 1 for d in claimed}
            session.execute(
                update(models.Delivery)
                .where(models.Delivery.id.in_(list(attempts)))
                .values(
                    state=SENDING,
                    attempts=models.Delivery.attempts + 1,
                    next_attempt_at=now + CLAIM_LEASE,
                    claim_token=token,
                )
                .execution_options(synchronize_session=False)
            )
            stored = load_certificates(session, [d.certificate_id for d in claimed])
            issuers = dict(session.execute(select(models.Issuer.id, models.Issuer.name)).all())
            issuer_of = dict(
                session.execute(
                    select(models.Certificate.id, models.Certificate.issuer_id).where(
                        models.Certificate.id.in_([d.certificate_id for d in claimed])
                    )
                ).all()
            )
            result = []
            for delivery in claimed:
                certificate = stored.get(delivery.certificate_id)
                email = None
                if certificate and certificate.anchored:
                    email = CertificateEmail(
                        certificate_id=certificate.certificate_id,
                        message_id=delivery.message_id,
                        recipient_name=certificate.recipient_name,
                        recipient_email=certificate.recipient_email,
                        issuer_name=issuers.get(issuer_of.get(certificate.certificate_id, ""), ""),
                        title=certificate.title,
                        completion_date=certificate.completion_date.isoformat(),
                        document=certificate.document,
                    )
                result.append(ClaimedDelivery(delivery.id, attempts[delivery.id], email))
            return Claim(token, now + CLAIM_LEASE, result)

    def record(self, claim: "Claim", outcomes: Sequence[Outcome]) -> None:
        """Records outcomes, only for rows this claim still holds (a lease that ran out may
        have been re-claimed by another sender, whose outcome then counts)."""
        now = datetime.now(UTC)
        attempts = {d.delivery_id: d.attempts for d in claim.deliveries}
        held = (models.Delivery.state == SENDING, models.Delivery.claim_token == claim.token)
        with self._sessions.begin() as session:
            sent = [o.delivery_id for o in outcomes if o.sent]
            if sent:
                session.execute(
                    update(models.Delivery)
                    .where(models.Delivery.id.in_(sent), *held)
                    .values(state=SENT, sent_at=now, last_error="")
                    .execution_options(synchronize_session=False)
                )
            for outcome in outcomes:
                if outcome.sent:
                    continue
                tries = attempts.get(outcome.delivery_id, 1)
                final = outcome.permanent or tries >= self._max_attempts
                session.execute(
                    update(models.Delivery)
                    .where(models.Delivery.id == outcome.delivery_id, *held)
                    .values(
                        state=FAILED if final else PENDING,
                        last_error=outcome.error[:2000],
                        next_attempt_at=now + retry_delay(tries),
                    )
                    .execution_options(synchronize_session=False)
                )

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


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 10 s, 20 s, 40 s … capped at one hour."""
    return timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 3600))
