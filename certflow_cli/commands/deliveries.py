"""`certflow deliveries`, `certflow resend` and `certflow suppression list|remove`: what became
of a batch's emails (sent, bounced, suppressed…), sending again, and the issuer's suppression
list — notify's NotifyService."""

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import grpc
from rich.console import Console
from rich.table import Table

from certflow.v1 import notify_service_pb2 as pb
from certflow.v1 import notify_service_pb2_grpc
from certflow_cli.commands.upload import MAX_REQUEST_ID
from certflow_cli.config import Settings
from certflow_cli.connection import failure_to_error, rpc_failure
from certflow_cli.exit_codes import ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, shown

T = TypeVar("T")

DEFAULT_NOTIFY_ADDRESS = "127.0.0.1:50053"
PAGE = 1000


def state_name(state: int) -> str:
    return pb.DeliveryState.Name(state).removeprefix("DELIVERY_STATE_").lower()


def reason_name(reason: int) -> str:
    return pb.SuppressionReason.Name(reason).removeprefix("SUPPRESSION_REASON_").lower()


notify_address_option = click.option(
    "--notify-address",
    envvar="CERTFLOW_NOTIFY_ADDRESS",
    default=DEFAULT_NOTIFY_ADDRESS,
    show_default=True,
    metavar="HOST:PORT",
    help="The notify service's gRPC address (or CERTFLOW_NOTIFY_ADDRESS).",
)


