from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certflow.core.dates import DateOrder, DateProblem, parse_date

DAY, MONTH, NONE = DateOrder.DAY_FIRST, DateOrder.MONTH_FIRST, DateOrder.UNSPECIFIED


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-06-10", NONE, date(2026, 6, 10)),
        ("2026/6/1", NONE, date(2026, 6, 1)),
        ("2026-06-10T09:30:00", NONE, date(2026, 6, 10)),
        ("10/06/2026", DAY, date(2026, 6, 10)),
        ("10/06/2026", MONTH, date(2026, 10, 6)),
        ("10.06.2026", DAY, date(2026, 6, 10)),
        ("10-06-2026", DAY, date(2026, 6, 10)),
        ("10/06/2026 00:00", DAY, date(2026, 6, 10)),  # Excel's date-time export
        ("6/10/2026 12:00 AM", MONTH, date(2026, 6, 10)),
        ("25/06/2026", NONE, date(2026, 6, 25)),  # only one reading is a date
        ("06/25/2026", NONE, date(2026, 6, 25)),
        ("06/06/2026", NONE, date(2026, 6, 6)),  # both readings agree
        ("10 Jun 2026", NONE, date(2026, 6, 10)),
        ("10 June 2026", NONE, date(2026, 6, 10)),
        ("10-Jun-2026", NONE, date(2026, 6, 10)),  # Excel's d-mmm-yyyy
        ("June 10, 2026", NONE, date(2026, 6, 10)),
        ("jun 10 2026", MONTH, date(2026, 6, 10)),
        ("1st June 2026", NONE, date(2026, 6, 1)),
        ("Sept 3, 2026", NONE, date(2026, 9, 3)),
        ("29/02/2028", NONE, date(2028, 2, 29)),
    ],
)
def test_dates_as_people_type_them(text: str, order: DateOrder, expected: date) -> None:
    assert parse_date(text, order) == expected


@pytest.mark.parametrize(
    ("text", "order", "reason", "said"),
    [
        ("10/06/2026", NONE, "AMBIGUOUS_DATE", "10 June or October 6, 2026"),
        ("10.06.2026", NONE, "AMBIGUOUS_DATE", "declare the date order"),
        ("2026-02-29", NONE, "INVALID_DATE", "February 2026 has 28 days, not 29"),
        ("31/04/2026", NONE, "INVALID_DATE", "April 2026 has 30 days, not 31"),
        ("31/04/2026", DAY, "INVALID_DATE", "(read day-first): April 2026 has 30 days"),
        ("25/06/2026", MONTH, "INVALID_DATE", "(read month-first): there is no month 25"),
        ("13/13/2026", NONE, "INVALID_DATE", "there is no month 13"),
        ("2026-13-01", NONE, "INVALID_DATE", "there is no month 13"),
        ("0000-01-01", NONE, "INVALID_DATE", "before 1900"),
        ("1850-06-30", NONE, "INVALID_DATE", "before 1900"),
        ("10/06/26", DAY, "INVALID_DATE", "two-digit year"),
        ("10-Jun-26", NONE, "INVALID_DATE", "two-digit year"),
        ("10 Juin 2026", NONE, "INVALID_DATE", "'Juin' is not an English month name"),
        ("yesterday", NONE, "INVALID_DATE", "is not a date we can read"),
        ("2026-06-10 or so", NONE, "INVALID_DATE", "is not a date we can read"),
    ],
)
def test_refused_dates_say_why(text: str, order: DateOrder, reason: str, said: str) -> None:
    problem = parse_date(text, order)
    assert isinstance(problem, DateProblem)
    assert problem.reason == reason
    assert said in problem.message


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)))
def test_every_date_reads_back_in_every_written_form(value: date) -> None:
    d, m, y = value.day, value.month, value.year
    assert parse_date(value.isoformat()) == value
    assert parse_date(f"{d:02}/{m:02}/{y}", DAY) == value
    assert parse_date(f"{m}/{d}/{y}", MONTH) == value
    assert parse_date(value.strftime("%d %b %Y")) == value
    assert parse_date(value.strftime("%B %d, %Y")) == value
    undeclared = parse_date(f"{d}.{m}.{y}")
    if d == m or d > 12:  # one reading only
        assert undeclared == value
    else:
        assert isinstance(undeclared, DateProblem) and undeclared.reason == "AMBIGUOUS_DATE"


@given(st.text(max_size=40))
def test_any_text_is_a_date_or_a_reason(text: str) -> None:
    result = parse_date(text.strip())
    assert isinstance(result, date) or result.reason in {"INVALID_DATE", "AMBIGUOUS_DATE"}
