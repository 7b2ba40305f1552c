"""All of notify's SQL: the content of each email, deliveries, re-drives and the outbox.

Implements the small stores the use cases declare (intake.IntakeStore, claims.DeliveryStore,
operations.OperatorStore). Every write of this process takes its turn on one lock: on SQLite a
writer waiting for the file lock sleeps in growing steps (busy handler), which left the send
pipeline idle.
"""

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Insert,
    Select,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.document import AnchorProof, with_anchor_proof
from certflow.core.errors import Conflict, NotFound
from certflow.core.merkle import unpack_proof
from certflow.platform.bus import SUBJECT_DELIVERIES
from certflow.platform.db.batching import chunked
from services.notify import tables
from services.notify.bounces import (
    AddressKeys,
    BounceAddresses,
    DeliveryTokens,
    RecipientStatus,
    SuppressionReason,
    VerpToken,
    address_hint,
    excerpt,
    message_id_for,
)
from services.notify.claim_timing import (
    DEFAULT_TIMING,
    Candidate,
    ClaimPlan,
    TimingRules,
    plan_claim,
    zone_of,
)
from services.notify.claims import Claim, ClaimedDelivery, Holder, Outcome, outcomes_to_store
from services.notify.delivery_window import Timing, next_opening
from services.notify.domain_pacing import recipient_domain
from services.notify.intake import AnchoredStored, AnchoredWindow, RecipientContent
from services.notify.operations import DeliveryView
from services.notify.outcome_events import (
    OutboxMessage,
    Requeued,
    StoredOutcome,
    bounce_messages,
    outcome_messages,
    requeued_messages,
)
from services.notify.outcome_policy import DeliveryKind, DeliveryState, Verdict
from services.notify.outcomes import (
    BouncedDelivery,
    BounceEffect,
    DeliveryHistory,
    HistoryEvent,
    Ignored,
    ResendRequest,
    SuppressionEntry,
    bounce_effect,
)
from services.notify.rendering import CertificateEmail
from services.notify.revocation_notices import (
    NoticeDecision,
    RevocationFacts,
    RevocationsTaken,
    RevokedCertificate,
    decide_notice,
    store_rows,
)

_DELIVERIES = cast(Table, tables.Delivery.__table__)
_CONTENT = cast(Table, tables.NotifyCertificate.__table__)
_PROOFS = cast(Table, tables.NotifyProof.__table__)
_BATCH_TRACES = cast(Table, tables.NotifyBatchTrace.__table__)
_REDRIVES = cast(Table, tables.DeliveryRedrive.__table__)
_OUTBOX = cast(Table, tables.NotifyOutbox.__table__)
_SLOTS = cast(Table, tables.DomainSlot.__table__)
_EVENTS = cast(Table, tables.DeliveryEvent.__table__)
_SUPPRESSIONS = cast(Table, tables.Suppression.__table__)
_RESENDS = cast(Table, tables.DeliveryResend.__table__)
_REVOCATIONS = cast(Table, tables.NotifyRevocation.__table__)
_DEV_SECRET = b"certflow-dev-only-secret"  # tests and a local stack without a secret
_CONTENT_FIELDS = (
    "batch_id",
    "recipient_name",
    "recipient_email",
    "title",
    "completion_date",
    "issuer_name",
    "document",
    "leaf_salt",
    "leaf_hash",
    "time_zone",
    "business_hours",
    "send_time",
)


