"""`certflow validate`'s report: ingest's core rules applied offline."""

from datetime import date

import pytest

from certflow.core.csv_intake import CsvFormatError
from certflow_cli.file_check import check_csv

TODAY = date(2026, 6, 30)
HEADER = "name,email,title,completion_date\n"


def test_counts_every_row_and_lists_each_rows_errors_in_line_order() -> None:
    data = (
        HEADER
        + "Ana López,ana@example.org,BSc,2026-06-10\n"  # line 2: valid
        + ",not-an-email,BSc,2026-06-10\n"  # line 3: two errors
        + "Bo,bo@example.org,BSc,soon\n"  # line 4
        + "Ana López,ANA@example.org,bsc,2026-06-10\n"  # line 5: repeats line 2
        + "Cy,cy@example.org,BSc\n"  # line 6: a cell short
    ).encode()
    report = check_csv(data, today=TODAY)
    assert (report.row_count, report.valid_count, report.refused_count) == (5, 1, 4)
    assert report.duplicates_in_file == 1
    assert [(e.row_number, e.field, e.reason) for e in report.errors] == [
        (3, "name", "MISSING_VALUE"),
        (3, "email", "INVALID_EMAIL"),
        (4, "completion_date", "INVALID_DATE"),
        (5, "", "DUPLICATE_IN_FILE"),
        (6, "", "UNREADABLE_ROW"),
    ]
    assert report.errors[3].message == "same recipient, title and date as line 2"


def test_a_completion_date_ahead_of_today_is_refused_as_the_service_does() -> None:
    data = (HEADER + "Ana,ana@example.org,BSc,2026-07-05\n").encode()
    (error,) = check_csv(data, today=TODAY).errors
    assert error.reason == "DATE_IN_FUTURE"
    assert check_csv(data, today=date(2026, 7, 5)).errors == []


def test_non_ascii_local_parts_only_when_allowed() -> None:
    data = (HEADER + "José,josé@example.org,BSc,2026-06-10\n").encode()
    assert [e.reason for e in check_csv(data, today=TODAY).errors] == ["UNSUPPORTED_EMAIL"]
    assert check_csv(data, today=TODAY, allow_smtputf8=True).valid_count == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "EMPTY_FILE"),
        (HEADER.encode(), "NO_ROWS"),
        (b"name,email\nAna,ana@example.org\n", "MISSING_COLUMNS"),
        (b"\x00\x01\x02name,email,title,completion_date\n", "BINARY_FILE"),
    ],
)
def test_a_file_refused_whole_raises_with_the_services_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CsvFormatError) as refused:
        check_csv(data, today=TODAY)
    assert refused.value.reason == reason


def test_more_rows_than_the_limit_refuse_the_file() -> None:
    data = (HEADER + "Ana,ana@example.org,BSc,2026-06-10\n" * 3).encode()
    with pytest.raises(CsvFormatError) as refused:
        check_csv(data, today=TODAY, max_rows=2)
    assert refused.value.reason == "TOO_MANY_ROWS"
