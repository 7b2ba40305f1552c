"""The rows of a read CSV file checked as an upload checks them (pure): the one loop shared by
ingest's UploadCsv and the offline `certflow validate`, so both refuse and warn alike.

Per row: an unreadable shape is refused, the fields are validated and normalised
(certflow.core.validation), repeats inside the file are refused (first one wins), and the
names of the rows left to issue are looked at for warnings. Only what needs a database
(already issued by an earlier batch) is left to the caller.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from certflow.core.csv_intake import CsvRow
from certflow.core.dates import DateOrder
from certflow.core.document import CertificateContent
from certflow.core.issuance import KeyedRequest, key_requests
from certflow.core.validation import RowError, RowWarning, name_warnings, validate_certificate


@dataclass(frozen=True, slots=True)
class ValidatedRows:
    keyed: list[KeyedRequest]  # the rows to issue, in line order, each with its dedupe key
    errors: list[RowError]  # in line order; a row may have several (in its fields' order)
    warnings: list[RowWarning]  # about the rows to issue only
    duplicates_in_file: int


def validate_rows(
    rows: Iterable[CsvRow],
    *,
    issuer_id: str,
    today: date,
    date_order: DateOrder = DateOrder.UNSPECIFIED,
    allow_smtputf8: bool = False,
    default_time_zone: str = "",
) -> ValidatedRows:
    """`today` is the issue date (a certificate expired by then is refused); `issuer_id` salts
    the dedupe keys (repeats inside one file are the same for any issuer)."""
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
            date_order=date_order,
            default_time_zone=default_time_zone,
        )
        if isinstance(result, list):
            errors.extend(result)
        else:
            valid.append((row.row_number, result))
    keyed, duplicates = key_requests(issuer_id, valid)
    errors.extend(duplicates)
    errors.sort(key=lambda e: e.row_number)  # stable: a row's errors keep their field order
    warnings = [
        warning
        for request in keyed
        for warning in name_warnings(request.content.recipient_name, request.row_number)
    ]
    return ValidatedRows(keyed, errors, warnings, duplicates_in_file=len(duplicates))