class Deliveries:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        message_id_domain: str,
        outbox_written: Callable[[], None] = lambda: None,
        timing: TimingRules = DEFAULT_TIMING,
        keys: AddressKeys | None = None,
        bounce_addresses: BounceAddresses | None = None,
        unsubscribe_tokens: DeliveryTokens | None = None,
    ) -> None:
        self._sessions = sessions
        self._timing = timing
        self._keys = keys or AddressKeys(_DEV_SECRET)
        self._bounces = bounce_addresses  # None: no VERP, bounces go to the From address
        self._unsubscribe = unsubscribe_tokens  # None: no {unsubscribe_token} in the URL
        self._domain = message_id_domain
        self._outbox_written = outbox_written  # called after a commit that wrote outbox rows
        self._write_turn = threading.Lock()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write_turn, self._sessions.begin() as session:
            yield session

    # ---- intake: content and proofs from events (intake.IntakeStore) ----

    def store_recipients(self, recipients: Sequence[RecipientContent]) -> int:
        """Upserts by certificate id (a certificate's content never changes, so a redelivered
        event rewrites the same values); the proof columns are left as they are."""
        rows = list({r.certificate_id: _content_row(r) for r in recipients}.values())
        if not rows:
            return 0
        with self._writing() as session:
            session.connection().execute(_upsert_content(session), rows)
        return len(rows)

    def remember_batch_trace(self, batch_id: str, trace_context: str) -> None:
        with self._writing() as session:
            session.execute(
                _insert_ignoring_duplicates(session, _BATCH_TRACES, returning=False),
                [{"batch_id": batch_id, "trace_context": trace_context}],
            )

    def batch_traces(self, batch_ids: Sequence[str]) -> dict[str, str]:
        with self._sessions() as session:
            rows = session.execute(
                select(_BATCH_TRACES.c.batch_id, _BATCH_TRACES.c.trace_context).where(
                    _BATCH_TRACES.c.batch_id.in_(list(batch_ids))
                )
            )
            return {batch_id: context for batch_id, context in rows}

    def store_anchored(self, window: AnchoredWindow, *, now: datetime) -> AnchoredStored:
        """In one transaction: the proof of every certificate with content that has none yet,
        and a delivery for each (INSERT … ON CONFLICT DO NOTHING both, so a redelivered event,
        a second window or a racing replica changes nothing). Certificates whose content has
        not arrived are named, not lost: the caller retries the event later."""
        ids = list(window.paths)
        with self._writing() as session:
            present: dict[str, Any] = {}  # id -> its content's batch and timing
            for chunk in chunked(ids):
                found = session.execute(
                    select(
                        _CONTENT.c.certificate_id,
                        _CONTENT.c.batch_id,
                        _CONTENT.c.recipient_email,
                        _CONTENT.c.time_zone,
                        _CONTENT.c.business_hours,
                        _CONTENT.c.send_time,
                    ).where(_CONTENT.c.certificate_id.in_(chunk))
                )
                present.update((row.certificate_id, row) for row in found)
            if present:
                facts = window.facts
                session.connection().execute(
                    _insert_ignoring_duplicates(session, _PROOFS, returning=False),
                    [
                        {
                            "certificate_id": cid,
                            "merkle_root": facts.merkle_root,
                            "merkle_path": window.paths[cid],
                            "chain_id": facts.chain_id,
                            "registry_address": facts.registry_address,
                            "transaction_hash": facts.transaction_hash,
                            "block_number": facts.block_number,
                        }
                        for cid in present
                    ],
                )
            rows = [
                self._new_delivery(
                    c.certificate_id,
                    c.batch_id,
                    now,
                    email=c.recipient_email,
                    zone=c.time_zone,
                    business_hours=c.business_hours,
                    send_time=c.send_time,
                )
                for c in present.values()
            ]
            created = 0
            if rows:  # rowcount is -1 on psycopg: count what RETURNING gives back
                inserted = _insert_ignoring_duplicates(session, _DELIVERIES)
                created = len(session.connection().execute(inserted, rows).all())
        return AnchoredStored(created, tuple(cid for cid in ids if cid not in present))

    def _new_delivery(
        self,
        certificate_id: str,
        batch_id: str,
        now: datetime,
        *,
        email: str = "",
        zone: str = "",
        business_hours: bool = False,
        send_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Due at once, or SCHEDULED for its send time or its window's next opening."""
        delivery_id = str(uuid.uuid4())
        due = first_due(zone, business_hours, send_time, self._timing, now=now)
        return {
            "id": delivery_id,
            "certificate_id": certificate_id,
            "batch_id": batch_id,
            "kind": DeliveryKind.ISSUED,
            "state": DeliveryState.SCHEDULED if due > now else DeliveryState.PENDING,
            "attempts": 0,
            "message_id": f"<{delivery_id}@{self._domain}>",
            "last_error": "",
            "next_attempt_at": due,
            "claim_token": "",
            "created_at": now,
            "recipient_domain": recipient_domain(email),
            "time_zone": zone,
            "business_hours": business_hours,
        }

    def store_revocations(
        self, revoked: Sequence[RevokedCertificate], *, now: datetime
    ) -> RevocationsTaken:
        """In one transaction: the reason of each revoked certificate notify knows, and a
        REVOCATION_NOTICE delivery for those revocation_notices.decide_notice says get one
        (INSERT … ON CONFLICT DO NOTHING both: a redelivered event creates nothing twice). The
        notice goes to the address the first email went to (a resend's corrected one)."""
        ids = list(dict.fromkeys(r.certificate_id for r in revoked))
        with self._writing() as session:
            known: dict[str, Any] = {}
            first: dict[str, Any] = {}
            for chunk in chunked(ids):
                known.update(
                    (row.certificate_id, row)
                    for row in session.execute(
                        select(
                            _CONTENT.c.certificate_id,
                            _CONTENT.c.batch_id,
                            _CONTENT.c.recipient_email,
                            _CONTENT.c.issuer_name,
                        ).where(_CONTENT.c.certificate_id.in_(chunk))
                    )
                )
                first.update(
                    (row.certificate_id, row)
                    for row in session.execute(
                        select(
                            _DELIVERIES.c.certificate_id,
                            _DELIVERIES.c.state,
                            _DELIVERIES.c.recipient_override,
                            _DELIVERIES.c.time_zone,
                            _DELIVERIES.c.business_hours,
                        ).where(
                            _DELIVERIES.c.certificate_id.in_(chunk),
                            _DELIVERIES.c.kind == DeliveryKind.ISSUED,
                        )
                    )
                )
            reasons = store_rows(revoked, set(known))
            if reasons:
                session.connection().execute(
                    _insert_ignoring_duplicates(session, _REVOCATIONS, returning=False),
                    [{**row, "created_at": now} for row in reasons],
                )
            keys = {
                cid: self._keys.key(
                    c.issuer_name,
                    (first[cid].recipient_override if cid in first else "") or c.recipient_email,
                )
                for cid, c in known.items()
            }
            suppressed = _suppressed(session, set(keys.values()))
            decisions = {
                cid: decide_notice(
                    known=cid in known,
                    first_email=DeliveryState(first[cid].state) if cid in first else None,
                    suppressed=keys.get(cid) in suppressed,
                )
                for cid in ids
            }
            rows = []
            for cid, decision in decisions.items():
                if decision is NoticeDecision.NOTICE:
                    issued = first[cid]
                    address = issued.recipient_override or known[cid].recipient_email
                    row = self._new_delivery(
                        cid,
                        known[cid].batch_id,
                        now,
                        email=address,
                        zone=issued.time_zone,
                        business_hours=issued.business_hours,
                    )
                    row["kind"] = DeliveryKind.REVOCATION_NOTICE
                    row["recipient_override"] = issued.recipient_override
                    rows.append(row)
            created = 0
            if rows:
                inserted = _insert_ignoring_duplicates(session, _DELIVERIES)
                created = len(session.connection().execute(inserted, rows).all())
        return RevocationsTaken(created, decisions)

    # ---- sending: claims, leases, outcomes (claims.DeliveryStore) ----

    def claim(self, limit: int, *, now: datetime, lease_until: datetime) -> Claim:
        suppressed: list[str] = []
        claim = self._claim(limit, now=now, lease_until=lease_until, suppressed=suppressed)
        if suppressed:  # their SUPPRESSED events are in the outbox
            self._outbox_written()
        return claim

    def _claim(
        self, limit: int, *, now: datetime, lease_until: datetime, suppressed: list[str]
    ) -> Claim:
        """Due rows are decided by claim_timing.plan_claim in this transaction: outside their
        window → SCHEDULED for its opening; over their domain's pace → pushed to a later slot;
        the rest claimed with the slot each may be sent at. Domain slots are read and moved
        under a row lock (PostgreSQL) or the write lock (SQLite), so replicas share them."""
        with self._writing() as session:
            query = (
                select(
                    _DELIVERIES.c.id,
                    _DELIVERIES.c.certificate_id,
                    _DELIVERIES.c.attempts,
                    _DELIVERIES.c.message_id,
                    _DELIVERIES.c.recipient_domain,
                    _DELIVERIES.c.time_zone,
                    _DELIVERIES.c.business_hours,
                    _DELIVERIES.c.generation,
                    _DELIVERIES.c.recipient_override,
                    _DELIVERIES.c.kind,
                    _DELIVERIES.c.batch_id,
                )
                .where(
                    _DELIVERIES.c.state.in_(_CLAIMABLE),
                    _DELIVERIES.c.next_attempt_at <= now,
                )
                .order_by(_DELIVERIES.c.next_attempt_at)
                .limit(limit)
            )
            if _is_postgresql(session):
                query = query.with_for_update(skip_locked=True)
            due = session.execute(query).all()
            if not due:
                return Claim("", lease_until, [])
            candidates = [
                Candidate(d.id, d.recipient_domain, d.time_zone, d.business_hours) for d in due
            ]
            rates = self._timing.rates
            paced = sorted(
                {c.recipient_domain for c in candidates if rates.spacing(c.recipient_domain)}
            )
            plan = plan_claim(candidates, _slots(session, paced), self._timing, now=now)
            _store_plan(session, plan)
            claimed = [d for d in due if d.id in plan.claimed]
            if not claimed:
                return Claim("", lease_until, [])
            token = str(uuid.uuid4())
            emails = self._claimed_emails(session, claimed)
            # one query per claim: the suppressed among its recipients (keyed hashes)
            keyed = {i: self._keys.key(e.issuer_name, e.recipient_email) for i, e in emails.items()}
            suppressed_keys = _suppressed(session, set(keyed.values()))
            if suppressed_keys:
                skipped = [d for d in claimed if keyed.get(d.id) in suppressed_keys]
                self._store_suppressed(session, skipped, token, now)
                suppressed.extend(d.id for d in skipped)
                claimed = [d for d in claimed if keyed.get(d.id) not in suppressed_keys]
            for chunk in chunked([d.id for d in claimed]):
                session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.id.in_(chunk))
                    .values(
                        state=DeliveryState.SENDING, next_attempt_at=lease_until, claim_token=token
                    )
                )
            return Claim(
                token,
                lease_until,
                [
                    ClaimedDelivery(
                        d.id,
                        d.attempts,
                        emails.get(d.id),
                        send_at=plan.claimed[d.id] if plan.claimed[d.id] > now else None,
                        batch_id=d.batch_id,
                    )
                    for d in claimed
                ],
            )

    def _claimed_emails(
        self, session: Session, claimed: Sequence[Any]
    ) -> dict[str, CertificateEmail]:
        """What each claimed delivery renders, by delivery id (a certificate's first email and
        its notice may share a claim); none for one not anchored or without a stored reason."""
        emails: dict[str, CertificateEmail] = {}
        for kind, read in (
            (DeliveryKind.ISSUED, _emails),
            (DeliveryKind.REVOCATION_NOTICE, _notice_emails),
        ):
            rows = [d for d in claimed if d.kind == kind]
            if rows:
                found = read(
                    session,
                    {
                        d.certificate_id: (d.message_id, d.recipient_override, *self._signs(d))
                        for d in rows
                    },
                )
                emails.update(
                    (d.id, found[d.certificate_id]) for d in rows if d.certificate_id in found
                )
        return emails

    def _signs(self, row: Any) -> tuple[str, str]:
        """A send's VERP bounce address and unsubscribe token (each names this send)."""
        bounces, unsubscribe = self._bounces, self._unsubscribe
        return (
            "" if bounces is None else bounces.sender_for(row.id, row.generation),
            "" if unsubscribe is None else unsubscribe.make(row.id, row.generation),
        )

    def _store_suppressed(
        self, session: Session, skipped: Sequence[Any], token: str, now: datetime
    ) -> None:
        """Claimed deliveries to suppressed addresses: SUPPRESSED, never sent, announced."""
        if not skipped:
            return
        session.execute(
            update(_DELIVERIES)
            .where(_DELIVERIES.c.id.in_([d.id for d in skipped]))
            .values(
                state=DeliveryState.SUPPRESSED,
                next_attempt_at=now,
                claim_token="",
                last_error="the address is on the issuer's suppression list",
            )
        )
        _add_events(
            session,
            [(d.id, DeliveryState.SUPPRESSED, 0, "on the suppression list") for d in skipped],
            now,
        )
        rows = session.execute(
            select(_DELIVERIES.c.id, _DELIVERIES.c.certificate_id, _DELIVERIES.c.batch_id).where(
                _DELIVERIES.c.id.in_([d.id for d in skipped]),
                _DELIVERIES.c.kind == DeliveryKind.ISSUED,  # a notice is not a batch's progress
            )
        ).all()
        attempts = {d.id: d.attempts for d in skipped}
        messages = outcome_messages(
            [
                StoredOutcome(
                    token,
                    r.id,
                    r.certificate_id,
                    r.batch_id,
                    DeliveryState.SUPPRESSED,
                    attempts[r.id],
                )
                for r in rows
            ],
            recorded_at=now,
        )
        _add_to_outbox(session, messages, now)

    def extend(self, token: str, *, lease_until: datetime) -> set[str]:
        with self._writing() as session:
            held = _held_by(token)
            session.execute(update(_DELIVERIES).where(*held).values(next_attempt_at=lease_until))
            return set(session.scalars(select(_DELIVERIES.c.id).where(*held)))

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> int:
        """Stores outcomes (of any claims), each only if its claim still holds the row (a lease
        that ran out may have been re-claimed by another sender, whose outcome then counts),
        and in the same transaction the "certs.deliveries" event of what it stored (a retried
        write stores nothing, so it announces nothing). Returns rows stored."""
        if not outcomes:
            return 0
        with self._writing() as session:
            stored = outcomes_to_store(
                outcomes, _holders(session, [o.delivery_id for o in outcomes])
            )
            if not stored:
                return 0
            session.connection().execute(
                _RECORD,
                [
                    {
                        "b_id": o.delivery_id,
                        "b_token": o.claim_token,
                        "b_state": o.update.state,
                        "b_attempts": o.update.attempts,
                        "b_next": o.update.next_attempt_at,
                        "b_error": o.update.error[:2000],
                        "b_sent_at": now if o.update.state == DeliveryState.SENT else None,
                    }
                    for o, _ in stored
                ],
            )
            _add_events(
                session,
                [
                    (
                        o.delivery_id,
                        o.update.history_state,
                        o.update.code,
                        excerpt(o.update.error) if o.update.error else "",
                    )
                    for o, _ in stored
                    if o.update.verdict is not Verdict.RELAY_UNAVAILABLE
                ],
                now,
            )
            to_suppress = [o.delivery_id for o, _ in stored if o.update.suppress]
            if to_suppress:
                self._suppress_delivered(session, to_suppress, now)
            messages = outcome_messages(
                [
                    StoredOutcome(
                        o.claim_token,
                        o.delivery_id,
                        holder.certificate_id,
                        holder.batch_id,
                        o.update.state,
                        o.update.attempts,
                    )
                    for o, holder in stored
                    if holder.kind == DeliveryKind.ISSUED  # a batch's progress: first emails
                ],
                recorded_at=now,
            )
            _add_to_outbox(session, messages, now)
        if messages:
            self._outbox_written()
        return len(stored)

    def release(self, token: str, delivery_ids: Sequence[str], *, now: datetime) -> int:
        released = 0
        with self._writing() as session:
            for chunk in chunked(list(delivery_ids)):
                released += (
                    session.connection()
                    .execute(
                        update(_DELIVERIES)
                        .where(_DELIVERIES.c.id.in_(chunk), *_held_by(token))
                        .values(state=DeliveryState.PENDING, next_attempt_at=now, claim_token="")
                    )
                    .rowcount
                )
        return released

    # ---- the operator (operations.OperatorStore) ----

    def retry_failed(self, batch_id: str, request_id: str, *, now: datetime) -> int:
        """Re-queues a batch's failed deliveries with a fresh attempt budget and announces them
        REQUEUED, in one transaction; returns how many. Idempotent on (batch_id, request_id)
        (AIP-155): a repeated request, even after later re-drives, re-queues nothing more and
        answers the count it answered first."""
        with self._writing() as session:
            if request_id:
                answered = _redrive_answer(session, batch_id, request_id)
                if answered is not None:
                    return answered
            failed: Select[tuple[str, str]] = select(
                _DELIVERIES.c.id, _DELIVERIES.c.certificate_id
            ).where(
                _DELIVERIES.c.batch_id == batch_id,
                _DELIVERIES.c.state.in_((DeliveryState.FAILED, DeliveryState.BOUNCED)),
                _DELIVERIES.c.kind == DeliveryKind.ISSUED,  # first emails only, not notices
            )
            if _is_postgresql(session):
                failed = failed.with_for_update()
            requeued = session.execute(failed).all()
            for chunk in chunked([d.id for d in requeued]):
                session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.id.in_(chunk))
                    .values(
                        state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, claim_token=""
                    )
                )
            _add_events(
                session, [(d.id, DeliveryState.QUEUED, 0, "re-driven") for d in requeued], now
            )
            messages = requeued_messages(
                [Requeued(d.certificate_id, batch_id) for d in requeued],
                redrive_id=str(uuid.uuid4()),
                recorded_at=now,
            )
            _add_to_outbox(session, messages, now)
            count = len(requeued)
            if request_id:
                row = {
                    "batch_id": batch_id,
                    "request_id": request_id,
                    "requeued_count": count,
                    "created_at": now,
                }
                redrive = _insert_ignoring_duplicates(session, _REDRIVES, returning=False)
                session.connection().execute(redrive, [row])
                answered = _redrive_answer(session, batch_id, request_id)
                count = count if answered is None else answered
        if messages:
            self._outbox_written()
        return count

    def list_for_batch(self, batch_id: str, *, offset: int, limit: int) -> list[DeliveryView]:
        with self._sessions() as session:
            rows = session.execute(
                select(
                    _DELIVERIES.c.id,
                    _DELIVERIES.c.certificate_id,
                    _DELIVERIES.c.state,
                    _DELIVERIES.c.attempts,
                    _DELIVERIES.c.message_id,
                    _DELIVERIES.c.last_error,
                    _DELIVERIES.c.sent_at,
                )
                .where(_DELIVERIES.c.batch_id == batch_id)
                .order_by(_DELIVERIES.c.created_at, _DELIVERIES.c.id)
                .offset(offset)
                .limit(limit)
            )
            return [
                DeliveryView(
                    r.id,
                    r.certificate_id,
                    DeliveryState(r.state),
                    r.attempts,
                    r.message_id,
                    r.last_error,
                    r.sent_at,
                )
                for r in rows
            ]

    # ---- after sending: bounces, history, resends, suppressions (outcomes.OutcomeStore) ----

    def _suppress_delivered(
        self, session: Session, delivery_ids: Sequence[str], now: datetime
    ) -> None:
        """The addresses these deliveries went to, on their issuer's suppression list."""
        rows = session.execute(
            select(
                _DELIVERIES.c.id,
                _DELIVERIES.c.certificate_id,
                _DELIVERIES.c.recipient_override,
                _DELIVERIES.c.last_error,
                _CONTENT.c.recipient_email,
                _CONTENT.c.issuer_name,
            )
            .join(_CONTENT, _CONTENT.c.certificate_id == _DELIVERIES.c.certificate_id)
            .where(_DELIVERIES.c.id.in_(list(delivery_ids)))
        ).all()
        for r in rows:
            self._add_suppression(
                session,
                r.issuer_name,
                r.recipient_override or r.recipient_email,
                SuppressionReason.BOUNCED,
                excerpt(r.last_error),
                r.certificate_id,
                now,
            )

    def _add_suppression(
        self,
        session: Session,
        issuer_name: str,
        address: str,
        reason: SuppressionReason,
        detail: str,
        certificate_id: str,
        now: datetime,
    ) -> None:
        row = {
            "key": self._keys.key(issuer_name, address),
            "issuer_name": issuer_name[:512],
            "address_hint": address_hint(address),
            "reason": reason,
            "detail": detail[:200],
            "certificate_id": certificate_id,
            "created_at": now,
        }
        session.connection().execute(
            _insert_ignoring_duplicates(session, _SUPPRESSIONS, returning=False), [row]
        )

    def bounced_delivery(self, delivery_id: str) -> BouncedDelivery | None:
        with self._sessions() as session:
            return _bounced_delivery(session, delivery_id)

    def record_bounce(
        self, token: VerpToken, statuses: Sequence[RecipientStatus], *, now: datetime
    ) -> BounceEffect | Ignored:
        """A bounce report for the delivery (and send) `token` names: decided by
        outcomes.bounce_effect on the row as it is now, and stored with its history entry,
        suppression and BOUNCED event in one transaction. A repeated report changes nothing."""
        with self._writing() as session:
            delivery = _bounced_delivery(session, token.delivery_id, lock=True)
            if delivery is None:
                return Ignored("no such delivery")
            effect = bounce_effect(delivery, token.generation, statuses)
            if isinstance(effect, Ignored):
                return effect
            _add_events(
                session,
                [(delivery.delivery_id, effect.history_state, effect.code, effect.detail)],
                now,
            )
            if not effect.bounced:
                return effect
            session.execute(
                update(_DELIVERIES)
                .where(
                    _DELIVERIES.c.id == delivery.delivery_id,
                    _DELIVERIES.c.state == DeliveryState.SENT,
                    _DELIVERIES.c.generation == token.generation,
                )
                .values(state=DeliveryState.BOUNCED, last_error=effect.detail)
            )
            if effect.suppress:
                self._add_suppression(
                    session,
                    delivery.issuer_name,
                    delivery.address,
                    SuppressionReason.BOUNCED,
                    effect.detail,
                    delivery.certificate_id,
                    now,
                )
            kind = session.scalar(
                select(_DELIVERIES.c.kind).where(_DELIVERIES.c.id == delivery.delivery_id)
            )
            messages = bounce_messages(
                [
                    StoredOutcome(
                        f"g{token.generation}",
                        delivery.delivery_id,
                        delivery.certificate_id,
                        delivery.batch_id,
                        DeliveryState.BOUNCED,
                        delivery.attempts,
                    )
                ]
                if kind == DeliveryKind.ISSUED  # a notice's bounce is not the batch's progress
                else [],
                recorded_at=now,
            )
            _add_to_outbox(session, messages, now)
        self._outbox_written()
        return effect

    def unsubscribe(self, token: VerpToken, *, now: datetime) -> bool:
        """The address a delivery went to, on its issuer's suppression list as UNSUBSCRIBED
        (with a history entry); False when the delivery is unknown. Repeats change nothing."""
        return self._suppress_send(
            token, SuppressionReason.UNSUBSCRIBED, DeliveryState.UNSUBSCRIBED, "one-click", now
        )

    def complain(self, token: VerpToken, detail: str, *, now: datetime) -> bool:
        """A complaint (ARF) about a send: its address suppressed as COMPLAINED."""
        return self._suppress_send(
            token, SuppressionReason.COMPLAINED, DeliveryState.COMPLAINED, detail, now
        )

    def _suppress_send(
        self,
        token: VerpToken,
        reason: SuppressionReason,
        state: DeliveryState,
        detail: str,
        now: datetime,
    ) -> bool:
        with self._writing() as session:
            delivery = _bounced_delivery(session, token.delivery_id)
            if delivery is None or delivery.generation != token.generation:
                return False
            key = self._keys.key(delivery.issuer_name, delivery.address)
            if session.get(tables.Suppression, key) is None:
                self._add_suppression(
                    session,
                    delivery.issuer_name,
                    delivery.address,
                    reason,
                    detail,
                    delivery.certificate_id,
                    now,
                )
                _add_events(session, [(delivery.delivery_id, state, 0, detail)], now)
        return True

    def history(self, *, delivery_id: str, certificate_id: str) -> DeliveryHistory | None:
        with self._sessions() as session:
            where = (
                _DELIVERIES.c.id == delivery_id
                if delivery_id
                else _DELIVERIES.c.certificate_id == certificate_id
            )
            r = session.execute(
                select(
                    _DELIVERIES.c.id,
                    _DELIVERIES.c.certificate_id,
                    _DELIVERIES.c.state,
                    _DELIVERIES.c.attempts,
                    _DELIVERIES.c.message_id,
                    _DELIVERIES.c.last_error,
                    _DELIVERIES.c.sent_at,
                    _DELIVERIES.c.created_at,
                    _DELIVERIES.c.generation,
                    _DELIVERIES.c.recipient_override,
                )
                .where(where)
                .order_by(_DELIVERIES.c.created_at)
                .limit(1)
            ).first()
            if r is None:
                return None
            events = session.execute(
                select(_EVENTS.c.at, _EVENTS.c.state, _EVENTS.c.code, _EVENTS.c.detail)
                .where(_EVENTS.c.delivery_id == r.id)
                .order_by(_EVENTS.c.id)
            ).all()
        view = DeliveryView(
            r.id,
            r.certificate_id,
            DeliveryState(r.state),
            r.attempts,
            r.message_id,
            r.last_error,
            r.sent_at,
        )
        # creation is not written per delivery (intake stays one insert per row): it is the
        # row's created_at
        history = [HistoryEvent(_aware(r.created_at), DeliveryState.QUEUED, 0, "created")]
        history += [
            HistoryEvent(_aware(e.at), DeliveryState(e.state), e.code, e.detail) for e in events
        ]
        return DeliveryHistory(view, history, bool(r.recipient_override), r.generation)

    def resend(self, request: ResendRequest, *, now: datetime) -> int:
        with self._writing() as session:
            # the request id is taken first: a twin call at the same time (a client's retry on
            # another replica) waits here for this transaction, then reads its answer
            taken = (
                session.connection()
                .execute(
                    _insert_ignoring_duplicates(session, _RESENDS),
                    {
                        "request_id": request.request_id,
                        "digest": request.digest,
                        "resent_count": 0,
                        "created_at": now,
                    },
                )
                .first()
            )
            if taken is None:
                answered = session.execute(
                    select(_RESENDS.c.digest, _RESENDS.c.resent_count).where(
                        _RESENDS.c.request_id == request.request_id
                    )
                ).one()
                if answered.digest != request.digest:
                    raise Conflict(
                        "REQUEST_ID_REUSED",
                        f"request_id {request.request_id!r} was already used for another resend",
                    )
                return int(answered.resent_count)
            query = select(
                _DELIVERIES.c.id,
                _DELIVERIES.c.certificate_id,
                _DELIVERIES.c.batch_id,
                _DELIVERIES.c.state,
                _DELIVERIES.c.generation,
            ).where(_DELIVERIES.c.kind == DeliveryKind.ISSUED)  # first emails only, not notices
            if request.certificate_id:
                query = query.where(_DELIVERIES.c.certificate_id == request.certificate_id)
            else:
                query = query.where(
                    _DELIVERIES.c.batch_id == request.batch_id,
                    _DELIVERIES.c.state.in_((DeliveryState.FAILED, DeliveryState.BOUNCED)),
                )
            if _is_postgresql(session):
                query = query.with_for_update()
            rows = session.execute(query).all()
            if request.certificate_id:
                if not rows:
                    raise NotFound(
                        "DELIVERY_NOT_FOUND",
                        f"no delivery for certificate {request.certificate_id!r}",
                    )
                if rows[0].state not in _FINAL:
                    raise Conflict(
                        "DELIVERY_NOT_FINAL",
                        f"the delivery is {rows[0].state}: it is still on its way",
                    )
            for r in rows:
                generation = r.generation + 1
                values: dict[str, Any] = {
                    "state": DeliveryState.PENDING,
                    "attempts": 0,
                    "generation": generation,
                    "message_id": message_id_for(r.id, generation, self._domain),
                    "next_attempt_at": now,
                    "claim_token": "",
                    "last_error": "",
                    "sent_at": None,
                }
                if request.recipient_email:
                    values["recipient_override"] = request.recipient_email
                    values["recipient_domain"] = recipient_domain(request.recipient_email)
                session.execute(
                    update(_DELIVERIES).where(_DELIVERIES.c.id == r.id).values(**values)
                )
            detail = "resent to a corrected address" if request.recipient_email else "resent"
            _add_events(session, [(r.id, DeliveryState.QUEUED, 0, detail) for r in rows], now)
            messages = requeued_messages(
                [Requeued(r.certificate_id, r.batch_id) for r in rows],
                redrive_id=f"resend:{request.digest[:16]}:{uuid.uuid4()}",
                recorded_at=now,
            )
            _add_to_outbox(session, messages, now)
            session.execute(
                update(_RESENDS)
                .where(_RESENDS.c.request_id == request.request_id)
                .values(resent_count=len(rows))
            )
        if messages:
            self._outbox_written()
        return len(rows)

    def list_suppressions(
        self, issuer_name: str, *, offset: int, limit: int
    ) -> list[SuppressionEntry]:
        with self._sessions() as session:
            rows = session.execute(
                select(_SUPPRESSIONS)
                .where(_SUPPRESSIONS.c.issuer_name == issuer_name)
                .order_by(_SUPPRESSIONS.c.created_at.desc(), _SUPPRESSIONS.c.key)
                .offset(offset)
                .limit(limit)
            ).all()
        return [
            SuppressionEntry(
                r.key,
                r.issuer_name,
                r.address_hint,
                SuppressionReason(r.reason),
                r.detail,
                r.certificate_id,
                _aware(r.created_at),
            )
            for r in rows
        ]

    def delete_suppression(self, issuer_name: str, *, key: str, email: str) -> bool:
        key = key or self._keys.key(issuer_name, email)
        with self._writing() as session:
            deleted = session.connection().execute(
                delete(_SUPPRESSIONS).where(
                    _SUPPRESSIONS.c.key == key, _SUPPRESSIONS.c.issuer_name == issuer_name
                )
            )
            return bool(deleted.rowcount)

    # ---- the operator's preview (preview.PreviewStore) ----

    def preview_email(self, certificate_id: str, *, message_id: str) -> CertificateEmail | None:
        """Reads only: the content, its proof if stored (else the document without one), and
        the first delivery's Message-ID if there is a delivery (else `message_id`)."""
        content, proof = tables.NotifyCertificate, tables.NotifyProof
        with self._sessions() as session:
            row = session.execute(
                select(content, proof)
                .outerjoin(proof, proof.certificate_id == content.certificate_id)
                .where(content.certificate_id == certificate_id)
            ).first()
            if row is None:
                return None
            c, p = row
            delivered = session.scalar(
                select(_DELIVERIES.c.message_id)
                .where(_DELIVERIES.c.certificate_id == certificate_id)
                .order_by(_DELIVERIES.c.created_at)
                .limit(1)
            )
        return CertificateEmail(
            certificate_id=c.certificate_id,
            message_id=delivered or message_id,
            recipient_name=c.recipient_name,
            recipient_email=c.recipient_email,
            issuer_name=c.issuer_name,
            title=c.title,
            completion_date=c.completion_date.isoformat(),
            document=orjson.loads(c.document) if p is None else anchored_document(c, p),
        )


