"""`certflow schedules …` and `certflow webhooks …`: when collected LMS achievements become a
batch, and where ingest posts what happens to batches and certificates (docs/webhooks.md)."""

from collections.abc import Sequence
from datetime import datetime

import click
from google.protobuf.json_format import MessageToDict
from rich import box
from rich.console import Console
from rich.table import Table

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.upload import MAX_REQUEST_ID
from certflow_cli.connection import connected
from certflow_cli.exit_codes import ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, shown

MAX_PAGE_SIZE = 1000
EVENTS = (
    "batch.completed",
    "certificate.issued",
    "certificate.anchored",
    "certificate.delivered",
    "certificate.bounced",
    "certificate.revoked",
)


def _document(message: object) -> JsonDocument:
    return MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID:
        raise click.BadParameter(f"at most {MAX_REQUEST_ID} characters", param_hint="--request-id")
    return value


def _table(columns: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> object:
    if not rows:
        return empty
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*(shown(cell) for cell in row))
    return table


@click.group()
def schedules() -> None:
    """Scheduled batches: collected achievements issued together at set times."""


@schedules.command("create")
@click.argument("name")
@click.option("--rule", "rule_id", default="", help="Only this rule's achievements (default all).")
@click.option("--cron", default="", help='Five fields, e.g. "0 18 * * 5" (Fridays 18:00).')
@click.option("--time-zone", default="", help="IANA zone the cron is read in, e.g. Europe/Paris.")
@click.option(
    "--at",
    "run_at",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
    help="A one-off time with its offset, e.g. 2026-12-01T09:00+01:00.",
)
@click.option("--request-id", default="", help="Idempotency key.")
@certflow_command
def create_schedule(
    run: Invocation,
    name: str,
    rule_id: str,
    cron: str,
    time_zone: str,
    run_at: datetime | None,
    request_id: str,
) -> ExitCode:
    """Add a schedule (--cron and --time-zone, or --at). Exit 0, 4 when refused."""
    wanted = pb.Schedule(name=name, rule_id=rule_id, cron=cron, time_zone=time_zone)
    if run_at is not None:
        wanted.run_time.FromDatetime(run_at)
    request = pb.CreateScheduleRequest(schedule=wanted, request_id=_request_id(request_id))
    with connected(run.settings()) as client:
        created = client.automation("CreateSchedule", request).schedule
    run.output.result(
        {"schedule": _document(created)},
        lambda console: console.print(shown(f"schedule {created.name} {created.schedule_id}")),
    )
    return ExitCode.OK


@schedules.command("list")
@certflow_command
def list_schedules(run: Invocation) -> ExitCode:
    """List schedules. Exit 0."""
    found: list[pb.Schedule] = []
    request = pb.ListSchedulesRequest(page_size=MAX_PAGE_SIZE)
    with connected(run.settings()) as client:
        while True:
            page = client.automation("ListSchedules", request)
            found.extend(page.schedules)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token

    def render(console: Console) -> None:
        rows = [
            (
                s.name,
                f"{s.cron} {s.time_zone}" if s.cron else s.run_time.ToJsonString(),
                s.last_fire_time.ToJsonString() if s.HasField("last_fire_time") else "-",
                "disabled" if s.disabled else "enabled",
                s.schedule_id,
            )
            for s in found
        ]
        console.print(_table(("name", "when", "last fired", "state", "id"), rows, "no schedules"))

    run.output.result({"schedules": [_document(s) for s in found]}, render)
    return ExitCode.OK


@schedules.command("disable")
@click.argument("schedule_id")
@certflow_command
def disable_schedule(run: Invocation, schedule_id: str) -> ExitCode:
    """Stop a schedule. Exit 0, 6 when there is no such schedule."""
    with connected(run.settings()) as client:
        done = client.automation(
            "DisableSchedule", pb.DisableScheduleRequest(schedule_id=schedule_id)
        ).schedule
    run.output.result(
        {"schedule": _document(done)},
        lambda console: console.print(shown(f"schedule {done.name} disabled")),
    )
    return ExitCode.OK


@click.group()
def webhooks() -> None:
    """Outbound webhooks: signed posts of batch and certificate events."""


