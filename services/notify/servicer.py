"""gRPC transport of notify: delivery status per batch, and the operator's re-drive."""

import asyncio
from datetime import UTC, datetime

import grpc

from certflow.core.errors import invalid_field
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import notify_service_pb2 as pb
from certflow.v1 import notify_service_pb2_grpc
from services.notify import tables as models
from services.notify.deliveries import Deliveries

_STATES = {
    "pending": pb.DELIVERY_STATE_PENDING,
    "sending": pb.DELIVERY_STATE_SENDING,
    "sent": pb.DELIVERY_STATE_SENT,
    "failed": pb.DELIVERY_STATE_FAILED,
}


class NotifyServicer(notify_service_pb2_grpc.NotifyServiceServicer):
    def __init__(self, deliveries: Deliveries) -> None:
        self._deliveries = deliveries

    @translate_errors
    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        if not request.batch_id:
            raise invalid_field("batch_id", "batch_id is required")
        page = pagination.Page(request.page_size, request.page_token)
        rows = await asyncio.to_thread(
            self._deliveries.list_for_batch, request.batch_id, offset=page.offset, limit=page.size
        )
        return pb.ListDeliveriesResponse(
            deliveries=[delivery_message(r) for r in rows],
            next_page_token=page.next_token(len(rows)),
        )

    @translate_errors
    async def RetryFailedDeliveries(
        self, request: pb.RetryFailedDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetryFailedDeliveriesResponse:
        if not request.batch_id:
            raise invalid_field("batch_id", "batch_id is required")
        if len(request.request_id) > 128:
            raise invalid_field("request_id", "request_id has more than 128 characters")
        requeued = await asyncio.to_thread(
            self._deliveries.retry_failed,
            request.batch_id,
            request.request_id,
            now=datetime.now(UTC),
        )
        return pb.RetryFailedDeliveriesResponse(requeued_count=requeued)


def delivery_message(row: models.Delivery) -> pb.Delivery:
    message = pb.Delivery(
        delivery_id=row.id,
        certificate_id=row.certificate_id,
        state=_STATES[row.state],
        attempts=row.attempts,
        message_id=row.message_id,
        last_error=row.last_error,
    )
    if row.sent_at:
        message.send_time.CopyFrom(to_timestamp(row.sent_at))
    return message
