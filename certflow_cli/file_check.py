"""`certflow validate`: a CSV file checked offline with the rules ingest applies to an upload.

The same certflow.core steps ingest's upload runs (services/ingest/usecases.py: read_csv,
validate_certificate per row, key_requests for repeats, name_warnings for rows to issue), in
the same order, so a file that passes here is refused by the service only for what needs its
database (already issued).
tests/e2e/test_cli.py compares this report with the service's for the same file.
"""

from dataclasses import dataclass
from datetime import date

from certflow.core.csv_intake import DETECT_ALL, IntakeOptions, read_csv
from certflow.core.document import CertificateContent
from certflow.core.issuance import key_requests
from certflow.core.validation import RowError, RowWarning, name_warnings, validate_certificate

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
    rows = csv_file.rows
    valid: list[tuple[int, CertificateContent]] = []
    errors: list[RowError] = []
    for row in rows:
        if row.error:
            errors.append(
                RowError(row.row_number, "", "UNREADABLE_ROW", f"line {row.row_number} {row.error}")
            )
            continue
        result = validate_certificate(
            row.known,
            row.custom,
            row_number=row.row_number,
            today=today,
            allow_smtputf8=allow_smtputf8,
            date_order=options.date_order,
        )
        if isinstance(result, list):
            errors.extend(result)
        else:
            valid.append((row.row_number, result))
    keyed, duplicates = key_requests(_ANY_ISSUER, valid)
    errors.extend(duplicates)
    errors.sort(key=lambda e: e.row_number)  # stable: a row's errors keep their field order
    warnings = [
        warning
        for request in keyed
        for warning in name_warnings(request.content.recipient_name, request.row_number)
    ]
    return FileReport(
        row_count=len(rows),
        valid_count=len(keyed),
        errors=errors,
        duplicates_in_file=len(duplicates),
        warnings=warnings,
        encoding=csv_file.encoding,
        delimiter=csv_file.delimiter,
    )