@webhooks.command("create")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENTS), help="Repeatable.")
@click.option("--description", default="")
@click.option("--request-id", default="", help="Idempotency key.")
@certflow_command
def create_endpoint(
    run: Invocation, url: str, events: tuple[str, ...], description: str, request_id: str
) -> ExitCode:
    """Add an https endpoint (every event without --event). Its secret is printed once.

    Exit 0, 4 when the URL is refused.
    """
    wanted = pb.WebhookEndpoint(url=url, event_types=list(events), description=description)
    request = pb.CreateWebhookEndpointRequest(endpoint=wanted, request_id=_request_id(request_id))
    with connected(run.settings()) as client:
        created = client.automation("CreateWebhookEndpoint", request)

    def render(console: Console) -> None:
        console.print(shown(f"endpoint {created.endpoint.endpoint_id} {created.endpoint.url}"))
        if created.secret:
            console.print(shown(f"secret (shown once): {created.secret}"))
        else:
            console.print("secret: not shown again (an earlier call with this request id)")

    run.output.result({"endpoint": _document(created.endpoint), "secret": created.secret}, render)
    return ExitCode.OK


@webhooks.command("list")
@certflow_command
def list_endpoints(run: Invocation) -> ExitCode:
    """List endpoints (never their secrets). Exit 0."""
    found: list[pb.WebhookEndpoint] = []
    request = pb.ListWebhookEndpointsRequest(page_size=MAX_PAGE_SIZE)
    with connected(run.settings()) as client:
        while True:
            page = client.automation("ListWebhookEndpoints", request)
            found.extend(page.endpoints)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token

    def render(console: Console) -> None:
        rows = [
            (
                e.url,
                ",".join(e.event_types),
                f"disabled: {e.disabled_reason}" if e.disabled else "enabled",
                e.endpoint_id,
            )
            for e in found
        ]
        console.print(_table(("url", "events", "state", "id"), rows, "no endpoints"))

    run.output.result({"endpoints": [_document(e) for e in found]}, render)
    return ExitCode.OK


@webhooks.command("disable")
@click.argument("endpoint_id")
@certflow_command
def disable_endpoint(run: Invocation, endpoint_id: str) -> ExitCode:
    """Stop posting to an endpoint. Exit 0, 6 when there is no such endpoint."""
    request = pb.DisableWebhookEndpointRequest(endpoint_id=endpoint_id)
    with connected(run.settings()) as client:
        done = client.automation("DisableWebhookEndpoint", request).endpoint
    run.output.result(
        {"endpoint": _document(done)},
        lambda console: console.print(shown(f"endpoint {done.endpoint_id} disabled")),
    )
    return ExitCode.OK


@webhooks.command("rotate-secret")
@click.argument("endpoint_id")
@certflow_command
def rotate_secret(run: Invocation, endpoint_id: str) -> ExitCode:
    """A new secret, printed once; the old one keeps signing beside it for a day. Exit 0, 6."""
    request = pb.RotateWebhookSecretRequest(endpoint_id=endpoint_id)
    with connected(run.settings()) as client:
        done = client.automation("RotateWebhookSecret", request)
    run.output.result(
        {"endpoint": _document(done.endpoint), "secret": done.secret},
        lambda console: console.print(shown(f"new secret (shown once): {done.secret}")),
    )
    return ExitCode.OK


@webhooks.command("deliveries")
@click.argument("endpoint_id")
@click.option("--state", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@certflow_command
def list_deliveries(run: Invocation, endpoint_id: str, state: str | None) -> ExitCode:
    """The endpoint's delivery log: state, attempts, last answer. Exit 0, 6."""
    found: list[pb.WebhookDelivery] = []
    request = pb.ListWebhookDeliveriesRequest(
        endpoint_id=endpoint_id, state=state or "", page_size=MAX_PAGE_SIZE
    )
    with connected(run.settings()) as client:
        while True:
            page = client.automation("ListWebhookDeliveries", request)
            found.extend(page.deliveries)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token

    def render(console: Console) -> None:
        rows = [
            (
                d.delivery_id,
                d.event_type,
                d.state,
                str(d.attempts),
                str(d.response_code or "-"),
                d.last_error or d.response_excerpt[:40],
            )
            for d in found
        ]
        columns = ("webhook-id", "event", "state", "attempts", "code", "last")
        console.print(_table(columns, rows, "no deliveries"))

    run.output.result({"deliveries": [_document(d) for d in found]}, render)
    return ExitCode.OK


@webhooks.command("replay")
@click.argument("endpoint_id")
@click.option("--delivery", "delivery_id", default="", help="One webhook-id (default all failed).")
@certflow_command
def replay(run: Invocation, endpoint_id: str, delivery_id: str) -> ExitCode:
    """Send failed deliveries again, same webhook-id. Exit 0, 6."""
    request = pb.ReplayWebhookDeliveriesRequest(endpoint_id=endpoint_id, delivery_id=delivery_id)
    with connected(run.settings()) as client:
        count = client.automation("ReplayWebhookDeliveries", request).replayed_count
    run.output.result(
        {"replayed_count": count},
        lambda console: console.print(f"{count} deliveries due again"),
    )
    return ExitCode.OK
