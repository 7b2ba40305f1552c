"""`certflow validate`: a CSV file checked offline with the rules ingest applies to an upload.

The same certflow.core steps ingest's upload runs (services/ingest/usecases.py): read_csv, then
certflow.core.intake_rows.validate_rows, the one loop both call; so a file that passes here is
refused by the service only for what needs its database (already issued).
tests/e2e/test_cli.py compares this report with the service's for the same file.
"""

from dataclasses import dataclass
from datetime import date

from certflow.core.csv_intake import DETECT_ALL, IntakeOptions, read_csv
from certflow.core.intake_rows import validate_rows
from certflow.core.validation import RowError, RowWarning

# ingest's default CERTFLOW_MAX_ROWS_PER_UPLOAD (services/ingest/settings.py)
DEFAULT_MAX_ROWS = 200_000
# the issuer only salts the dedupe key; repeats inside one file are the same for any issuer
_ANY_ISSUER = "certflow-cli"


@dataclass(frozen=True, slots=True)
class FileReport:
    row_count: int
    valid_count: int
    errors: list[RowError]  # in line order; a row may have several
    duplicates_in_file: int
    warnings: list[RowWarning]  # about rows that would be issued
    encoding: str  # what the file was read as
    delimiter: str

    @property
    def refused_count(self) -> int:
        return self.row_count - self.valid_count


def check_csv(
    data: bytes,
    *,
    today: date,
    options: IntakeOptions = DETECT_ALL,
    allow_smtputf8: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> FileReport:
    """Every row's errors; raises CsvFormatError when the file is refused as a whole."""
    csv_file = read_csv(
        data, max_rows=max_rows, encoding=options.encoding, column_mapping=options.column_mapping
    )
    checked = validate_rows(
        csv_file.rows,
        issuer_id=_ANY_ISSUER,
        today=today,
        date_order=options.date_order,
        allow_smtputf8=allow_smtputf8,
    )
    return FileReport(
        row_count=len(csv_file.rows),
        valid_count=len(checked.keyed),
        errors=checked.errors,
        duplicates_in_file=checked.duplicates_in_file,
        warnings=checked.warnings,
        encoding=csv_file.encoding,
        delimiter=csv_file.delimiter,
    )
