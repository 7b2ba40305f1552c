"""`certflow upload FILE`: stream a CSV file to ingest, then follow the batch to its end."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import click
from rich.console import Console

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.watch import follow, outcome
from certflow_cli.connection import connected
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.intake_options import FileOptions, file_options
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import (
    JsonDocument,
    batch_document,
    delimiter_name,
    reasons_summary,
    row_error_document,
    row_errors_table,
    shown,
    warning_document,
    warnings_table,
)
from certflow_cli.plan import dry_run_options, plan_document, render_plan
from certflow_cli.progress import BatchProgress

CHUNK_BYTES = 256 * 1024
MAX_PILOT_ROWS = 200_000  # ingest's default upload row limit
MAX_REQUEST_ID = 128  # what ingest accepts (services/ingest/servicer.py)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@file_options
@click.option("--name", "display_name", help="The batch's display name [default: the file name].")
@click.option(
    "--request-id",
    default="",
    help="Idempotency key: running again with the same id returns the first batch "
    "instead of issuing twice.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Return once the batch is stored, without following anchoring and email.",
)
@dry_run_options
@click.option(
    "--pilot",
    "pilot_rows",
    type=click.IntRange(min=1, max=MAX_PILOT_ROWS),
    help="Issue only the first N accepted rows; `certflow reprocess BATCH FILE` issues "
    "the rest later, nobody twice.",
)
@certflow_command
def upload(
    run: Invocation,
    file: Path,
    encoding: str,
    mapping: tuple[str, ...],
    date_order: str | None,
    display_name: str | None,
    request_id: str,
    no_wait: bool,
    dry_run: bool,
    previews: int,
    pilot_rows: int | None,
) -> ExitCode:
    """Upload a CSV file and follow its batch: stored → anchored → emailed.

    Valid rows are issued, invalid rows refused with their reasons (all of them:
    `certflow errors BATCH`). Waits until the batch reaches a final state unless
    --no-wait. With --dry-run nothing is issued: the service reports what the upload
    would do (every refusal and warning, previews, anchoring transactions and fee).
    Exit 0 when every row was issued (and emailed), 3 when some rows were refused
    (also by a dry run), 9 when some emails failed, 10 when the batch was cancelled
    meanwhile, 4 when the file is refused as a whole.
    """
    if len(request_id) > MAX_REQUEST_ID:
        raise click.BadParameter(f"at most {MAX_REQUEST_ID} characters", param_hint="--request-id")
    metadata = FileOptions.from_flags(encoding, mapping, date_order).metadata(
        request_id=request_id, display_name=display_name if display_name is not None else file.name
    )
    metadata.pilot_rows = pilot_rows or 0
    if dry_run:
        metadata.dry_run, metadata.preview_count = True, previews
        return plan_file(run, file, metadata)
    return send_file(run, file, metadata, no_wait=no_wait)


def open_file(file: Path) -> BinaryIO:
    try:
        return file.open("rb")
    except OSError as exc:
        raise CliError(
            ExitCode.INVALID_INPUT,
            f"cannot read {file}: {exc.strerror or exc}",
            reason="UNREADABLE_FILE",
        ) from None


def plan_file(run: Invocation, file: Path, metadata: pb.UploadCsvMetadata) -> ExitCode:
    """A dry run: the service's plan, shown; nothing is issued."""
    settings = run.settings()
    handle = open_file(file)
    with handle, connected(settings) as client:
        try:
            response = client.upload_csv(upload_requests(handle, metadata, lambda sent: None))
        except KeyboardInterrupt:
            raise CliError(
                ExitCode.INTERRUPTED, "interrupted: nothing was issued", reason="INTERRUPTED"
            ) from None
    document = plan_document(response.plan, batch_id=metadata.batch_id)
    run.output.result(document, lambda console: render_plan(console, document))
    return ExitCode.ROWS_REFUSED if response.plan.rejected_count else ExitCode.OK


