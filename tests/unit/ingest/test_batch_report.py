"""The completion record's delivery counts (batch_report.delivery_counts, pure)."""

from services.ingest.batch_report import delivery_counts


def test_certificates_with_no_outcome_yet_are_pending() -> None:
    assert delivery_counts(5, {"sent": 2, "failed": 0}) == {"pending": 3, "sent": 2}
    assert delivery_counts(2, {"sent": 2}) == {"sent": 2}


def test_a_cancelled_batch_s_unanchored_certificates_are_cancelled_not_pending() -> None:
    # 5 accepted, 2 anchored before the cancel (one emailed so far): 3 will never be emailed
    assert delivery_counts(5, {"sent": 1}, cancelled=3) == {
        "cancelled": 3,
        "pending": 1,
        "sent": 1,
    }
    assert delivery_counts(3, {}, cancelled=3) == {"cancelled": 3}
