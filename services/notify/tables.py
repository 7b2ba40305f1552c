"""notify's tables: deliveries (one per certificate email) and operator re-drives."""

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from certflow.platform.db.tables import service_metadata, utcnow


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
