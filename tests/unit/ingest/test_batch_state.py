"""The batch state shown to clients, from its counts (pure)."""

import pytest

from services.ingest.progress import BatchState, batch_state
from services.ingest.servicer import BATCH_STATES


@pytest.mark.parametrize(
    ("counts", "state"),
    [
        ((0, 0, 0, 0), BatchState.REJECTED),
        ((3, 0, 0, 0), BatchState.ANCHORING),
        ((3, 2, 0, 0), BatchState.ANCHORING),
        ((3, 3, 0, 0), BatchState.NOTIFYING),
        ((3, 3, 2, 0), BatchState.NOTIFYING),
        ((3, 3, 2, 1), BatchState.COMPLETED_WITH_FAILURES),  # every email final, one failed
        ((3, 3, 0, 3), BatchState.COMPLETED_WITH_FAILURES),
        ((3, 3, 3, 0), BatchState.COMPLETED),
    ],
)
def test_state_from_counts(counts: tuple[int, int, int, int], state: BatchState) -> None:
    accepted, anchored, emailed, failed = counts
    assert (
        batch_state(accepted=accepted, anchored=anchored, emailed=emailed, email_failed=failed)
        == state
    )


def test_every_state_has_a_proto_value() -> None:
    assert set(BATCH_STATES) == set(BatchState)
    assert len(set(BATCH_STATES.values())) == len(BatchState)


@pytest.mark.parametrize(
    ("counts", "state"),
    [
        ((3, 0, 0, 0), BatchState.CANCELLED),
        ((3, 3, 1, 0), BatchState.CANCELLED),
        ((3, 3, 3, 0), BatchState.COMPLETED),  # finished before the cancellation took effect
        ((3, 3, 2, 1), BatchState.COMPLETED_WITH_FAILURES),
        ((0, 0, 0, 0), BatchState.REJECTED),
    ],
)
def test_a_cancelled_batch_is_cancelled_unless_it_had_finished(
    counts: tuple[int, int, int, int], state: BatchState
) -> None:
    accepted, anchored, emailed, failed = counts
    assert (
        batch_state(
            accepted=accepted,
            anchored=anchored,
            emailed=emailed,
            email_failed=failed,
            cancelled=True,
        )
        == state
    )


def test_a_batch_still_being_stored_is_validating() -> None:
    assert batch_state(accepted=0, anchored=0, emailed=0, email_failed=0, intake_open=True) == (
        BatchState.VALIDATING
    )
