"""`certflow validate FILE`: the service's rules, offline."""

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from certflow.core.csv_intake import CsvFormatError
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.input_files import read_input_file
from certflow_cli.intake_options import FileOptions, file_options
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import (
    JsonDocument,
    delimiter_name,
    reasons_summary,
    row_errors_table,
    shown,
    warnings_table,
)

if TYPE_CHECKING:
    from certflow_cli.file_check import FileReport


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@file_options
@click.option(
    "--allow-smtputf8-addresses",
    is_flag=True,
    help="Accept non-ASCII characters before the @, as ingest does when "
    "CERTFLOW_ALLOW_SMTPUTF8_ADDRESSES=true.",
)
@certflow_command
def validate(
    run: Invocation,
    file: Path,
    encoding: str,
    mapping: tuple[str, ...],
    date_order: str | None,
    allow_smtputf8_addresses: bool,
) -> ExitCode:
    """Check a CSV file offline, with the rules the ingest service applies.

    Needs no service: prints the row counts, every refused row with its reasons
    (including rows repeated in the file) and warnings about rows that would be issued
    (a name in capitals, with digits…). Rows already issued by an earlier batch are
    found only by the service. Exit 0 when every row is valid, 3 when some are refused,
    4 when the file is refused as a whole.
    """
    # the core rules load their Unicode tables on import (~0.5 s): only when validating
    from certflow_cli.file_check import check_csv

    options = FileOptions.from_flags(encoding, mapping, date_order)
    data = read_input_file(file)
    today = datetime.now(UTC).date()  # the service's clock is UTC too
    try:
        report = check_csv(
            data, today=today, options=options.intake(), allow_smtputf8=allow_smtputf8_addresses
        )
    except CsvFormatError as exc:
        raise CliError(
            ExitCode.INVALID_INPUT,
            f"{file}: {exc.message}",
            reason=exc.reason,
            details=tuple(
                f"{v.field}: {v.description}"
                for v in exc.violations
                if v.description != exc.message
            ),
        ) from None
    document = report_document(str(file), report)
    run.output.result(document, lambda console: render(console, document))
    return ExitCode.ROWS_REFUSED if report.errors else ExitCode.OK


def report_document(file: str, report: "FileReport") -> JsonDocument:
    return {
        "file": file,
        "row_count": report.row_count,
        "valid_count": report.valid_count,
        "refused_count": report.refused_count,
        "duplicates_in_file": report.duplicates_in_file,
        "encoding": report.encoding,
        "delimiter": report.delimiter,
        "row_errors": [
            {"line": e.row_number, "field": e.field, "reason": e.reason, "message": e.message}
            for e in report.errors
        ],
        "warnings": [
            {"line": w.row_number, "field": w.field, "code": w.code, "message": w.message}
            for w in report.warnings
        ],
    }


def render(console: Console, document: JsonDocument) -> None:
    console.print(
        shown(
            f"{document['file']}: {document['row_count']} rows, {document['valid_count']} valid, "
            f"{document['refused_count']} refused (read as {document['encoding']}, "
            f"{delimiter_name(document['delimiter'])}-separated)"
        )
    )
    if document["row_errors"]:
        console.print(shown(f"refused: {reasons_summary(document['row_errors'])}"))
        console.print(row_errors_table(document["row_errors"], title="Refused rows"))
    if document["warnings"]:
        console.print(shown(f"warnings: {reasons_summary(document['warnings'], 'code')}"))
        console.print(warnings_table(document["warnings"], title="Warnings (issued all the same)"))
