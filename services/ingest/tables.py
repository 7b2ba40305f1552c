"""ingest's tables: issuers, batches and their refused rows (reasons and original cells),
certificates, their progress (the anchoring facts and newest delivery outcome, kept from
anchor's and notify's events, in a narrow table of their own), idempotency keys of single
issues, and the outbox that announces them. No other service imports this module."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
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
    # ListBatches: newest first, optionally from/to a create time
    __table_args__ = (Index("ix_batches_created", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuers.id"))
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16))  # csv | api | lms
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # SHA-256 (hex) of the uploaded bytes: a request_id reused with another file is refused
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # the file's header as uploaded (JSON list): the error report's first columns
    source_columns: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchRefusedRow(Base):
    """The cells of a refused row as they were uploaded (JSON list), for the error report."""

    __tablename__ = "batch_refused_rows"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    cells: Mapped[str] = mapped_column(Text)


class BatchIntake(Base):
    """One upload into a batch: the one that created it (1), then each pilot's rest or
    reprocess, with what it did (the completion record's history of the batch)."""

    __tablename__ = "batch_intakes"
    # a retried upload into a batch finds its first intake (NULLs never collide)
    __table_args__ = (Index("uq_batch_intakes_request", "batch_id", "request_id", unique=True),)

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    row_count: Mapped[int] = mapped_column(Integer)
    accepted_count: Mapped[int] = mapped_column(Integer)
    rejected_count: Mapped[int] = mapped_column(Integer)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    held_back_count: Mapped[int] = mapped_column(Integer, default=0)
    resolved_count: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[str | None] = mapped_column(String(128))
    content_sha256: Mapped[str | None] = mapped_column(String(64))


class BatchRowError(Base):
    __tablename__ = "batch_row_errors"
    # a batch's refusals in id order (ListRowErrors, the error report's keyset pages)
    __table_args__ = (Index("ix_batch_row_errors_batch", "batch_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
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
    # the recipient's IANA time zone for the email's delivery window ("": notify's default)
    time_zone: Mapped[str] = mapped_column(String(64), default="")


class CertificateProgress(Base):
    """What happened to a certificate after it was issued, kept from anchor's and notify's
    events: a narrow row of its own (written when the first such event arrives), so applying an
    event never rewrites the wide certificate row with its credential."""

    __tablename__ = "certificate_progress"
    __table_args__ = (
        # GetBatch counts from this index alone
        Index("ix_certificate_progress_batch", "batch_id", "window_id", "delivery_outcome"),
    )

    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36))
    # from "certs.anchored": what makes the anchored document; set once (first window wins)
    window_id: Mapped[str | None] = mapped_column(String(36))
    merkle_root: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # sibling hashes leaf → root, 32 bytes each, concatenated
    merkle_path: Mapped[bytes | None] = mapped_column(LargeBinary)
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    registry_address: Mapped[str | None] = mapped_column(String(42))
    transaction_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # from "certs.deliveries": the newest outcome of its email (by notify's update time)
    delivery_outcome: Mapped[str | None] = mapped_column(String(16))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_attempts: Mapped[int | None] = mapped_column(Integer)


class IssueRequest(Base):
    """Idempotency keys of single real-time issues (AIP-155)."""

    __tablename__ = "issue_requests"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"))


class IngestOutbox(OutboxColumns, Base):
    __tablename__ = "ingest_outbox"


# ---- LMS intake (xAPI statements and webhook events; lms.py) ----


class LmsSource(Base):
    """A connected LMS. Basic/bearer sources keep only the SHA-256 of their generated secret;
    an HMAC source's secret is derived from CERTFLOW_LMS_SECRET_KEY and never stored."""

    __tablename__ = "lms_sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    auth_kind: Mapped[str] = mapped_column(String(16))  # basic | bearer | hmac
    secret_sha256: Mapped[str] = mapped_column(String(64), default="")
    # webhook sources: where the email, name, course and event type are in an event (JSON)
    mapping: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IssuanceRuleRow(Base):
    __tablename__ = "issuance_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # RuleKind
    activity_id: Mapped[str] = mapped_column(String(500), default="")
    required_activities: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    min_score_scaled: Mapped[float | None] = mapped_column(Float)
    min_sessions: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(100), default="")
    mode: Mapped[str] = mapped_column(String(16))  # IssueMode
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LmsStatement(Base):
    """A learning record as received (idempotent on its statement id); what rules read of it
    is in its own columns, the actor's history by ix_lms_statements_actor."""

    __tablename__ = "lms_statements"
    __table_args__ = (Index("ix_lms_statements_actor", "actor_key", "stored_at"),)

    statement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("lms_sources.id"))
    actor_key: Mapped[str] = mapped_column(String(800))
    verb: Mapped[str | None] = mapped_column(String(16))  # Verb; None: a verb no rule reads
    verb_iri: Mapped[str] = mapped_column(String(500))
    object_id: Mapped[str] = mapped_column(String(500))
    success: Mapped[bool | None] = mapped_column(Boolean)
    score_scaled: Mapped[float | None] = mapped_column(Float)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LmsAchievement(Base):
    """A rule fired for an actor: once per (rule, actor) ever. Written with the statement that
    fired it; an immediate one is then issued by request_id (a crash in between leaves it
    pending, and the retry loop issues it), a collected one waits for a scheduled batch."""

    __tablename__ = "lms_achievements"
    __table_args__ = (
        UniqueConstraint("rule_id", "actor_key", name="uq_lms_achievements_rule_actor"),
        Index("ix_lms_achievements_status", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("issuance_rules.id"))
    actor_key: Mapped[str] = mapped_column(String(800))
    source_id: Mapped[str] = mapped_column(ForeignKey("lms_sources.id"))
    statement_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    recipient_email: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str] = mapped_column(String(200))
    completion_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # AchievementStatus
    certificate_id: Mapped[str | None] = mapped_column(String(36))
    problem: Mapped[str] = mapped_column(Text, default="")
    # attempts that hit an unexpected error (not an outage): failed at the limit
    issue_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---- scheduled batches (schedules.py) ----


