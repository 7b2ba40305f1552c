"""Ingest use cases: turn a CSV file or one API request into a stored, announced batch.

Knows nothing of gRPC, NATS or SQL: the servicer calls these, the store (store.py, behind the
`IngestStore` protocol below) holds the SQL, the outbox relay publishes what they commit.
Everything of one batch is written in ONE transaction: batch, certificates, refused rows and
the outbox messages that announce them. The clock and the ids are passed in.
"""

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

import orjson

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.csv_intake import (
    DETECT_ALL,
    MAX_FIELD_BYTES,
    CsvFile,
    CsvFormatError,
    CsvRow,
    IntakeOptions,
    read_csv,
)
from certflow.core.dates import DateOrder
from certflow.core.document import AnchorProof, IssuerProfile, credential_id, with_anchor_proof
from certflow.core.errors import (
    NOT_CANCELLED,
    Cancelled,
    CancelSignal,
    Conflict,
    FieldViolation,
    InvalidInput,
    NotFound,
    Unavailable,
    until_cancelled,
)
from certflow.core.intake_rows import validate_rows
from certflow.core.issuance import (
    KeyedRequest,
    PlannedCertificate,
    key_requests,
    plan_certificates,
)
from certflow.core.merkle import unpack_proof
from certflow.core.validation import (
    RowError,
    RowWarning,
    name_warnings,
    validate_certificate,
)
from services.ingest.announcements import (
    CERTIFICATES_PER_MESSAGE,
    SEND_WHEN_ANCHORED,
    DeliveryTiming,
    OutboxMessage,
    announce,
)
from services.ingest.intake import (
    MAX_PLAN_ITEMS,
    REPORT_TAIL,
    WHOLE_FILE,
    BatchClosed,
    IntakeChoice,
    IntakeDecision,
    check_columns,
    decide,
    is_error_report,
    report_rows,
    warnings_of,
)
from services.ingest.observability import batch_stored
from services.ingest.progress import BatchStatus
from services.ingest.reissue import (
    check_reason_text,
    corrected_fields,
    reissue_key,
    reissued_message,
)

MAX_ERRORS_IN_RESPONSE = 100
MAX_WARNINGS_IN_RESPONSE = 100
WRITE_ATTEMPTS = 3
T = TypeVar("T")


class WriteRace(Unavailable):
    """A concurrent writer took a unique key first, or the database chose this transaction as
    a deadlock victim: running it again sees the other's committed rows (after a few lost
    races in a row the caller gets UNAVAILABLE and may retry)."""

    def __init__(self, detail: str) -> None:
        super().__init__("WRITE_CONFLICT", f"a concurrent write won ({detail}); retry")


@dataclass(frozen=True, slots=True)
class UploadResult:
    batch: BatchStatus
    row_errors: list[RowError]
    # of this upload only (not stored: a retry with the same request_id has none of these)
    warnings: list[RowWarning] = field(default_factory=list)  # the first 100
    warning_count: int = 0
    encoding: str = ""  # what the file was read as
    delimiter: str = ""
    skipped_count: int = 0  # rows whose certificate the batch already held (batch_id uploads)
    held_back_count: int = 0  # accepted rows a pilot left for later
    resolved_count: int = 0  # earlier refusals an uploaded error report corrected


@dataclass(frozen=True, slots=True)
class CertificatePreview:
    """A certificate as a dry run shows it: the credential and what its email is made of."""

    row_number: int
    credential: dict[str, Any]  # without proof; id, salts and issue time drawn again at issue
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str
    issuer_name: str


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """What an upload would do (a dry run): nothing of it is stored."""

    row_count: int
    accepted_count: int
    rejected_count: int
    duplicates_in_file: int
    already_issued: int
    skipped_count: int
    held_back_count: int
    resolved_count: int
    row_errors: list[RowError]  # the first MAX_PLAN_ITEMS
    warnings: list[RowWarning]  # the first MAX_PLAN_ITEMS
    warning_count: int
    previews: list[CertificatePreview]
    encoding: str
    delimiter: str


