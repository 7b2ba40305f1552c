"""gRPC transport of notify: delivery status per batch, the operator's re-drive, and the
email preview."""

import asyncio
from datetime import UTC, datetime
from typing import Protocol

import grpc

from certflow.core.errors import invalid_field
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import notify_service_pb2 as pb
from certflow.v1 import notify_service_pb2_grpc
from services.notify import operations, outcomes, preview
from services.notify.bounces import SuppressionReason
from services.notify.operations import DeliveryView, OperatorStore
from services.notify.outcome_policy import DeliveryState
from services.notify.outcomes import (
    DeliveryHistory,
    OutcomeStore,
    ResendRequest,
    SuppressionEntry,
)
from services.notify.preview import EmailPreview, EmailSample, PreviewStore
from services.notify.rendering import CertificateMessages

_STATES = {
    DeliveryState.PENDING: pb.DELIVERY_STATE_PENDING,
    DeliveryState.SENDING: pb.DELIVERY_STATE_SENDING,
    DeliveryState.SENT: pb.DELIVERY_STATE_SENT,
    DeliveryState.FAILED: pb.DELIVERY_STATE_FAILED,
    DeliveryState.SCHEDULED: pb.DELIVERY_STATE_SCHEDULED,
    DeliveryState.DEFERRED: pb.DELIVERY_STATE_DEFERRED,
    DeliveryState.BOUNCED: pb.DELIVERY_STATE_BOUNCED,
    DeliveryState.SUPPRESSED: pb.DELIVERY_STATE_SUPPRESSED,
    DeliveryState.UNSUBSCRIBED: pb.DELIVERY_STATE_UNSUBSCRIBED,
    DeliveryState.COMPLAINED: pb.DELIVERY_STATE_COMPLAINED,
    DeliveryState.QUEUED: pb.DELIVERY_STATE_QUEUED,
}
_REASONS = {
    SuppressionReason.BOUNCED: pb.SUPPRESSION_REASON_BOUNCED,
    SuppressionReason.UNSUBSCRIBED: pb.SUPPRESSION_REASON_UNSUBSCRIBED,
    SuppressionReason.COMPLAINED: pb.SUPPRESSION_REASON_COMPLAINED,
}


class ServicerStore(OperatorStore, PreviewStore, OutcomeStore, Protocol):
    """What the gRPC service reads and writes (store.Deliveries, or a fake)."""


class NotifyServicer(notify_service_pb2_grpc.NotifyServiceServicer):
    def __init__(self, store: ServicerStore, messages: CertificateMessages) -> None:
        self._store = store
        self._messages = messages

    @translate_errors
    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        page = pagination.Page(request.page_size, request.page_token)
        views = await asyncio.to_thread(
            operations.list_deliveries,
            self._store,
            request.batch_id,
            offset=page.offset,
            limit=page.size,
        )
        return pb.ListDeliveriesResponse(
            deliveries=[delivery_message(v) for v in views],
            next_page_token=page.next_token(len(views)),
        )

    @translate_errors
    async def RetryFailedDeliveries(
        self, request: pb.RetryFailedDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetryFailedDeliveriesResponse:
        requeued = await asyncio.to_thread(
            operations.retry_failed,
            self._store,
            request.batch_id,
            request.request_id,
            now=datetime.now(UTC),
        )
        return pb.RetryFailedDeliveriesResponse(requeued_count=requeued)

    @translate_errors
    async def GetDelivery(
        self, request: pb.GetDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDeliveryResponse:
        found = await asyncio.to_thread(
            outcomes.delivery_history,
            self._store,
            delivery_id=request.delivery_id,
            certificate_id=request.certificate_id,
        )
        return pb.GetDeliveryResponse(delivery=history_message(found))

    @translate_errors
    async def ResendDeliveries(
        self, request: pb.ResendDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResendDeliveriesResponse:
        resend = ResendRequest(
            request.certificate_id, request.batch_id, request.recipient_email, request.request_id
        )
        count = await asyncio.to_thread(outcomes.resend, self._store, resend, now=datetime.now(UTC))
        return pb.ResendDeliveriesResponse(resent_count=count)

    @translate_errors
    async def ListSuppressions(
        self, request: pb.ListSuppressionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSuppressionsResponse:
        page = pagination.Page(request.page_size, request.page_token)
        entries = await asyncio.to_thread(
            outcomes.list_suppressions,
            self._store,
            request.issuer_name,
            offset=page.offset,
            limit=page.size,
        )
        return pb.ListSuppressionsResponse(
            suppressions=[suppression_message(e) for e in entries],
            next_page_token=page.next_token(len(entries)),
        )

    @translate_errors
    async def DeleteSuppression(
        self, request: pb.DeleteSuppressionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSuppressionResponse:
        deleted = await asyncio.to_thread(
            outcomes.delete_suppression,
            self._store,
            request.issuer_name,
            key=request.key,
            email=request.email,
        )
        return pb.DeleteSuppressionResponse(deleted=deleted)

    @translate_errors
    async def PreviewEmail(
        self, request: pb.PreviewEmailRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreviewEmailResponse:
        source = request.WhichOneof("source")
        if source == "certificate_id":
            shown = await asyncio.to_thread(
                preview.preview_certificate, self._store, self._messages, request.certificate_id
            )
        elif source == "sample":
            s = request.sample
            sample = EmailSample(
                s.recipient_name, s.recipient_email, s.title, s.completion_date, s.issuer_name
            )
            shown = await asyncio.to_thread(preview.preview_sample, self._messages, sample)
        else:
            raise invalid_field("source", "give a certificate_id or a sample")
        return preview_message(shown)


def delivery_message(view: DeliveryView) -> pb.Delivery:
    message = pb.Delivery(
        delivery_id=view.delivery_id,
        certificate_id=view.certificate_id,
        state=_STATES[shown_state(view)],
        attempts=view.attempts,
        message_id=view.message_id,
        last_error=view.last_error,
    )
    if view.sent_at:
        message.send_time.CopyFrom(to_timestamp(view.sent_at))
    return message


def shown_state(view: DeliveryView) -> DeliveryState:
    """A pending delivery after a counted attempt is shown as deferred (a 4xx backoff)."""
    if view.state is DeliveryState.PENDING and view.attempts > 0:
        return DeliveryState.DEFERRED
    return view.state


def history_message(found: DeliveryHistory) -> pb.Delivery:
    message = delivery_message(found.delivery)
    message.recipient_corrected = found.recipient_corrected
    message.resend_count = found.resend_count
    for event in found.events:
        message.history.append(
            pb.DeliveryEvent(
                event_time=to_timestamp(event.at),
                state=_STATES[event.state],
                smtp_code=event.code,
                detail=event.detail,
            )
        )
    return message


def suppression_message(entry: SuppressionEntry) -> pb.Suppression:
    return pb.Suppression(
        key=entry.key,
        issuer_name=entry.issuer_name,
        address_hint=entry.address_hint,
        reason=_REASONS[entry.reason],
        detail=entry.detail,
        certificate_id=entry.certificate_id,
        create_time=to_timestamp(entry.created_at),
    )


def preview_message(shown: EmailPreview) -> pb.PreviewEmailResponse:
    return pb.PreviewEmailResponse(
        recipient=shown.recipient,
        subject=shown.subject,
        headers=[pb.EmailHeader(name=n, value=v) for n, v in shown.headers],
        text_body=shown.text_body,
        html_body=shown.html_body,
        attachment_names=shown.attachment_names,
        smtputf8_required=shown.smtputf8,
        size_bytes=shown.size_bytes,
        dkim_signed=shown.dkim_signed,
    )