_CLAIMABLE = (DeliveryState.PENDING, DeliveryState.SCHEDULED, DeliveryState.SENDING)
# what a resend of one certificate may start from: the delivery has come to an end
_FINAL = (
    DeliveryState.SENT,
    DeliveryState.BOUNCED,
    DeliveryState.FAILED,
    DeliveryState.SUPPRESSED,
)

_RESCHEDULE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(state=bindparam("b_state"), next_attempt_at=bindparam("b_next"), claim_token="")
)
_MOVE_SLOT = (
    update(_SLOTS)
    .where(_SLOTS.c.domain == bindparam("b_domain"))
    .values(next_slot_at=bindparam("b_next"))
)


def first_due(
    zone: str,
    business_hours: bool,
    send_time: datetime | None,
    rules: TimingRules,
    *,
    now: datetime,
) -> datetime:
    """When a new delivery is first due: now, its send time, or its window's next opening."""
    timing = Timing(
        zone_of(zone, rules.default_zone),
        rules.business_hours if business_hours else None,
        None if send_time is None else _aware(send_time),
    )
    return next_opening(timing, now=now)


def _slots(session: Session, domains: Sequence[str]) -> dict[str, datetime]:
    """The next slot of each paced domain, locked until the claim commits (PostgreSQL: rows
    made first so there is a row to lock, locked in name order so two claims cannot deadlock;
    SQLite: the transaction already holds the database's write lock)."""
    if not domains:
        return {}
    postgresql = _is_postgresql(session)
    session.connection().execute(
        _insert_ignoring_duplicates(session, _SLOTS, returning=False),
        [{"domain": d, "next_slot_at": _NEVER} for d in domains],
    )
    found: dict[str, datetime] = {}
    for chunk in chunked(list(domains)):
        query = (
            select(_SLOTS.c.domain, _SLOTS.c.next_slot_at)
            .where(_SLOTS.c.domain.in_(chunk))
            .order_by(_SLOTS.c.domain)
        )
        rows = session.execute(query.with_for_update() if postgresql else query)
        found.update((r.domain, _aware(r.next_slot_at)) for r in rows)
    return found


