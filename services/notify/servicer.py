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
from services.notify import operations, preview
from services.notify.operations import DeliveryView, OperatorStore
from services.notify.outcome_policy import DeliveryState
from services.notify.preview import EmailPreview, EmailSample, PreviewStore
from services.notify.rendering import CertificateMessages

_STATES = {
    DeliveryState.PENDING: pb.DELIVERY_STATE_PENDING,
    DeliveryState.SENDING: pb.DELIVERY_STATE_SENDING,
    DeliveryState.SENT: pb.DELIVERY_STATE_SENT,
    DeliveryState.FAILED: pb.DELIVERY_STATE_FAILED,
    DeliveryState.SCHEDULED: pb.DELIVERY_STATE_SCHEDULED,
}


class ServicerStore(OperatorStore, PreviewStore, Protocol):
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
        state=_STATES[view.state],
        attempts=view.attempts,
        message_id=view.message_id,
        last_error=view.last_error,
    )
    if view.sent_at:
        message.send_time.CopyFrom(to_timestamp(view.sent_at))
    return message


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
