"""gRPC transport of scheduled batches and outbound webhooks, mixed into IngestServicer:
requests become `ScheduledBatches` / `WebhookEndpoints` calls, results become messages."""

import asyncio
from datetime import UTC, datetime

import grpc

from certflow.core.errors import invalid_field
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import ingest_service_pb2 as pb
from services.ingest.schedules import Schedule, ScheduledBatches
from services.ingest.webhook_endpoints import WebhookEndpoints
from services.ingest.webhook_store import Delivery, Endpoint
from services.ingest.webhooks import DeliveryState

MAX_REQUEST_ID = 128


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID or not value.isprintable():  # NUL: PostgreSQL's 500
        raise invalid_field("request_id", f"at most {MAX_REQUEST_ID} printable characters")
    return value


def run_at_of(wanted: pb.Schedule) -> datetime | None:
    if not wanted.HasField("run_time"):
        return None
    try:
        return wanted.run_time.ToDatetime(tzinfo=UTC)
    except ValueError:  # seconds or nanos out of Timestamp's range: was an INTERNAL
        raise invalid_field("schedule.run_time", "a time from year 1 to 9999") from None


def schedule_message(schedule: Schedule) -> pb.Schedule:
    message = pb.Schedule(
        schedule_id=schedule.schedule_id,
        name=schedule.name,
        rule_id=schedule.rule_id,
        cron=schedule.cron,
        time_zone=schedule.time_zone,
        disabled=not schedule.enabled,
        create_time=to_timestamp(schedule.created_at),
    )
    if schedule.run_at:
        message.run_time.CopyFrom(to_timestamp(schedule.run_at))
    if schedule.last_firing:
        message.last_fire_time.CopyFrom(to_timestamp(schedule.last_firing))
    return message


def endpoint_message(endpoint: Endpoint) -> pb.WebhookEndpoint:
    message = pb.WebhookEndpoint(
        endpoint_id=endpoint.endpoint_id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=sorted(e.value for e in endpoint.events),
        disabled=not endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        create_time=to_timestamp(endpoint.created_at),
    )
    if endpoint.failing_since:
        message.failing_since_time.CopyFrom(to_timestamp(endpoint.failing_since))
    return message


def delivery_message(delivery: Delivery) -> pb.WebhookDelivery:
    message = pb.WebhookDelivery(
        delivery_id=delivery.delivery_id,
        event_type=delivery.event_type.value,
        state=delivery.state.value,
        attempts=delivery.attempts,
        response_code=delivery.response_code or 0,
        last_error=delivery.last_error,
        response_excerpt=delivery.response_excerpt,
        create_time=to_timestamp(delivery.created_at),
    )
    if delivery.next_attempt_at and delivery.state is DeliveryState.PENDING:
        message.next_attempt_time.CopyFrom(to_timestamp(delivery.next_attempt_at))
    if delivery.delivered_at:
        message.deliver_time.CopyFrom(to_timestamp(delivery.delivered_at))
    return message


class ScheduleRpcs:
    """IngestService's schedule methods; `_schedules` is set by IngestServicer."""

    _schedules: ScheduledBatches

    @translate_errors
    async def CreateSchedule(
        self, request: pb.CreateScheduleRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateScheduleResponse:
        wanted = request.schedule
        run_at = run_at_of(wanted)
        created = await asyncio.to_thread(
            self._schedules.create,
            name=wanted.name.strip(),
            rule_id=wanted.rule_id.strip(),
            cron=wanted.cron.strip(),
            time_zone=wanted.time_zone.strip(),
            run_at=run_at,
            request_id=_request_id(request.request_id),
        )
        return pb.CreateScheduleResponse(schedule=schedule_message(created))

    @translate_errors
    async def ListSchedules(
        self, request: pb.ListSchedulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSchedulesResponse:
        page = pagination.Page(request.page_size, request.page_token)
        found = await asyncio.to_thread(
            self._schedules.schedules, offset=page.offset, limit=page.size
        )
        return pb.ListSchedulesResponse(
            schedules=[schedule_message(s) for s in found],
            next_page_token=page.next_token(len(found)),
        )

    @translate_errors
    async def DisableSchedule(
        self, request: pb.DisableScheduleRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableScheduleResponse:
        done = await asyncio.to_thread(self._schedules.disable, request.schedule_id)
        return pb.DisableScheduleResponse(schedule=schedule_message(done))


class WebhookRpcs:
    """IngestService's webhook methods; `_webhooks` is set by IngestServicer."""

    _webhooks: WebhookEndpoints

    @translate_errors
    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateWebhookEndpointResponse:
        wanted = request.endpoint
        endpoint, secret = await asyncio.to_thread(
            self._webhooks.create,
            wanted.url.strip(),
            list(wanted.event_types),
            description=wanted.description.strip(),
            request_id=_request_id(request.request_id),
        )
        return pb.CreateWebhookEndpointResponse(endpoint=endpoint_message(endpoint), secret=secret)

    @translate_errors
    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWebhookEndpointsResponse:
        page = pagination.Page(request.page_size, request.page_token)
        found = await asyncio.to_thread(
            self._webhooks.endpoints, offset=page.offset, limit=page.size
        )
        return pb.ListWebhookEndpointsResponse(
            endpoints=[endpoint_message(e) for e in found],
            next_page_token=page.next_token(len(found)),
        )

    @translate_errors
    async def DisableWebhookEndpoint(
        self, request: pb.DisableWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableWebhookEndpointResponse:
        done = await asyncio.to_thread(self._webhooks.disable, request.endpoint_id)
        return pb.DisableWebhookEndpointResponse(endpoint=endpoint_message(done))

    @translate_errors
    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateWebhookSecretResponse:
        endpoint, secret = await asyncio.to_thread(
            self._webhooks.rotate_secret, request.endpoint_id
        )
        return pb.RotateWebhookSecretResponse(endpoint=endpoint_message(endpoint), secret=secret)

    @translate_errors
    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWebhookDeliveriesResponse:
        try:
            state = DeliveryState(request.state) if request.state else None
        except ValueError:
            raise invalid_field("state", "pending, delivered or failed") from None
        page = pagination.Page(request.page_size, request.page_token)
        found = await asyncio.to_thread(
            self._webhooks.deliveries,
            request.endpoint_id,
            state=state,
            offset=page.offset,
            limit=page.size,
        )
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_message(d) for d in found],
            next_page_token=page.next_token(len(found)),
        )

    @translate_errors
    async def ReplayWebhookDeliveries(
        self, request: pb.ReplayWebhookDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplayWebhookDeliveriesResponse:
        count = await asyncio.to_thread(
            self._webhooks.replay, request.endpoint_id, request.delivery_id
        )
        return pb.ReplayWebhookDeliveriesResponse(replayed_count=count)
