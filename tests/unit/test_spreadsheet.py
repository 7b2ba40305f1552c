"""Cells a spreadsheet would run as formulas are neutralised; everything else is kept."""

import csv
import io

import pytest

from certflow.core.spreadsheet import csv_line, csv_lines, neutralise


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ('=HYPERLINK("http://x.example","y")', '\'=HYPERLINK("http://x.example","y")'),
        ("Ada Lovelace", "Ada Lovelace"),
        ("a=b", "a=b"),  # only the first character matters
        (" =1", " =1"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_formula_starts_get_a_single_quote(cell: str, shown: str) -> None:
    assert neutralise(cell) == shown


def test_a_line_is_one_rfc4180_record_of_neutralised_cells() -> None:
    line = csv_line(["=1", 'say "hi", then\nleave', "plain"])
    assert line.endswith("\r\n")
    assert next(csv.reader(io.StringIO(line))) == ["'=1", 'say "hi", then\nleave', "plain"]


def test_many_lines_through_one_writer_are_the_same_lines() -> None:
    records = [["=1", "a,b"], ["plain", '"q"'], ["@x", "\r-y"]]
    assert list(csv_lines(records)) == [csv_line(r) for r in records]