def _store_plan(session: Session, plan: ClaimPlan) -> None:
    """What the claim decided besides the claimed rows: rescheduled and deferred rows, and
    each paced domain's next slot."""
    moved = [
        {"b_id": i, "b_state": DeliveryState.SCHEDULED, "b_next": at}
        for i, at in plan.scheduled.items()
    ] + [
        {"b_id": i, "b_state": DeliveryState.PENDING, "b_next": at}
        for i, at in plan.deferred.items()
    ]
    if moved:
        session.connection().execute(_RESCHEDULE, moved)
    if plan.next_slots:  # their rows exist: _slots made them in this transaction
        session.connection().execute(
            _MOVE_SLOT, [{"b_domain": d, "b_next": at} for d, at in plan.next_slots.items()]
        )


_NEVER = datetime(2000, 1, 1, tzinfo=UTC)  # a domain not paced before: its slot is free


def _aware(at: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored as UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


_RECORD = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        _DELIVERIES.c.state == DeliveryState.SENDING,
        _DELIVERIES.c.claim_token == bindparam("b_token"),
    )
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at"),
        claim_token="",
    )
)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _content_row(recipient: RecipientContent) -> dict[str, Any]:
    return {
        "certificate_id": recipient.certificate_id,
        **{name: getattr(recipient, name) for name in _CONTENT_FIELDS},
    }


