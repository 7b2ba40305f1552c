"""The operator's calls refuse ids no batch or request can have before asking the store: a NUL
made PostgreSQL's driver fail (INTERNAL instead of INVALID_ARGUMENT)."""

import pytest

from certflow.core.errors import InvalidInput
from services.notify import operations
from tests.unit.notify.fakes import T0, InMemoryStore


@pytest.mark.parametrize("batch_id", ["", "b\x00", "b" * 37])
def test_a_batch_id_no_batch_can_have_is_a_field_error(batch_id):
    for call in (
        lambda: operations.list_deliveries(InMemoryStore(), batch_id, offset=0, limit=10),
        lambda: operations.retry_failed(InMemoryStore(), batch_id, "op-1", now=T0),
    ):
        with pytest.raises(InvalidInput) as refused:
            call()
        assert refused.value.violations[0].field == "batch_id"


@pytest.mark.parametrize("request_id", ["op\x00", "r" * 129])
def test_a_request_id_with_nul_or_too_long_is_a_field_error(request_id):
    with pytest.raises(InvalidInput) as refused:
        operations.retry_failed(InMemoryStore(), "batch-1", request_id, now=T0)
    assert refused.value.violations[0].field == "request_id"


def test_a_batch_id_of_36_characters_is_asked_for():
    batch_id = "0b8c0d3e-0000-4000-8000-000000000001"
    assert operations.list_deliveries(InMemoryStore(), batch_id, offset=0, limit=10) == []
    assert operations.retry_failed(InMemoryStore(), batch_id, "op-1", now=T0) == 0
