"""`certflow batch BATCH` and `certflow errors BATCH`: reading a batch and its refused rows."""

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import click
from rich.console import Console

from certflow.core.spreadsheet import neutralise
from certflow.v1 import certificate_pb2
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
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the refused rows to this CSV file (line, field, reason, message), "
    "safe to open in a spreadsheet.",
)
@certflow_command
def errors(run: Invocation, batch_id: str, csv_path: Path | None) -> ExitCode:
    """List every refused row of a batch, with its line, field, reason and message.

    With --csv, writes them to a file instead: cells a spreadsheet would run as a
    formula (starting with = + - @, tab or CR) are prefixed with a single quote.
    Exit 0 when the batch was found (with or without refused rows), 6 when not.
    """
    with connected(run.settings()) as client:
        found = [row_error_document(e) for e in all_row_errors(client, batch_id)]
    if csv_path is not None:
        write_csv(csv_path, found)
        document: JsonDocument = {"batch_id": batch_id, "csv": str(csv_path), "count": len(found)}
        run.output.result(
            document,
            lambda console: console.print(
                shown(f"{len(found)} refused rows written to {csv_path}")
            ),
        )
    else:
        document = {"batch_id": batch_id, "row_errors": found}
        run.output.result(document, lambda console: render_errors(console, found))
    return ExitCode.OK


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


def csv_rows(found: Iterable[JsonDocument]) -> Iterator[list[str]]:
    """The header, then one record per refusal, every cell neutralised against formulas."""
    yield list(ERROR_COLUMNS)
    for error in found:
        yield [neutralise(str(error[column])) for column in ERROR_COLUMNS]


def write_csv(path: Path, found: Iterable[JsonDocument]) -> None:
    """All or nothing: written beside the target and renamed over it once complete."""
    directory = path.parent
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        # UTF-8 with a byte-order mark: Excel reads it as UTF-8 (ingest accepts the mark too)
        with os.fdopen(descriptor, "w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerows(csv_rows(found))
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _unwritable(path, exc) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _unwritable(path: Path, error: OSError) -> CliError:
    return CliError(
        ExitCode.INVALID_INPUT,
        f"cannot write {path}: {error.strerror or error}",
        reason="UNWRITABLE_FILE",
    )