def _upsert_content(session: Session) -> Insert:
    """INSERT … ON CONFLICT (certificate_id) DO UPDATE of the content columns, for executemany
    (one compiled statement for any number of rows)."""
    statement = _dialect(session).insert(_CONTENT)
    return statement.on_conflict_do_update(
        index_elements=[_CONTENT.c.certificate_id],
        set_={name: statement.excluded[name] for name in _CONTENT_FIELDS},
    )


def _insert_ignoring_duplicates(
    session: Session, table: Table, *, returning: bool = True
) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING [RETURNING the key] in the session's dialect (SQLite or
    PostgreSQL), for executemany."""
    statement = _dialect(session).insert(table).on_conflict_do_nothing()
    return statement.returning(*table.primary_key.columns) if returning else statement


def _dialect(session: Session) -> Any:
    return postgresql if _is_postgresql(session) else sqlite


def _add_to_outbox(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    if messages:
        session.connection().execute(
            insert(_OUTBOX),
            [
                {
                    "subject": SUBJECT_DELIVERIES,
                    "msg_id": m.msg_id,
                    "payload": m.payload,
                    "trace_context": "",
                    "created_at": now,
                }
                for m in messages
            ],
        )


def _add_events(
    session: Session, events: Sequence[tuple[str, DeliveryState, int, str]], now: datetime
) -> None:
    """Appends history entries (delivery id, state, SMTP code, excerpt)."""
    if events:
        session.connection().execute(
            insert(_EVENTS),
            [
                {"delivery_id": d, "at": now, "state": st, "code": code, "detail": detail[:200]}
                for d, st, code, detail in events
            ],
        )


_SUPPRESSED = select(_SUPPRESSIONS.c.key).where(
    _SUPPRESSIONS.c.key.in_(bindparam("keys", expanding=True))
)


def _suppressed(session: Session, keys: set[str]) -> set[str]:
    """The keys among these that are on a suppression list (one cached statement per claim)."""
    found: set[str] = set()
    for chunk in chunked(sorted(keys)):
        found.update(session.connection().execute(_SUPPRESSED, {"keys": list(chunk)}).scalars())
    return found


def _bounced_delivery(
    session: Session, delivery_id: str, *, lock: bool = False
) -> BouncedDelivery | None:
    query = (
        select(
            _DELIVERIES.c.id,
            _DELIVERIES.c.certificate_id,
            _DELIVERIES.c.batch_id,
            _DELIVERIES.c.state,
            _DELIVERIES.c.generation,
            _DELIVERIES.c.attempts,
            _DELIVERIES.c.recipient_override,
            _CONTENT.c.recipient_email,
            _CONTENT.c.issuer_name,
        )
        .join(_CONTENT, _CONTENT.c.certificate_id == _DELIVERIES.c.certificate_id)
        .where(_DELIVERIES.c.id == delivery_id)
    )
    if lock and _is_postgresql(session):
        query = query.with_for_update(of=_DELIVERIES)
    r = session.execute(query).first()
    if r is None:
        return None
    return BouncedDelivery(
        r.id,
        r.certificate_id,
        r.batch_id,
        DeliveryState(r.state),
        r.generation,
        r.attempts,
        r.recipient_override or r.recipient_email,
        r.issuer_name,
    )


def _redrive_answer(session: Session, batch_id: str, request_id: str) -> int | None:
    return session.scalar(
        select(tables.DeliveryRedrive.requeued_count).where(
            tables.DeliveryRedrive.batch_id == batch_id,
            tables.DeliveryRedrive.request_id == request_id,
        )
    )


def _held_by(token: str | BindParameter[str]) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Rows that this claim still holds: claimed by it and not yet given an outcome."""
    return (_DELIVERIES.c.state == DeliveryState.SENDING, _DELIVERIES.c.claim_token == token)