class ScheduleRow(Base):
    """When collected achievements become a batch: a cron expression in a zone, or once."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str | None] = mapped_column(ForeignKey("issuance_rules.id"))  # None: all
    kind: Mapped[str] = mapped_column(String(8))  # ScheduleKind
    cron: Mapped[str] = mapped_column(String(200), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="")
    run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the firing time of its latest firing (moves forward only)
    last_firing: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ScheduleFiring(Base):
    """One row per (schedule, firing time); the batch itself is made single by its request id
    schedule:<id>:<time> (batches.request_id, unique, in the batch's own transaction)."""

    __tablename__ = "schedule_firings"

    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id"), primary_key=True)
    firing: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    batch_id: Mapped[str | None] = mapped_column(String(36))  # None: nothing was collected
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---- outbound webhooks (webhooks.py, webhook_store.py) ----


class WebhookEndpoint(Base):
    """A registrar's receiver. Its signing secrets are stored (they must sign) and never
    logged or shown again after creation or rotation."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[str] = mapped_column(Text)  # JSON list of WebhookEvent values
    secret: Mapped[str] = mapped_column(String(64))
    # a rotated-out secret keeps signing (next to the new one) until this time
    previous_secret: Mapped[str | None] = mapped_column(String(64))
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # since when every attempt failed (None: the last one succeeded); disabled after long
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str] = mapped_column(Text, default="")


class WebhookDelivery(Base):
    """One event for one endpoint (the outbox and the delivery log in one row): written in the
    transaction of the fact, sent by the dispatcher, its id the stable webhook-id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "dedupe_key", name="uq_webhook_deliveries_dedupe"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_<32 hex>
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    # the fact it announces (a replayed NATS event finds its delivery already there)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body sent, every attempt
    state: Mapped[str] = mapped_column(String(16))  # DeliveryState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
