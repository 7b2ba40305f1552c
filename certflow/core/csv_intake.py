"""Reading an uploaded CSV file into rows: decoding, delimiter, header checks, limits.

A file is read to its end before anything is issued: a file that cannot be parsed to its end
is refused whole, so valid rows never vanish silently behind an unreadable line. Encodings are
handled in certflow.core.text_encoding, headers and the column mapping in certflow.core.columns.
"""

import _csv
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from certflow.core.columns import (
    CORE_FIELDS,
    REQUIRED_FIELDS,
    ColumnError,
    ColumnPlan,
    plan_columns,
)
from certflow.core.dates import DateOrder
from certflow.core.errors import NOT_CANCELLED, CancelSignal, FieldViolation, until_cancelled
from certflow.core.text_encoding import DecodeError, decode

REQUIRED_COLUMNS = REQUIRED_FIELDS
KNOWN_COLUMNS = CORE_FIELDS
MAX_FIELD_BYTES = 10_000
# 5 known columns + 20 custom fields is the most a valid file uses; 200 leaves room for
# ignored export columns while keeping every per-column step trivially cheap
MAX_COLUMNS = 200
# 200 columns of up to 64-character names, quoted, with room to spare
MAX_HEADER_CHARS = 16_384
_LINE_END = re.compile(r"[\r\n]")
_QUOTED = re.compile(r'"[^"]*"')
_DELIMITERS = (",", ";", "\t")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read; nothing from it is issued."""

    def __init__(
        self, reason: str, message: str, violations: list[FieldViolation] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.violations = violations or [FieldViolation("file", message)]


@dataclass(frozen=True, slots=True)
class IntakeOptions:
    """What the client says about its file; the defaults detect everything."""

    encoding: str = ""  # declared encoding; "" = a BOM, else detected
    column_mapping: Mapping[str, str] = field(default_factory=dict)  # header → field ("" drops)
    date_order: DateOrder = DateOrder.UNSPECIFIED


DETECT_ALL = IntakeOptions()


@dataclass(frozen=True, slots=True)
class CsvRow:
    row_number: int  # line number in the file where the row starts (the header is line 1)
    known: dict[str, str]
    custom: dict[str, str]
    error: str = ""  # set when the row's shape is wrong (cell count, cell size)
    cells: tuple[str, ...] = ()  # as uploaded, in the file's column order (the error report)


@dataclass(frozen=True, slots=True)
class CsvFile:
    columns: tuple[str, ...]  # per column of the file: the field it feeds, "" when dropped
    custom_columns: tuple[str, ...]
    rows: list[CsvRow]  # every non-blank data row: the file was read to its end
    encoding: str = "utf-8"  # what the file was read as ("utf-8", "windows-1252", …)
    delimiter: str = ","
    header: tuple[str, ...] = ()  # the column names as uploaded (the error report)


def first_line(text: str) -> str:
    """The header line, whatever the line endings (LF, CRLF or CR alone)."""
    end = _LINE_END.search(text)
    return text[: end.start()] if end else text


def delimiter_of(header_line: str) -> str:
    """Comma by default; semicolon or tab when the header clearly uses it (Excel exports)."""
    unquoted = _QUOTED.sub("", header_line) if '"' in header_line else header_line
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def check_header_size(header_line: str, delimiter: str) -> None:
    """Refuses an oversized header before any per-column work (str.count is linear, in C)."""
    columns = header_line.count(delimiter) + 1
    if columns > MAX_COLUMNS:
        raise CsvFormatError(
            "TOO_MANY_COLUMNS", f"the header has {columns} columns (at most {MAX_COLUMNS})"
        )
    if len(header_line) > MAX_HEADER_CHARS:
        raise CsvFormatError(
            "HEADER_TOO_LONG",
            f"the header line has {len(header_line)} characters (at most {MAX_HEADER_CHARS})",
        )


def header_plan(header: list[str], mapping: Mapping[str, str]) -> ColumnPlan:
    if len(header) > MAX_COLUMNS:  # quoted line breaks can hide columns from the line count
        raise CsvFormatError(
            "TOO_MANY_COLUMNS", f"the header has {len(header)} columns (at most {MAX_COLUMNS})"
        )
    try:
        return plan_columns(header, mapping)
    except ColumnError as exc:
        raise CsvFormatError(exc.reason, exc.message, exc.violations) from exc


def read_csv(
    data: bytes,
    *,
    max_rows: int,
    cancel: CancelSignal = NOT_CANCELLED,
    encoding: str = "",
    column_mapping: Mapping[str, str] | None = None,
) -> CsvFile:
    """Reads the whole file; raises CsvFormatError when it cannot be read to its end."""
    try:
        decoded = decode(data, encoding)
    except DecodeError as exc:
        raise CsvFormatError(exc.reason, exc.message, exc.violations) from exc
    text = decoded.text
    if not text or text.isspace():
        raise CsvFormatError("EMPTY_FILE", "the file is empty")
    if "\x00" in text:
        raise CsvFormatError("BINARY_FILE", "the file contains NUL bytes: it is not a CSV file")
    header_line = first_line(text)
    delimiter = delimiter_of(header_line)
    check_header_size(header_line, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise CsvFormatError("INVALID_HEADER", f"the header line cannot be read: {exc}") from exc
    plan = header_plan(header, column_mapping or {})
    rows = list(until_cancelled(_rows(reader, plan, max_rows), cancel))
    if not rows:
        raise CsvFormatError("NO_ROWS", "the file has a header but no data rows")
    return CsvFile(
        plan.targets, plan.custom_keys, rows, decoded.encoding, delimiter, header=tuple(header)
    )


def _records(reader: "_csv.Reader") -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells); an unreadable record refuses the whole file.

    The line reported is the record's FIRST line: an unclosed quote makes the parser read on
    to the end of the file (or past the field size limit), far from where the problem is.
    """
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError(
                "UNREADABLE_CSV",
                f"line {start}: the record starting here cannot be read ({exc}); "
                "check for an unclosed quote or an oversized field. Nothing was issued.",
            ) from exc
        yield start, cells


def _rows(reader: "_csv.Reader", plan: ColumnPlan, max_rows: int) -> Iterator[CsvRow]:
    data_rows = 0
    width = len(plan.targets)
    for row_number, cells in _records(reader):
        if not cells or all(not c.strip() for c in cells):
            continue
        data_rows += 1
        if data_rows > max_rows:
            raise CsvFormatError("TOO_MANY_ROWS", f"the file has more than {max_rows} rows")
        if len(cells) != width:
            cells = _fitted(cells, width)
            if len(cells) != width:
                yield CsvRow(
                    row_number,
                    {},
                    {},
                    error=f"has {len(cells)} cells, the header has {width}",
                    cells=tuple(cells[:width]),  # the report has the header's columns only
                )
                continue
        if any(len(c) > MAX_FIELD_BYTES for c in cells):
            yield CsvRow(
                row_number,
                {},
                {},
                error=f"a cell is longer than {MAX_FIELD_BYTES}",
                cells=tuple(cells),
            )
            continue
        yield CsvRow(
            row_number,
            {key: cells[i] for i, key in plan.known},
            {key: cells[i] for i, key in plan.custom},
            cells=tuple(cells),
        )


def _fitted(cells: list[str], width: int) -> list[str]:
    """A row's cells cut to the header's named columns when all it has beyond them is empty
    (trailing delimiters, as spreadsheets write them); otherwise unchanged."""
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        return cells[:width]
    return cells