_HOLDERS = select(
    _DELIVERIES.c.id,
    _DELIVERIES.c.claim_token,
    _DELIVERIES.c.certificate_id,
    _DELIVERIES.c.batch_id,
    _DELIVERIES.c.kind,
).where(
    _DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
    _DELIVERIES.c.state == DeliveryState.SENDING,
)


def _holders(session: Session, delivery_ids: Sequence[str]) -> dict[str, Holder]:
    """Claimed rows among these, by id, locked until the transaction ends (PostgreSQL), so what
    is decided from them is what the update changes."""
    query = _HOLDERS.with_for_update() if _is_postgresql(session) else _HOLDERS
    found: dict[str, Holder] = {}
    for chunk in chunked(list(dict.fromkeys(delivery_ids))):
        rows = session.connection().execute(query, {"ids": list(chunk)})
        found.update(
            (r.id, Holder(r.claim_token, r.certificate_id, r.batch_id, r.kind)) for r in rows
        )
    return found


def _emails(
    session: Session, sends: dict[str, tuple[str, str, str, str]]
) -> dict[str, CertificateEmail]:
    """`sends`: certificate id -> (Message-ID, corrected address or "", envelope sender or "",
    unsubscribe token or "")."""
    """What each claimed delivery needs to render, by certificate id (anchored ones only),
    from notify's own copy."""
    emails: dict[str, CertificateEmail] = {}
    for chunk in chunked(list(sends)):
        # plain rows, not ORM objects: a claim reads hundreds of them (bench/notify_cpu.py)
        rows = session.connection().execute(_EMAIL_ROWS, {"ids": list(chunk)})
        for c in rows:
            message_id, override, envelope_from, unsubscribe_token = sends[c.certificate_id]
            emails[c.certificate_id] = CertificateEmail(
                certificate_id=c.certificate_id,
                message_id=message_id,
                recipient_name=c.recipient_name,
                recipient_email=override or c.recipient_email,
                issuer_name=c.issuer_name,
                title=c.title,
                completion_date=c.completion_date.isoformat(),
                document=anchored_document(c, c),
                envelope_from=envelope_from,
                unsubscribe_token=unsubscribe_token,
            )
    return emails


