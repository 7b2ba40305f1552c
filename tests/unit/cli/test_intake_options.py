"""--encoding, --map and --date-order: parsed once, applied offline and sent to ingest alike."""

from datetime import date

import click
import pytest

from certflow.core.csv_intake import CsvFormatError
from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.file_check import check_csv
from certflow_cli.intake_options import FileOptions, parse_pairs

TODAY = date(2026, 6, 30)
EXPORT = "Full Name;E-mail;Course;Date;Notes\nJosé Müller;jose@example.org;BSc;10/06/2026;x\n"


def test_pairs_keep_everything_after_the_first_equals_sign() -> None:
    assert parse_pairs(("a=b=c", " k = v "), "--map", empty_value=True) == {"a": "b=c", "k": "v"}
    assert parse_pairs(("Notes=",), "--map", empty_value=True) == {"Notes": ""}


@pytest.mark.parametrize("values", [("novalue",), ("=x",), ("a=1", "a=2")])
def test_bad_pairs_are_usage_errors(values: tuple[str, ...]) -> None:
    with pytest.raises(click.BadParameter):
        parse_pairs(values, "--map", empty_value=True)


def test_the_same_options_go_to_the_service() -> None:
    options = FileOptions.from_flags(" windows-1252 ", ("Course=title", "Notes="), "day-first")
    assert options.metadata(request_id="r", display_name="d") == pb.UploadCsvMetadata(
        request_id="r",
        display_name="d",
        encoding="windows-1252",
        column_mapping={"Course": "title", "Notes": ""},
        date_order=pb.DATE_ORDER_DAY_FIRST,
    )
    assert FileOptions.from_flags("", (), None).metadata(request_id="", display_name="") == (
        pb.UploadCsvMetadata()
    )


def test_a_windows_export_is_read_offline_as_the_service_reads_it() -> None:
    data = EXPORT.encode("cp1252")
    ambiguous = check_csv(data, today=TODAY)
    assert [e.reason for e in ambiguous.errors] == ["AMBIGUOUS_DATE"]
    assert (ambiguous.encoding, ambiguous.delimiter) == ("windows-1252", ";")

    day_first = FileOptions.from_flags("", ("Notes=",), "day-first")
    report = check_csv(data, today=TODAY, options=day_first.intake())
    assert (report.valid_count, report.errors) == (1, [])


def test_a_mapping_naming_an_absent_column_refuses_the_file() -> None:
    options = FileOptions.from_flags("", ("Graduate=name",), None)
    with pytest.raises(CsvFormatError):
        check_csv(EXPORT.encode(), today=TODAY, options=options.intake())


def test_warnings_are_about_rows_that_would_be_issued_only() -> None:
    data = (
        b"name,email,title,completion_date\n"
        b"ANA LOPEZ,ana@example.org,BSc,2026-06-10\n"  # warned
        b"ANA LOPEZ,ana@example.org,BSc,2026-06-10\n"  # a repeat: refused, not warned
        b"R2D2,,BSc,2026-06-10\n"  # refused: no warning either
    )
    report = check_csv(data, today=TODAY)
    assert [(w.row_number, w.code) for w in report.warnings] == [(2, "NAME_ALL_CAPITALS")]
