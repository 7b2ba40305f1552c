"""The SQL of outbound webhooks: endpoints, and deliveries written in the transaction of the
fact they announce (`enqueue*`, called from store.py's writes) then claimed, sent and logged
by the dispatcher (webhook_dispatcher.py)."""

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest import tables
from services.ingest.progress import NOT_EMAILED, DeliveryOutcome
from services.ingest.webhooks import CERTIFICATES_PER_DELIVERY, DeliveryState, WebhookEvent

_deliveries = tables.WebhookDelivery.__table__


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_id: str
    url: str
    description: str
    events: frozenset[WebhookEvent]
    created_at: datetime
    enabled: bool
    disabled_reason: str = ""
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str  # the webhook-id
    endpoint_id: str
    event_type: WebhookEvent
    payload: bytes
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    response_code: int | None
    last_error: str
    response_excerpt: str
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery: Delivery
    url: str
    secrets: list[str]  # the current secret first; a rotated-out one while still valid
    leased_until: datetime  # the claim's next_attempt_at: still there, the delivery is ours


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


# ---- enqueue, in the caller's transaction ----


def enqueue(
    session: Session,
    event: WebhookEvent,
    dedupe_key: str,
    data: Mapping[str, Any],
    now: datetime,
) -> int:
    """One delivery per enabled endpoint taking `event`; a fact enqueued again (a replayed
    event) finds its delivery there (unique endpoint + dedupe key) and adds nothing."""
    endpoints = _subscribed(session, event)
    if not endpoints:
        return 0
    body = json.dumps(
        {"type": event.value, "timestamp": _utc(now).isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_deliveries).on_conflict_do_nothing(
        index_elements=["endpoint_id", "dedupe_key"]
    )
    session.execute(
        statement,
        [
            {
                "id": new_message_id(),
                "endpoint_id": endpoint_id,
                "event_type": event.value,
                "dedupe_key": dedupe_key[:200],
                "payload": body,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "created_at": _utc(now),
                "next_attempt_at": _utc(now),
                "last_error": "",
                "response_excerpt": "",
            }
            for endpoint_id in sorted(endpoints)
        ],
    )
    return len(endpoints)


def _subscribed(session: Session, event: WebhookEvent) -> list[str]:
    """Enabled endpoints taking `event` (a handful: read whole)."""
    e = tables.WebhookEndpoint
    return [
        endpoint_id
        for endpoint_id, events in session.execute(
            select(e.id, e.events).where(e.disabled_at.is_(None))
        )
        if event.value in json.loads(events)
    ]


def _chunks(items: Sequence[Mapping[str, Any]]) -> Iterator[Sequence[Mapping[str, Any]]]:
    for start in range(0, len(items), CERTIFICATES_PER_DELIVERY):
        yield items[start : start + CERTIFICATES_PER_DELIVERY]


def enqueue_certificates(
    session: Session,
    event: WebhookEvent,
    batch_id: str,
    certificates: Sequence[Mapping[str, Any]],
    now: datetime,
    key: str = "",
    **facts: Any,
) -> None:
    """certificate.* events: one delivery per batch and up to 1,000 certificates (each
    `{"certificate_id": …, …}`), keyed by the certificates it names (and `key`)."""
    ordered = sorted(certificates, key=lambda c: str(c["certificate_id"]))
    for part in _chunks(ordered):
        names = key + "\n" + "\n".join(str(c["certificate_id"]) for c in part)
        digest = hashlib.sha256(names.encode()).hexdigest()[:32]
        enqueue(
            session,
            event,
            f"{event.value}:{batch_id}:{digest}",
            {"batch_id": batch_id, **facts, "certificates": list(part)},
            now,
        )


def enqueue_completed_batches(session: Session, batch_ids: Sequence[str], now: datetime) -> None:
    """batch.completed for each of these batches whose every certificate has its email outcome
    (or that accepted nothing), once per batch."""
    if not _subscribed(session, WebhookEvent.BATCH_COMPLETED):
        return  # the counts below read the batch's progress rows: only when someone listens
    p, b = tables.CertificateProgress, tables.Batch
    for batch_id in sorted(batch_ids):
        # under the batch row's lock (taken in id order): of two transactions storing a batch's
        # last outcomes at once, the later counts with the earlier's rows committed
        # (READ COMMITTED reads afresh per statement); without it neither saw the batch complete
        batch = session.get(b, batch_id, with_for_update=True, populate_existing=True)
        if batch is None:
            continue
        anchored, delivered, failed, bounced, suppressed = session.execute(
            select(
                func.count(p.window_id),
                _count_outcome(DeliveryOutcome.SENT),
                _count_outcome(*NOT_EMAILED),
                _count_outcome(DeliveryOutcome.BOUNCED),
                _count_outcome(DeliveryOutcome.SUPPRESSED),
            ).where(p.batch_id == batch_id)
        ).one()
        if batch.accepted_count and (delivered or 0) + (failed or 0) < batch.accepted_count:
            continue
        enqueue(
            session,
            WebhookEvent.BATCH_COMPLETED,
            f"batch.completed:{batch_id}",
            batch_summary(
                batch,
                anchored=anchored or 0,
                delivered=delivered or 0,
                failed=failed or 0,
                bounced=bounced or 0,
                suppressed=suppressed or 0,
            ),
            now,
        )


def _count_outcome(*outcomes: DeliveryOutcome) -> ColumnElement[int]:
    column = tables.CertificateProgress.delivery_outcome
    return func.count(case((column.in_([o.value for o in outcomes]), 1)))


# ---- what store.py's writes call, in their transaction ----


def announce_issued(
    session: Session, batch_id: str, certificate_ids: Sequence[str], now: datetime
) -> None:
    certificates = [{"certificate_id": c} for c in certificate_ids]
    enqueue_certificates(session, WebhookEvent.CERTIFICATE_ISSUED, batch_id, certificates, now)
    if not certificate_ids:  # nothing accepted: the batch is over (rejected)
        enqueue_completed_batches(session, [batch_id], now)


def announce_anchored(session: Session, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """`rows`: certificate_progress rows of one window (store_anchorings')."""
    by_batch: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_batch.setdefault(str(row["batch_id"]), []).append(
            {"certificate_id": row["certificate_id"]}
        )
    if not rows:
        return
    first = rows[0]
    for batch_id, certificates in by_batch.items():
        enqueue_certificates(
            session,
            WebhookEvent.CERTIFICATE_ANCHORED,
            batch_id,
            certificates,
            now,
            window_id=first["window_id"],
            chain_id=first["chain_id"],
            registry_address=first["registry_address"],
            transaction_hash=first["transaction_hash"],
            block_number=first["block_number"],
        )


DELIVERY_EVENTS = {
    DeliveryOutcome.SENT.value: WebhookEvent.CERTIFICATE_DELIVERED,
    DeliveryOutcome.BOUNCED.value: WebhookEvent.CERTIFICATE_BOUNCED,
}


def announce_deliveries(session: Session, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """`rows`: certificate_progress rows (store_deliveries'); then batch.completed for the
    batches this completes."""
    grouped: dict[tuple[str, WebhookEvent], list[dict[str, Any]]] = {}
    for row in rows:
        event = DELIVERY_EVENTS.get(str(row["delivery_outcome"]))
        if event is not None:
            grouped.setdefault((str(row["batch_id"]), event), []).append(
                {"certificate_id": row["certificate_id"]}
            )
    for (batch_id, event), certificates in grouped.items():
        enqueue_certificates(session, event, batch_id, certificates, now)
    enqueue_completed_batches(session, sorted({str(r["batch_id"]) for r in rows}), now)


def batch_summary(
    batch: tables.Batch,
    *,
    anchored: int,
    delivered: int,
    failed: int,
    bounced: int,
    suppressed: int,
) -> dict[str, Any]:
    state = (
        "rejected"
        if batch.accepted_count == 0
        else "completed_with_failures"
        if failed
        else "completed"
    )
    return {
        "batch_id": batch.id,
        "display_name": batch.display_name,
        "state": state,
        "issued": batch.accepted_count,
        "refused": batch.rejected_count,
        "anchored": anchored,
        "delivered": delivered,
        "bounced": bounced,
        "email_failed": failed,
        "suppressed": suppressed,
        "pending": max(batch.accepted_count - delivered - failed, 0),
        # the error report: `certflow errors <batch>` or ListRowErrors on this resource
        "error_report": f"batches/{batch.id}/rowErrors" if batch.rejected_count else "",
    }


# ---- endpoints and the dispatcher's reads and writes ----


class SqlWebhookStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add_endpoint(self, endpoint: Endpoint, secret: str, request_id: str) -> Endpoint:
        """The endpoint stored, or the one stored earlier under request_id (a retry, or a twin
        call racing this one: its insert collides and it answers with the stored one)."""
        if request_id and (found := self._endpoint_for_request(request_id)):
            return found
        try:
            with self._sessions.begin() as session:
                session.add(
                    tables.WebhookEndpoint(
                        id=endpoint.endpoint_id,
                        url=endpoint.url,
                        description=endpoint.description,
                        events=json.dumps(sorted(v.value for v in endpoint.events)),
                        secret=secret,
                        request_id=request_id or None,
                        created_at=_utc(endpoint.created_at),
                        disabled_reason="",
                    )
                )
        except IntegrityError:
            if request_id and (found := self._endpoint_for_request(request_id)):
                return found
            raise
        return endpoint

    def _endpoint_for_request(self, request_id: str) -> Endpoint | None:
        e = tables.WebhookEndpoint
        with self._sessions() as session:
            row = session.scalar(select(e).where(e.request_id == request_id))
            return _endpoint(row) if row else None

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        with self._sessions() as session:
            row = session.get(tables.WebhookEndpoint, endpoint_id)
            return _endpoint(row) if row else None

    def endpoints(self, *, offset: int, limit: int) -> list[Endpoint]:
        e = tables.WebhookEndpoint
        with self._sessions() as session:
            rows = session.scalars(
                select(e).order_by(e.created_at, e.id).offset(offset).limit(limit)
            )
            return [_endpoint(r) for r in rows]

    def disable_endpoint(self, endpoint_id: str, reason: str, now: datetime) -> Endpoint | None:
        with self._sessions.begin() as session:
            row = session.get(tables.WebhookEndpoint, endpoint_id)
            if row is None:
                return None
            if row.disabled_at is None:
                row.disabled_at, row.disabled_reason = _utc(now), reason
            return _endpoint(row)

    def rotate_secret(
        self, endpoint_id: str, secret: str, overlap_until: datetime
    ) -> Endpoint | None:
        with self._sessions.begin() as session:
            row = session.get(tables.WebhookEndpoint, endpoint_id)
            if row is None:
                return None
            row.previous_secret, row.previous_secret_until = row.secret, _utc(overlap_until)
            row.secret = secret
            return _endpoint(row)

    def deliveries(
        self, endpoint_id: str, *, state: DeliveryState | None, offset: int, limit: int
    ) -> list[Delivery]:
        d = tables.WebhookDelivery
        query = select(d).where(d.endpoint_id == endpoint_id)
        if state is not None:
            query = query.where(d.state == state.value)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(d.created_at, d.id).offset(offset).limit(limit))
            return [_delivery(r) for r in rows]

    def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        """Pending deliveries due now, of enabled endpoints, each leased (its next attempt moved
        to now + lease) so another dispatcher does not send it meanwhile; a dispatcher that dies
        leaves it to be sent again after the lease (receivers dedupe on webhook-id)."""
        d, e = tables.WebhookDelivery, tables.WebhookEndpoint
        claimed: list[Claimed] = []
        with self._sessions.begin() as session:
            rows = session.execute(
                select(d, e)
                .join(e, e.id == d.endpoint_id)
                .where(
                    d.state == DeliveryState.PENDING.value,
                    d.next_attempt_at <= _utc(now),
                    e.disabled_at.is_(None),
                )
                .order_by(d.next_attempt_at, d.id)
                .limit(limit)
            ).all()
            for delivery, endpoint in rows:
                taken = session.execute(
                    update(d)
                    .where(d.id == delivery.id, d.next_attempt_at == delivery.next_attempt_at)
                    .values(next_attempt_at=_utc(now + lease))
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another dispatcher took it
                secrets_ = [endpoint.secret]
                until = _aware(endpoint.previous_secret_until)
                if endpoint.previous_secret and until is not None and until > now:
                    secrets_.append(endpoint.previous_secret)
                claimed.append(
                    Claimed(_delivery(delivery), endpoint.url, secrets_, _utc(now + lease))
                )
        return claimed

    def record_attempt(
        self,
        claimed: Claimed,
        *,
        delivered: bool,
        next_attempt_at: datetime | None,
        response_code: int | None,
        error: str,
        excerpt: str,
        now: datetime,
    ) -> bool:
        """The attempt's outcome, if the claim still holds the delivery (pending, its lease
        unchanged); False: the lease lapsed and another dispatcher claimed it since (or it was
        delivered), whose outcome stands."""
        d, e = tables.WebhookDelivery, tables.WebhookEndpoint
        state = (
            DeliveryState.DELIVERED
            if delivered
            else DeliveryState.PENDING
            if next_attempt_at
            else DeliveryState.FAILED
        )
        with self._sessions.begin() as session:
            row = session.get(d, claimed.delivery.delivery_id, with_for_update=True)
            if (
                row is None
                or row.state != DeliveryState.PENDING.value
                or _aware(row.next_attempt_at) != claimed.leased_until
            ):
                return False
            row.attempts += 1
            row.state = state.value
            row.last_attempt_at = _utc(now)
            row.next_attempt_at = _utc(next_attempt_at) if next_attempt_at else None
            row.response_code, row.last_error = response_code, error[:500]
            row.response_excerpt = excerpt
            if delivered:
                row.delivered_at = _utc(now)
            endpoint = session.get(e, row.endpoint_id)
            if endpoint is not None:
                if delivered:
                    endpoint.failing_since = None
                elif endpoint.failing_since is None:
                    endpoint.failing_since = _utc(now)
        return True

    def failing_since(self, endpoint_id: str) -> datetime | None:
        with self._sessions() as session:
            row = session.get(tables.WebhookEndpoint, endpoint_id)
            return _aware(row.failing_since) if row else None

    def replay(self, endpoint_id: str, delivery_id: str, now: datetime) -> int:
        """Failed deliveries of the endpoint (one, or all with delivery_id "") due again now,
        their attempts from zero and their webhook-id unchanged."""
        d = tables.WebhookDelivery
        query = update(d).where(d.endpoint_id == endpoint_id, d.state == DeliveryState.FAILED.value)
        if delivery_id:
            query = query.where(d.id == delivery_id)
        with self._sessions.begin() as session:
            done = session.execute(
                query.values(
                    state=DeliveryState.PENDING.value,
                    attempts=0,
                    created_at=_utc(now),  # the day of retries starts again
                    next_attempt_at=_utc(now),
                )
            )
            return int(done.rowcount)  # type: ignore[attr-defined]


def _endpoint(row: tables.WebhookEndpoint) -> Endpoint:
    return Endpoint(
        endpoint_id=row.id,
        url=row.url,
        description=row.description,
        events=frozenset(WebhookEvent(v) for v in json.loads(row.events)),
        created_at=_aware(row.created_at) or row.created_at,
        enabled=row.disabled_at is None,
        disabled_reason=row.disabled_reason,
        failing_since=_aware(row.failing_since),
    )


def _delivery(row: tables.WebhookDelivery) -> Delivery:
    return Delivery(
        delivery_id=row.id,
        endpoint_id=row.endpoint_id,
        event_type=WebhookEvent(row.event_type),
        payload=row.payload.encode(),
        state=DeliveryState(row.state),
        attempts=row.attempts,
        created_at=_aware(row.created_at) or row.created_at,
        next_attempt_at=_aware(row.next_attempt_at),
        response_code=row.response_code,
        last_error=row.last_error,
        response_excerpt=row.response_excerpt,
        delivered_at=_aware(row.delivered_at),
    )