def _notice_emails(
    session: Session, sends: dict[str, tuple[str, str, str, str]]
) -> dict[str, CertificateEmail]:
    """Revocation notices to render, by certificate id (as `_emails`): the content and the
    stored reason; no proof or document (a notice has no attachment)."""
    emails: dict[str, CertificateEmail] = {}
    content, revocation = tables.NotifyCertificate, tables.NotifyRevocation
    for chunk in chunked(list(sends)):
        rows = session.execute(
            select(content, revocation)
            .join(revocation, revocation.certificate_id == content.certificate_id)
            .where(content.certificate_id.in_(chunk))
        )
        for c, r in rows:
            message_id, override, envelope_from, unsubscribe_token = sends[c.certificate_id]
            emails[c.certificate_id] = CertificateEmail(
                certificate_id=c.certificate_id,
                message_id=message_id,
                recipient_name=c.recipient_name,
                recipient_email=override or c.recipient_email,
                issuer_name=c.issuer_name,
                title=c.title,
                completion_date=c.completion_date.isoformat(),
                document={},
                envelope_from=envelope_from,
                unsubscribe_token=unsubscribe_token,
                revocation=RevocationFacts(
                    reason=r.reason,
                    reason_text=r.reason_text,
                    replaced_by=r.replaced_by,
                    revoked_at=None if r.revoked_at is None else _aware(r.revoked_at),
                ),
            )
    return emails


