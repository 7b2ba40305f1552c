"""`certflow reprocess BATCH FILE`: corrected rows, a pilot's rest or an edited error report,
added to their batch without issuing anyone twice."""

from pathlib import Path

import click

from certflow_cli.commands.upload import plan_file, send_file
from certflow_cli.exit_codes import ExitCode
from certflow_cli.intake_options import FileOptions, file_options
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.plan import dry_run_options

MAX_BATCH_ID = 64  # what ingest accepts


@click.command()
@click.argument("batch_id", metavar="BATCH")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@file_options
@click.option(
    "--no-wait",
    is_flag=True,
    help="Return once the rows are stored, without following anchoring and email.",
)
@dry_run_options
@certflow_command
def reprocess(
    run: Invocation,
    batch_id: str,
    file: Path,
    encoding: str,
    mapping: tuple[str, ...],
    date_order: str | None,
    no_wait: bool,
    dry_run: bool,
    previews: int,
) -> ExitCode:
    """Add a file's rows to an existing batch, then follow it to its end.

    Rows whose certificate the batch already holds are skipped: the rest of a pilot
    (the same file again) or corrected rows issue only what is new, nobody twice.
    The error report of `certflow errors BATCH --csv FILE`, fixed in place, replaces
    the refusals of the lines it lists: corrected lines are issued, the others stay
    refused with their new reasons. A COMPLETED batch goes back to anchoring and
    completes again. Exit 0 when the batch completed with no refused row, 3 when rows
    of this file were refused, 9 when emails failed, 6 when there is no such batch,
    8 when it was cancelled (no rows can join it), 4 when the file is refused whole.
    """
    if not batch_id.strip() or len(batch_id) > MAX_BATCH_ID:
        raise click.BadParameter(f"1 to {MAX_BATCH_ID} characters", param_hint="BATCH")
    metadata = FileOptions.from_flags(encoding, mapping, date_order).metadata(
        request_id="", display_name=""
    )
    metadata.batch_id = batch_id
    if dry_run:
        metadata.dry_run, metadata.preview_count = True, previews
        return plan_file(run, file, metadata)
    return send_file(run, file, metadata, no_wait=no_wait)
