"""In-memory stand-ins for notify's store, SMTP relay and NATS messages: the use cases and
entrypoints run against these in unit tests, with no server and no database. The fake store
follows the same pure rules as the SQL one (claims.is_due, holds, outcomes_to_store;
outcome_events for what is announced)."""

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace

import orjson

from certflow.core.document import AnchorProof, with_anchor_proof
from certflow.core.merkle import unpack_proof
from certflow.v1 import events_pb2
from services.notify.claims import (
    Claim,
    ClaimedDelivery,
    Holder,
    Outcome,
    holds,
    is_due,
    outcomes_to_store,
)
from services.notify.intake import AnchoredStored, AnchoredWindow, RecipientContent
from services.notify.operations import DeliveryView
from services.notify.outcome_events import (
    OutboxMessage,
    Requeued,
    StoredOutcome,
    outcome_messages,
    requeued_messages,
)
from services.notify.outcome_policy import Accepted, DeliveryState, SendResult
from services.notify.outcomes import DeliveryHistory, ResendRequest, SuppressionEntry
from services.notify.rendering import CertificateEmail, RenderedEmail
from services.notify.revocation_notices import (
    NoticeDecision,
    RevocationsTaken,
    RevokedCertificate,
    decide_notice,
)

T0 = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


class StoreDown(Exception):
    """What a database outage looks like to the use cases."""


@dataclass
class Row:
    id: str
    certificate_id: str
    batch_id: str
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: datetime = T0
    claim_token: str = ""
    last_error: str = ""
    sent_at: datetime | None = None


