"""Reading an uploaded CSV file into rows: decoding, delimiter, header checks, limits."""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

REQUIRED_COLUMNS = ("name", "email", "title", "completion_date")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "expiry_date")
MAX_FIELD_BYTES = 10_000
_HEADER_CLEANUP = re.compile(r"[\s\-]+")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read; nothing from it is issued."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class CsvRow:
    row_number: int  # line number in the file (the header is line 1)
    known: dict[str, str]
    custom: dict[str, str]
    error: str = ""  # set when the row cannot be read at all


@dataclass(frozen=True, slots=True)
class CsvFile:
    columns: tuple[str, ...]
    custom_columns: tuple[str, ...]
    rows: Iterator[CsvRow]


def normalise_header(name: str) -> str:
    return _HEADER_CLEANUP.sub("_", name.strip().lower())


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            "NOT_UTF8", f"the file is not UTF-8 (invalid byte at offset {exc.start}); save as UTF-8"
        ) from exc


def _delimiter(first_line: str) -> str:
    """Comma by default; semicolon or tab when the header clearly uses it (Excel exports)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_csv(data: bytes, *, max_rows: int) -> CsvFile:
    text = decode(data)
    if not text.strip():
        raise CsvFormatError("EMPTY_FILE", "the file is empty")
    if "\x00" in text:
        raise CsvFormatError("BINARY_FILE", "the file contains NUL bytes: it is not a CSV file")
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise CsvFormatError("INVALID_HEADER", f"the header line cannot be read: {exc}") from exc
    columns = tuple(normalise_header(h) for h in header)
    if any(not c for c in columns):
        raise CsvFormatError("INVALID_HEADER", "the header has an empty column name")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise CsvFormatError("INVALID_HEADER", f"duplicate columns: {', '.join(duplicated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CsvFormatError(
            "MISSING_COLUMNS",
            f"missing required columns: {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})",
        )
    custom_columns = tuple(c for c in columns if c not in KNOWN_COLUMNS)
    return CsvFile(columns, custom_columns, _rows(reader, columns, max_rows))


def _rows(reader: "csv._reader", columns: tuple[str, ...], max_rows: int) -> Iterator[CsvRow]:
    data_rows = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield CsvRow(reader.line_num, {}, {}, error=f"unreadable CSV: {exc}")
            return  # the parser cannot resynchronise after a broken quote
        if not cells or all(not c.strip() for c in cells):
            continue
        row_number = reader.line_num
        data_rows += 1
        if data_rows > max_rows:
            raise CsvFormatError("TOO_MANY_ROWS", f"the file has more than {max_rows} rows")
        if len(cells) != len(columns):
            yield CsvRow(
                row_number, {}, {}, error=f"has {len(cells)} cells, the header has {len(columns)}"
            )
            continue
        if any(len(c) > MAX_FIELD_BYTES for c in cells):
            yield CsvRow(row_number, {}, {}, error=f"a cell is longer than {MAX_FIELD_BYTES}")
            continue
        known: dict[str, str] = {}
        custom: dict[str, str] = {}
        for column, cell in zip(columns, cells, strict=True):
            (custom if column not in KNOWN_COLUMNS else known)[column] = cell
        yield CsvRow(row_number, known, custom)
