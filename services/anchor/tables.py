"""anchor's tables: anchor windows and their transactions, each certificate's proof, the
signer lease, and the outbox of "anchored" events."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from certflow.platform.db.tables import OutboxColumns, service_metadata, utcnow


class Base(DeclarativeBase):
    metadata = service_metadata()


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
    # wei paid per gas (the receipt's effectiveGasPrice): gas_used × this is the fee
    effective_gas_price: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # why the window is not moving (fee above the cap, a revert, low balance); "" when it is
    waiting_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class AnchorTransaction(Base):
    """Every transaction signed for a window: the original, its same-nonce replacements, and
    any earlier attempt that reverted or lost its nonce. The window's columns name the latest."""

    __tablename__ = "anchor_transactions"

    transaction_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    window_id: Mapped[str] = mapped_column(ForeignKey("anchor_windows.id"), index=True)
    sender_address: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw_transaction: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    # pending | mined | replaced (another at its nonce was mined) | reverted | abandoned
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    # from certs.leaves: RevokeCertificates{batch_id}; NULL for rows placed before it was kept
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)


class CertificateRevocation(Base):
    """One revocation per certificate (a second request leaves it as it is): its reason, and
    its way to the chain — pending, then in a revocation window, then revoked at depth."""

    __tablename__ = "certificate_revocations"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))  # what bulkRevoke revokes
    batch_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(32))  # RevocationReason
    reason_text: Mapped[str] = mapped_column(Text, default="")
    replaced_by: Mapped[str] = mapped_column(String(36), default="")  # a reissue's new id
    request_id: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16), index=True)  # RevocationState
    window_id: Mapped[str | None] = mapped_column(ForeignKey("revocation_windows.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevocationRequest(Base):
    """A RevokeCertificates request id (AIP-155): the same id again gets the same answer."""

    __tablename__ = "revocation_requests"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    certificate_count: Mapped[int] = mapped_column(Integer)
    newly_revoked_count: Mapped[int] = mapped_column(Integer)
    already_revoked_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RevocationWindow(Base):
    """Leaves revoked together in one bulkRevoke transaction; the same states and transaction
    columns as an anchor window (signed and stored before broadcast)."""

    __tablename__ = "revocation_windows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # built | submitted | confirmed
    leaf_count: Mapped[int] = mapped_column(Integer)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    registry_address: Mapped[str] = mapped_column(String(42))
    sender_address: Mapped[str] = mapped_column(String(42), default="")
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    raw_transaction: Mapped[bytes | None] = mapped_column(LargeBinary)
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    # wei paid per gas (the receipt's effectiveGasPrice): gas_used × this is the fee
    effective_gas_price: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waiting_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class RevocationTransaction(Base):
    """Every transaction signed for a revocation window (as AnchorTransaction for anchoring);
    the signer's nonces are the highest of both tables."""

    __tablename__ = "revocation_transactions"

    transaction_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    window_id: Mapped[str] = mapped_column(ForeignKey("revocation_windows.id"), index=True)
    sender_address: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw_transaction: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    # pending | mined | replaced | reverted | abandoned
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnchorOutbox(OutboxColumns, Base):
    __tablename__ = "anchor_outbox"
