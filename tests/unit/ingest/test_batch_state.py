"""The batch state shown to clients, from its counts."""

from datetime import UTC, datetime

import pytest

from services.ingest.usecases import BatchStatus


def status(accepted: int, anchored: int, emailed: int, failed: int) -> BatchStatus:
    return BatchStatus(
        batch_id="b",
        display_name="",
        source="csv",
        row_count=accepted,
        accepted_count=accepted,
        rejected_count=0,
        anchored_count=anchored,
        emailed_count=emailed,
        email_failed_count=failed,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("counts", "state"),
    [
        ((0, 0, 0, 0), "rejected"),
        ((3, 0, 0, 0), "issued"),
        ((3, 2, 0, 0), "issued"),
        ((3, 3, 0, 0), "anchored"),
        ((3, 3, 2, 0), "anchored"),
        ((3, 3, 2, 1), "completed_with_failures"),  # every email final, one failed
        ((3, 3, 0, 3), "completed_with_failures"),
        ((3, 3, 3, 0), "completed"),
    ],
)
def test_state_from_counts(counts: tuple[int, int, int, int], state: str) -> None:
    assert status(*counts).state == state


def test_every_state_has_a_proto_value() -> None:
    from services.ingest.servicer import _BATCH_STATES

    states = {status(*c).state for c in [(0, 0, 0, 0), (1, 0, 0, 0), (1, 1, 0, 0), (1, 1, 1, 0)]}
    assert states | {"completed_with_failures"} == set(_BATCH_STATES)
