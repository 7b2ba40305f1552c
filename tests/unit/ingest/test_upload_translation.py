"""UploadCsv/IssueCertificate translation: the wire's date orders and warnings."""

from typing import cast

import pytest

from certflow.core.dates import DateOrder
from certflow.core.errors import InvalidInput
from certflow.core.validation import RowWarning
from certflow.v1 import ingest_service_pb2 as pb
from services.ingest.servicer import DATE_ORDERS, date_order, row_warning_message


def test_every_date_order_on_the_wire_has_a_meaning() -> None:
    assert set(DATE_ORDERS) == set(pb.DateOrder.values())
    assert date_order(pb.DATE_ORDER_DAY_FIRST) is DateOrder.DAY_FIRST
    assert date_order(pb.DATE_ORDER_MONTH_FIRST) is DateOrder.MONTH_FIRST
    assert date_order(pb.DATE_ORDER_UNSPECIFIED) is DateOrder.UNSPECIFIED


def test_an_unknown_date_order_is_a_violation_of_that_field() -> None:
    with pytest.raises(InvalidInput) as info:
        date_order(cast(pb.DateOrder, 7))  # a newer client's value
    assert [v.field for v in info.value.violations] == ["date_order"]


def test_a_warning_keeps_every_field() -> None:
    message = row_warning_message(RowWarning(3, "name", "NAME_ALL_CAPITALS", "name 'ADA' …"))
    assert (message.row_number, message.field, message.code, message.message) == (
        3,
        "name",
        "NAME_ALL_CAPITALS",
        "name 'ADA' …",
    )
