"""certificate.revoked webhooks: ingest consumes "certs.revoked" (anchor publishes it once the
revocation transaction is confirmed) only to enqueue these deliveries; it stores nothing else
of a revocation (verify and notify keep theirs).

A new durable consumer starts from the stream's beginning: on its first start it announces the
revocations still in the stream once (the deliveries' keys keep each fact to one delivery).
A revocation announced again naming its replacement (anchor's `revoked:<window>:by:<new>`) is
a new fact: a second delivery carrying `replaced_by_certificate_id`.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform import bus
from certflow.platform.db.batching import chunked
from certflow.v1 import certificate_pb2, events_pb2
from services.ingest import tables
from services.ingest.consumers import EventConsumer
from services.ingest.webhook_store import enqueue_certificates
from services.ingest.webhooks import WebhookEvent

REVOKED_CONSUMER = bus.ConsumerSpec(durable="ingest-revoked", subject=bus.SUBJECT_REVOKED)


@dataclass(frozen=True, slots=True)
class Revoked:
    certificate_id: str
    batch_id: str  # "" when anchor did not know it (ingest looks it up)
    reason: str  # "superseded", "withdrawn", …
    reason_text: str
    revoke_time: datetime | None
    replaced_by: str


@dataclass(frozen=True, slots=True)
class RevokedEvent:
    window_id: str
    chain_id: int
    transaction_hash: str
    block_number: int
    certificates: list[Revoked]


def parse_revoked(data: bytes) -> RevokedEvent | None:
    """None when the payload is not a usable "certs.revoked" event."""
    try:
        event = events_pb2.CertificatesRevokedEvent.FromString(data)
    except DecodeError:
        return None
    if not event.revocation_window_id or not event.certificates:
        return None
    revoked = []
    for c in event.certificates:
        # an id PostgreSQL cannot hold (NUL) or a time past datetime's range would fail every
        # redelivery (a nak loop): poison
        ids = (c.certificate_id, c.batch_id, c.replaced_by_certificate_id)
        if not c.certificate_id or not all(i.isprintable() for i in ids):
            return None
        try:
            revoke_time = (
                c.revoke_time.ToDatetime(tzinfo=UTC) if c.HasField("revoke_time") else None
            )
        except ValueError:
            return None
        reason = (
            certificate_pb2.RevocationReason.Name(c.reason)
            .removeprefix("REVOCATION_REASON_")
            .lower()
            if c.reason in certificate_pb2.RevocationReason.values()
            else "unspecified"
        )
        revoked.append(
            Revoked(
                certificate_id=c.certificate_id,
                batch_id=c.batch_id,
                reason=reason,
                reason_text=c.reason_text,
                revoke_time=revoke_time,
                replaced_by=c.replaced_by_certificate_id,
            )
        )
    return RevokedEvent(
        event.revocation_window_id,
        event.chain_id,
        event.transaction_hash,
        event.block_number,
        revoked,
    )


class RevocationWebhooks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def announce(self, event: RevokedEvent) -> int:
        """Enqueues certificate.revoked per batch of ingest's certificates named; returns how
        many certificates it named (others' are left out)."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            c = tables.Certificate
            ids = [r.certificate_id for r in event.certificates]
            known: dict[str, str] = {}
            for chunk in chunked(ids):
                rows = session.execute(select(c.id, c.batch_id).where(c.id.in_(chunk)))
                known.update({cid: batch for cid, batch in rows})
            by_batch: dict[str, list[dict[str, object]]] = {}
            for r in event.certificates:
                batch_id = known.get(r.certificate_id)
                if batch_id is None:
                    continue
                by_batch.setdefault(batch_id, []).append(
                    {
                        "certificate_id": r.certificate_id,
                        "reason": r.reason,
                        "reason_text": r.reason_text,
                        "revoke_time": r.revoke_time.isoformat() if r.revoke_time else "",
                        "replaced_by_certificate_id": r.replaced_by,
                    }
                )
            replaced = "\n".join(
                sorted(f"{r.certificate_id}>{r.replaced_by}" for r in event.certificates)
            )
            key = event.window_id + hashlib.sha256(replaced.encode()).hexdigest()[:16]
            for batch_id, certificates in by_batch.items():
                enqueue_certificates(
                    session,
                    WebhookEvent.CERTIFICATE_REVOKED,
                    batch_id,
                    certificates,
                    now,
                    key=key,
                    revocation_window_id=event.window_id,
                    chain_id=event.chain_id,
                    transaction_hash=event.transaction_hash,
                    block_number=event.block_number,
                )
            return sum(len(v) for v in by_batch.values())


def revoked_consumer(sessions: sessionmaker[Session]) -> EventConsumer[RevokedEvent]:
    return EventConsumer(
        REVOKED_CONSUMER.durable, parse_revoked, RevocationWebhooks(sessions).announce
    )