class NotifyCalls:
    def __init__(self, settings: Settings, address: str, stub: Any) -> None:
        self._settings, self._address, self._stub = settings, address, stub
        token = settings.token
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def __call__(self, method: str, request: object) -> Any:
        timeout = self._settings.timeout_seconds
        try:
            return getattr(self._stub, method)(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise failure_to_error(
                rpc_failure(error),
                address=self._address,
                timeout=timeout,
                service="notify",
                address_hint="--notify-address or CERTFLOW_NOTIFY_ADDRESS",
            ) from None


@contextmanager
def notify(run: Invocation, address: str) -> Iterator[NotifyCalls]:
    channel = grpc.insecure_channel(address)
    try:
        yield NotifyCalls(
            run.settings(), address, notify_service_pb2_grpc.NotifyServiceStub(channel)
        )
    finally:
        channel.close()


def _pages(call: Callable[[str], Any], items: Callable[[Any], list[T]]) -> list[T]:
    found: list[T] = []
    token = ""
    while True:
        response = call(token)
        found.extend(items(response))
        token = response.next_page_token
        if not token:
            return found


@click.command()
@click.argument("batch_id")
@click.option("--all", "show_all", is_flag=True, help="List every delivery, not only problems.")
@notify_address_option
@certflow_command
def deliveries(run: Invocation, batch_id: str, show_all: bool, notify_address: str) -> ExitCode:
    """What became of a batch's emails: counts per state, the success rate, and each bounced,
    failed, suppressed or deferred delivery with its last error (--all: every one).

    Resend with `certflow resend`; addresses that bounced for good or unsubscribed are on
    the issuer's suppression list (`certflow suppression list`).
    """
    with notify(run, notify_address) as call:
        found = _pages(
            lambda token: call(
                "ListDeliveries",
                pb.ListDeliveriesRequest(batch_id=batch_id, page_size=PAGE, page_token=token),
            ),
            lambda response: list(response.deliveries),
        )
    counts = Counter(state_name(d.state) for d in found)
    final = sum(counts[s] for s in ("sent", "bounced", "failed", "suppressed"))
    listed = [d for d in found if show_all or state_name(d.state) not in ("sent", "pending")]
    document: JsonDocument = {
        "batch_id": batch_id,
        "delivery_count": len(found),
        "counts": dict(sorted(counts.items())),
        # sent among the deliveries that reached an end (None until one has)
        "success_rate": round(counts["sent"] / final, 4) if final else None,
        "deliveries": [
            {
                "delivery_id": d.delivery_id,
                "certificate_id": d.certificate_id,
                "state": state_name(d.state),
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in listed
        ],
    }
    run.output.result(document, lambda console: _render_deliveries(console, document))
    return ExitCode.OK


def _render_deliveries(console: Console, document: JsonDocument) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in document["counts"].items()) or "none"
    console.print(shown(f"batch {document['batch_id']}: {document['delivery_count']} deliveries"))
    console.print(shown(counts))
    if document["success_rate"] is not None:
        console.print(f"success rate: {document['success_rate']:.1%} of those finished")
    if document["deliveries"]:
        table = Table("certificate", "state", "attempts", "last error")
        for d in document["deliveries"]:
            table.add_row(
                shown(d["certificate_id"]),
                d["state"],
                str(d["attempts"]),
                shown(d["last_error"][:120]),
            )
        console.print(table)


@click.command()
@click.argument("certificate_id", required=False, default="")
@click.option("--batch", "batch_id", default="", help="Resend every bounced and failed email.")
@click.option("--to", "recipient_email", default="", help="A corrected address (one certificate).")
@click.option(
    "--request-id",
    required=True,
    help="Idempotency key: running again with the same id sends nothing more.",
)
@notify_address_option
@certflow_command
def resend(
    run: Invocation,
    certificate_id: str,
    batch_id: str,
    recipient_email: str,
    request_id: str,
    notify_address: str,
) -> ExitCode:
    """Send a certificate's email again (optionally --to a corrected address), or every
    bounced and failed email of a batch (--batch).

    A corrected address changes where the email goes, not the certificate: its hashed
    identity stays the original address's (reissue it to change that). An address on the
    suppression list is not sent to (remove it first). Exit 0 when queued, 4 when a value is
    refused, 6 when not known, 8 when the email is still on its way.
    """
    if bool(certificate_id) == bool(batch_id):
        raise click.UsageError("give a CERTIFICATE_ID or --batch BATCH_ID (one of the two)")
    if len(request_id) > MAX_REQUEST_ID:
        raise click.BadParameter(f"at most {MAX_REQUEST_ID} characters", param_hint="--request-id")
    # one member of the oneof only: setting the other, even to "", would replace it
    target = {"certificate_id": certificate_id} if certificate_id else {"batch_id": batch_id}
    request = pb.ResendDeliveriesRequest(
        recipient_email=recipient_email, request_id=request_id, **target
    )
    with notify(run, notify_address) as call:
        response = call("ResendDeliveries", request)
    document: JsonDocument = {"resent_count": response.resent_count}
    run.output.result(
        document, lambda console: console.print(f"{response.resent_count} email(s) queued again")
    )
    return ExitCode.OK


@click.group()
def suppression() -> None:
    """An issuer's suppression list: addresses that bounced for good or unsubscribed."""


@suppression.command("list")
@click.argument("issuer_name")
@notify_address_option
@certflow_command
def list_suppressions(run: Invocation, issuer_name: str, notify_address: str) -> ExitCode:
    """The issuer's suppressed addresses, newest first (a hint of each: notify keeps a keyed
    hash, not the address)."""
    with notify(run, notify_address) as call:
        found = _pages(
            lambda token: call(
                "ListSuppressions",
                pb.ListSuppressionsRequest(
                    issuer_name=issuer_name, page_size=PAGE, page_token=token
                ),
            ),
            lambda response: list(response.suppressions),
        )
    document: JsonDocument = {
        "issuer_name": issuer_name,
        "suppressions": [
            {
                "key": s.key,
                "address_hint": s.address_hint,
                "reason": reason_name(s.reason),
                "detail": s.detail,
                "certificate_id": s.certificate_id,
                "create_time": s.create_time.ToDatetime().isoformat() + "Z",
            }
            for s in found
        ],
    }

    def render(console: Console) -> None:
        table = Table("key", "address", "reason", "since", "detail")
        for s in document["suppressions"]:
            table.add_row(
                s["key"][:16] + "…",
                shown(s["address_hint"]),
                s["reason"],
                s["create_time"][:19],
                shown(s["detail"][:80]),
            )
        console.print(table)

    run.output.result(document, render)
    return ExitCode.OK


@suppression.command("remove")
@click.argument("issuer_name")
@click.option("--email", default="", help="The address as it was written to.")
@click.option("--key", default="", help="The entry's key, as `suppression list --json` shows.")
@notify_address_option
@certflow_command
def remove_suppression(
    run: Invocation, issuer_name: str, email: str, key: str, notify_address: str
) -> ExitCode:
    """Take an address off the issuer's suppression list: later emails to it are sent.
    Exit 0 when removed, 6 when there was no such entry."""
    if bool(email) == bool(key):
        raise click.UsageError("give --email or --key (one of the two)")
    request = pb.DeleteSuppressionRequest(issuer_name=issuer_name)
    if email:
        request.email = email
    else:
        request.key = key
    with notify(run, notify_address) as call:
        deleted = call("DeleteSuppression", request).deleted
    document: JsonDocument = {"deleted": deleted}
    run.output.result(
        document,
        lambda console: console.print("removed" if deleted else "no such entry: nothing removed"),
    )
    return ExitCode.OK if deleted else ExitCode.NOT_FOUND
