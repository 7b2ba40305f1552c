"""verify's tables: its read model, fed from the "issued" and "anchored" events. It holds the
credential (which carries the recipient's name and only a salted hash of the email address),
its leaf and, once anchored, its proof: no email address or other personal data."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from certflow.platform.db.tables import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata()


class VerifyCertificate(Base):
    """One certificate as verify knows it, from "certs.issued" (its proof, once anchored, is in
    verify_proofs; the two events may arrive in either order)."""

    __tablename__ = "verify_certificates"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # from "certs.issued": RFC 8785 bytes of the credential without its proof, and its leaf
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    leaf_salt: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # the batch it was issued in (from the same event): problem reports are counted per batch
    batch_id: Mapped[str | None] = mapped_column(String(64))


class VerifyProof(Base):
    """A certificate's anchor proof, from "certs.anchored": a narrow row of its own, so storing
    a window's proofs never rewrites the wide rows holding the credentials."""

    __tablename__ = "verify_proofs"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    merkle_path: Mapped[bytes] = mapped_column(LargeBinary)  # sibling hashes, concatenated
    chain_id: Mapped[int] = mapped_column(BigInteger)
    registry_address: Mapped[str] = mapped_column(String(42))
    transaction_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)


class VerifyProblemReport(Base):
    """A "report a problem with this certificate" sent from the verification page. The email
    column is NULL unless the reporter typed an address to be answered at (the form says so)."""

    __tablename__ = "verify_problem_reports"

    report_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    certificate_id: Mapped[str] = mapped_column(String(36), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VerifyRevocation(Base):
    """Why a certificate is revoked, from anchor's "certs.revoked" (the chain records only that
    it is): shown with a REVOKED verdict."""

    __tablename__ = "verify_revocations"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[str] = mapped_column(String(36), default="")
    transaction_hash: Mapped[str] = mapped_column(String(66), default="")
