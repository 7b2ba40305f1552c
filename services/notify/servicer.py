"""gRPC transport of notify: delivery status per batch, and the operator's re-drive."""

import asyncio
from datetime import UTC, datetime

import grpc

from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import notify_service_pb2 as pb
from certflow.v1 import notify_service_pb2_grpc
from services.notify import operations
from services.notify.operations import DeliveryView, OperatorStore
from services.notify.outcome_policy import DeliveryState

_STATES = {
    DeliveryState.PENDING: pb.DELIVERY_STATE_PENDING,
    DeliveryState.SENDING: pb.DELIVERY_STATE_SENDING,
    DeliveryState.SENT: pb.DELIVERY_STATE_SENT,
    DeliveryState.FAILED: pb.DELIVERY_STATE_FAILED,
}


class NotifyServicer(notify_service_pb2_grpc.NotifyServiceServicer):
    def __init__(self, store: OperatorStore) -> None:
        self._store = store

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