@dataclass
class InMemoryStore:
    """notify's store in dictionaries (intake.IntakeStore, claims.DeliveryStore,
    operations.OperatorStore). `down` makes every call fail like a lost database."""

    content: dict[str, RecipientContent] = field(default_factory=dict)
    proofs: dict[str, tuple[AnchoredWindow, bytes]] = field(default_factory=dict)
    batch_trace_contexts: dict[str, str] = field(default_factory=dict)
    rows: dict[str, Row] = field(default_factory=dict)  # by delivery id
    outbox: list[OutboxMessage] = field(default_factory=list)
    redrives: dict[tuple[str, str], int] = field(default_factory=dict)
    # revocations kept, and the certificates given a notice (the SQL store makes a delivery)
    revocations: dict[str, RevokedCertificate] = field(default_factory=dict)
    noticed: set[str] = field(default_factory=set)
    suppressed: set[str] = field(default_factory=set)  # addresses
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise StoreDown("database unavailable")

    # intake
    def store_recipients(self, recipients: Sequence[RecipientContent]) -> int:
        self._check()
        self.content.update((r.certificate_id, r) for r in recipients)
        return len({r.certificate_id for r in recipients})

    def remember_batch_trace(self, batch_id: str, trace_context: str) -> None:
        self._check()
        self.batch_trace_contexts.setdefault(batch_id, trace_context)

    def batch_traces(self, batch_ids: Sequence[str]) -> dict[str, str]:
        self._check()
        return {b: c for b, c in self.batch_trace_contexts.items() if b in set(batch_ids)}

    def store_anchored(self, window: AnchoredWindow, *, now: datetime) -> AnchoredStored:
        self._check()
        present = [cid for cid in window.paths if cid in self.content]
        for cid in present:
            self.proofs.setdefault(cid, (window, window.paths[cid]))
        have = {r.certificate_id for r in self.rows.values()}
        created = 0
        for cid in present:
            if cid not in have:
                row = Row(str(uuid.uuid4()), cid, self.content[cid].batch_id, next_attempt_at=now)
                self.rows[row.id] = row
                created += 1
        return AnchoredStored(created, tuple(c for c in window.paths if c not in self.content))

    def store_revocations(
        self, revoked: Sequence[RevokedCertificate], *, now: datetime
    ) -> RevocationsTaken:
        self._check()
        decisions = {}
        created = 0
        for r in revoked:
            cid = r.certificate_id
            content = self.content.get(cid)
            if content is not None:
                self.revocations.setdefault(cid, r)
            first = next(
                (row.state for row in self.rows.values() if row.certificate_id == cid), None
            )
            decisions[cid] = decide_notice(
                known=content is not None,
                first_email=first,
                suppressed=content is not None and content.recipient_email in self.suppressed,
            )
            if decisions[cid] is NoticeDecision.NOTICE and cid not in self.noticed:
                self.noticed.add(cid)
                created += 1
        return RevocationsTaken(created, decisions)

    # claims
    def claim(self, limit: int, *, now: datetime, lease_until: datetime) -> Claim:
        self._check()
        due = sorted(
            (r for r in self.rows.values() if is_due(r.state, r.next_attempt_at, now=now)),
            key=lambda r: r.next_attempt_at,
        )[:limit]
        if not due:
            return Claim("", lease_until, [])
        token = str(uuid.uuid4())
        for row in due:
            row.state, row.next_attempt_at, row.claim_token = (
                DeliveryState.SENDING,
                lease_until,
                token,
            )
        return Claim(
            token,
            lease_until,
            [ClaimedDelivery(r.id, r.attempts, self._email(r)) for r in due],
        )

    # the preview (preview.PreviewStore)
    def preview_email(self, certificate_id: str, *, message_id: str) -> CertificateEmail | None:
        self._check()
        content = self.content.get(certificate_id)
        if content is None:
            return None
        row = next((r for r in self.rows.values() if r.certificate_id == certificate_id), None)
        if row is not None and (email := self._email(row)) is not None:
            return email
        return CertificateEmail(
            certificate_id=certificate_id,
            message_id=f"<{row.id}@uni.example>" if row else message_id,
            recipient_name=content.recipient_name,
            recipient_email=content.recipient_email,
            issuer_name=content.issuer_name,
            title=content.title,
            completion_date=content.completion_date.isoformat(),
            document=orjson.loads(content.document),
        )

    def _email(self, row: Row) -> CertificateEmail | None:
        content, proven = self.content.get(row.certificate_id), self.proofs.get(row.certificate_id)
        if content is None or proven is None:
            return None
        window, path = proven
        facts = window.facts
        document = with_anchor_proof(
            orjson.loads(content.document),
            AnchorProof(
                leaf_salt=content.leaf_salt,
                leaf_hash=content.leaf_hash,
                merkle_root=facts.merkle_root,
                merkle_path=tuple(unpack_proof(path)),
                chain_id=facts.chain_id,
                registry_address=facts.registry_address,
                transaction_hash=facts.transaction_hash,
                block_number=facts.block_number,
            ),
        )
        return CertificateEmail(
            certificate_id=row.certificate_id,
            message_id=f"<{row.id}@uni.example>",
            recipient_name=content.recipient_name,
            recipient_email=content.recipient_email,
            issuer_name=content.issuer_name,
            title=content.title,
            completion_date=content.completion_date.isoformat(),
            document=document,
        )

    def extend(self, token: str, *, lease_until: datetime) -> set[str]:
        self._check()
        held = {r.id for r in self.rows.values() if holds(r.state, r.claim_token, token)}
        for delivery_id in held:
            self.rows[delivery_id].next_attempt_at = lease_until
        return held

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> int:
        self._check()
        holders = {
            r.id: Holder(r.claim_token, r.certificate_id, r.batch_id)
            for r in self.rows.values()
            if r.state == DeliveryState.SENDING
        }
        stored = outcomes_to_store(outcomes, holders)
        for outcome, _ in stored:
            update = outcome.update
            row = self.rows[outcome.delivery_id]
            row.state, row.attempts, row.next_attempt_at = (
                update.state,
                update.attempts,
                update.next_attempt_at,
            )
            row.last_error, row.claim_token = update.error, ""
            row.sent_at = now if update.state == DeliveryState.SENT else None
        self.outbox += outcome_messages(
            [
                StoredOutcome(
                    o.claim_token,
                    o.delivery_id,
                    h.certificate_id,
                    h.batch_id,
                    o.update.state,
                    o.update.attempts,
                )
                for o, h in stored
            ],
            recorded_at=now,
        )
        return len(stored)

    def release(self, token: str, delivery_ids: Sequence[str], *, now: datetime) -> int:
        self._check()
        released = 0
        for delivery_id in delivery_ids:
            row = self.rows[delivery_id]
            if holds(row.state, row.claim_token, token):
                row.state, row.next_attempt_at, row.claim_token = DeliveryState.PENDING, now, ""
                released += 1
        return released

    # outcomes after sending: covered against real databases (tests/integration/notify)
    def history(self, *, delivery_id: str, certificate_id: str) -> DeliveryHistory | None:
        raise NotImplementedError

    def resend(self, request: ResendRequest, *, now: datetime) -> int:
        raise NotImplementedError

    def list_suppressions(
        self, issuer_name: str, *, offset: int, limit: int
    ) -> list[SuppressionEntry]:
        raise NotImplementedError

    def delete_suppression(self, issuer_name: str, *, key: str, email: str) -> bool:
        raise NotImplementedError

    # operations
    def retry_failed(self, batch_id: str, request_id: str, *, now: datetime) -> int:
        self._check()
        if request_id and (batch_id, request_id) in self.redrives:
            return self.redrives[(batch_id, request_id)]
        failed = [
            r
            for r in self.rows.values()
            if r.batch_id == batch_id and r.state in (DeliveryState.FAILED, DeliveryState.BOUNCED)
        ]
        for row in failed:
            row.state, row.attempts, row.next_attempt_at = DeliveryState.PENDING, 0, now
        self.outbox += requeued_messages(
            [Requeued(r.certificate_id, batch_id) for r in failed],
            redrive_id=str(uuid.uuid4()),
            recorded_at=now,
        )
        if request_id:
            self.redrives[(batch_id, request_id)] = len(failed)
        return len(failed)

    def list_for_batch(self, batch_id: str, *, offset: int, limit: int) -> list[DeliveryView]:
        self._check()
        rows = [r for r in self.rows.values() if r.batch_id == batch_id][offset : offset + limit]
        return [
            DeliveryView(
                r.id,
                r.certificate_id,
                r.state,
                r.attempts,
                f"<{r.id}@uni.example>",
                r.last_error,
                r.sent_at,
            )
            for r in rows
        ]

    # what tests look at
    def announced(self) -> list[events_pb2.DeliveryUpdate]:
        updates: list[events_pb2.DeliveryUpdate] = []
        for message in self.outbox:
            updates += events_pb2.DeliveriesUpdatedEvent.FromString(message.payload).updates
        return updates

    def states(self) -> dict[str, DeliveryState]:
        return {r.certificate_id: r.state for r in self.rows.values()}