@dataclass(frozen=True, slots=True)
class BatchExtension:
    """Rows added to an existing batch (a pilot's rest, a reprocess), in one transaction."""

    batch_id: str
    certificates: Sequence[PlannedCertificate]
    refused: Sequence[RowError]
    refused_cells: Mapping[int, Sequence[str]]
    replaced_lines: frozenset[int]  # refused lines whose stored refusals are dropped first
    new_rows: int
    skipped_count: int
    held_back_count: int
    resolved_count: int
    messages: Sequence[OutboxMessage]
    trace_context: str
    created_at: datetime
    # the caller's idempotency key and the upload_digest: a retry is answered, not applied again
    request_id: str | None = None
    content_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class StoredIntake:
    """An earlier intake into a batch under the same request_id."""

    content_sha256: str | None
    skipped_count: int
    held_back_count: int
    resolved_count: int


@dataclass(frozen=True, slots=True)
class NewBatch:
    """One batch as it is written: in one transaction, or not at all."""

    batch_id: str
    issuer_row_id: str
    request_id: str | None
    display_name: str
    source: str  # csv | api | lms
    row_count: int
    certificates: Sequence[PlannedCertificate]
    refused: Sequence[RowError]
    messages: Sequence[OutboxMessage]
    trace_context: str  # JSON of the trace headers, "" when none
    created_at: datetime
    content_sha256: str | None = None  # upload_digest: request_id reuse is checked against it
    source_columns: Sequence[str] = ()  # the file's header as uploaded
    # row number → its cells as uploaded, for each refused row of the file (the error report)
    refused_cells: Mapping[int, Sequence[str]] = field(default_factory=dict)
    held_back_count: int = 0  # a pilot's accepted rows left for later (recorded with the intake)


@dataclass(frozen=True, slots=True)
class CertificateAnchoring:
    window: AnchoredWindowFacts
    merkle_path: bytes
    anchored_at: datetime


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """A stored certificate with the anchoring facts ingest keeps from "certs.anchored"."""

    certificate_id: str
    batch_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: date
    document: bytes  # RFC 8785 bytes of the credential without proof
    leaf_salt: bytes
    leaf_hash: bytes
    anchoring: CertificateAnchoring | None


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """What a caller gets back: the credential, with its anchor proof once anchored."""

    certificate_id: str
    batch_id: str
    recipient_name: str
    title: str
    leaf_hash: bytes
    document: dict[str, Any]
    anchored: bool
    warnings: tuple[RowWarning, ...] = ()  # what looked wrong in the request (IssueCertificate)


class IngestReads(Protocol):
    """What deciding an upload reads (a dry run reads only this, and writes nothing)."""

    def issued_with_batches(
        self, issuer_row_id: str, dedupe_keys: Sequence[str]
    ) -> dict[str, tuple[str, str]]:
        """dedupe key → (certificate id, batch id) of the certificates already issued."""
        ...

    def stored_refusals(self, batch_id: str) -> frozenset[tuple[int, str, str, str]]:
        """The batch's refusals as (line, field, code, message)."""
        ...

    def refused_cells(self, batch_id: str) -> dict[int, tuple[str, ...]]:
        """The batch's refused lines → their cells as uploaded (() when not recorded)."""
        ...

    def batch_columns(self, batch_id: str) -> tuple[str, ...]:
        """The header the batch was uploaded with (() when not recorded)."""
        ...


class IngestWrites(IngestReads, Protocol):
    """The reads and writes of one transaction."""

    def batch_for_request(self, request_id: str) -> str | None: ...

    def certificate_for_request(self, request_id: str) -> str | None: ...

    def issued_certificates(self, issuer_row_id: str, dedupe_keys: Sequence[str]) -> dict[str, str]:
        """dedupe key → id of the certificate already issued with it."""
        ...

    def add_batch(self, batch: NewBatch) -> None: ...

    def lock_batch(self, batch_id: str) -> None:
        """Holds the batch row until the transaction ends (concurrent intakes of one batch
        decide one after the other); raises BatchClosed when it was cancelled meanwhile."""
        ...

    def extend_batch(self, extension: BatchExtension) -> None:
        """Adds to a batch (locked first) and records the intake."""
        ...

    def intake_for_request(self, batch_id: str, request_id: str) -> StoredIntake | None:
        """The batch's earlier intake under this request_id (read after lock_batch)."""
        ...

    def add_issue_request(self, request_id: str, certificate_id: str) -> None: ...


