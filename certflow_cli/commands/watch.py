"""`certflow watch BATCH`, and following a batch to its end (also after `certflow upload`)."""

import time
from collections.abc import Callable

import click
from rich.console import Console

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.connection import IngestClient, connected
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, batch_document, batch_table, shown
from certflow_cli.progress import BatchProgress, is_final, state_name

POLL_SECONDS = 0.5  # only against a service without WatchBatch


def follow(
    client: IngestClient,
    batch: pb.Batch,
    on_update: Callable[[pb.Batch], None],
    sleep: Callable[[float], None] = time.sleep,
) -> pb.Batch:
    """The batch in its final state: pushed by WatchBatch, or polled from an older service."""
    if is_final(batch):
        return batch
    try:
        for pushed in client.watch_batch(batch.batch_id):
            batch = pushed
            on_update(batch)
            if is_final(batch):
                return batch
    except CliError as error:
        if error.reason != "UNIMPLEMENTED":
            raise
    # no WatchBatch, or its stream ended early: read the batch until it is final
    return poll(client, batch, on_update, sleep)


def poll(
    client: IngestClient,
    batch: pb.Batch,
    on_update: Callable[[pb.Batch], None],
    sleep: Callable[[float], None],
) -> pb.Batch:
    while not is_final(batch):
        sleep(POLL_SECONDS)
        batch = client.get_batch(batch.batch_id)
        on_update(batch)
    return batch


def outcome(batch: pb.Batch) -> ExitCode:
    """The exit code of a batch followed to its end."""
    if state_name(batch.state) == "CANCELLED":
        return ExitCode.CANCELLED
    if batch.rejected_count:
        return ExitCode.ROWS_REFUSED
    if batch.email_failed_count:
        return ExitCode.EMAILS_FAILED
    return ExitCode.OK


@click.command()
@click.argument("batch_id", metavar="BATCH")
@certflow_command
def watch(run: Invocation, batch_id: str) -> ExitCode:
    """Follow a batch live (anchored, emailed) until it reaches a final state.

    Exit 0 when every row was issued and emailed, 3 when some rows were refused,
    9 when some emails failed, 10 when the batch was cancelled, 6 when there is no
    such batch.
    """
    with connected(run.settings()) as client:
        progress = BatchProgress(
            run.output.stderr, file_size=None, enabled=not run.output.json_mode
        )
        with progress:
            batch = client.get_batch(batch_id)
            progress.show(batch)
            batch = follow(client, batch, progress.show)
    document = {"batch": batch_document(batch)}
    run.output.result(document, lambda console: render(console, document["batch"]))
    return outcome(batch)


def render(console: Console, batch: JsonDocument) -> None:
    console.print(shown(f"batch {batch['batch_id']}"))
    console.print(batch_table(batch))
