"""`certflow errors --csv`: refused rows as a file a spreadsheet opens without running it."""

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from certflow_cli.commands.batches import csv_rows, write_csv
from certflow_cli.exit_codes import CliError, ExitCode

HOSTILE = [
    {"line": 2, "field": "name", "reason": "MISSING_VALUE", "message": '=HYPERLINK("x")'},
    {"line": 3, "field": "+1", "reason": "-R", "message": "@SUM(A1)"},
    {"line": 4, "field": "\tname", "reason": "\rR", "message": "plain, with a comma"},
]


def read_back(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_formula_starts_are_neutralised_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "refused.csv"
    write_csv(path, HOSTILE)
    rows = read_back(path)
    assert rows == [
        ["line", "field", "reason", "message"],
        ["2", "name", "MISSING_VALUE", '\'=HYPERLINK("x")'],
        ["3", "'+1", "'-R", "'@SUM(A1)"],
        ["4", "'\tname", "'\rR", "plain, with a comma"],
    ]
    assert path.read_bytes().count(b"\r\n") == 4  # RFC 4180 records
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


def test_no_refused_rows_writes_the_header_alone(tmp_path: Path) -> None:
    path = tmp_path / "none.csv"
    write_csv(path, [])
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

    def rows() -> Iterator[dict[str, object]]:
        yield HOSTILE[0]
        raise RuntimeError("the connection dropped")

    with pytest.raises(RuntimeError):
        write_csv(path, rows())
    assert path.read_text() == "before"
    assert list(tmp_path.iterdir()) == [path]


def test_csv_rows_start_with_the_header() -> None:
    assert next(csv_rows([])) == ["line", "field", "reason", "message"]
