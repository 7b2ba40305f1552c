"""notify's tables: deliveries (one per certificate email), operator re-drives, what each email
needs (notify_certificates, filled from the "recipients" and "anchored" events) and the outbox
of delivery outcomes ("certs.deliveries")."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from certflow.platform.db.tables import OutboxColumns, service_metadata, utcnow


class Base(DeclarativeBase):
    metadata = service_metadata()


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("certificate_id", "kind", name="uq_deliveries_cert_kind"),
        # the claim query: due pending rows and sending rows whose lease ran out
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    certificate_id: Mapped[str] = mapped_column(String(36))
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # DeliveryKind
    state: Mapped[str] = mapped_column(String(16), index=True)  # DeliveryState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(255))
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set by each claim: an outcome is recorded only by the sender that still holds the claim;
    # while "sending", next_attempt_at is the claim's lease, renewed by the holder's heartbeat
    claim_token: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # copied from the content so a claim reads one table: its domain pacing and delivery window
    recipient_domain: Mapped[str] = mapped_column(String(255), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="")  # IANA; "": the default
    business_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    # a resend: its count (the VERP token and Message-ID name it, so a late bounce of an
    # earlier send is not taken for this one) and the corrected address ("": the content's)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    recipient_override: Mapped[str] = mapped_column(String(320), default="")


class DeliveryEvent(Base):
    """A delivery's history, append-only: each outcome as it was stored (DeliveryState),
    with the relay's reply code and a short excerpt of its text (no address)."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    code: Mapped[int] = mapped_column(Integer, default=0)  # SMTP reply code; 0: none
    detail: Mapped[str] = mapped_column(String(200), default="")


class Suppression(Base):
    """An issuer's suppressed address: a keyed hash of (issuer, address) (bounces.AddressKeys),
    not the address; the hint ('a…@example.org') lets an operator recognise the entry."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_issuer", "issuer_name", "created_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer_name: Mapped[str] = mapped_column(String(512))
    address_hint: Mapped[str] = mapped_column(String(96))
    reason: Mapped[str] = mapped_column(String(16))  # bounces.SuppressionReason
    detail: Mapped[str] = mapped_column(String(200), default="")
    certificate_id: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeliveryResend(Base):
    """A ResendDeliveries request (AIP-155 request id): what it asked (digest) and answered."""

    __tablename__ = "delivery_resends"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    resent_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DomainSlot(Base):
    """A recipient domain's next free send slot (domain_pacing.py), moved by each claim in its
    transaction so that every replica shares one pace per domain."""

    __tablename__ = "domain_slots"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_slot_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRedrive(Base):
    """An operator's re-drive of a batch's failed deliveries (AIP-155 request id) and the count
    it answered, so replaying the request answers the same and re-queues nothing."""

    __tablename__ = "delivery_redrives"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    requeued_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotifyCertificate(Base):
    """What one certificate's email needs: its recipient and content (from "certs.recipients";
    its proof, once anchored, is a `NotifyProof`). notify's own copy: no read of another
    service's tables at send time."""

    __tablename__ = "notify_certificates"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36))
    recipient_name: Mapped[str] = mapped_column(Text)
    recipient_email: Mapped[str] = mapped_column(String(320))
    title: Mapped[str] = mapped_column(Text)
    completion_date: Mapped[date] = mapped_column(Date)
    issuer_name: Mapped[str] = mapped_column(Text)
    document: Mapped[bytes] = mapped_column(LargeBinary)  # RFC 8785 bytes, no anchor proof
    leaf_salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # when the email may go (from the batch): its recipient's zone, business hours only, and
    # no earlier than send_time
    time_zone: Mapped[str] = mapped_column(String(64), default="")
    business_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    send_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotifyProof(Base):
    """A certificate's anchor proof, from "certs.anchored" (the first window wins). A narrow row
    of its own: storing 10,000 proofs inserts them instead of rewriting 10,000 content rows that
    hold the credentials."""

    __tablename__ = "notify_proofs"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    merkle_path: Mapped[bytes] = mapped_column(LargeBinary)  # siblings concatenated
    chain_id: Mapped[int] = mapped_column(BigInteger)
    registry_address: Mapped[str] = mapped_column(String(42))
    transaction_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)


class NotifyRevocation(Base):
    """Why a certificate was revoked, from "certs.revoked" (the first event wins): what its
    revocation notice says. Kept only for certificates notify holds content for."""

    __tablename__ = "notify_revocations"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))  # revocation_notices.reason_name
    reason_text: Mapped[str] = mapped_column(Text, default="")
    replaced_by: Mapped[str] = mapped_column(String(36), default="")  # a reissue's new id
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotifyBatchTrace(Base):
    """The trace a batch's recipients came in (W3C trace context, JSON), so whichever replica
    sends its emails links its spans to the batch's trace — after a restart too."""

    __tablename__ = "notify_batch_traces"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trace_context: Mapped[str] = mapped_column(String(512))


class NotifyOutbox(OutboxColumns, Base):
    """ "certs.deliveries" events, written in the transaction that records the outcomes."""

    __tablename__ = "notify_outbox"
