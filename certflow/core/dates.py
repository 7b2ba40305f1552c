"""Dates as people type them, read into `datetime.date` or refused with the reason.

Accepted: ISO 8601 (2026-06-10, also 2026/06/10), numeric day/month/year with `/`, `.` or `-`
(10/06/2026 — read with the declared convention; without one only when unambiguous, e.g.
25/06/2026 or 06/06/2026), and English month names (10 Jun 2026, 10-Jun-2026, June 10, 2026).
A time after the date (Excel's "10/06/2026 00:00") is ignored. Two-digit years are refused:
the century is a guess.
"""

import calendar
import enum
import re
from dataclasses import dataclass
from datetime import date

EARLIEST = date(1900, 1, 1)


class DateOrder(enum.Enum):
    """How to read a numeric date whose first two parts could both be a day or a month."""

    UNSPECIFIED = "unspecified"
    DAY_FIRST = "day_first"  # 10/06/2026 is 10 June (most of the world)
    MONTH_FIRST = "month_first"  # 10/06/2026 is October 6 (the United States)


@dataclass(frozen=True, slots=True)
class DateProblem:
    reason: str  # INVALID_DATE or AMBIGUOUS_DATE
    message: str  # says why, without the field name


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")  # the fast path: most files
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?)?"
_YEAR_FIRST = re.compile(rf"(\d{{4}})([-/.])(\d{{1,2}})\2(\d{{1,2}}){_TIME}")
_NUMERIC = re.compile(rf"(\d{{1,2}})([-/.])(\d{{1,2}})\2(\d{{2}}|\d{{4}}){_TIME}")
_DAY_MONTH_NAME = re.compile(
    rf"(\d{{1,2}})(?:st|nd|rd|th)?[\s\-./]*([^\W\d_]+)\.?[\s\-,./]*(\d{{2}}|\d{{4}}){_TIME}",
    re.IGNORECASE,
)
_MONTH_NAME_DAY = re.compile(
    rf"([^\W\d_]+)\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?,?\s*(\d{{2}}|\d{{4}}){_TIME}", re.IGNORECASE
)
MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
} | {"sept": 9}
_MONTH_NAMES = ("", *(calendar.month_name[n] for n in range(1, 13)))


def parse_date(text: str, order: DateOrder = DateOrder.UNSPECIFIED) -> date | DateProblem:
    """The date `text` names (already stripped), or why it is not one."""
    if _ISO.fullmatch(text):
        try:
            value = date.fromisoformat(text)
        except ValueError:  # say why
            return _checked(int(text[:4]), int(text[5:7]), int(text[8:10]), text)
        return (
            value if value >= EARLIEST else DateProblem("INVALID_DATE", f"{text!r} is before 1900")
        )
    if match := _YEAR_FIRST.fullmatch(text):
        return _checked(int(match[1]), int(match[3]), int(match[4]), text)
    if match := _NUMERIC.fullmatch(text):
        return _numeric(int(match[1]), int(match[3]), match[4], text, order)
    if match := _DAY_MONTH_NAME.fullmatch(text):
        return _named(match[2], int(match[1]), match[3], text)
    if match := _MONTH_NAME_DAY.fullmatch(text):
        return _named(match[1], int(match[2]), match[3], text)
    return DateProblem(
        "INVALID_DATE",
        f"{text!r} is not a date we can read (use YYYY-MM-DD, DD/MM/YYYY or 10 Jun 2026)",
    )


def _numeric(first: int, second: int, year: str, text: str, order: DateOrder) -> date | DateProblem:
    if len(year) == 2:
        return _two_digit_year(text)
    if order is DateOrder.DAY_FIRST:
        return _checked(int(year), second, first, text, "day-first")
    if order is DateOrder.MONTH_FIRST:
        return _checked(int(year), first, second, text, "month-first")
    if first > 12 >= second:
        return _checked(int(year), second, first, text)
    if second > 12 >= first:
        return _checked(int(year), first, second, text)
    if first == second or first > 12:  # the same either way, or impossible either way
        return _checked(int(year), second, first, text)
    return DateProblem(
        "AMBIGUOUS_DATE",
        f"{text!r} is ambiguous: {first} {_MONTH_NAMES[second]} or {_MONTH_NAMES[first]} "
        f"{second}, {year}; declare the date order (day-first or month-first) or use YYYY-MM-DD",
    )


def _named(month_name: str, day: int, year: str, text: str) -> date | DateProblem:
    month = MONTHS.get(month_name.lower())
    if month is None:
        return DateProblem("INVALID_DATE", f"{text!r}: {month_name!r} is not an English month name")
    if len(year) == 2:
        return _two_digit_year(text)
    return _checked(int(year), month, day, text)


def _two_digit_year(text: str) -> DateProblem:
    return DateProblem("INVALID_DATE", f"{text!r} has a two-digit year; write the year in full")


def _checked(year: int, month: int, day: int, text: str, reading: str = "") -> date | DateProblem:
    read_as = f" (read {reading})" if reading else ""
    if not 1 <= month <= 12:
        return DateProblem("INVALID_DATE", f"{text!r}{read_as}: there is no month {month}")
    if year < EARLIEST.year:
        return DateProblem("INVALID_DATE", f"{text!r} is before {EARLIEST.year}")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return DateProblem(
            "INVALID_DATE",
            f"{text!r}{read_as}: {_MONTH_NAMES[month]} {year} has {days} days, not {day}",
        )
    return date(year, month, day)
