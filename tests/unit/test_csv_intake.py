import threading

import pytest

from certflow.core.csv_intake import MAX_COLUMNS, CsvFormatError, read_csv
from certflow.core.errors import Cancelled

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
        (b"\xff\xfename,email\n", "INVALID_ENCODING"),  # a UTF-16 BOM, then odd bytes
        (b"name,email\nA,b\n", "MISSING_COLUMNS"),
        (b"name,name,email,title,completion_date\n", "INVALID_HEADER"),
        (b"name,,email,title,completion_date\n", "INVALID_HEADER"),
        (b"name,email,title,completion_date\n\x00\x01", "BINARY_FILE"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "BINARY_FILE"),
        ("name,email,title,completion_date\n".encode("utf-16-le"), "NO_ROWS"),  # read
        (b"\xef\xbb\xbf", "EMPTY_FILE"),
        (b"\r\n\r\n", "EMPTY_FILE"),
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


def refusal(data: bytes, max_rows: int = 100) -> CsvFormatError:
    with pytest.raises(CsvFormatError) as info:
        read_csv(data, max_rows=max_rows)
    return info.value


VALID_ROW = "Ada,a@x.org,BSc,2026-06-30,A\n"


def test_an_unclosed_quote_refuses_the_whole_file_naming_its_opening_line():
    data = HEADER + VALID_ROW * 3 + 'Bob,"b@x.org,BSc,2026-06-30,B\n' + VALID_ROW * 8
    error = refusal(data.encode())
    assert error.reason == "UNREADABLE_CSV"
    assert error.message.startswith("line 5:")  # the quote opens on line 5, not at the end


def test_a_field_over_the_parser_limit_refuses_the_whole_file_naming_its_line():
    data = HEADER + VALID_ROW * 2 + f"Bob,{'x' * 200_000},BSc,2026-06-30,B\n" + VALID_ROW * 9
    error = refusal(data.encode())
    assert error.reason == "UNREADABLE_CSV"
    assert error.message.startswith("line 4:")


def test_a_multiline_quoted_record_reports_its_first_line():
    data = HEADER + 'Ada,a@x.org,"BSc\nMaths",2026-06-30,A\n' + VALID_ROW
    assert [r.row_number for r in rows(data.encode())] == [2, 4]


def test_cr_only_line_endings_are_read():
    data = (HEADER + VALID_ROW * 2).replace("\n", "\r").encode()
    assert [r.row_number for r in rows(data)] == [2, 3]


@pytest.mark.parametrize("body", ["", "\n\n", " , , , , \n\n"])
def test_a_header_without_data_rows_is_refused(body):
    assert refusal((HEADER + body).encode()).reason == "NO_ROWS"


def test_a_wide_header_is_refused_before_any_per_column_work():
    wide = ",".join(f"c{i}" for i in range(50_000)) + "\n"
    error = refusal(wide.encode())
    assert error.reason == "TOO_MANY_COLUMNS"
    assert "50000" in error.message


def test_a_header_at_the_column_limit_is_read():
    header = "name,email,title,completion_date," + ",".join(f"c{i}" for i in range(196))
    parsed = read_csv(
        (header + "\nA,a@x.org,T,2026-01-01" + ",x" * 196 + "\n").encode(), max_rows=1
    )
    assert len(parsed.columns) == MAX_COLUMNS


def test_an_overlong_header_line_is_refused():
    header = "name,email,title,completion_date," + "x" * 1_000_000
    assert refusal(header.encode()).reason == "HEADER_TOO_LONG"


def test_columns_hidden_by_quoted_line_breaks_are_still_counted():
    header = 'name,email,title,completion_date,"a\nb"' + ",c" * 300 + "\n"
    assert refusal(header.encode()).reason == "TOO_MANY_COLUMNS"


def test_duplicate_and_case_colliding_columns_are_named_one_violation_each():
    header = "name,Name,email,title,completion_date,e-mail,E mail\n"
    error = refusal(header.encode())
    assert error.reason == "INVALID_HEADER"
    assert [v.field for v in error.violations] == ["file", "file", "file"]
    described = [v.description for v in error.violations]
    assert "'name' (column 1) and 'Name' (column 2) are the same column" in described[0]
    assert "'email' (column 3) and 'e-mail' (column 6)" in described[1]
    assert "'email' (column 3) and 'E mail' (column 7)" in described[2]


