"""`certflow revoke` (anchor's RevokeCertificates) and `certflow reissue` (ingest's
ReissueCertificate): withdraw certificates, or replace one with a corrected copy."""

import json
from collections.abc import Callable
from typing import TypeVar

import click
import grpc
from rich.console import Console

from certflow.v1 import anchor_service_pb2, anchor_service_pb2_grpc, certificate_pb2
from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.upload import MAX_REQUEST_ID
from certflow_cli.config import Settings
from certflow_cli.connection import connected, failure_to_error, rpc_failure
from certflow_cli.exit_codes import ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, certificate_document, shown, shown_lines

T = TypeVar("T")

DEFAULT_ANCHOR_ADDRESS = "127.0.0.1:50052"
MAX_IDS = 10_000
MAX_TEXT = 500
REASONS = {
    "superseded": certificate_pb2.REVOCATION_REASON_SUPERSEDED,
    "issued-in-error": certificate_pb2.REVOCATION_REASON_ISSUED_IN_ERROR,
    "data-correction": certificate_pb2.REVOCATION_REASON_DATA_CORRECTION,
    "withdrawn": certificate_pb2.REVOCATION_REASON_WITHDRAWN,
    "other": certificate_pb2.REVOCATION_REASON_OTHER,
}


def _check_text(text: str, hint: str) -> None:
    if len(text) > MAX_TEXT:
        raise click.BadParameter(f"{len(text)} characters; at most {MAX_TEXT}", param_hint=hint)


def _check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID:
        raise click.BadParameter(f"at most {MAX_REQUEST_ID} characters", param_hint="--request-id")


