"""Tables of every service. Each service writes only its own tables (marked below); reads of
another service's tables are for status and look-ups only.
"""

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# ---- ingest ----


class Issuer(Base):
    __tablename__ = "issuers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"))
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16))  # csv | api | lms
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchRowError(Base):
    __tablename__ = "batch_row_errors"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("issuer_id", "dedupe_key", name="uq_certificates_dedupe"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"))
    # sha256 of issuer, email, title and date: the same certificate is never issued twice
    dedupe_key: Mapped[str] = mapped_column(String(64))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str] = mapped_column(String(254))
    title: Mapped[str] = mapped_column(String(300))
    completion_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    # RFC 8785 bytes of the credential without proof: exactly what the leaf commits to
    document: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IssueRequest(Base):
    """Idempotency keys of single real-time issues (AIP-155)."""

    __tablename__ = "issue_requests"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"))


class OutboxColumns:
    """Messages committed with the data they announce, published by the relay. Each service
    that publishes has its own outbox table with these columns."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100))
    msg_id: Mapped[str] = mapped_column(String(100), unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    trace_context: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class IngestOutbox(OutboxColumns, Base):
    __tablename__ = "ingest_outbox"


# ---- anchor ----


class AnchorWindow(Base):
    __tablename__ = "anchor_windows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # built | submitted | confirmed
    leaf_count: Mapped[int] = mapped_column(Integer)
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    registry_address: Mapped[str] = mapped_column(String(42))
    sender_address: Mapped[str] = mapped_column(String(42), default="")
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    # signed before broadcast, so a restart re-sends the same transaction, never a second one
    raw_transaction: Mapped[bytes | None] = mapped_column(LargeBinary)
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SignerLease(Base):
    """One signer per wallet: only the anchor replica holding the lease may sign and send."""

    __tablename__ = "signer_leases"

    sender_address: Mapped[str] = mapped_column(String(42), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CertificateProof(Base):
    __tablename__ = "certificate_proofs"
    __table_args__ = (Index("ix_certificate_proofs_window", "window_id", "leaf_index"),)

    # one proof per certificate: a redelivered certificate never joins a second window
    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    window_id: Mapped[str] = mapped_column(ForeignKey("anchor_windows.id"))
    leaf_index: Mapped[int] = mapped_column(Integer)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    merkle_path: Mapped[bytes] = mapped_column(LargeBinary)  # siblings concatenated


class AnchorOutbox(OutboxColumns, Base):
    __tablename__ = "anchor_outbox"


# ---- notify ----


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
    kind: Mapped[str] = mapped_column(String(32))  # "issued"
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(255))
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set by each claim: an outcome is recorded only by the sender that still holds the claim;
    # while "sending", next_attempt_at is the claim's lease, renewed by the holder's heartbeat
    claim_token: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryRedrive(Base):
    """An operator's re-drive of a batch's failed deliveries (AIP-155 request id) and the count
    it answered, so replaying the request answers the same and re-queues nothing."""

    __tablename__ = "delivery_redrives"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    requeued_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