class FakeConnection:
    def __init__(self, relay: "FakeRelay") -> None:
        self._relay = relay

    async def send(self, message: RenderedEmail) -> SendResult:
        self._relay.received.append(message)
        return self._relay.answer(message)


@dataclass
class FakeRelay:
    """An SMTP relay that keeps what it accepts; `answer` decides each message's result."""

    received: list[RenderedEmail] = field(default_factory=list)
    answers: dict[str, SendResult] = field(default_factory=dict)  # by envelope recipient

    def answer(self, message: RenderedEmail) -> SendResult:
        return self.answers.get(message.recipient, Accepted())

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self)

    async def probe(self) -> bool:
        return True


class FakeMessage:
    """A JetStream message: records how it was settled."""

    headers: dict[str, str] | None = None

    def __init__(self, subject: str, data: bytes, *, delivered: int = 1) -> None:
        self.subject = subject
        self.data = data
        self.metadata = SimpleNamespace(num_delivered=delivered)
        self.settled: list[str] = []
        self.nak_delays: list[float] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")
        self.nak_delays.append(delay or 0.0)

    async def term(self) -> None:
        self.settled.append("term")

    def redelivered(self) -> "FakeMessage":
        return FakeMessage(self.subject, self.data, delivered=self.metadata.num_delivered + 1)


def recipient(certificate_id: str, email: str, *, batch_id: str = "batch-1") -> RecipientContent:
    return RecipientContent(
        certificate_id=certificate_id,
        batch_id=batch_id,
        recipient_name=f"Student {certificate_id}",
        recipient_email=email,
        title="Resilience 101",
        completion_date=date(2026, 6, 30),
        issuer_name="Example U",
        document=orjson.dumps({"id": f"urn:uuid:{certificate_id}", "name": "Resilience 101"}),
        leaf_salt=b"\x01" * 32,
        leaf_hash=b"\x02" * 32,
    )


def recipients_message(
    contents: Sequence[RecipientContent], *, batch_id: str = "batch-1"
) -> FakeMessage:
    event = events_pb2.CertificateRecipientsEvent(
        batch_id=batch_id,
        recipients=[
            events_pb2.CertificateRecipient(
                certificate_id=c.certificate_id,
                recipient_name=c.recipient_name,
                recipient_email=c.recipient_email,
                title=c.title,
                completion_date=c.completion_date.isoformat(),
                issuer_name=c.issuer_name,
                document=c.document,
                leaf_salt=c.leaf_salt,
                leaf_hash=c.leaf_hash,
            )
            for c in contents
        ],
    )
    return FakeMessage("certs.recipients", event.SerializeToString())


def anchored_message(
    ids: Sequence[str], *, without_paths: Sequence[str] = (), window_id: str = "window-1"
) -> FakeMessage:
    """A "certs.anchored" message: a 64-byte path for each of `ids`; `without_paths` are named
    only in certificate_ids (an anchor that does not send paths yet)."""
    event = events_pb2.CertificatesAnchoredEvent(
        window_id=window_id,
        merkle_root=b"\x03" * 32,
        chain_id=31337,
        transaction_hash="0x" + "22" * 32,
        block_number=7,
        certificate_ids=[*ids, *without_paths],
        registry_address="0x" + "11" * 20,
        leaves=[events_pb2.AnchoredLeaf(certificate_id=c, merkle_path=b"\x04" * 64) for c in ids],
    )
    return FakeMessage("certs.anchored", event.SerializeToString())
