"""The row loop shared by ingest's upload and `certflow validate` (certflow.core.intake_rows)."""

from datetime import date

from certflow.core.csv_intake import read_csv
from certflow.core.dates import DateOrder
from certflow.core.intake_rows import validate_rows

TODAY = date(2026, 7, 1)
CSV = (
    b"name,email,title,completion_date\n"
    b"ADA LOVELACE,ada@example.edu,BSc,2026-06-30\n"  # 2: issued, with a warning
    b"Bad Row,not-an-email,BSc,10/06/2026\n"  # 3: two errors, in field order
    b"ADA LOVELACE,ADA@example.edu,bsc,2026-06-30\n"  # 4: repeat of line 2
    b"too,few\n"  # 5: unreadable
    b"Grace Hopper,grace@example.edu,BSc,2026-06-30\n"  # 6: issued
)


def test_errors_in_line_order_and_warnings_only_for_rows_to_issue() -> None:
    rows = read_csv(CSV, max_rows=100).rows

    checked = validate_rows(rows, issuer_id="https://uni.example.edu", today=TODAY)

    assert [k.row_number for k in checked.keyed] == [2, 6]
    assert [(e.row_number, e.field, e.reason) for e in checked.errors] == [
        (3, "email", "INVALID_EMAIL"),
        (3, "completion_date", "AMBIGUOUS_DATE"),
        (4, "", "DUPLICATE_IN_FILE"),
        (5, "", "UNREADABLE_ROW"),
    ]
    assert checked.duplicates_in_file == 1
    # the repeat on line 4 has the same all-capitals name but is not issued: no warning
    assert [(w.row_number, w.code) for w in checked.warnings] == [(2, "NAME_ALL_CAPITALS")]


def test_the_date_order_and_smtputf8_choice_reach_every_row() -> None:
    data = "name,email,title,completion_date\nZoë,zoë@example.edu,BSc,10/06/2026\n".encode()
    rows = read_csv(data, max_rows=10).rows

    refused = validate_rows(rows, issuer_id="i", today=TODAY)
    accepted = validate_rows(
        rows, issuer_id="i", today=TODAY, date_order=DateOrder.DAY_FIRST, allow_smtputf8=True
    )

    assert {e.reason for e in refused.errors} == {"AMBIGUOUS_DATE", "UNSUPPORTED_EMAIL"}
    assert [k.content.completion_date for k in accepted.keyed] == [date(2026, 6, 10)]
