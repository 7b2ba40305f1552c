"""`certflow issue`: one certificate, issued in real time (it joins the next anchor window)."""

import json

import click
from rich.console import Console

from certflow.core.dates import DateOrder
from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.upload import MAX_REQUEST_ID
from certflow_cli.connection import connected
from certflow_cli.exit_codes import ExitCode
from certflow_cli.intake_options import (
    DATE_ORDERS,
    PROTO_DATE_ORDERS,
    date_order_option,
    parse_pairs,
)
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import (
    JsonDocument,
    certificate_document,
    shown,
    shown_lines,
    warning_document,
)


def parse_fields(values: tuple[str, ...]) -> dict[str, str]:
    """`--field key=value` pairs; the service checks the names and values."""
    return parse_pairs(values, "--field", empty_value=True)


@click.command()
@click.option("--name", required=True, help="The recipient's full name.")
@click.option("--email", required=True, help="The recipient's email address.")
@click.option("--title", required=True, help="What the certificate is for.")
@click.option("--date", "completion_date", required=True, help="Completion date, YYYY-MM-DD.")
@click.option("--expiry", "expiry_date", default="", help="Expiry date, YYYY-MM-DD (optional).")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=VALUE",
    help="A custom field (repeatable), e.g. --field grade=A.",
)
@date_order_option
@click.option(
    "--request-id",
    default="",
    help="Idempotency key: running again with the same id returns the same certificate.",
)
@certflow_command
def issue(
    run: Invocation,
    name: str,
    email: str,
    title: str,
    completion_date: str,
    expiry_date: str,
    fields: tuple[str, ...],
    date_order: str | None,
    request_id: str,
) -> ExitCode:
    """Issue one certificate now; prints its id and its credential (JSON) whole.

    The certificate is anchored in the next anchor window and emailed after that.
    Exit 0 when issued, 4 when a value is refused, 8 when this recipient already has
    this certificate for this date.
    """
    if len(request_id) > MAX_REQUEST_ID:
        raise click.BadParameter(f"at most {MAX_REQUEST_ID} characters", param_hint="--request-id")
    request = pb.IssueCertificateRequest(
        request_id=request_id,
        recipient_name=name,
        recipient_email=email,
        title=title,
        completion_date=completion_date,
        expiry_date=expiry_date,
        custom_fields=parse_fields(fields),
        date_order=PROTO_DATE_ORDERS[
            DATE_ORDERS[date_order] if date_order else DateOrder.UNSPECIFIED
        ],
    )
    with connected(run.settings()) as client:
        response = client.issue_certificate(request)
    document = {
        "certificate": certificate_document(response.certificate),
        "warnings": [warning_document(w) for w in response.warnings],
    }
    run.output.result(document, lambda console: render(console, document))
    return ExitCode.OK


def render(console: Console, document: JsonDocument) -> None:
    certificate = document["certificate"]
    console.print(shown(f"certificate {certificate['certificate_id']}"))
    console.print(shown(f"batch {certificate['batch_id']}"))
    console.print(shown(f"state {certificate['state']}"))
    # the credential whole and unwrapped: it is meant to be copied
    console.print(shown_lines(json.dumps(certificate["document"], ensure_ascii=False, indent=2)))
    for warning in document["warnings"]:  # after the credential: its first line stays the id
        line = f"warning: {warning['code']}: {warning['message']} (issued all the same)"
        console.print(shown(line))
