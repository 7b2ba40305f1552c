import pytest

from certflow.core.csv_intake import CsvFormatError, read_csv

HEADER = "name,email,title,completion_date,grade\n"


def rows(data: bytes, max_rows: int = 100):
    return list(read_csv(data, max_rows=max_rows).rows)


def test_reads_rows_with_custom_columns_and_line_numbers():
    data = (HEADER + "Ada,ada@x.org,BSc,2026-06-30,A\n\nBob,bob@x.org,BSc,2026-06-30,B\n").encode()
    parsed = read_csv(data, max_rows=10)
    assert parsed.custom_columns == ("grade",)
    got = list(parsed.rows)
    assert [r.row_number for r in got] == [2, 4]
    assert got[0].known["name"] == "Ada" and got[0].custom == {"grade": "A"}


def test_bom_semicolons_and_header_spelling_are_accepted():
    data = "\ufeffName;E-mail;Title;Completion Date\nAda;a@x.org;T;2026-01-01\n".encode()
    with pytest.raises(CsvFormatError):  # "e_mail" is not "email"
        read_csv(data, max_rows=10)
    data = "\ufeffName;Email;Title;Completion Date\nAda;a@x.org;T;2026-01-01\n".encode()
    (row,) = rows(data)
    assert row.known == {
        "name": "Ada",
        "email": "a@x.org",
        "title": "T",
        "completion_date": "2026-01-01",
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "EMPTY_FILE"),
        (b"   \n\n", "EMPTY_FILE"),
        (b"\xff\xfename,email\n", "NOT_UTF8"),
        (b"name,email\nA,b\n", "MISSING_COLUMNS"),
        (b"name,name,email,title,completion_date\n", "INVALID_HEADER"),
        (b"name,,email,title,completion_date\n", "INVALID_HEADER"),
        (b"name,email,title,completion_date\n\x00\x01", "BINARY_FILE"),
    ],
)
def test_unreadable_files_are_refused_whole(data, reason):
    with pytest.raises(CsvFormatError) as info:
        rows(data)
    assert info.value.reason == reason


def test_ragged_rows_and_too_many_rows():
    got = rows((HEADER + "Ada,a@x.org,BSc\n").encode())
    assert got[0].error.startswith("has 3 cells")
    with pytest.raises(CsvFormatError) as info:
        rows((HEADER + "A,a@x.org,T,2026-01-01,x\n" * 3).encode(), max_rows=2)
    assert info.value.reason == "TOO_MANY_ROWS"


def test_broken_quote_stops_with_a_row_error():
    got = rows((HEADER + 'Ada,"a@x.org,BSc,2026-06-30,A\n').encode())
    assert got[-1].error.startswith("unreadable CSV")
