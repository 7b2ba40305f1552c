"""CSV cells that a spreadsheet will show as text, never run as a formula (pure).

A cell starting with `=`, `+`, `-` or `@` is a formula to Excel, LibreOffice and Google Sheets
(`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`, DDE); a leading tab or carriage return hides such a
start from a check that looks at the first visible character. OWASP's advice, followed here:
prefix such a cell with a single quote, which the spreadsheet shows as text and does not
display. Used by ingest's error report and by the `certflow` CLI.
"""

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """The cell, prefixed with a single quote when a spreadsheet would treat it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_line(cells: Iterable[str]) -> str:
    """One RFC 4180 record (CRLF-terminated, quoted where needed) of neutralised cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralise(c) for c in cells])
    return buffer.getvalue()


def csv_lines(records: Iterable[Iterable[str]]) -> Iterator[str]:
    """`csv_line` of each record, through one writer (a writer per line costs more than the
    line itself when a report has 100,000 of them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for record in records:
        writer.writerow([neutralise(c) for c in record])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