def _anchor_call(settings: Settings, address: str, call: Callable[..., T], request: object) -> T:
    """One call to AnchorService with the settings' token and timeout; a failure is a
    CliError like any other service's."""
    metadata = (("authorization", f"Bearer {settings.token}"),) if settings.token else ()
    timeout = settings.timeout_seconds
    try:
        return call(request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as error:
        raise failure_to_error(
            rpc_failure(error),
            address=address,
            timeout=timeout,
            service="anchor",
            address_hint="--anchor-address or CERTFLOW_ANCHOR_ADDRESS",
        ) from None


@click.command()
@click.argument("certificate_ids", nargs=-1, metavar="[ID]...")
@click.option("--batch", "batch_id", default="", help="Revoke every certificate of this batch.")
@click.option(
    "--reason",
    required=True,
    type=click.Choice(sorted(REASONS), case_sensitive=False),
    help="Why: recorded with the revocation and shown by every verifier.",
)
@click.option(
    "--text", "reason_text", default="", help=f"Free text shown with it (≤ {MAX_TEXT} chars)."
)
@click.option(
    "--request-id",
    default="",
    help="Idempotency key: running again with the same id gives the same answer.",
)
@click.option(
    "--anchor-address",
    envvar="CERTFLOW_ANCHOR_ADDRESS",
    default=DEFAULT_ANCHOR_ADDRESS,
    show_default=True,
    metavar="HOST:PORT",
    help="The anchor service's gRPC address (or CERTFLOW_ANCHOR_ADDRESS).",
)
@certflow_command
def revoke(
    run: Invocation,
    certificate_ids: tuple[str, ...],
    batch_id: str,
    reason: str,
    reason_text: str,
    request_id: str,
    anchor_address: str,
) -> ExitCode:
    """Revoke certificates by id, or a whole batch with --batch.

    Their fingerprints are revoked on chain in the next revocation window (one transaction
    for many); from then on every verifier shows REVOKED with the reason and text.
    Revoking a certificate twice changes nothing. Exit 0 when done, 4 when a value is
    refused, 6 when a certificate or the batch is not known (nothing is revoked then).
    """
    if bool(certificate_ids) == bool(batch_id):
        raise click.UsageError("give certificate ids or --batch BATCH_ID (one of the two)")
    if len(certificate_ids) > MAX_IDS:
        raise click.BadParameter(
            f"{len(certificate_ids)} ids; at most {MAX_IDS} (revoke a batch with --batch)",
            param_hint="ID",
        )
    _check_text(reason_text, "--text")
    _check_request_id(request_id)
    request = anchor_service_pb2.RevokeCertificatesRequest(
        request_id=request_id,
        certificate_ids=list(certificate_ids),
        batch_id=batch_id,
        reason=REASONS[reason.lower()],
        reason_text=reason_text,
    )
    settings = run.settings()
    channel = grpc.insecure_channel(anchor_address)
    try:
        stub = anchor_service_pb2_grpc.AnchorServiceStub(channel)
        response = _anchor_call(settings, anchor_address, stub.RevokeCertificates, request)
    finally:
        channel.close()
    document: JsonDocument = {
        "certificate_count": response.certificate_count,
        "newly_revoked_count": response.newly_revoked_count,
        "already_revoked_count": response.already_revoked_count,
        "reason": reason.lower(),
        "reason_text": reason_text,
        "certificate_ids": list(certificate_ids),
        "batch_id": batch_id,
    }
    run.output.result(document, lambda console: render_revoked(console, document))
    return ExitCode.OK


def render_revoked(console: Console, document: JsonDocument) -> None:
    named = f"batch {document['batch_id']}" if document["batch_id"] else "the named certificates"
    console.print(
        shown(
            f"revoking {document['newly_revoked_count']} of {document['certificate_count']}"
            f" certificates of {named} ({document['reason']})"
        )
    )
    if document["already_revoked_count"]:
        console.print(
            shown(f"{document['already_revoked_count']} were already revoked: left as they were")
        )
    for certificate_id in document["certificate_ids"]:
        console.print(shown(certificate_id))
    console.print(
        "revoked on chain in the next revocation window; verifiers show REVOKED once it is"
        " confirmed"
    )


@click.command()
@click.argument("certificate_id")
@click.option("--name", default="", help="The corrected recipient's name.")
@click.option("--email", default="", help="The corrected email address.")
@click.option("--title", default="", help="The corrected title.")
@click.option("--date", "completion_date", default="", help="The corrected completion date.")
@click.option("--expiry", "expiry_date", default="", help="The corrected expiry date.")
@click.option(
    "--text", "reason_text", default="", help=f"Why, shown with the old one (≤ {MAX_TEXT} chars)."
)
@click.option(
    "--request-id",
    default="",
    help="Idempotency key: running again with the same id returns the same certificate.",
)
@certflow_command
def reissue(
    run: Invocation,
    certificate_id: str,
    name: str,
    email: str,
    title: str,
    completion_date: str,
    expiry_date: str,
    reason_text: str,
    request_id: str,
) -> ExitCode:
    """Replace a certificate with a corrected one (e.g. a misspelt name).

    The new certificate states which one it replaces and is anchored and emailed as usual;
    the old one is revoked with reason "superseded", and its verification points to the new
    one. Fields not given keep the old certificate's values. Exit 0 when reissued, 4 when a
    value is refused, 6 when the certificate is not known, 8 when it was already reissued.
    """
    if not any((name, email, title, completion_date, expiry_date)):
        raise click.UsageError("give at least one correction (--name, --email, --title, …)")
    _check_text(reason_text, "--text")
    _check_request_id(request_id)
    request = pb.ReissueCertificateRequest(
        request_id=request_id,
        certificate_id=certificate_id,
        recipient_name=name,
        recipient_email=email,
        title=title,
        completion_date=completion_date,
        expiry_date=expiry_date,
        reason_text=reason_text,
    )
    with connected(run.settings()) as client:
        response = client.reissue_certificate(request)
    document: JsonDocument = {
        "certificate": certificate_document(response.certificate),
        "replaced_certificate_id": response.replaced_certificate_id,
    }
    run.output.result(document, lambda console: render_reissued(console, document))
    return ExitCode.OK


def render_reissued(console: Console, document: JsonDocument) -> None:
    certificate = document["certificate"]
    console.print(shown(f"certificate {certificate['certificate_id']}"))
    console.print(shown(f"replaces {document['replaced_certificate_id']}"))
    console.print(shown(f"batch {certificate['batch_id']}"))
    console.print(
        shown(
            f"{document['replaced_certificate_id']} is revoked on chain in the next revocation"
            f" window (superseded, or the reason it was revoked with before); its verification"
            f" points at {certificate['certificate_id']}"
        )
    )
    console.print(shown_lines(json.dumps(certificate["document"], ensure_ascii=False, indent=2)))
