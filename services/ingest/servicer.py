"""gRPC transport of ingest: requests become use-case calls, results become responses."""

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import TypeVar

import grpc
import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from certflow.core.csv_intake import IntakeOptions
from certflow.core.dates import DateOrder
from certflow.core.errors import Cancelled, CancelSignal, TooLarge, invalid_field
from certflow.core.validation import RowError, RowWarning
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors, translate_stream_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import certificate_pb2, ingest_service_pb2, ingest_service_pb2_grpc
from services.ingest.announcements import DeliveryTiming
from services.ingest.automation_servicer import ScheduleRpcs, WebhookRpcs
from services.ingest.batch_report import BatchReport, BatchReports
from services.ingest.batch_watch import BatchWatchHub, watch_batch
from services.ingest.gas_price import BaseFee
from services.ingest.intake import (
    GAS_PER_ANCHOR_TRANSACTION,
    AnchoringEstimate,
    anchoring_estimate,
    intake_choice,
)
from services.ingest.lifecycle import BatchLifecycle, BatchQuery
from services.ingest.lms import LmsIntake
from services.ingest.lms_servicer import LmsRpcs
from services.ingest.progress import BatchState, BatchStatus
from services.ingest.schedules import ScheduledBatches
from services.ingest.usecases import Ingest, IssuedCertificate, UploadPlan
from services.ingest.webhook_endpoints import WebhookEndpoints

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_STATES = {
    BatchState.VALIDATING: ingest_service_pb2.BATCH_STATE_VALIDATING,
    BatchState.ANCHORING: ingest_service_pb2.BATCH_STATE_ANCHORING,
    BatchState.NOTIFYING: ingest_service_pb2.BATCH_STATE_NOTIFYING,
    BatchState.COMPLETED: ingest_service_pb2.BATCH_STATE_COMPLETED,
    BatchState.COMPLETED_WITH_FAILURES: ingest_service_pb2.BATCH_STATE_COMPLETED_WITH_FAILURES,
    BatchState.REJECTED: ingest_service_pb2.BATCH_STATE_REJECTED,
    BatchState.CANCELLED: ingest_service_pb2.BATCH_STATE_CANCELLED,
}
PROTO_STATES = {proto: state for state, proto in BATCH_STATES.items()}
MAX_REQUEST_ID = 128
MAX_BATCH_ID = 64  # ours are 36-character UUIDs


