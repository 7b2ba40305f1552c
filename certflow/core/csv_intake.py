"""Reading an uploaded CSV file into rows: decoding, delimiter, header checks, limits.

A file is read to its end before anything is issued: a file that cannot be parsed to its end
is refused whole, so valid rows never vanish silently behind an unreadable line.
"""

import _csv
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from certflow.core.errors import NOT_CANCELLED, CancelSignal, until_cancelled

REQUIRED_COLUMNS = ("name", "email", "title", "completion_date")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "expiry_date")
MAX_FIELD_BYTES = 10_000
# 5 known columns + 20 custom fields is the most a valid file uses; 200 leaves room for
# ignored export columns while keeping every per-column step trivially cheap
MAX_COLUMNS = 200
# 200 columns of up to 64-character names, quoted, with room to spare
MAX_HEADER_CHARS = 16_384
_HEADER_CLEANUP = re.compile(r"[\s\-]+")
_LINE_END = re.compile(r"[\r\n]")
_DELIMITERS = (",", ";", "\t")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read; nothing from it is issued."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class CsvRow:
    row_number: int  # line number in the file where the row starts (the header is line 1)
    known: dict[str, str]
    custom: dict[str, str]
    error: str = ""  # set when the row's shape is wrong (cell count, cell size)
    cells: tuple[str, ...] = ()  # as uploaded, in the file's column order (the error report)


@dataclass(frozen=True, slots=True)
class CsvFile:
    columns: tuple[str, ...]
    custom_columns: tuple[str, ...]
    rows: list[CsvRow]  # every non-blank data row: the file was read to its end
    header: tuple[str, ...] = ()  # the column names as uploaded (the error report)


def normalise_header(name: str) -> str:
    return _HEADER_CLEANUP.sub("_", name.strip().lower())


def looks_like_utf16(data: bytes) -> bool:
    """UTF-16 text without a byte-order mark: ASCII characters leave a NUL in every other byte."""
    sample = data[:4096]
    half = len(sample) // 2
    return half >= 2 and max(sample[0::2].count(0), sample[1::2].count(0)) > half * 0.4


def decode(data: bytes) -> str:
    if looks_like_utf16(data):
        raise CsvFormatError("NOT_UTF8", "the file looks like UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            "NOT_UTF8", f"the file is not UTF-8 (invalid byte at offset {exc.start}); save as UTF-8"
        ) from exc


def first_line(text: str) -> str:
    """The header line, whatever the line endings (LF, CRLF or CR alone)."""
    end = _LINE_END.search(text)
    return text[: end.start()] if end else text


def delimiter_of(header_line: str) -> str:
    """Comma by default; semicolon or tab when the header clearly uses it (Excel exports)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
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


def header_columns(header: list[str]) -> tuple[str, ...]:
    if len(header) > MAX_COLUMNS:  # quoted line breaks can hide columns from the line count
        raise CsvFormatError(
            "TOO_MANY_COLUMNS", f"the header has {len(header)} columns (at most {MAX_COLUMNS})"
        )
    columns = tuple(normalise_header(h) for h in header)
    if any(not c for c in columns):
        raise CsvFormatError("INVALID_HEADER", "the header has an empty column name")
    duplicated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if duplicated:
        raise CsvFormatError("INVALID_HEADER", f"duplicate columns: {', '.join(duplicated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CsvFormatError(
            "MISSING_COLUMNS",
            f"missing required columns: {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})",
        )
    return columns


def read_csv(data: bytes, *, max_rows: int, cancel: CancelSignal = NOT_CANCELLED) -> CsvFile:
    """Reads the whole file; raises CsvFormatError when it cannot be read to its end."""
    text = decode(data)
    if not text.strip():
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
    columns = header_columns(header)
    rows = list(until_cancelled(_rows(reader, columns, max_rows), cancel))
    if not rows:
        raise CsvFormatError("NO_ROWS", "the file has a header but no data rows")
    custom_columns = tuple(c for c in columns if c not in KNOWN_COLUMNS)
    return CsvFile(columns, custom_columns, rows, header=tuple(header))


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


def _rows(reader: "_csv.Reader", columns: tuple[str, ...], max_rows: int) -> Iterator[CsvRow]:
    data_rows = 0
    for row_number, cells in _records(reader):
        if not cells or all(not c.strip() for c in cells):
            continue
        data_rows += 1
        if data_rows > max_rows:
            raise CsvFormatError("TOO_MANY_ROWS", f"the file has more than {max_rows} rows")
        yield _row(row_number, cells, columns)


def _row(row_number: int, cells: list[str], columns: tuple[str, ...]) -> CsvRow:
    if len(cells) != len(columns):
        return CsvRow(
            row_number,
            {},
            {},
            error=f"has {len(cells)} cells, the header has {len(columns)}",
            cells=tuple(cells[: len(columns)]),  # the report has the header's columns only
        )
    if any(len(c) > MAX_FIELD_BYTES for c in cells):
        return CsvRow(
            row_number,
            {},
            {},
            error=f"a cell is longer than {MAX_FIELD_BYTES}",
            cells=tuple(cells),
        )
    known: dict[str, str] = {}
    custom: dict[str, str] = {}
    for column, cell in zip(columns, cells, strict=True):
        (custom if column not in KNOWN_COLUMNS else known)[column] = cell
    return CsvRow(row_number, known, custom, cells=tuple(cells))
