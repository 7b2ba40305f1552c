"""`certflow validate FILE`: the service's rules, offline."""

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from certflow.core.csv_intake import CsvFormatError
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.file_check import FileReport, check_csv
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, reasons_summary, row_errors_table, shown


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--allow-smtputf8-addresses",
    is_flag=True,
    help="Accept non-ASCII characters before the @, as ingest does when "
    "CERTFLOW_ALLOW_SMTPUTF8_ADDRESSES=true.",
)
@certflow_command
def validate(run: Invocation, file: Path, allow_smtputf8_addresses: bool) -> ExitCode:
    """Check a CSV file offline, with the rules the ingest service applies.

    Needs no service: prints the row counts and every refused row with its reasons,
    including rows repeated in the file. Rows already issued by an earlier batch are
    found only by the service. Exit 0 when every row is valid, 3 when some are refused,
    4 when the file is refused as a whole.
    """
    data = read_file(file)
    today = datetime.now(UTC).date()  # the service's clock is UTC too
    try:
        report = check_csv(data, today=today, allow_smtputf8=allow_smtputf8_addresses)
    except CsvFormatError as exc:
        raise CliError(
            ExitCode.INVALID_INPUT, f"{file}: {exc.message}", reason=exc.reason
        ) from None
    document = report_document(str(file), report)
    run.output.result(document, lambda console: render(console, document))
    return ExitCode.ROWS_REFUSED if report.errors else ExitCode.OK


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(
            ExitCode.INVALID_INPUT,
            f"cannot read {path}: {exc.strerror or exc}",
            reason="UNREADABLE_FILE",
        ) from None


def report_document(file: str, report: FileReport) -> JsonDocument:
    return {
        "file": file,
        "row_count": report.row_count,
        "valid_count": report.valid_count,
        "refused_count": report.refused_count,
        "duplicates_in_file": report.duplicates_in_file,
        "row_errors": [
            {"line": e.row_number, "field": e.field, "reason": e.reason, "message": e.message}
            for e in report.errors
        ],
    }


def render(console: Console, document: JsonDocument) -> None:
    console.print(
        shown(
            f"{document['file']}: {document['row_count']} rows, {document['valid_count']} valid, "
            f"{document['refused_count']} refused"
        )
    )
    if document["row_errors"]:
        console.print(shown(f"refused: {reasons_summary(document['row_errors'])}"))
        console.print(row_errors_table(document["row_errors"], title="Refused rows"))
