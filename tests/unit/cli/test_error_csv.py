"""`certflow errors --csv`: the error report as a file a spreadsheet opens without running it."""

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from certflow_cli.commands.batches import error_records, report_records, write_csv
from certflow_cli.exit_codes import CliError, ExitCode

HOSTILE = [
    ["name", "line", "field", "code", "message"],
    ['=HYPERLINK("x")', "2", "name", "MISSING_VALUE", "m"],
    ["+1", "3", "-R", "@SUM(A1)", "plain, with a comma"],
    ["\tname", "4", "\rR", "'already quoted", "a\nb"],
]


def read_back(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_formula_starts_are_neutralised_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "refused.csv"
    assert write_csv(path, HOSTILE) == 3
    assert read_back(path) == [
        ["name", "line", "field", "code", "message"],
        ['\'=HYPERLINK("x")', "2", "name", "MISSING_VALUE", "m"],
        ["'+1", "3", "'-R", "'@SUM(A1)", "plain, with a comma"],
        ["'\tname", "4", "'\rR", "'already quoted", "a\nb"],
    ]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


def test_the_header_alone_counts_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "none.csv"
    assert write_csv(path, error_records([])) == 0
    assert read_back(path) == [["line", "field", "reason", "message"]]


def test_an_unwritable_place_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(CliError) as refused:
        write_csv(tmp_path / "absent-dir" / "refused.csv", HOSTILE)
    assert refused.value.exit_code is ExitCode.INVALID_INPUT
    assert "cannot write" in refused.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "refused.csv"
    path.write_text("before")

    def records() -> Iterator[list[str]]:
        yield HOSTILE[0]
        raise CliError(ExitCode.UNREACHABLE, "the connection dropped")

    with pytest.raises(CliError):
        write_csv(path, records())
    assert path.read_text() == "before"
    assert list(tmp_path.iterdir()) == [path]


def test_a_report_is_read_whatever_the_chunk_boundaries() -> None:
    text = '\ufeffname,line,message\r\n"Zoë, ""Z""",2,"two\r\nlines"\r\n=cmd,3,x\r\n'
    data = text.encode()
    expected = [["name", "line", "message"], ['Zoë, "Z"', "2", "two\r\nlines"], ["=cmd", "3", "x"]]
    for size in (1, 2, 3, 7, len(data)):  # splits inside 'ë', the BOM and quoted fields
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(report_records(chunks)) == expected, size


@pytest.mark.parametrize(
    ("chunks", "words"),
    [([b"a,b\n\xff\xfe\n"], "not UTF-8"), ([b'a,"b\n'], "unreadable error report")],
)
def test_an_unreadable_report_is_a_failure_not_a_traceback(chunks: list[bytes], words: str) -> None:
    with pytest.raises(CliError, match=words) as failed:
        list(report_records(chunks))
    assert failed.value.exit_code is ExitCode.FAILED


def test_row_errors_become_records_with_a_header() -> None:
    found = [{"line": 7, "field": "email", "reason": "INVALID_EMAIL", "message": "m"}]
    assert list(error_records(found)) == [
        ["line", "field", "reason", "message"],
        ["7", "email", "INVALID_EMAIL", "m"],
    ]
