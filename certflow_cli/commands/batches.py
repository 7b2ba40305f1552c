"""`certflow batch BATCH` and `certflow errors BATCH`: reading a batch and its refused rows."""

import codecs
import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from certflow.core.spreadsheet import neutralise
from certflow.v1 import certificate_pb2
from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.connection import IngestClient, connected
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import (
    JsonDocument,
    batch_document,
    batch_table,
    reasons_summary,
    row_error_document,
    row_errors_table,
    shown,
)

ERROR_COLUMNS = ("line", "field", "reason", "message")
MAX_PAGE_SIZE = 1000  # what the service serves at most (AIP-158 pages)


@click.command()
@click.argument("batch_id", metavar="BATCH")
@certflow_command
def batch(run: Invocation, batch_id: str) -> ExitCode:
    """Show a batch: its state and its counts (rows, accepted, refused, anchored, emailed).

    Exit 0 when the batch was found, 6 when there is no such batch.
    """
    with connected(run.settings()) as client:
        found = batch_document(client.get_batch(batch_id))
    run.output.result({"batch": found}, lambda console: render_batch(console, found))
    return ExitCode.OK


def render_batch(console: Console, batch: JsonDocument) -> None:
    console.print(shown(f"batch {batch['batch_id']}"))
    console.print(batch_table(batch))


@click.command()
@click.argument("batch_id", metavar="BATCH")
@certflow_command
def cancel(run: Invocation, batch_id: str) -> ExitCode:
    """Cancel a batch: what is not anchored yet never will be, and no email not yet sent
    goes out. Certificates already anchored stay valid.

    Exit 0 when cancelled (again: it is idempotent), 8 when the batch had already
    reached a final state, 6 when there is no such batch.
    """
    with connected(run.settings()) as client:
        found = batch_document(client.cancel_batch(batch_id))
    run.output.result({"batch": found}, lambda console: render_batch(console, found))
    return ExitCode.OK


STATE_CHOICES = [
    name.removeprefix("BATCH_STATE_").lower().replace("_", "-")
    for name, _ in pb.BatchState.items()
    if name != "BATCH_STATE_UNSPECIFIED"
]
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@click.command()
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATE_CHOICES),
    help="Only batches in this state (repeatable).",
)
@click.option(
    "--since",
    type=click.DateTime(DATE_FORMATS),
    help="Only batches created at or after this date or time (UTC unless it says).",
)
@click.option(
    "--before", type=click.DateTime(DATE_FORMATS), help="Only batches created before this."
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="At most this many batches, newest first; 0 for all.",
)
@certflow_command
def batches(
    run: Invocation,
    states: tuple[str, ...],
    since: datetime | None,
    before: datetime | None,
    limit: int,
) -> ExitCode:
    """List batches, newest first, with their state and counts.

    Exit 0 (also when none match).
    """
    request = pb.ListBatchesRequest(
        states=["BATCH_STATE_" + s.upper().replace("-", "_") for s in states]
    )
    if since is not None:
        request.create_time_start.FromDatetime(as_utc(since))
    if before is not None:
        request.create_time_end.FromDatetime(as_utc(before))
    with connected(run.settings()) as client:
        found, more = list_batches(client, request, limit)
    document: JsonDocument = {"batches": [batch_document(b) for b in found], "more": more}
    run.output.result(document, lambda console: render_batches(console, document))
    return ExitCode.OK


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def list_batches(
    client: IngestClient, request: pb.ListBatchesRequest, limit: int
) -> tuple[list[pb.Batch], bool]:
    """Up to `limit` batches (all when 0), and whether there are more."""
    found: list[pb.Batch] = []
    while True:
        wanted = limit - len(found) if limit else MAX_PAGE_SIZE
        request.page_size = min(wanted, MAX_PAGE_SIZE)
        page = client.list_batches(request)
        found.extend(page.batches)
        request.page_token = page.next_page_token
        if not page.next_page_token:
            return found[: limit or None], len(found) > limit > 0
        if limit and len(found) >= limit:
            return found[:limit], True


def render_batches(console: Console, document: JsonDocument) -> None:
    if not document["batches"]:
        console.print("no batches")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    # the id and the state whole: they are pasted into the next command or a script
    table.add_column("batch", no_wrap=True, min_width=36)
    table.add_column("state", no_wrap=True)
    table.add_column("name", overflow="ellipsis", no_wrap=True, max_width=24)
    for label in ("accepted", "refused", "anchored", "emailed"):
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    for b in document["batches"]:
        table.add_row(
            shown(b["batch_id"]),
            shown(b["state"]),
            shown(b["display_name"]),
            shown(b["accepted_count"]),
            shown(b["rejected_count"]),
            shown(b["anchored_count"]),
            shown(b["emailed_count"]),
            shown((b["create_time"] or "")[:16].replace("T", " ")),
        )
    console.print(table)
    if document["more"]:
        console.print("more batches: --limit 0 lists them all")