class IngestStore(Protocol):
    def register_issuer(self, issuer: IssuerProfile) -> str:
        """The issuer's row id (created on first use, details refreshed after)."""
        ...

    def transaction(self) -> AbstractContextManager[IngestWrites]:
        """Commits when the block ends normally; raises WriteRace when a concurrent writer
        won a unique key or a deadlock."""
        ...

    def snapshot(self) -> AbstractContextManager[IngestReads]:
        """Reads only: nothing done through it is ever committed."""
        ...

    def batch_for_request(self, request_id: str) -> str | None: ...

    def upload_digest(self, batch_id: str) -> str | None:
        """The `upload_digest` a batch was uploaded with (None: not recorded)."""
        ...

    def certificate_for_request(self, request_id: str) -> str | None: ...

    def batch_status(self, batch_id: str) -> BatchStatus | None: ...

    def row_errors(self, batch_id: str, *, offset: int, limit: int) -> list[RowError] | None:
        """None when there is no such batch."""
        ...

    def certificate(self, certificate_id: str) -> CertificateRecord | None: ...


def issued_certificate(record: CertificateRecord) -> IssuedCertificate:
    """The credential from ingest's own copy, with its anchor proof once anchored."""
    document: dict[str, Any] = orjson.loads(record.document)
    if record.anchoring is not None:
        window = record.anchoring.window
        document = with_anchor_proof(
            document,
            AnchorProof(
                leaf_salt=record.leaf_salt,
                leaf_hash=record.leaf_hash,
                merkle_root=window.merkle_root,
                merkle_path=tuple(unpack_proof(record.anchoring.merkle_path)),
                chain_id=window.chain_id,
                registry_address=window.registry_address,
                transaction_hash=window.transaction_hash,
                block_number=window.block_number,
            ),
        )
    return IssuedCertificate(
        certificate_id=record.certificate_id,
        batch_id=record.batch_id,
        recipient_name=record.recipient_name,
        title=record.title,
        leaf_hash=record.leaf_hash,
        document=document,
        anchored=record.anchoring is not None,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


class Ingest:
    def __init__(
        self,
        store: IngestStore,
        issuer: IssuerProfile,
        *,
        max_rows: int,
        leaves_per_message: int = CERTIFICATES_PER_MESSAGE,
        trace_headers: Callable[[], dict[str, str]] = dict,
        on_committed: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = _utcnow,
        new_id: Callable[[], str] = _new_id,
        allow_smtputf8: bool = False,
        default_time_zone: str = "",
    ) -> None:
        self._store = store
        self._default_time_zone = default_time_zone
        self._issuer = issuer
        self._max_rows = max_rows
        self._leaves_per_message = leaves_per_message
        self._trace_headers = trace_headers
        self._on_committed = on_committed
        self._clock = clock
        self._new_id = new_id
        self._allow_smtputf8 = allow_smtputf8
        self.issuer_row_id = store.register_issuer(issuer)

    # ---- use cases ----

    def upload_csv(
        self,
        data: bytes,
        *,
        request_id: str,
        display_name: str,
        cancel: CancelSignal = NOT_CANCELLED,
        options: IntakeOptions = DETECT_ALL,
        timing: DeliveryTiming = SEND_WHEN_ANCHORED,
        choice: IntakeChoice = WHOLE_FILE,
    ) -> UploadResult:
        """Reads, validates and plans the whole file before writing anything; stops (writing
        nothing) at the next check once `cancel` is set because the caller has gone. With
        `choice.batch_id` the rows join that batch (intake.py says how)."""
        if choice.batch_id:
            return self._extend(
                data,
                request_id=request_id,
                cancel=cancel,
                options=options,
                timing=timing,
                choice=choice,
            )
        started = time.monotonic()
        digest = upload_digest(data, options, timing, choice.pilot_rows)
        if request_id and (previous := self._store.batch_for_request(request_id)):
            return self._same_upload(previous, request_id, digest)
        checked = self._check(data, cancel=cancel, options=options, choice=choice)
        batch_id = self._new_id()
        decided: list[IntakeDecision] = []

        def write() -> str:
            with self._store.transaction() as tx:
                if request_id and (done := tx.batch_for_request(request_id)):
                    return done
                decision = self._decide(tx, checked, choice)
                decided[:] = [decision]
                tx.add_batch(
                    replace(
                        self._new_batch(
                            batch_id,
                            decision.issue,
                            decision.refused,
                            row_count=len(checked.rows) - decision.held_back,
                            source="csv",
                            request_id=request_id or None,
                            display_name=display_name,
                            timing=timing,
                        ),
                        content_sha256=digest,
                        source_columns=checked.csv_file.header,
                        refused_cells=refused_cells(checked.rows, decision.refused),
                        held_back_count=decision.held_back,
                    )
                )
            self._on_committed()
            return batch_id

        written = _retrying(write)
        if written != batch_id:  # a concurrent upload with the same request_id won
            return self._same_upload(written, request_id, digest)
        (decision,) = decided
        batch_stored(
            batch_id,
            accepted=len(decision.issue),
            refused_reasons=[e.reason for e in decision.refused],
            seconds=time.monotonic() - started,
        )
        warned = warnings_of(checked.warnings, decision.issue)
        return replace(
            self._result(written),
            warnings=warned[:MAX_WARNINGS_IN_RESPONSE],
            warning_count=len(warned),
            encoding=checked.csv_file.encoding,
            delimiter=checked.csv_file.delimiter,
            held_back_count=decision.held_back,
        )

    def plan_upload(
        self,
        data: bytes,
        *,
        cancel: CancelSignal = NOT_CANCELLED,
        options: IntakeOptions = DETECT_ALL,
        choice: IntakeChoice = WHOLE_FILE,
    ) -> UploadPlan:
        """The dry run: what `upload_csv` would do with the same file and choice, decided by
        the same code from the same reads, with nothing written or announced."""
        if choice.batch_id:
            self._open_batch(choice.batch_id)
        checked = self._check(data, cancel=cancel, options=options, choice=choice)
        with self._store.snapshot() as reader:
            decision = self._decide(reader, checked, choice)
        refused = sorted(
            [
                *decision.refused,
                *decision.recorded_before,
                *decision.not_recorded,
                *checked.upload_errors,
            ],
            key=lambda e: e.row_number,
        )
        warned = warnings_of(checked.warnings, decision.issue)
        new_batch = not choice.batch_id
        return UploadPlan(
            row_count=len(checked.rows) - decision.held_back if new_batch else decision.new_rows,
            accepted_count=len(decision.issue),
            rejected_count=len(refused),
            duplicates_in_file=checked.duplicates_in_file,
            already_issued=decision.already_issued,
            skipped_count=decision.skipped,
            held_back_count=decision.held_back,
            resolved_count=len(decision.resolved_lines),
            row_errors=refused[:MAX_PLAN_ITEMS],
            warnings=warned[:MAX_PLAN_ITEMS],
            warning_count=len(warned),
            previews=[self._preview(p) for p in decision.issue[: choice.preview_count]],
            encoding=checked.csv_file.encoding,
            delimiter=checked.csv_file.delimiter,
        )

    def _extend(
        self,
        data: bytes,
        *,
        request_id: str,
        cancel: CancelSignal,
        options: IntakeOptions,
        timing: DeliveryTiming,
        choice: IntakeChoice,
    ) -> UploadResult:
        """Rows joining an existing batch: those it holds are skipped, the rest issued (or the
        first pilot_rows of them), refusals recorded once; an error report's lines replace
        their earlier refusals. Counts, intake and announcements in one transaction."""
        started = time.monotonic()
        batch_id = choice.batch_id
        self._open_batch(batch_id)
        checked = self._check(data, cancel=cancel, options=options, choice=choice)
        intake_key = self._new_id()  # this intake's announcements apart from the batch's others
        digest = upload_digest(data, options, timing, choice.pilot_rows)
        decided: list[IntakeDecision] = []
        earlier: list[StoredIntake] = []

        def write() -> None:
            with self._store.transaction() as tx:
                tx.lock_batch(batch_id)  # before reading: what another intake stored is seen
                if request_id and (done := tx.intake_for_request(batch_id, request_id)):
                    earlier[:] = [done]  # a retry: a pilot's rest must not take the next rows
                    return
                decision = self._decide(tx, checked, choice)
                decided[:] = [decision]
                messages = [
                    replace(m, msg_id=f"{m.msg_id}:{intake_key}")
                    for m in announce(
                        batch_id,
                        decision.issue,
                        issuer_name=self._issuer.name,
                        per_message=self._leaves_per_message,
                        timing=timing,
                    )
                ]
                headers = self._trace_headers()
                tx.extend_batch(
                    BatchExtension(
                        batch_id=batch_id,
                        certificates=decision.issue,
                        refused=decision.refused,
                        refused_cells=refused_cells(checked.rows, decision.refused),
                        replaced_lines=decision.replaced_lines,
                        new_rows=decision.new_rows,
                        skipped_count=decision.skipped,
                        held_back_count=decision.held_back,
                        resolved_count=len(decision.resolved_lines),
                        messages=messages,
                        trace_context=json.dumps(headers) if headers else "",
                        created_at=self._clock(),
                        request_id=request_id or None,
                        content_sha256=digest,
                    )
                )
            self._on_committed()

        _retrying(write)
        if earlier:
            return self._same_intake(batch_id, request_id, digest, earlier[0])
        (decision,) = decided
        batch_stored(
            batch_id,
            accepted=len(decision.issue),
            refused_reasons=[e.reason for e in decision.refused],
            seconds=time.monotonic() - started,
        )
        warned = warnings_of(checked.warnings, decision.issue)
        # this upload's refusals: those recorded now, those of the report file itself, and
        # those already on the batch from an earlier upload of the same rows
        errors = sorted(
            [
                *decision.refused,
                *decision.recorded_before,
                *decision.not_recorded,
                *checked.upload_errors,
            ],
            key=lambda e: e.row_number,
        )
        return UploadResult(
            self.batch_status(batch_id),
            errors[:MAX_ERRORS_IN_RESPONSE],
            warnings=warned[:MAX_WARNINGS_IN_RESPONSE],
            warning_count=len(warned),
            encoding=checked.csv_file.encoding,
            delimiter=checked.csv_file.delimiter,
            skipped_count=decision.skipped,
            held_back_count=decision.held_back,
            resolved_count=len(decision.resolved_lines),
        )

    def _open_batch(self, batch_id: str) -> BatchStatus:
        """The batch rows may join: it exists and is not cancelled."""
        status = self._store.batch_status(batch_id)
        if status is None:
            raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id[:64]!r}")
        if status.source != "csv":
            raise BatchClosed(
                "NOT_AN_UPLOADED_BATCH",
                f"batch {batch_id} was not uploaded as a file ({status.source}): rows cannot "
                "join it; upload them as a new batch",
                metadata={"batch_id": batch_id},
            )
        if status.cancelled_at is not None:
            raise BatchClosed(
                "BATCH_CANCELLED",
                f"batch {batch_id} was cancelled: no rows can join it; upload them as a new batch",
                metadata={"batch_id": batch_id},
            )
        return status

    def _check(
        self,
        data: bytes,
        *,
        cancel: CancelSignal,
        options: IntakeOptions,
        choice: IntakeChoice,
    ) -> "_CheckedFile":
        """The file read, validated and planned (certificates built), before any decision
        that needs the database."""
        try:
            csv_file = read_csv(
                data,
                max_rows=self._max_rows,
                cancel=cancel,
                encoding=options.encoding,
                column_mapping=options.column_mapping,
            )
        except CsvFormatError as exc:
            raise InvalidInput(exc.reason, exc.message, violations=exc.violations) from exc
        rows: Sequence[CsvRow] = csv_file.rows
        upload_errors: list[RowError] = []
        report_lines: frozenset[int] = frozenset()
        unknown_lines: frozenset[int] = frozenset()
        if choice.batch_id:
            with self._store.snapshot() as reader:
                check_columns(csv_file.header, reader.batch_columns(choice.batch_id))
        if is_error_report(csv_file.header):
            if not choice.batch_id:
                message = (
                    "this file is an error report (its last columns are line, field, code and "
                    "message): reprocess it into its batch (batch_id) instead"
                )
                raise InvalidInput(
                    "ERROR_REPORT_WITHOUT_BATCH",
                    message,
                    violations=[FieldViolation("metadata.batch_id", message)],
                )
            with self._store.snapshot() as reader:
                refused = reader.refused_cells(choice.batch_id)
            width = len(csv_file.header) - len(REPORT_TAIL)
            report = report_rows(rows, width, refused)
            rows, upload_errors = report.rows, report.errors
            report_lines, unknown_lines = report.corrected, report.unknown
        now = self._clock()
        checked = validate_rows(
            until_cancelled(rows, cancel),
            issuer_id=self._issuer.id,
            today=now.date(),
            date_order=options.date_order,
            allow_smtputf8=self._allow_smtputf8,
            default_time_zone=self._default_time_zone,
        )
        planned = plan_certificates(
            self._issuer, until_cancelled(checked.keyed, cancel), issued_at=now, new_id=self._new_id
        )
        if cancel.is_set():
            raise Cancelled("CANCELLED", "the caller cancelled the request; nothing was written")
        return _CheckedFile(
            csv_file=csv_file,
            rows=rows,
            errors=checked.errors,
            warnings=checked.warnings,
            planned=planned,
            duplicates_in_file=checked.duplicates_in_file,
            upload_errors=upload_errors,
            report_lines=report_lines,
            unknown_lines=unknown_lines,
        )

    def _decide(
        self, reader: IngestReads, checked: "_CheckedFile", choice: IntakeChoice
    ) -> IntakeDecision:
        issued = reader.issued_with_batches(
            self.issuer_row_id, [p.dedupe_key for p in checked.planned]
        )
        stored = reader.stored_refusals(choice.batch_id) if choice.batch_id else frozenset()
        return decide(
            checked.planned,
            checked.errors,
            issued,
            batch_id=choice.batch_id,
            pilot_rows=choice.pilot_rows,
            stored_refusals=stored,
            report_lines=checked.report_lines,
            unknown_lines=checked.unknown_lines,
        )

    def _preview(self, planned: PlannedCertificate) -> CertificatePreview:
        content = planned.content
        return CertificatePreview(
            row_number=planned.row_number,
            credential=orjson.loads(planned.canonical_document),
            recipient_name=content.recipient_name,
            recipient_email=content.recipient_email,
            title=content.title,
            completion_date=content.completion_date.isoformat(),
            issuer_name=self._issuer.name,
        )

    def issue_one(
        self,
        *,
        request_id: str,
        fields: dict[str, str],
        custom_fields: dict[str, str],
        source: str = "api",
        date_order: DateOrder = DateOrder.UNSPECIFIED,
    ) -> IssuedCertificate:
        """Issues one certificate; its warnings are those of the stored name (a retry with the
        same request_id gets the same ones)."""
        if request_id and (certificate_id := self._store.certificate_for_request(request_id)):
            return _with_warnings(self.certificate(certificate_id))
        now = self._clock()
        result = validate_certificate(
            fields,
            custom_fields,
            row_number=0,
            today=now.date(),
            allow_smtputf8=self._allow_smtputf8,
            date_order=date_order,
            default_time_zone=self._default_time_zone,
        )
        if isinstance(result, list):
            raise InvalidInput(
                "INVALID_CERTIFICATE",
                "; ".join(e.message for e in result),
                violations=[FieldViolation(e.field, e.message) for e in result],
            )
        keyed, _ = key_requests(self._issuer.id, [(0, result)])
        (planned,) = plan_certificates(self._issuer, keyed, issued_at=now, new_id=self._new_id)
        batch_id = self._new_id()

        def write() -> str:
            """Returns the request's certificate id: ours, or the one a concurrent call with
            the same request id stored first."""
            with self._store.transaction() as tx:
                issued = tx.issued_certificates(self.issuer_row_id, [planned.dedupe_key])
                # Looked up AFTER the dedupe key: a concurrent call commits its certificate and
                # request id together, so once its certificate is visible (PostgreSQL READ
                # COMMITTED takes a new snapshot per statement) its request id is too.
                if request_id and (done := tx.certificate_for_request(request_id)):
                    return done
                if issued:
                    raise Conflict(
                        "ALREADY_ISSUED",
                        "this recipient already has this certificate for this date",
                        metadata={"certificate_id": issued[planned.dedupe_key]},
                    )
                tx.add_batch(
                    self._new_batch(
                        batch_id,
                        [planned],
                        [],
                        row_count=1,
                        source=source,
                        request_id=None,
                        display_name="",
                    )
                )
                if request_id:
                    tx.add_issue_request(request_id, planned.certificate_id)
            self._on_committed()
            return planned.certificate_id

        certificate_id = _retrying(write)
        if certificate_id == planned.certificate_id:
            batch_stored(batch_id, accepted=1, refused_reasons=(), seconds=None)
        return _with_warnings(self.certificate(certificate_id))

    def reissue_one(
        self,
        *,
        request_id: str,
        certificate_id: str,
        corrections: Mapping[str, str],
        reason_text: str,
    ) -> IssuedCertificate:
        """A corrected certificate in place of `certificate_id`, stored with the "certs.reissued"
        event that has anchor revoke the old one (reason superseded) in one transaction. The
        same request_id again returns the same new certificate."""
        check_reason_text(reason_text)
        key = f"reissue:{request_id}" if request_id else ""  # apart from IssueCertificate's
        if key and (done := self._store.certificate_for_request(key)):
            return self._earlier_reissue(done, certificate_id)
        old = self._store.certificate(certificate_id)
        if old is None:
            raise NotFound("CERTIFICATE_NOT_FOUND", f"no certificate {certificate_id[:40]!r}")
        fields, custom = corrected_fields(
            recipient_name=old.recipient_name,
            recipient_email=old.recipient_email,
            title=old.title,
            completion_date=old.completion_date,
            document=old.document,
            corrections=corrections,
        )
        now = self._clock()
        result = validate_certificate(
            fields,
            custom,
            row_number=0,
            today=now.date(),
            allow_smtputf8=self._allow_smtputf8,
            default_time_zone=self._default_time_zone,
        )
        if isinstance(result, list):
            raise InvalidInput(
                "INVALID_CERTIFICATE",
                "; ".join(e.message for e in result),
                violations=[FieldViolation(e.field, e.message) for e in result],
            )
        content = replace(result, replaces=certificate_id)
        reissued_key = reissue_key(old.certificate_id)
        keyed = [KeyedRequest(0, content, reissued_key)]
        (planned,) = plan_certificates(self._issuer, keyed, issued_at=now, new_id=self._new_id)
        batch_id = self._new_id()

        def write() -> str:
            with self._store.transaction() as tx:
                issued = tx.issued_certificates(self.issuer_row_id, [planned.dedupe_key])
                if key and (done := tx.certificate_for_request(key)):
                    return done
                if issued:
                    raise Conflict(
                        "ALREADY_REISSUED",
                        f"certificate {certificate_id} was already reissued as"
                        f" {issued[planned.dedupe_key]}; reissue that one to correct it again",
                        metadata={"certificate_id": issued[planned.dedupe_key]},
                    )
                batch = self._new_batch(
                    batch_id,
                    [planned],
                    [],
                    row_count=1,
                    source="api",
                    request_id=None,
                    display_name=f"reissue of {certificate_id}",
                )
                # the old one's revocation, committed with the new one: neither without the other
                message = reissued_message(certificate_id, planned.certificate_id, reason_text)
                tx.add_batch(replace(batch, messages=[*batch.messages, message]))
                if key:
                    tx.add_issue_request(key, planned.certificate_id)
            self._on_committed()
            return planned.certificate_id

        return self._earlier_reissue(_retrying(write), certificate_id)

    def _earlier_reissue(self, done: str, certificate_id: str) -> IssuedCertificate:
        """The certificate a request id already made, if it replaces `certificate_id`: the same
        id reused for another certificate would answer that it is replaced while nothing
        revokes it."""
        issued = _with_warnings(self.certificate(done))
        if issued.document.get("replaces") != credential_id(certificate_id):
            raise Conflict(
                "REQUEST_ID_REUSED", "this request_id was used to reissue another certificate"
            )
        return issued

    def batch_status(self, batch_id: str) -> BatchStatus:
        status = self._store.batch_status(batch_id)
        if status is None:
            raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
        return status

    def row_errors(self, batch_id: str, *, offset: int, limit: int) -> list[RowError]:
        errors = self._store.row_errors(batch_id, offset=offset, limit=limit)
        if errors is None:
            raise NotFound("BATCH_NOT_FOUND", f"no batch {batch_id!r}")
        return errors

    def certificate(self, certificate_id: str) -> IssuedCertificate:
        record = self._store.certificate(certificate_id)
        if record is None:
            raise NotFound("CERTIFICATE_NOT_FOUND", f"no certificate {certificate_id!r}")
        return issued_certificate(record)

    # ---- helpers ----

    def _new_batch(
        self,
        batch_id: str,
        certificates: Sequence[PlannedCertificate],
        refused: Sequence[RowError],
        *,
        row_count: int,
        source: str,
        request_id: str | None,
        display_name: str,
        timing: DeliveryTiming = SEND_WHEN_ANCHORED,
    ) -> NewBatch:
        headers = self._trace_headers()
        return NewBatch(
            batch_id=batch_id,
            issuer_row_id=self.issuer_row_id,
            request_id=request_id,
            display_name=display_name,
            source=source,
            row_count=row_count,
            certificates=certificates,
            refused=refused,
            messages=announce(
                batch_id,
                certificates,
                issuer_name=self._issuer.name,
                per_message=self._leaves_per_message,
                timing=timing,
            ),
            trace_context=json.dumps(headers) if headers else "",
            created_at=self._clock(),
        )

    def _same_upload(self, batch_id: str, request_id: str, digest: str) -> UploadResult:
        """The batch of an earlier upload with this request_id, if it was the same upload."""
        stored = self._store.upload_digest(batch_id)
        if stored is not None and stored != digest:
            raise Conflict(
                "REQUEST_ID_REUSED",
                f"request_id {request_id!r} was already used for a different file, or the "
                "same file with another encoding, column_mapping, date_order, delivery_window, "
                f"send_time or pilot_rows (batch {batch_id}); use a new request_id for a new "
                "upload",
                metadata={"batch_id": batch_id},
            )
        return self._result(batch_id)

    def _same_intake(
        self, batch_id: str, request_id: str, digest: str, earlier: StoredIntake
    ) -> UploadResult:
        """The answer to a repeated upload into a batch: what the first one did, if it was the
        same upload."""
        if earlier.content_sha256 is not None and earlier.content_sha256 != digest:
            raise Conflict(
                "REQUEST_ID_REUSED",
                f"request_id {request_id!r} was already used for another upload into batch "
                f"{batch_id} (a different file, or other reading options or pilot_rows); use a "
                "new request_id for a new upload",
                metadata={"batch_id": batch_id},
            )
        return replace(
            self._result(batch_id),
            skipped_count=earlier.skipped_count,
            held_back_count=earlier.held_back_count,
            resolved_count=earlier.resolved_count,
        )

    def _result(self, batch_id: str) -> UploadResult:
        return UploadResult(
            self.batch_status(batch_id),
            self.row_errors(batch_id, offset=0, limit=MAX_ERRORS_IN_RESPONSE),
        )