def test_reading_stops_when_the_caller_has_gone():
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Cancelled):
        read_csv((HEADER + VALID_ROW * 1000).encode(), max_rows=10_000, cancel=cancelled)


def test_a_semicolon_export_with_quoted_delimiters_newlines_crlf_and_trailing_lines():
    data = (
        'Full Name;E-mail;Course;Date;"Note, a, b, c, d"\r\n'
        '"Lovelace; Ada";ada@x.org;"BSc\r\nMathematics";2026-06-30;\r\n'
        "Bob;bob@x.org;BSc;2026-06-30;x\r\n"
        "\r\n\r\n;;;;\r\n"
    ).encode("utf-16")
    parsed = read_csv(data, max_rows=10)
    assert (parsed.encoding, parsed.delimiter) == ("utf-16le", ";")  # not the quoted commas
    assert parsed.columns == ("name", "email", "title", "completion_date", "note_a_b_c_d")
    ada, bob = parsed.rows
    assert ada.known["name"] == "Lovelace; Ada" and ada.known["title"] == "BSc\r\nMathematics"
    assert [ada.row_number, bob.row_number] == [2, 4]


def test_a_tab_separated_file_and_trailing_delimiters():
    data = b"name\temail\ttitle\tcompletion_date\t\t\nAda\ta@x.org\tT\t2026-01-01\t\t\n"
    parsed = read_csv(data, max_rows=10)
    assert parsed.delimiter == "\t"
    (row,) = parsed.rows
    assert not row.error and row.known["completion_date"] == "2026-01-01"


def test_a_value_beyond_the_named_columns_makes_the_row_unreadable():
    data = (HEADER + "Lovelace, Ada,a@x.org,BSc,2026-06-30,A\n").encode()
    (row,) = rows(data)
    assert row.error == "has 6 cells, the header has 5"


def test_a_mapping_and_encoding_are_applied():
    data = "Élève;Courriel;Cours;Fini\nJosé;j@x.org;Café;2026-06-30\n".encode("cp1252")
    mapping = {"élève": "name", "Courriel": "email", "Cours": "title", "Fini": "completion_date"}
    parsed = read_csv(data, max_rows=10, column_mapping=mapping, encoding="windows-1252")
    assert parsed.encoding == "windows-1252"
    assert parsed.rows[0].known == {
        "name": "José",
        "email": "j@x.org",
        "title": "Café",
        "completion_date": "2026-06-30",
    }


def test_the_uploaded_header_and_cells_are_kept_for_the_error_report():
    parsed = read_csv((HEADER + VALID_ROW).encode(), max_rows=10)
    assert parsed.header == ("name", "email", "title", "completion_date", "grade")
    assert parsed.rows[0].cells == ("Ada", "a@x.org", "BSc", "2026-06-30", "A")


# hostile intake inputs (issue 8, "Bad input")


def test_a_data_line_of_a_million_columns_is_one_unreadable_row():
    data = (HEADER + "," * 1_000_000 + "x\n" + VALID_ROW).encode()
    bad, good = rows(data)
    assert bad.error == "has 1000001 cells, the header has 5"
    assert not good.error


def test_a_header_of_a_million_columns_is_refused_before_reading_them():
    assert refusal(("a," * 1_000_000 + "b\n").encode()).reason == "TOO_MANY_COLUMNS"


def test_a_100_kb_field_is_a_row_error_not_a_refusal():
    data = (HEADER + f"Ada,a@x.org,{'x' * 100_000},2026-06-30,A\n" + VALID_ROW).encode()
    big, good = rows(data)
    assert big.error == "a cell is longer than 10000"
    assert not good.error


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("Name,name,email,title,completion_date", "are the same column"),
        ("Name,Full Name,email,title,completion_date", "could each be 'name'"),
        ("NAME,E-Mail,e_mail,title,completion_date", "are the same column"),
    ],
)
def test_duplicate_case_colliding_and_aliased_headers_are_refused(header, said):
    error = refusal(f"{header}\n{VALID_ROW}".encode())
    assert error.reason == "INVALID_HEADER"
    assert any(said in v.description for v in error.violations)


def test_a_mapping_naming_absent_columns_is_refused():
    with pytest.raises(CsvFormatError) as info:
        read_csv((HEADER + VALID_ROW).encode(), max_rows=10, column_mapping={"Learner": "name"})
    assert [v.field for v in info.value.violations] == ["column_mapping['Learner']"]