class IngestServicer(
    LmsRpcs, ScheduleRpcs, WebhookRpcs, ingest_service_pb2_grpc.IngestServiceServicer
):
    def __init__(
        self,
        ingest: Ingest,
        *,
        max_upload_bytes: int,
        upload_executor: Executor,
        lifecycle: BatchLifecycle,
        hub: BatchWatchHub,
        watch_poll_seconds: float,
        max_rows: int = 200_000,
        window_size: int = 200_000,
        gas_per_transaction: int = GAS_PER_ANCHOR_TRANSACTION,
        base_fee: Callable[[], Awaitable[BaseFee]] | None = None,
        reports: BatchReports,
        lms: LmsIntake | None = None,
        schedules: ScheduledBatches | None = None,
        webhooks: WebhookEndpoints | None = None,
    ) -> None:
        if lms is not None:
            self._lms = lms  # the LMS methods (lms_servicer.py)
        if schedules is not None:
            self._schedules = schedules  # automation_servicer.py
        if webhooks is not None:
            self._webhooks = webhooks
        self._ingest = ingest
        self._reports = reports
        self._max_rows = max_rows
        self._window_size = window_size
        self._gas_per_transaction = gas_per_transaction
        self._base_fee = base_fee
        self._lifecycle = lifecycle
        self._hub = hub
        self._watch_poll_seconds = watch_poll_seconds
        self._max_upload_bytes = max_upload_bytes
        # uploads are CPU-heavy: their own few threads, so they cannot take every thread the
        # short RPCs (GetBatch, IssueCertificate, ListRowErrors) run on
        self._upload_executor = upload_executor

    @translate_errors
    async def UploadCsv(
        self,
        request_iterator: AsyncIterator[ingest_service_pb2.UploadCsvRequest],
        context: grpc.aio.ServicerContext,
    ) -> ingest_service_pb2.UploadCsvResponse:
        metadata: ingest_service_pb2.UploadCsvMetadata | None = None
        chunks: list[bytes] = []
        size = 0
        async for message in request_iterator:
            kind = message.WhichOneof("payload")
            if kind == "metadata":
                if metadata is not None or chunks:
                    raise invalid_field(
                        "metadata", "metadata must be the first and only metadata message"
                    )
                metadata = message.metadata
            elif kind == "chunk":
                size += len(message.chunk)
                if size > self._max_upload_bytes:
                    raise TooLarge(
                        "FILE_TOO_LARGE",
                        f"the upload exceeds {self._max_upload_bytes} bytes; split the file",
                    )
                chunks.append(message.chunk)
        if metadata is None:
            raise invalid_field(
                "metadata", "the stream must start with an UploadCsvMetadata message"
            )
        _check_request_id(metadata.request_id)
        choice = intake_choice(
            dry_run=metadata.dry_run,
            pilot_rows=metadata.pilot_rows,
            batch_id=metadata.batch_id,
            preview_count=metadata.preview_count,
            max_rows=self._max_rows,
        )
        data = b"".join(chunks)
        request_id = metadata.request_id
        options = IntakeOptions(
            encoding=metadata.encoding,
            column_mapping=dict(metadata.column_mapping),
            date_order=date_order(metadata.date_order),
        )
        timing = delivery_timing(metadata)  # refused alike by a dry run
        if choice.dry_run:
            plan = await self._in_upload_executor(
                request_id,
                len(data),
                lambda cancel: self._ingest.plan_upload(
                    data, cancel=cancel, options=options, choice=choice
                ),
            )
            fee = await self._base_fee() if self._base_fee else BaseFee(None, "not asked")
            estimate = anchoring_estimate(
                plan.accepted_count,
                window_size=self._window_size,
                gas_per_transaction=self._gas_per_transaction,
                base_fee_wei=fee.wei,
                fee_note=fee.note,
            )
            return ingest_service_pb2.UploadCsvResponse(
                plan=plan_message(plan, estimate),
                encoding=plan.encoding,
                delimiter=plan.delimiter,
            )
        result = await self._in_upload_executor(
            request_id,
            len(data),
            lambda cancel: self._ingest.upload_csv(
                data,
                request_id=request_id,
                display_name=metadata.display_name[:200],
                cancel=cancel,
                options=options,
                timing=timing,
                choice=choice,
            ),
        )
        return ingest_service_pb2.UploadCsvResponse(
            batch=batch_message(result.batch),
            row_errors=[row_error_message(e) for e in result.row_errors],
            warnings=[row_warning_message(w) for w in result.warnings],
            warning_count=result.warning_count,
            encoding=result.encoding,
            delimiter=result.delimiter,
            skipped_count=result.skipped_count,
            held_back_count=result.held_back_count,
            resolved_count=result.resolved_count,
        )

    async def _in_upload_executor(
        self, request_id: str, size: int, work: Callable[[CancelSignal], T]
    ) -> T:
        """Runs an upload (or its dry run) on the upload executor; when this RPC is cancelled
        (by the client or its deadline) the worker stops at its next check instead of running
        on for nobody."""
        cancel = threading.Event()

        def run() -> T:
            try:
                return work(cancel)
            except Cancelled:
                log.info("upload %r stopped: its caller cancelled or ran out of time", request_id)
                raise

        context = contextvars.copy_context()  # the trace context rides into the outbox rows
        log.info("upload %r received (%d bytes): processing", request_id, size)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._upload_executor, context.run, run
            )
        finally:
            cancel.set()  # also when this RPC was cancelled: the worker stops at its next check

    @translate_errors
    async def IssueCertificate(
        self, request: ingest_service_pb2.IssueCertificateRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.IssueCertificateResponse:
        _check_request_id(request.request_id)
        stored = await asyncio.to_thread(
            self._ingest.issue_one,
            request_id=request.request_id,
            fields={
                "name": request.recipient_name,
                "email": request.recipient_email,
                "title": request.title,
                "completion_date": request.completion_date,
                "expiry_date": request.expiry_date,
            },
            custom_fields=dict(request.custom_fields),
            date_order=date_order(request.date_order),
        )
        return ingest_service_pb2.IssueCertificateResponse(
            certificate=certificate_message(stored),
            warnings=[row_warning_message(w) for w in stored.warnings],
        )

    @translate_errors
    async def ReissueCertificate(
        self,
        request: ingest_service_pb2.ReissueCertificateRequest,
        context: grpc.aio.ServicerContext,
    ) -> ingest_service_pb2.ReissueCertificateResponse:
        _check_request_id(request.request_id)
        if not request.certificate_id:
            raise invalid_field("certificate_id", "the certificate to replace is required")
        stored = await asyncio.to_thread(
            self._ingest.reissue_one,
            request_id=request.request_id,
            certificate_id=request.certificate_id,
            corrections={
                "name": request.recipient_name,
                "email": request.recipient_email,
                "title": request.title,
                "completion_date": request.completion_date,
                "expiry_date": request.expiry_date,
            },
            reason_text=request.reason_text,
        )
        return ingest_service_pb2.ReissueCertificateResponse(
            certificate=certificate_message(stored),
            replaced_certificate_id=request.certificate_id,
            warnings=[row_warning_message(w) for w in stored.warnings],
        )

    @translate_errors
    async def GetBatch(
        self, request: ingest_service_pb2.GetBatchRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.GetBatchResponse:
        if not request.batch_id:
            raise invalid_field("batch_id", "batch_id is required")
        status = await asyncio.to_thread(self._ingest.batch_status, request.batch_id)
        return ingest_service_pb2.GetBatchResponse(batch=batch_message(status))

    @translate_errors
    async def ListRowErrors(
        self, request: ingest_service_pb2.ListRowErrorsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.ListRowErrorsResponse:
        page = pagination.Page(request.page_size, request.page_token)
        errors = await asyncio.to_thread(
            self._ingest.row_errors, request.batch_id, offset=page.offset, limit=page.size
        )
        return ingest_service_pb2.ListRowErrorsResponse(
            row_errors=[row_error_message(e) for e in errors],
            next_page_token=page.next_token(len(errors)),
        )

    @translate_errors
    async def ListBatches(
        self, request: ingest_service_pb2.ListBatchesRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.ListBatchesResponse:
        page = pagination.Page(request.page_size, request.page_token)
        batches = await asyncio.to_thread(
            self._lifecycle.list_batches, batch_query(request), offset=page.offset, limit=page.size
        )
        return ingest_service_pb2.ListBatchesResponse(
            batches=[batch_message(b) for b in batches],
            next_page_token=page.next_token(len(batches)),
        )

    @translate_stream_errors
    async def WatchBatch(
        self, request: ingest_service_pb2.WatchBatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_service_pb2.WatchBatchResponse]:
        batch_id = _required_batch_id(request.batch_id)

        async def read() -> BatchStatus:
            return await asyncio.to_thread(self._lifecycle.status, batch_id)

        async for status in watch_batch(
            self._hub, batch_id, read, poll_seconds=self._watch_poll_seconds
        ):
            yield ingest_service_pb2.WatchBatchResponse(batch=batch_message(status))

    @translate_errors
    async def CancelBatch(
        self, request: ingest_service_pb2.CancelBatchRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.CancelBatchResponse:
        batch_id = _required_batch_id(request.batch_id)
        status = await asyncio.to_thread(self._lifecycle.cancel, batch_id)
        return ingest_service_pb2.CancelBatchResponse(batch=batch_message(status))

    @translate_stream_errors
    async def DownloadErrorReport(
        self,
        request: ingest_service_pb2.DownloadErrorReportRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ingest_service_pb2.DownloadErrorReportResponse]:
        """Each chunk is read and rendered in a worker thread, one page of refusals at a time:
        a report of 100,000 refused rows is never held whole."""
        batch_id = _required_batch_id(request.batch_id)
        chunks = await asyncio.to_thread(self._lifecycle.error_report, batch_id)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield ingest_service_pb2.DownloadErrorReportResponse(chunk=chunk)

    @translate_errors
    async def GetBatchReport(
        self, request: ingest_service_pb2.GetBatchReportRequest, context: grpc.aio.ServicerContext
    ) -> ingest_service_pb2.GetBatchReportResponse:
        batch_id = _required_batch_id(request.batch_id)
        report = await asyncio.to_thread(self._reports.report, batch_id)
        return ingest_service_pb2.GetBatchReportResponse(report=report_message(report))


def report_message(report: BatchReport) -> ingest_service_pb2.BatchReport:
    def moment(at: datetime | None) -> Timestamp | None:
        return to_timestamp(at) if at is not None else None

    return ingest_service_pb2.BatchReport(
        batch=batch_message(report.status),
        refused_row_count=report.refused_row_count,
        intakes=[
            ingest_service_pb2.BatchIntake(
                sequence=i.sequence,
                create_time=to_timestamp(i.created_at),
                row_count=i.row_count,
                accepted_count=i.accepted_count,
                rejected_count=i.rejected_count,
                skipped_count=i.skipped_count,
                held_back_count=i.held_back_count,
                resolved_count=i.resolved_count,
            )
            for i in report.intakes
        ],
        transactions=[
            ingest_service_pb2.AnchoringTransaction(
                transaction_hash=t.transaction_hash,
                chain_id=t.chain_id,
                block_number=t.block_number,
                window_id=t.window_id,
                merkle_root=t.merkle_root,
                certificate_count=t.certificate_count,
                anchor_time=to_timestamp(t.anchored_at),
            )
            for t in report.transactions
        ],
        deliveries=[
            ingest_service_pb2.DeliveryCount(outcome=outcome, count=count)
            for outcome, count in report.deliveries.items()
        ],
        first_anchor_time=moment(report.first_anchored_at),
        last_anchor_time=moment(report.last_anchored_at),
        last_email_time=moment(report.last_emailed_at),
    )


def batch_query(request: ingest_service_pb2.ListBatchesRequest) -> BatchQuery:
    states = set()
    for value in request.states:
        state = PROTO_STATES.get(value)
        if state is None:
            raise invalid_field("states", f"{value} is not a batch state")
        states.add(state)
    start = request.create_time_start if request.HasField("create_time_start") else None
    end = request.create_time_end if request.HasField("create_time_end") else None
    query = BatchQuery(
        states=frozenset(states),
        created_from=start.ToDatetime(tzinfo=UTC) if start else None,
        created_before=end.ToDatetime(tzinfo=UTC) if end else None,
    )
    if query.created_from and query.created_before and query.created_from >= query.created_before:
        raise invalid_field("create_time_end", "create_time_end must be after create_time_start")
    return query


def _required_batch_id(batch_id: str) -> str:
    if not batch_id:
        raise invalid_field("batch_id", "batch_id is required")
    if len(batch_id) > MAX_BATCH_ID:
        raise invalid_field("batch_id", f"batch_id is longer than {MAX_BATCH_ID} characters")
    return batch_id


def _check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID:
        raise invalid_field("request_id", f"request_id is longer than {MAX_REQUEST_ID} characters")


def batch_message(status: BatchStatus) -> ingest_service_pb2.Batch:
    return ingest_service_pb2.Batch(
        name=f"batches/{status.batch_id}",
        batch_id=status.batch_id,
        display_name=status.display_name,
        source=status.source,
        state=BATCH_STATES[status.state],
        row_count=status.row_count,
        accepted_count=status.accepted_count,
        rejected_count=status.rejected_count,
        anchored_count=status.anchored_count,
        emailed_count=status.emailed_count,
        email_failed_count=status.email_failed_count,
        email_bounced_count=status.bounced_count,
        email_suppressed_count=status.suppressed_count,
        create_time=to_timestamp(status.created_at),
        stored_count=status.stored_count,
        cancel_time=to_timestamp(status.cancelled_at) if status.cancelled_at else None,
        cancelled_count=status.cancelled_count,
    )


DATE_ORDERS: dict[ingest_service_pb2.DateOrder, DateOrder] = {
    ingest_service_pb2.DATE_ORDER_UNSPECIFIED: DateOrder.UNSPECIFIED,
    ingest_service_pb2.DATE_ORDER_DAY_FIRST: DateOrder.DAY_FIRST,
    ingest_service_pb2.DATE_ORDER_MONTH_FIRST: DateOrder.MONTH_FIRST,
}


def date_order(value: ingest_service_pb2.DateOrder) -> DateOrder:
    if value not in DATE_ORDERS:
        raise invalid_field("date_order", f"unknown date order {value}")
    return DATE_ORDERS[value]


def row_warning_message(warning: RowWarning) -> ingest_service_pb2.RowWarning:
    return ingest_service_pb2.RowWarning(
        row_number=warning.row_number,
        field=warning.field,
        code=warning.code,
        message=warning.message,
    )


def row_error_message(error: RowError) -> certificate_pb2.RowError:
    return certificate_pb2.RowError(
        row_number=error.row_number, field=error.field, reason=error.reason, message=error.message
    )


def certificate_message(stored: IssuedCertificate) -> certificate_pb2.Certificate:
    return certificate_pb2.Certificate(
        name=f"certificates/{stored.certificate_id}",
        certificate_id=stored.certificate_id,
        batch_id=stored.batch_id,
        recipient_name=stored.recipient_name,
        title=stored.title,
        state=certificate_pb2.CERTIFICATE_STATE_ANCHORED
        if stored.anchored
        else certificate_pb2.CERTIFICATE_STATE_ISSUED,
        document_json=orjson.dumps(stored.document).decode(),
        leaf_hash=stored.leaf_hash,
    )


def plan_message(plan: UploadPlan, estimate: AnchoringEstimate) -> ingest_service_pb2.UploadPlan:
    fee = estimate.estimated_fee_wei
    return ingest_service_pb2.UploadPlan(
        row_count=plan.row_count,
        accepted_count=plan.accepted_count,
        rejected_count=plan.rejected_count,
        duplicates_in_file_count=plan.duplicates_in_file,
        already_issued_count=plan.already_issued,
        skipped_count=plan.skipped_count,
        held_back_count=plan.held_back_count,
        resolved_count=plan.resolved_count,
        row_errors=[row_error_message(e) for e in plan.row_errors],
        warnings=[row_warning_message(w) for w in plan.warnings],
        warning_count=plan.warning_count,
        previews=[
            ingest_service_pb2.CertificatePreview(
                row_number=p.row_number,
                credential_json=orjson.dumps(p.credential).decode(),
                email=ingest_service_pb2.EmailPreview(
                    recipient_name=p.recipient_name,
                    recipient_email=p.recipient_email,
                    title=p.title,
                    completion_date=p.completion_date,
                    issuer_name=p.issuer_name,
                ),
            )
            for p in plan.previews
        ],
        anchoring=ingest_service_pb2.AnchoringEstimate(
            window_size=estimate.window_size,
            transaction_count=estimate.transaction_count,
            gas_per_transaction=estimate.gas_per_transaction,
            base_fee_wei="" if estimate.base_fee_wei is None else str(estimate.base_fee_wei),
            estimated_fee_wei="" if fee is None else str(fee),
            fee_note=estimate.fee_note,
        ),
        encoding=plan.encoding,
        delimiter=plan.delimiter,
    )


def delivery_timing(metadata: ingest_service_pb2.UploadCsvMetadata) -> DeliveryTiming:
    """The batch's delivery window and send time; a window this server does not know is
    refused (INVALID_ARGUMENT) rather than sent at once."""
    if metadata.delivery_window not in ingest_service_pb2.DeliveryWindow.values():
        raise invalid_field(
            "metadata.delivery_window",
            f"unknown delivery window {metadata.delivery_window} (ANYTIME or BUSINESS_HOURS)",
        )
    send_time = None
    if metadata.HasField("send_time"):
        try:
            send_time = metadata.send_time.ToDatetime(UTC)
        except (ValueError, OverflowError) as exc:
            raise invalid_field("metadata.send_time", f"not a valid time: {exc}") from None
    return DeliveryTiming(
        business_hours=metadata.delivery_window
        == ingest_service_pb2.DELIVERY_WINDOW_BUSINESS_HOURS,
        send_time=send_time,
    )