@dataclass(frozen=True, slots=True)
class _CheckedFile:
    """A file read, validated and planned: everything an upload decides without a database."""

    csv_file: CsvFile
    rows: Sequence[CsvRow]  # an error report's rows as the lines they correct
    errors: list[RowError]
    warnings: list[RowWarning]
    planned: list[PlannedCertificate]
    duplicates_in_file: int
    upload_errors: list[RowError]  # about the uploaded report itself: shown, never recorded
    report_lines: frozenset[int]  # the batch's refused lines an error report corrects
    unknown_lines: frozenset[int]  # lines an error report names that are no refusal of it


def _with_warnings(certificate: IssuedCertificate) -> IssuedCertificate:
    return replace(certificate, warnings=tuple(name_warnings(certificate.recipient_name, 0)))


def upload_digest(
    data: bytes,
    options: IntakeOptions,
    timing: DeliveryTiming = SEND_WHEN_ANCHORED,
    pilot_rows: int = 0,
) -> str:
    """SHA-256 (hex) of what decides an upload's batch: how the file is read (encoding, column
    mapping, date order) and when its emails may go, then its bytes. A retry resends all of
    them unchanged; the same file sent again with a corrected mapping or date order is a new
    upload, and answering it with the first batch (its rows refused under the old reading)
    would hide that nothing changed. The default timing and no pilot add nothing: digests
    stored before delivery timing or pilots existed still match."""
    parts: list[object] = [
        options.encoding,
        sorted(options.column_mapping.items()),
        options.date_order.value,
    ]
    if timing != SEND_WHEN_ANCHORED:
        send_time = timing.send_time.isoformat() if timing.send_time else ""
        parts.append([timing.business_hours, send_time])
    if pilot_rows:
        parts.append({"pilot_rows": pilot_rows})
    reading = json.dumps(parts)
    digest = hashlib.sha256(reading.encode() + b"\n")  # JSON holds no raw newline
    digest.update(data)
    return digest.hexdigest()


def refused_cells(
    rows: Sequence[CsvRow], refused: Sequence[RowError]
) -> dict[int, tuple[str, ...]]:
    """The uploaded cells of each refused row (for the error report), capped per cell."""
    numbers = {e.row_number for e in refused}
    return {
        row.row_number: tuple(cell[:MAX_FIELD_BYTES] for cell in row.cells)
        for row in rows
        if row.row_number in numbers
    }


def _retrying(write: Callable[[], T]) -> T:
    """Runs a write transaction again when it lost a race (WriteRace), a few times at most."""
    attempt = 1
    while True:
        try:
            return write()
        except WriteRace:
            if attempt == WRITE_ATTEMPTS:
                raise
            attempt += 1