_EMAIL_ROWS = (
    select(
        *(
            _CONTENT.c[name]
            for name in (
                "certificate_id",
                "recipient_name",
                "recipient_email",
                "issuer_name",
                "title",
                "completion_date",
                "document",
                "leaf_salt",
                "leaf_hash",
            )
        ),
        *(c for c in _PROOFS.c if c.name != "certificate_id"),
    )
    .join_from(
        _CONTENT,
        _PROOFS,
        _PROOFS.c.certificate_id == _CONTENT.c.certificate_id,
    )
    .where(_CONTENT.c.certificate_id.in_(bindparam("ids", expanding=True)))
)


class _ContentFields(Protocol):
    document: bytes
    leaf_salt: bytes
    leaf_hash: bytes


class _ProofFields(Protocol):
    merkle_root: bytes
    merkle_path: bytes
    chain_id: int
    registry_address: str
    transaction_hash: str
    block_number: int


def anchored_document(content: _ContentFields, proof: _ProofFields) -> dict[str, Any]:
    """The credential with its anchor proof: the file the recipient can verify alone."""
    return with_anchor_proof(
        orjson.loads(content.document),
        AnchorProof(
            leaf_salt=content.leaf_salt,
            leaf_hash=content.leaf_hash,
            merkle_root=proof.merkle_root,
            merkle_path=tuple(unpack_proof(proof.merkle_path)),
            chain_id=proof.chain_id,
            registry_address=proof.registry_address,
            transaction_hash=proof.transaction_hash,
            block_number=proof.block_number,
        ),
    )