def send_file(
    run: Invocation, file: Path, metadata: pb.UploadCsvMetadata, *, no_wait: bool
) -> ExitCode:
    """Uploads the file (a new batch, or rows for metadata.batch_id) and follows the batch."""
    settings = run.settings()
    handle = open_file(file)
    request_id = metadata.request_id
    size = file.stat().st_size
    with handle, connected(settings) as client:
        progress = BatchProgress(
            run.output.stderr, file_size=size, enabled=not run.output.json_mode
        )
        with progress:
            try:
                response = client.upload_csv(upload_requests(handle, metadata, progress.sent))
            except KeyboardInterrupt:
                raise interrupted_upload(file, request_id) from None
            batch = response.batch
            progress.show(batch)
            if not no_wait:
                try:
                    batch = follow(client, batch, progress.show)
                except KeyboardInterrupt:
                    raise CliError(
                        ExitCode.INTERRUPTED,
                        f"stopped following batch {batch.batch_id}; the batch goes on: "
                        f"certflow watch {batch.batch_id}",
                        reason="INTERRUPTED",
                    ) from None
    document = {
        "batch": batch_document(batch),
        # the first refused rows (at most 100); `certflow errors BATCH` lists them all
        "row_errors": [row_error_document(e) for e in response.row_errors],
        # about accepted rows, of this upload only (a retry with the same request id has none)
        "warning_count": response.warning_count,
        "warnings": [warning_document(w) for w in response.warnings],  # the first 100
        "encoding": response.encoding,  # empty on a retry with the same request id
        "delimiter": response.delimiter,
        # rows of the file the batch already held (a pilot's rest, a reprocess): not issued again
        "skipped_count": response.skipped_count,
        "held_back_count": response.held_back_count,  # --pilot: accepted, not issued yet
        "resolved_count": response.resolved_count,  # earlier refusals an error report corrected
    }
    rest = f"certflow reprocess {batch.batch_id} {file}"
    run.output.result(
        document, lambda console: render(console, document, waited=not no_wait, rest=rest)
    )
    if metadata.batch_id and response.row_errors:
        return ExitCode.ROWS_REFUSED  # this file's rows, whatever the batch's other refusals
    return outcome(batch)


def interrupted_upload(file: Path, request_id: str) -> CliError:
    """Ctrl-C before ingest answered: an upload cut short stores nothing, but one cut just as
    ingest stored it is a batch; which of the two is not known here."""
    again = (
        f"upload again with --request-id {request_id}: a stored batch is not issued twice"
        if request_id
        else "`certflow batches` lists it if it was"
    )
    return CliError(
        ExitCode.INTERRUPTED,
        f"interrupted while uploading {file}: the batch may not have been stored; {again}",
        reason="INTERRUPTED",
    )


def upload_requests(
    handle: BinaryIO, metadata: pb.UploadCsvMetadata, on_sent: Callable[[int], None]
) -> Iterator[pb.UploadCsvRequest]:
    """The metadata, then the file in chunks as it is read: never the whole file in memory."""
    yield pb.UploadCsvRequest(metadata=metadata)
    sent = 0
    while chunk := handle.read(CHUNK_BYTES):
        yield pb.UploadCsvRequest(chunk=chunk)
        sent += len(chunk)
        on_sent(sent)


def render(console: Console, document: JsonDocument, *, waited: bool, rest: str = "") -> None:
    batch = document["batch"]
    # the id whole, on a line of its own: people paste it into the next command
    console.print(shown(f"batch {batch['batch_id']}"))
    console.print(
        shown(
            f"{batch['state']}: {batch['row_count']} rows, {batch['accepted_count']} accepted, "
            f"{batch['rejected_count']} refused"
            + (
                f"; {batch['anchored_count']} anchored, {batch['emailed_count']} emailed, "
                f"{batch['email_failed_count']} emails failed"
                if waited
                else ""
            )
        )
    )
    skipped, held, resolved = (
        document["skipped_count"],
        document["held_back_count"],
        document["resolved_count"],
    )
    if skipped or resolved:
        console.print(
            shown(
                f"{skipped} rows already in the batch (not issued again), "
                f"{resolved} earlier refusals corrected"
            )
        )
    if held:
        console.print(shown(f"{held} accepted rows held back by --pilot; issue them: {rest}"))
    if document["encoding"]:
        console.print(
            shown(
                f"read as {document['encoding']}, {delimiter_name(document['delimiter'])}-separated"
            )
        )
    if document["row_errors"]:
        console.print(shown(f"refused: {reasons_summary(document['row_errors'])}"))
        console.print(row_errors_table(document["row_errors"], title="Refused rows"))
        console.print(shown(f"every refused row: certflow errors {batch['batch_id']} --csv FILE"))
    if document["warnings"]:
        console.print(
            shown(
                f"warnings on rows issued all the same ({document['warning_count']}): "
                f"{reasons_summary(document['warnings'], 'code')}"
            )
        )
        console.print(warnings_table(document["warnings"], title="Warnings"))