@click.command()
@click.argument("batch_id", metavar="BATCH")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the error report to this CSV file instead: each refused row with its "
    "original columns, then line, field, code and message; safe to open in a spreadsheet.",
)
@certflow_command
def errors(run: Invocation, batch_id: str, csv_path: Path | None) -> ExitCode:
    """List every refused row of a batch, with its line, field, reason and message.

    With --csv, writes the error report to a file: fix the rows there and upload them
    again. Cells a spreadsheet would run as a formula (starting with = + - @, tab or
    CR) are prefixed with a single quote. Exit 0 when the batch was found (with or
    without refused rows), 6 when not.
    """
    with connected(run.settings()) as client:
        if csv_path is not None:
            count = download_report(client, batch_id, csv_path)
            document: JsonDocument = {"batch_id": batch_id, "csv": str(csv_path), "count": count}
            run.output.result(
                document,
                lambda c: c.print(shown(f"{count} refused rows written to {csv_path}")),
            )
            return ExitCode.OK
        found = [row_error_document(e) for e in all_row_errors(client, batch_id)]
    document = {"batch_id": batch_id, "row_errors": found}
    run.output.result(document, lambda console: render_errors(console, found))
    return ExitCode.OK


def download_report(client: IngestClient, batch_id: str, path: Path) -> int:
    """The service's error report (DownloadErrorReport); from ListRowErrors (line, field,
    reason, message only) when the service is older than that call."""
    try:
        return write_csv(path, report_records(client.download_error_report(batch_id)))
    except CliError as error:
        if error.reason != "UNIMPLEMENTED":
            raise
    found = [row_error_document(e) for e in all_row_errors(client, batch_id)]
    return write_csv(path, error_records(found))


def all_row_errors(client: IngestClient, batch_id: str) -> Iterator[certificate_pb2.RowError]:
    token = ""
    while True:
        page = client.list_row_errors(batch_id, token)
        yield from page.row_errors
        token = page.next_page_token
        if not token:
            return


def render_errors(console: Console, found: list[JsonDocument]) -> None:
    if not found:
        console.print("no refused rows")
        return
    console.print(shown(f"{len(found)} refused: {reasons_summary(found)}"))
    console.print(row_errors_table(found, title="Refused rows"))


def error_records(found: Iterable[JsonDocument]) -> Iterator[list[str]]:
    yield list(ERROR_COLUMNS)
    for error in found:
        yield [str(error[column]) for column in ERROR_COLUMNS]


def report_records(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """The records of a CSV file arriving in chunks, read as they come (a report of 100,000
    rows is never held whole); a chunk may end inside a character or a quoted field."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()

    def lines() -> Iterator[str]:
        pending = ""
        try:
            for chunk in chunks:
                pending += decoder.decode(chunk)
                *complete, pending = pending.split("\n")
                for line in complete:
                    yield line + "\n"
            pending += decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise CliError(
                ExitCode.FAILED, f"the service sent an error report that is not UTF-8 ({exc})"
            ) from None
        if pending:
            yield pending

    try:
        yield from csv.reader(lines(), strict=True)
    except csv.Error as exc:
        raise CliError(
            ExitCode.FAILED, f"the service sent an unreadable error report ({exc})"
        ) from None


def write_csv(path: Path, records: Iterable[list[str]]) -> int:
    """Writes the records with every cell neutralised against formulas; returns how many
    there were after the header. All or nothing: written beside the target and renamed over
    it once complete."""
    directory = path.parent
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    count = -1  # the header is not a refused row
    try:
        # UTF-8 with a byte-order mark: Excel reads it as UTF-8 (ingest accepts the mark too)
        with os.fdopen(descriptor, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            for record in records:
                writer.writerow([neutralise(cell) for cell in record])
                count += 1
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _unwritable(path, exc) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return max(count, 0)


def _unwritable(path: Path, error: OSError) -> CliError:
    return CliError(
        ExitCode.INVALID_INPUT,
        f"cannot write {path}: {error.strerror or error}",
        reason="UNWRITABLE_FILE",
    )
