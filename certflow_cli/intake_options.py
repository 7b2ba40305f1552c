"""What a registrar may say about a file (encoding, column mapping, date order): the same
options for `validate` (applied by the core rules offline) and `upload` (sent to ingest)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from certflow.core.csv_intake import IntakeOptions
from certflow.core.dates import DateOrder
from certflow.v1 import ingest_service_pb2 as pb

F = TypeVar("F", bound=Callable[..., Any])
DATE_ORDERS = {"day-first": DateOrder.DAY_FIRST, "month-first": DateOrder.MONTH_FIRST}
PROTO_DATE_ORDERS = {
    DateOrder.UNSPECIFIED: pb.DATE_ORDER_UNSPECIFIED,
    DateOrder.DAY_FIRST: pb.DATE_ORDER_DAY_FIRST,
    DateOrder.MONTH_FIRST: pb.DATE_ORDER_MONTH_FIRST,
}


def parse_pairs(values: tuple[str, ...], option: str, *, empty_value: bool) -> dict[str, str]:
    """`KEY=VALUE` pairs given with a repeatable option; each key once."""
    pairs: dict[str, str] = {}
    for value in values:
        key, separator, text = value.partition("=")
        key = key.strip()
        if not separator or not key or (not empty_value and not text):
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=option)
        if key in pairs:
            raise click.BadParameter(f"{key!r} is given twice", param_hint=option)
        pairs[key] = text.strip() if empty_value else text
    return pairs


def date_order_option(function: F) -> F:
    return click.option(
        "--date-order",
        type=click.Choice(list(DATE_ORDERS)),
        help="How to read numeric dates such as 10/06/2026 (ambiguous ones are refused "
        "without it).",
    )(function)


def file_options(function: F) -> F:
    """--encoding, --map and --date-order."""
    function = date_order_option(function)
    function = click.option(
        "--map",
        "mapping",
        multiple=True,
        metavar="HEADER=FIELD",
        help="Read this column as this field (name, email, title, completion_date, "
        "expiry_date, or a custom field key); HEADER= drops the column. Repeatable. "
        'Common headers ("Full Name", "E-mail", "Course", "Date", …) need no mapping.',
    )(function)
    return click.option(
        "--encoding",
        default="",
        metavar="NAME",
        help="The file's encoding, e.g. windows-1252 or utf-16 [default: detected].",
    )(function)


@dataclass(frozen=True, slots=True)
class FileOptions:
    encoding: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    date_order: DateOrder = DateOrder.UNSPECIFIED

    @classmethod
    def from_flags(
        cls, encoding: str, mapping: tuple[str, ...], date_order: str | None
    ) -> "FileOptions":
        return cls(
            encoding=encoding.strip(),
            mapping=parse_pairs(mapping, "--map", empty_value=True),
            date_order=DATE_ORDERS[date_order] if date_order else DateOrder.UNSPECIFIED,
        )

    def intake(self) -> IntakeOptions:
        return IntakeOptions(self.encoding, self.mapping, self.date_order)

    def metadata(self, *, request_id: str, display_name: str) -> pb.UploadCsvMetadata:
        return pb.UploadCsvMetadata(
            request_id=request_id,
            display_name=display_name,
            encoding=self.encoding,
            column_mapping=self.mapping,
            date_order=PROTO_DATE_ORDERS[self.date_order],
        )
